import { describe, expect, it } from "vitest";
import { decodeSealingKey, seal, SealError, unseal, type SealingKeys } from "../src/lib/seal";

const newKey = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const keys = (current = newKey(), previous: string[] = []): SealingKeys => ({ current, previous });

/** Changes one character of a base64url segment of a sealed value. */
function flip(sealed: string, segment: number): string {
  const parts = sealed.split(".");
  const part = parts[segment]!;
  const at = Math.floor(part.length / 2);
  parts[segment] = part.slice(0, at) + (part[at] === "A" ? "B" : "A") + part.slice(at + 1);
  return parts.join(".");
}

describe("sealing", () => {
  it("round-trips, in the versioned format, with a fresh IV every time", async () => {
    const k = keys();
    const a = await seal(k, "gho_secret-token", "identity:idn_1:access");
    const b = await seal(k, "gho_secret-token", "identity:idn_1:access");
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toContain("gho_secret-token");
    expect(a).not.toBe(b);
    expect(a.split(".")[2]).not.toBe(b.split(".")[2]);
    expect(await unseal(k, a, "identity:idn_1:access")).toBe("gho_secret-token");
    expect(await unseal(k, b, "identity:idn_1:access")).toBe("gho_secret-token");
  });

  it("round-trips empty and non-ASCII text", async () => {
    const k = keys();
    for (const text of ["", "ünïcødé ✓ 🔑", "x".repeat(5000)]) {
      expect(await unseal(k, await seal(k, text, "c"), "c")).toBe(text);
    }
  });

  it.each([
    ["the ciphertext", 3],
    ["the IV", 2],
    ["the key id", 1],
  ])("detects tampering with %s", async (_what, segment) => {
    const k = keys();
    const sealed = await seal(k, "secret", "ctx");
    await expect(unseal(k, flip(sealed, segment), "ctx")).rejects.toThrow(SealError);
  });

  it("refuses a value moved to another context (another row, or access vs refresh token)", async () => {
    const k = keys();
    const sealed = await seal(k, "secret", "identity:idn_1:access");
    await expect(unseal(k, sealed, "identity:idn_2:access")).rejects.toThrow(SealError);
    await expect(unseal(k, sealed, "identity:idn_1:refresh")).rejects.toThrow(SealError);
  });

  it("refuses a value sealed under a key it does not hold", async () => {
    const sealed = await seal(keys(), "secret", "ctx");
    await expect(unseal(keys(), sealed, "ctx")).rejects.toThrow(/key that is not configured/);
  });

  it.each(["", "v1", "v1.a.b", "v2.abcdefgh.AAAAAAAAAAAAAAAA.AAAA", "v1.abcdefgh.AAAA.AAAA.extra", "plaintext-token"])(
    "refuses malformed input %j",
    async (input) => {
      await expect(unseal(keys(), input, "ctx")).rejects.toThrow(SealError);
    },
  );

  it("rotates: new values use the new key, old values still open through SEALING_KEY_PREVIOUS", async () => {
    const oldKey = newKey();
    const sealedBefore = await seal(keys(oldKey), "secret", "ctx");
    const rotated = keys(newKey(), [oldKey]);
    expect(await unseal(rotated, sealedBefore, "ctx")).toBe("secret");
    const sealedAfter = await seal(rotated, "secret", "ctx");
    expect(sealedAfter.split(".")[1]).not.toBe(sealedBefore.split(".")[1]);
    // Once the old key is gone, what it sealed no longer opens, and what the new one sealed does.
    await expect(unseal(keys(rotated.current), sealedBefore, "ctx")).rejects.toThrow(SealError);
    expect(await unseal(keys(rotated.current), sealedAfter, "ctx")).toBe("secret");
  });

  it("accepts only base64 keys of 32 bytes, and never echoes the key", () => {
    expect(decodeSealingKey(newKey())).toHaveLength(32);
    const short = btoa("too short");
    expect(() => decodeSealingKey(short)).toThrow(/32 bytes/);
    expect(() => decodeSealingKey("not base64 !!")).toThrow(/base64/);
    try {
      decodeSealingKey(short, "SEALING_KEY_PREVIOUS");
    } catch (error) {
      expect(String(error)).toContain("SEALING_KEY_PREVIOUS");
      expect(String(error)).not.toContain(short);
    }
  });
});
