/**
 * Prefixed, time-sortable, opaque ids: `usr_01jd3k…` (a ULID in lower-case Crockford
 * base32 behind a type prefix). Sorting ids sorts by creation time, so cursors can be ids.
 */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

export type IdPrefix = "usr" | "ses" | "tok" | "aud" | "org" | "mem" | "inv" | "team" | "tmm" | "ws" | "run" | "rtk" | "cmd" | "idn" | "prj" | "tpg" | "pb" | "whd";

export function newId(prefix: IdPrefix, now = Date.now()): string {
  let time = "";
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  const random = crypto.getRandomValues(new Uint8Array(16));
  let rand = "";
  for (const byte of random) rand += ALPHABET[byte & 31];
  return `${prefix}_${time}${rand}`;
}
