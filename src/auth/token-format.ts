import { encodeBase32LowerCaseNoPadding } from "@oslojs/encoding";
import { randomSecret } from "../lib/crypto";

/**
 * Token format: a kind prefix + 192 random bits (39 base32 chars) + a CRC-32 of those chars
 * (7 base32 chars). The prefix lets secret scanners recognise a leaked token and the
 * checksum lets them (and us) reject a mistyped or invented one without a database
 * look-up, as GitHub's `ghp_` tokens do.
 */
export const TOKEN_PREFIXES = {
  /** Personal access tokens. */
  personal: "edp_",
  /** Runner tokens. */
  runner: "edr_",
} as const;
export type TokenKind = keyof typeof TOKEN_PREFIXES;

const RANDOM_BYTES = 24;
const BODY_LENGTH = 39;
const SHAPE = /^[a-z]{3}_[a-z2-7]{46}$/;

export function generateToken(kind: TokenKind): string {
  const body = randomSecret(RANDOM_BYTES);
  return TOKEN_PREFIXES[kind] + body + checksum(body);
}

/** True when `token` has the kind's prefix, the alphabet, the length and a valid checksum. */
export function isWellFormedToken(token: string, kind: TokenKind): boolean {
  const prefix = TOKEN_PREFIXES[kind];
  if (!SHAPE.test(token) || !token.startsWith(prefix)) return false;
  const body = token.slice(prefix.length, prefix.length + BODY_LENGTH);
  return checksum(body) === token.slice(prefix.length + BODY_LENGTH);
}

function checksum(body: string): string {
  const crc = crc32(new TextEncoder().encode(body));
  const bytes = new Uint8Array([crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255]);
  return encodeBase32LowerCaseNoPadding(bytes);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (IEEE 802.3), the checksum secret scanners already know how to verify. */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 255]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
