import { hmac } from "@oslojs/crypto/hmac";
import { sha256, SHA256 } from "@oslojs/crypto/sha2";
import { constantTimeEqual } from "@oslojs/crypto/subtle";
import { encodeBase32LowerCaseNoPadding, encodeHexLowerCase } from "@oslojs/encoding";

const encoder = new TextEncoder();

/** A random secret of `bytes` bytes, base32 (lower case, no padding). */
export function randomSecret(bytes: number): string {
  return encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(bytes)));
}

/**
 * Hex SHA-256 of a secret: what is stored, and looked up by, in place of the secret. A look-up
 * by this hash is safe against timing attacks: what an index comparison could leak is a prefix
 * of the hash, which tells nothing about a 128+ bit secret.
 */
export function hashSecret(secret: string): string {
  return encodeHexLowerCase(sha256(encoder.encode(secret)));
}

/**
 * Whether two strings are equal, in time that depends only on their lengths (which are
 * not secret: a webhook token's length is public knowledge). For comparing presented
 * secrets with stored ones (`X-Gitlab-Token`, signatures).
 */
export function constantTimeEqualStrings(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  return x.length === y.length && constantTimeEqual(x, y);
}

/** Hex HMAC-SHA256 of `message` under `key` (webhook signatures). */
export function hmacSha256Hex(key: string, message: Uint8Array | string): string {
  return encodeHexLowerCase(hmac(SHA256, encoder.encode(key), typeof message === "string" ? encoder.encode(message) : message));
}
