import { sha256 } from "@oslojs/crypto/sha2";
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
