import { sha256 } from "@oslojs/crypto/sha2";
import { decodeBase64, decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";

/**
 * Sealing: authenticated encryption of small secrets kept at rest (provider tokens) or handed
 * to the browser (the sign-in flow cookie), with AES-256-GCM under a key from a Worker secret.
 *
 * A sealed value reads `v1.<kid>.<iv>.<ciphertext>`: the format version, the id of the key
 * that sealed it (the first 48 bits of the key's SHA-256, base64url), a random 96-bit IV and
 * the ciphertext with its 128-bit tag (both base64url). The version, key id and a caller's
 * `context` (what the value is and whose, e.g. `identity:idn_…:access`) are bound in as
 * associated data, so a value cannot be moved to another row or purpose unnoticed.
 *
 * Rotation: seal with the current key, open with any key the keyring still holds. Put the
 * new key in `SEALING_KEY` and the old one in `SEALING_KEY_PREVIOUS`; values re-sealed on
 * their next write move to the new key, and old keys can go once nothing uses them.
 */

export interface SealingKeys {
  /** Base64 of 32 random bytes (`openssl rand -base64 32`); seals and opens. */
  current: string;
  /** Retired keys, same encoding; open only. */
  previous: readonly string[];
}

/** A sealed value that does not open: malformed, tampered with, or under an unknown key. */
export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SealError";
  }
}

const VERSION = "v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface KeyMaterial {
  id: string;
  key: CryptoKey;
}

/** Decodes and checks a key; throws (naming the variable, never the value) when malformed. */
export function decodeSealingKey(secret: string, name = "SEALING_KEY"): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = decodeBase64(secret.trim());
  } catch {
    throw new Error(`${name} is not valid base64.`);
  }
  if (raw.length !== KEY_BYTES) throw new Error(`${name} must be ${KEY_BYTES} bytes (base64), got ${raw.length}.`);
  return raw;
}

const imported = new Map<string, Promise<KeyMaterial>>();

/** Imports a key once per isolate. */
function material(secret: string): Promise<KeyMaterial> {
  let found = imported.get(secret);
  if (!found) {
    const raw = decodeSealingKey(secret);
    const id = encodeBase64urlNoPadding(sha256(raw).slice(0, 6));
    found = crypto.subtle
      .importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"])
      .then((key) => ({ id, key }));
    imported.set(secret, found);
  }
  return found;
}

const associatedData = (kid: string, context: string) => encoder.encode(`${VERSION}.${kid}.${context}`);

export async function seal(keys: SealingKeys, plaintext: string, context: string): Promise<string> {
  const { id, key } = await material(keys.current);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: associatedData(id, context) },
    key,
    encoder.encode(plaintext),
  );
  return [VERSION, id, encodeBase64urlNoPadding(iv), encodeBase64urlNoPadding(new Uint8Array(ciphertext))].join(".");
}

export async function unseal(keys: SealingKeys, sealed: string, context: string): Promise<string> {
  const [version, kid, ivText, ciphertextText, ...rest] = sealed.split(".");
  if (version !== VERSION || !kid || !ivText || !ciphertextText || rest.length > 0) {
    throw new SealError("Not a sealed value.");
  }
  const candidates = await Promise.all([keys.current, ...keys.previous].map(material));
  const match = candidates.find((candidate) => candidate.id === kid);
  if (!match) throw new SealError("Sealed under a key that is not configured.");
  let iv: Uint8Array;
  let ciphertext: Uint8Array;
  try {
    iv = decodeBase64urlIgnorePadding(ivText);
    ciphertext = decodeBase64urlIgnorePadding(ciphertextText);
  } catch {
    throw new SealError("Not a sealed value.");
  }
  if (iv.length !== IV_BYTES) throw new SealError("Not a sealed value.");
  try {
    const plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv, additionalData: associatedData(kid, context) },
      match.key,
      ciphertext,
    );
    return decoder.decode(plaintext);
  } catch {
    throw new SealError("The sealed value does not open: tampered with, or sealed for another context.");
  }
}
