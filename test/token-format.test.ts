import { describe, expect, it } from "vitest";
import { crc32, generateToken, isWellFormedToken } from "../src/auth/token-format";

describe("personal access token format", () => {
  it("is edp_ + 39 base32 chars of randomness + a 7-char checksum", () => {
    const token = generateToken("personal");
    expect(token).toMatch(/^edp_[a-z2-7]{46}$/);
    expect(isWellFormedToken(token, "personal")).toBe(true);
  });

  it("never repeats", () => {
    const tokens = new Set(Array.from({ length: 2000 }, () => generateToken("personal")));
    expect(tokens.size).toBe(2000);
  });

  it("detects every single-character change", () => {
    const token = generateToken("personal");
    for (let i = 4; i < token.length; i++) {
      const changed = token.slice(0, i) + (token[i] === "a" ? "b" : "a") + token.slice(i + 1);
      expect(isWellFormedToken(changed, "personal"), `position ${i}`).toBe(false);
    }
  });

  it("refuses the wrong prefix, case, length or alphabet", () => {
    const token = generateToken("personal");
    for (const bad of [
      "ghp_" + token.slice(4),
      "EDP_" + token.slice(4),
      token.toUpperCase(),
      token.slice(0, -1),
      token + "a",
      token.slice(0, 10) + "1" + token.slice(11),
      "",
    ]) {
      expect(isWellFormedToken(bad, "personal"), bad).toBe(false);
    }
  });

  it("tells the kinds apart", () => {
    const runner = generateToken("runner");
    expect(runner).toMatch(/^edr_[a-z2-7]{46}$/);
    expect(isWellFormedToken(runner, "runner")).toBe(true);
    expect(isWellFormedToken(runner, "personal")).toBe(false);
    expect(isWellFormedToken(generateToken("personal"), "runner")).toBe(false);
  });

  it("uses the standard CRC-32 that secret scanners verify", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });
});
