import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { database } from "../src/db/client";
import { identities, type Identity } from "../src/db/schema";
import { readConfig } from "../src/env";
import { unseal } from "../src/lib/seal";
import { freshAccessToken } from "../src/services/identities";
import { ORIGIN } from "./fixtures";
import { asBearer, asBrowser, call, expectError, issueToken, signIn } from "./helpers";
import { fakeAccount, SESSION_COOKIE, setCookie, signInWith } from "./sign-in-helpers";

const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;

/** Signs up with a provider; returns the session cookie and the identity's id. */
async function signUp(provider: "github" | "gitlab" | "google" | "bitbucket" | "oidc" = "gitlab") {
  const res = await signInWith(provider, fakeAccount());
  const cookie = setCookie(res, SESSION_COOKIE)!;
  const list = (await (await call("/api/v1/me/identities", { headers: { cookie } })).json()) as { items: { id: string }[] };
  return { cookie, identityId: list.items[0]!.id };
}

const unlink = (cookie: string, id: string, vars: Partial<Env> = {}) =>
  createApp().request(`${ORIGIN}/api/v1/me/identities/${id}`, { method: "DELETE", headers: asBrowser(cookie) }, { ...env, ...vars }, ctx);

const row = async (id: string): Promise<Identity | undefined> =>
  database(env.DB).select().from(identities).where(eq(identities.id, id)).get();

describe("GET /api/v1/me/identities", () => {
  it("lists your linked accounts, newest first, never their tokens", async () => {
    const cookie = await signIn();
    await signInWith("github", fakeAccount(), { cookie });
    await signInWith("google", fakeAccount(), { cookie });
    const res = await call("/api/v1/me/identities", { headers: { cookie } });
    const body = (await res.json()) as { items: Record<string, unknown>[]; nextCursor: string | null };
    expect(body.items.map((i) => i.provider)).toEqual(["google", "github"]);
    expect(body.nextCursor).toBeNull();
    for (const item of body.items) {
      expect(Object.keys(item).sort()).toEqual(["createdAt", "email", "id", "login", "provider", "updatedAt"]);
    }
    expect(JSON.stringify(body)).not.toMatch(/-at-|-rt-|v1\./);
  });

  it("pages with limit and cursor", async () => {
    const cookie = await signIn();
    for (const provider of ["github", "gitlab", "bitbucket"] as const) await signInWith(provider, fakeAccount(), { cookie });
    const first = (await (await call("/api/v1/me/identities?limit=2", { headers: { cookie } })).json()) as {
      items: { provider: string }[];
      nextCursor: string;
    };
    expect(first.items.map((i) => i.provider)).toEqual(["bitbucket", "gitlab"]);
    const second = (await (await call(`/api/v1/me/identities?limit=2&cursor=${first.nextCursor}`, { headers: { cookie } })).json()) as {
      items: { provider: string }[];
      nextCursor: string | null;
    };
    expect(second).toEqual({ items: [expect.objectContaining({ provider: "github" })], nextCursor: null });
  });

  it("needs a caller with user:read", async () => {
    await expectError(await call("/api/v1/me/identities"), 401, "unauthenticated");
    const cookie = await signIn();
    const { token } = await issueToken(cookie, { scopes: ["tokens:read"] });
    await expectError(await call("/api/v1/me/identities", { headers: asBearer(token) }), 403, "insufficient_scope");
    const { token: reader } = await issueToken(cookie, { scopes: ["user:read"] });
    expect((await call("/api/v1/me/identities", { headers: asBearer(reader) })).status).toBe(200);
  });
});

describe("DELETE /api/v1/me/identities/{id}", () => {
  it("unlinks when another way to sign in remains, and audits it", async () => {
    const { cookie, identityId } = await signUp("gitlab");
    await signInWith("github", fakeAccount(), { cookie });
    expect((await unlink(cookie, identityId, { DEV_LOGIN: "false" })).status).toBe(204);
    expect(await row(identityId)).toBeUndefined();
    const audit = (await (await call("/api/v1/me/audit-logs", { headers: { cookie } })).json()) as { items: { action: string; targetId: string }[] };
    expect(audit.items[0]).toMatchObject({ action: "identity.unlink", targetId: identityId });
  });

  it("refuses to unlink your only way to sign in", async () => {
    const { cookie, identityId } = await signUp("google");
    await expectError(await unlink(cookie, identityId, { DEV_LOGIN: "false" }), 409, "last_sign_in_method");
    expect(await row(identityId)).toBeDefined();
  });

  it("does not count an identity at a provider that is no longer configured as a way in", async () => {
    const { cookie, identityId } = await signUp("gitlab");
    await signInWith("bitbucket", fakeAccount(), { cookie });
    await expectError(await unlink(cookie, identityId, { DEV_LOGIN: "false", BITBUCKET_CLIENT_ID: "" }), 409, "last_sign_in_method");
  });

  it("counts the development sign-in as a way in where it is enabled", async () => {
    const { cookie, identityId } = await signUp("google");
    expect((await unlink(cookie, identityId, { DEV_LOGIN: "true" })).status).toBe(204);
  });

  it("answers 404 for an identity that is not yours, or none at all", async () => {
    const { identityId } = await signUp();
    const other = await signIn();
    await expectError(await unlink(other, identityId), 404, "not_found");
    await expectError(await unlink(other, "idn_00000000000000000000000000"), 404, "not_found");
    expect(await row(identityId)).toBeDefined();
  });

  it("needs user:write and a same-site browser request", async () => {
    const { cookie, identityId } = await signUp();
    const { token } = await issueToken(cookie, { scopes: ["user:read"] });
    await expectError(await call(`/api/v1/me/identities/${identityId}`, { method: "DELETE", headers: asBearer(token) }), 403, "insufficient_scope");
    await expectError(await call(`/api/v1/me/identities/${identityId}`, { method: "DELETE", headers: { cookie } }), 403, "cross_site_request");
  });

  it("goes with the account when the user is deleted", async () => {
    const { cookie, identityId } = await signUp();
    expect((await call("/api/v1/me", { method: "DELETE", headers: asBrowser(cookie) })).status).toBe(204);
    expect(await row(identityId)).toBeUndefined();
  });
});

describe("freshAccessToken", () => {
  const db = () => database(env.DB);
  const keys = () => readConfig(env).sealingKeys!;

  it("returns the sealed token as it is while it is fresh", async () => {
    const { identityId } = await signUp("gitlab");
    const identity = (await row(identityId))!;
    const token = await freshAccessToken(db(), env, identity);
    expect(token).toBe(await unseal(keys(), identity.accessTokenSealed, `identity:${identityId}:access`));
    expect((await row(identityId))!.accessTokenSealed).toBe(identity.accessTokenSealed);
  });

  it("refreshes an expired token through the provider and re-seals both tokens", async () => {
    const { identityId } = await signUp("gitlab");
    await db().update(identities).set({ tokenExpiresAt: new Date(Date.now() - 1000) }).where(eq(identities.id, identityId));
    const stale = (await row(identityId))!;
    const oldToken = await unseal(keys(), stale.accessTokenSealed, `identity:${identityId}:access`);

    const token = await freshAccessToken(db(), env, stale);
    expect(token).not.toBe(oldToken);
    const refreshed = (await row(identityId))!;
    expect(refreshed.tokenExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 3600_000);
    expect(await unseal(keys(), refreshed.accessTokenSealed, `identity:${identityId}:access`)).toBe(token);
    expect(refreshed.refreshTokenSealed).not.toBe(stale.refreshTokenSealed); // GitLab rotates refresh tokens
    // The new token works at the provider; the old one is still the provider's business.
    const user = await fetch("https://gitlab.com/api/v4/user", { headers: { authorization: `Bearer ${token}` } });
    expect(user.status).toBe(200);
  });

  it("refreshes a token about to expire", async () => {
    const { identityId } = await signUp("bitbucket");
    await db().update(identities).set({ tokenExpiresAt: new Date(Date.now() + 10_000) }).where(eq(identities.id, identityId));
    const before = (await row(identityId))!;
    await freshAccessToken(db(), env, before);
    expect((await row(identityId))!.accessTokenSealed).not.toBe(before.accessTokenSealed);
  });

  it("asks for a new sign-in when the provider refuses the refresh token", async () => {
    const { identityId } = await signUp("google");
    await db().update(identities).set({ tokenExpiresAt: new Date(Date.now() - 1000) }).where(eq(identities.id, identityId));
    const stale = (await row(identityId))!;
    await freshAccessToken(db(), env, stale); // uses (and so retires) the refresh token
    // Put the retired refresh token back, as if the provider had revoked the stored one.
    await db().update(identities).set(stale).where(eq(identities.id, identityId));
    await expect(freshAccessToken(db(), env, stale)).rejects.toMatchObject({ status: 403, code: "provider_reauthentication_required" });
  });

  it("uses the token another request refreshed meanwhile instead of failing on the rotated refresh token", async () => {
    const { identityId } = await signUp("gitlab");
    await db().update(identities).set({ tokenExpiresAt: new Date(Date.now() - 1000) }).where(eq(identities.id, identityId));
    const stale = (await row(identityId))!;
    const first = await freshAccessToken(db(), env, stale);
    expect(await freshAccessToken(db(), env, stale)).toBe(first);
  });

  it("asks for a new sign-in when the tokens were sealed under a key no longer configured", async () => {
    const { identityId } = await signUp("gitlab");
    const rotated = { ...env, SEALING_KEY: btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))) } as Env;
    await expect(freshAccessToken(db(), rotated, (await row(identityId))!)).rejects.toMatchObject({
      code: "provider_reauthentication_required",
    });
  });

  it("asks for a new sign-in when there is no refresh token", async () => {
    const { identityId } = await signUp("gitlab");
    await db()
      .update(identities)
      .set({ tokenExpiresAt: new Date(Date.now() - 1000), refreshTokenSealed: null })
      .where(eq(identities.id, identityId));
    await expect(freshAccessToken(db(), env, (await row(identityId))!)).rejects.toMatchObject({
      code: "provider_reauthentication_required",
    });
  });

  it("never refreshes a token that does not expire (GitHub OAuth apps)", async () => {
    const { identityId } = await signUp("github");
    const identity = (await row(identityId))!;
    expect(identity.tokenExpiresAt).toBeNull();
    expect(await freshAccessToken(db(), env, identity)).toMatch(/^github-at-/);
  });
});

describe("provider configuration", () => {
  const unconfigured = { ...env, GITLAB_CLIENT_ID: "", GOOGLE_CLIENT_ID: "", OIDC_ISSUER: "" };

  it("offers only configured providers in /api/config", async () => {
    const res = await createApp().request("/api/config", {}, unconfigured, ctx);
    expect(await res.json()).toEqual({ devLogin: true, authProviders: ["github", "bitbucket"] });
  });

  it("answers 404 on the routes of providers that are unknown or not configured", async () => {
    for (const path of ["/auth/gitlab/login", "/auth/google/callback?code=x&state=y", "/auth/oidc/login", "/auth/nope/login", "/auth/nope/callback"]) {
      await expectError(await createApp().request(`${ORIGIN}${path}`, {}, unconfigured, ctx), 404, "not_found");
    }
  });

  it("needs a client secret as well as a client id", async () => {
    const res = await createApp().request("/api/config", {}, { ...env, GITHUB_CLIENT_SECRET: "" } as Env, ctx);
    expect(((await res.json()) as { authProviders: string[] }).authProviders).not.toContain("github");
  });

  it("fails loudly, without echoing it, on a malformed SEALING_KEY", async () => {
    const res = await createApp().request(`${ORIGIN}/auth/github/login`, {}, { ...env, SEALING_KEY: "c2hvcnQ=" } as Env, ctx);
    await expectError(res, 500, "internal_error");
  });

  it("answers 500 (and logs why) when providers are configured without a SEALING_KEY", async () => {
    const res = await createApp().request(`${ORIGIN}/auth/github/login`, {}, { ...env, SEALING_KEY: "" } as Env, ctx);
    await expectError(res, 500, "internal_error");
  });
});
