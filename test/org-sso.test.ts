import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { CLIENTS, ORIGIN, SSO_EMAIL_DOMAIN } from "./fixtures";
import { asBearer, call, expectError, issueToken } from "./helpers";
import { as, createOrg, createTeam, invite, join, person, type Person } from "./org-helpers";
import { callback, SESSION_COOKIE, setCookie, startSignIn, throughOidcProvider } from "./sign-in-helpers";
import {
  activate,
  configureSso,
  requireSso,
  runTest,
  sessionOf,
  ssoLogin,
  ssoOrg,
  ssoPerson,
  ssoSettings,
  ssoSignIn,
  testLink,
  throughSso,
  type SsoConfig,
} from "./sso-helpers";

type AuditEntry = { action: string; actorId: string | null; targetId: string; before: Record<string, unknown> | null; after: Record<string, unknown> | null };

const body = async <T>(res: Response): Promise<T> => {
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  return res.json() as Promise<T>;
};

async function audit(owner: Person, orgId: string, action: string): Promise<AuditEntry[]> {
  return (await body<{ items: AuditEntry[] }>(await as(owner, "GET", `/api/v1/orgs/${orgId}/audit-logs?action=${action}`))).items;
}

async function me(cookie: string) {
  return body<{ id: string; email: string }>(await call("/api/v1/me", { headers: { cookie } }));
}

async function roleIn(owner: Person, orgId: string, userId: string): Promise<string | undefined> {
  const page = await body<{ items: { userId: string; role: string }[] }>(await as(owner, "GET", `/api/v1/orgs/${orgId}/members?limit=100`));
  return page.items.find((m) => m.userId === userId)?.role;
}

const userByEmail = (email: string) => env.DB.prepare("SELECT id FROM users WHERE email = ?").bind(email).first<{ id: string }>();

describe("configuring an organization's single sign-on", () => {
  it("saves a provider after checking its discovery: inactive, with the callback URL to register, never the secret", async () => {
    const owner = await person("owner");
    const org = await createOrg(owner);
    await expectError(await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`), 404, "not_found");

    const saved = await configureSso(owner, org.id);
    expect(saved).toEqual({
      issuer: env.TEST_SSO_ISSUER,
      clientId: CLIENTS.sso.id,
      state: "inactive",
      callbackUrl: `${ORIGIN}/auth/sso/${org.slug}/callback`,
      loginUrl: `${ORIGIN}/auth/sso/${org.slug}/login`,
      verifiedAt: null,
      activatedAt: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(await body(await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`))).toEqual(saved);

    // Sealed at rest, bound to this organization.
    const row = await env.DB.prepare("SELECT client_secret_sealed AS sealed FROM org_sso WHERE org_id = ?").bind(org.id).first<{ sealed: string }>();
    expect(row!.sealed).toMatch(/^v1\./);
    expect(row!.sealed).not.toContain(CLIENTS.sso.secret);

    const [created] = await audit(owner, org.id, "sso.create");
    expect(created).toMatchObject({ actorId: owner.id, after: { issuer: env.TEST_SSO_ISSUER, clientId: CLIENTS.sso.id, state: "inactive" } });
  });

  it("refuses an issuer whose discovery does not work: 400 invalid_issuer, 502 issuer_unreachable", async () => {
    const owner = await person("owner");
    const org = await createOrg(owner);
    const put = (settings: Record<string, unknown>) => as(owner, "PUT", `/api/v1/orgs/${org.id}/sso`, ssoSettings(settings));

    // The document names another issuer, or an issuer that cannot do what sign-in needs.
    // (Made when asked for: a body cannot be read from another request's context in workerd.)
    const answering = (document: Record<string, unknown>, status = 200) =>
      vi.spyOn(globalThis, "fetch").mockImplementationOnce(async () => Response.json(document, { status }));
    const issuer = "https://login.acme.example";
    const usable = { issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...usable, issuer: "https://login.mallory.example" }, /issuer/],
      [{ ...usable, code_challenge_methods_supported: ["plain"] }, /S256/],
      [{ ...usable, response_types_supported: ["id_token"] }, /Authorization Code/],
      [{ issuer }, /endpoint/],
    ];
    let error;
    for (const [document, message] of cases) {
      const spy = answering(document);
      error = await expectError(await put({ issuer }), 400, "invalid_issuer");
      expect(error.fields).toEqual([{ path: "issuer", message: expect.stringMatching(message) }]);
      expect(String(spy.mock.calls[0]![0])).toBe(`${issuer}/.well-known/openid-configuration`);
      spy.mockRestore();
    }
    const failing = answering({ error: "down" }, 503);
    await expectError(await put({ issuer }), 502, "issuer_unreachable");
    failing.mockRestore();
    // No discovery document there.
    error = await expectError(await put({ issuer: `${env.TEST_SSO_ISSUER}/not-an-issuer` }), 400, "invalid_issuer");
    expect(error.fields).toEqual([{ path: "issuer", message: expect.stringContaining("404") }]);
    // Nothing answers.
    const logged = vi.spyOn(console, "error");
    await expectError(await put({ issuer: "https://idp.unreachable.example" }), 502, "issuer_unreachable");
    expect(logged.mock.calls.flat().join(" ")).not.toContain(CLIENTS.sso.secret);
    logged.mockRestore();
    // Not a usable URL, or missing fields: plain validation.
    for (const [settings, path] of [
      [{ issuer: "http://idp.example.com" }, "issuer"],
      [{ issuer: "https://idp.example.com/?tenant=1" }, "issuer"],
      [{ issuer: "not a url" }, "issuer"],
      [{ clientSecret: "" }, "clientSecret"],
      [{ clientId: " " }, "clientId"],
      [{ extra: true }, "extra"],
    ] as const) {
      error = await expectError(await put(settings), 400, "invalid_request");
      expect(error.fields, JSON.stringify(settings)).toEqual([{ path, message: expect.any(String) }]);
    }
    await expectError(await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`), 404);
  });

  it("is deleted by owners, audited", async () => {
    const owner = await person("owner");
    const org = await createOrg(owner);
    await configureSso(owner, org.id);
    expect((await as(owner, "DELETE", `/api/v1/orgs/${org.id}/sso`)).status).toBe(204);
    await expectError(await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`), 404);
    await expectError(await as(owner, "DELETE", `/api/v1/orgs/${org.id}/sso`), 404);
    expect(await audit(owner, org.id, "sso.delete")).toHaveLength(1);
  });

  it("cannot be read or changed by another organization's owner (404), nor by members (403)", async () => {
    const { owner, org } = await ssoOrg();
    const other = await person("otherowner");
    await createOrg(other);
    const member = await person("member");
    await join(member, (await invite(owner, org.id)).code);
    const routes: [string, string, unknown?][] = [
      ["GET", "sso"],
      ["PUT", "sso", ssoSettings({ clientId: "hijacked" })],
      ["DELETE", "sso"],
      ["POST", "sso/test", {}],
      ["POST", "sso/activate"],
    ];
    for (const [method, path, payload] of routes) {
      await expectError(await as(other, method, `/api/v1/orgs/${org.id}/${path}`, payload), 404, "not_found");
      await expectError(await as(member, method, `/api/v1/orgs/${org.id}/${path}`, payload), 403, "forbidden");
    }
    expect(await body<SsoConfig>(await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`))).toMatchObject({ clientId: CLIENTS.sso.id, state: "active" });
  });
});

describe("verifying and activating", () => {
  it("cannot activate before a test sign-in; members cannot sign in before activation", async () => {
    const owner = await person("owner");
    const org = await createOrg(owner);
    await expectError(await as(owner, "POST", `/api/v1/orgs/${org.id}/sso/activate`), 404);
    await configureSso(owner, org.id);
    await expectError(await as(owner, "POST", `/api/v1/orgs/${org.id}/sso/activate`), 409, "sso_not_verified");
    await expectError(await call(`/auth/sso/${org.slug}/login`), 404, "not_found");
    await expectError(await call(`/auth/sso/${org.slug}/callback?code=x&state=y`), 404, "not_found");
    await expectError(await call(`/auth/sso/no-such-org/login`), 404, "not_found");
  });

  it("a test sign-in marks the configuration verified and changes nothing else", async () => {
    const owner = await person("owner");
    const org = await createOrg(owner);
    await configureSso(owner, org.id);
    const login = ssoLogin("tester");
    const res = await throughSso(await testLink(owner, org.id, { returnTo: "/orgs/settings?tab=sso" }), login);
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get("location")).toBe("/orgs/settings?tab=sso#");
    // No session, no user, no membership.
    expect(setCookie(res, SESSION_COOKIE)).toBeNull();
    expect(await userByEmail(`${login}@${SSO_EMAIL_DOMAIN}`)).toBeNull();
    const members = await body<{ items: unknown[] }>(await as(owner, "GET", `/api/v1/orgs/${org.id}/members`));
    expect(members.items).toHaveLength(1);
    expect(await audit(owner, org.id, "member.join")).toEqual([]);

    const verified = await body<SsoConfig & { verifiedAt: string }>(await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`));
    expect(verified.state).toBe("verified");
    expect(verified.verifiedAt).toEqual(expect.any(String));
    const [entry] = await audit(owner, org.id, "sso.verify");
    expect(entry).toMatchObject({ actorId: owner.id, after: { revision: 1, testAccount: `${login}@${SSO_EMAIL_DOMAIN}` } });

    const active = await activate(owner, org.id);
    expect(active.state).toBe("active");
    expect(await audit(owner, org.id, "sso.activate")).toHaveLength(1);
    // Activating again changes nothing; testing again keeps it active.
    expect((await activate(owner, org.id)).state).toBe("active");
    expect((await runTest(owner, org.id)).status).toBe(302);
    expect((await body<SsoConfig>(await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`))).state).toBe("active");
    expect(await audit(owner, org.id, "sso.activate")).toHaveLength(1);
  });

  it("replacing the configuration starts over: inactive, unverified, sign-in closed", async () => {
    const { owner, org } = await ssoOrg();
    const replaced = await configureSso(owner, org.id, { clientSecret: "a-new-secret" });
    expect(replaced).toMatchObject({ state: "inactive", verifiedAt: null, activatedAt: null });
    await expectError(await call(`/auth/sso/${org.slug}/login`), 404);
    await expectError(await as(owner, "POST", `/api/v1/orgs/${org.id}/sso/activate`), 409, "sso_not_verified");
    const [update] = await audit(owner, org.id, "sso.update");
    expect(update).toMatchObject({ before: { state: "active", revision: 1 }, after: { state: "inactive" } });
  });

  it("a test link is bound to its organization, its configuration's revision and ten minutes", async () => {
    const owner = await person("owner");
    const org = await createOrg(owner);
    const other = await createOrg(owner);
    await configureSso(owner, org.id);
    await configureSso(owner, other.id);
    const link = await testLink(owner, org.id);
    const ticket = new URL(link, ORIGIN).searchParams.get("ticket")!;

    await expectError(await call(`/auth/sso/${org.slug}/test?ticket=${ticket.slice(0, -2)}xx`), 400, "invalid_ticket");
    await expectError(await call(`/auth/sso/${other.slug}/test?ticket=${ticket}`), 400, "invalid_ticket");
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 11 * 60_000);
    try {
      await expectError(await call(link), 400, "invalid_ticket");
    } finally {
      vi.useRealTimers();
    }

    // Started for revision 1, the configuration replaced before the provider returned: refused.
    const start = await call(link);
    expect(start.status).toBe(302);
    const back = await throughOidcProvider(new URL(start.headers.get("location")!), ssoLogin());
    await configureSso(owner, org.id);
    await expectError(await callback(back, setCookie(start, "__Host-edgepod_signin")), 409, "sso_config_changed");
    await expectError(await call(link), 409, "sso_config_changed");
    expect((await body<SsoConfig>(await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`))).state).toBe("inactive");
  });

  it("a test sign-in signs no one in even while active, and a sign-in does not verify", async () => {
    const { owner, org } = await ssoOrg();
    const login = ssoLogin();
    // The same callback serves both; the sealed flow says which it is.
    const res = await runTest(owner, org.id, login);
    expect(res.status).toBe(302);
    expect(setCookie(res, SESSION_COOKIE)).toBeNull();
    expect(await userByEmail(`${login}@${SSO_EMAIL_DOMAIN}`)).toBeNull();
    const verifications = (await audit(owner, org.id, "sso.verify")).length;
    expect((await ssoSignIn(org.slug, ssoLogin())).status).toBe(302);
    expect(await audit(owner, org.id, "sso.verify")).toHaveLength(verifications);
  });
});

describe("signing in through an organization's single sign-on", () => {
  it("creates a new user, makes them a member, and gives them a working session", async () => {
    const { owner, org } = await ssoOrg();
    const login = ssoLogin("newhire");
    const res = await ssoSignIn(org.slug, login, { query: "?returnTo=%2Fworkspaces" });
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get("location")).toBe("/workspaces#");
    const cookie = sessionOf(res);
    const user = await me(cookie);
    expect(user.email).toBe(`${login}@${SSO_EMAIL_DOMAIN}`);

    const seen = await body<{ role: string }>(await call(`/api/v1/orgs/${org.id}`, { headers: { cookie } }));
    expect(seen.role).toBe("member");
    expect(await roleIn(owner, org.id, user.id)).toBe("member");
    const [joined] = await audit(owner, org.id, "member.join");
    expect(joined).toMatchObject({ actorId: user.id, targetId: user.id, after: { role: "member", via: "sso" } });

    const identities = await body<{ items: { provider: string; email: string }[] }>(await call("/api/v1/me/identities", { headers: { cookie } }));
    expect(identities.items).toEqual([expect.objectContaining({ provider: `sso:${org.id}`, email: user.email })]);

    // Again: the same user, a new session, no second join.
    const again = sessionOf(await ssoSignIn(org.slug, login));
    expect(again).not.toBe(cookie);
    expect((await me(again)).id).toBe(user.id);
    expect(await audit(owner, org.id, "member.join")).toHaveLength(1);
  });

  it("an existing member signs in (linking the account while signed in) and keeps their role", async () => {
    const { owner, org } = await ssoOrg();
    const coOwner = await person("coowner");
    await join(coOwner, (await invite(owner, org.id, "owner")).code);
    const collaborator = await person("collab");
    await join(collaborator, (await invite(owner, org.id, "collaborator")).code);

    for (const [who, role] of [[coOwner, "owner"], [collaborator, "collaborator"]] as const) {
      const res = await ssoSignIn(org.slug, ssoLogin(), { cookie: who.cookie });
      expect(res.status, await res.clone().text()).toBe(302);
      const renewed = sessionOf(res);
      expect(renewed).not.toBe(who.cookie);
      expect((await me(renewed)).id).toBe(who.id);
      expect(await roleIn(owner, org.id, who.id)).toBe(role);
      // The old session was replaced (revoked), not kept alongside.
      expect((await call("/api/v1/me", { headers: { cookie: who.cookie } })).status).toBe(401);
    }
    const joins = await audit(owner, org.id, "member.join");
    expect(joins.filter((e) => e.after?.via === "sso")).toEqual([]);

    // A member who joined through SSO and was promoted stays an owner when signing in again.
    const hire = await ssoPerson(org.slug);
    expect((await as(owner, "PATCH", `/api/v1/orgs/${org.id}/members/${hire.id}`, { role: "owner" })).status).toBe(200);
    expect((await ssoSignIn(org.slug, hire.login)).status).toBe(302);
    expect(await roleIn(owner, org.id, hire.id)).toBe("owner");
  });

  it("does not merge accounts by e-mail", async () => {
    const { owner, org } = await ssoOrg();
    const login = ssoLogin("taken");
    const existing = await person("existing");
    await env.DB.prepare("UPDATE users SET email = ? WHERE id = ?").bind(`${login}@${SSO_EMAIL_DOMAIN}`, existing.id).run();
    const res = await ssoSignIn(org.slug, login);
    await expectError(res, 409, "email_in_use");
    expect(setCookie(res, SESSION_COOKIE)).toBeNull();
    expect(await roleIn(owner, org.id, existing.id)).toBeUndefined();
  });

  it("keeps identities at different organizations' providers apart", async () => {
    const { org: a } = await ssoOrg();
    const { owner: ownerB, org: b } = await ssoOrg();
    const login = ssoLogin("both");
    const atA = await ssoPerson(a.slug, login);
    // The same account at B's provider is another identity: signed in, it is linked to the same user.
    const res = await ssoSignIn(b.slug, login, { cookie: atA.cookie });
    expect(res.status).toBe(302);
    const cookie = sessionOf(res);
    expect((await me(cookie)).id).toBe(atA.id);
    const identities = await body<{ items: { provider: string }[] }>(await call("/api/v1/me/identities", { headers: { cookie } }));
    expect(identities.items.map((i) => i.provider).sort()).toEqual([`sso:${a.id}`, `sso:${b.id}`].sort());
    expect(await roleIn(ownerB, b.id, atA.id)).toBe("member");
  });

  it("refuses a tampered state, a replayed code, a wrong nonce and a flow started elsewhere", async () => {
    const { org } = await ssoOrg();
    const { org: other } = await ssoOrg();

    let started = await startSignIn(`sso/${org.slug}`);
    let back = await throughOidcProvider(started.authorizeUrl, ssoLogin());
    back.searchParams.set("state", "attacker-chosen-state");
    await expectError(await callback(back, started.flowCookie), 400, "invalid_state");

    started = await startSignIn(`sso/${org.slug}`);
    back = await throughOidcProvider(started.authorizeUrl, ssoLogin());
    expect((await callback(back, started.flowCookie)).status).toBe(302);
    const replay = await callback(back, started.flowCookie);
    await expectError(replay, 400, "invalid_grant");
    expect(setCookie(replay, SESSION_COOKIE)).toBeNull();

    started = await startSignIn(`sso/${org.slug}`);
    started.authorizeUrl.searchParams.set("nonce", "nonce-of-another-request");
    back = await throughOidcProvider(started.authorizeUrl, ssoLogin());
    const wrongNonce = await callback(back, started.flowCookie);
    expect((await expectError(wrongNonce, 401, "invalid_id_token")).message).toMatch(/nonce/);
    expect(setCookie(wrongNonce, SESSION_COOKIE)).toBeNull();

    // A flow started for another organization (or the instance's provider) does not complete here.
    started = await startSignIn(`sso/${org.slug}`);
    const otherFlow = await startSignIn(`sso/${other.slug}`);
    const instanceFlow = await startSignIn("oidc");
    back = await throughOidcProvider(started.authorizeUrl, ssoLogin());
    await expectError(await callback(back, otherFlow.flowCookie), 400, "invalid_state");
    await expectError(await callback(back, instanceFlow.flowCookie), 400, "invalid_state");
    await expectError(await callback(back), 400, "invalid_state");
    // The mix-up defence (RFC 9207) holds too.
    back.searchParams.set("iss", env.OIDC_ISSUER);
    await expectError(await callback(back, started.flowCookie), 400, "invalid_callback");
  });

  it.each([
    ["https://evil.example/phish", "/#"],
    ["//evil.example", "/#"],
    ["/\\evil.example", "/#"],
    ["/settings#token=leak", "/settings#"],
  ])("returns the browser only to same-site paths (returnTo=%s → %s)", async (returnTo, location) => {
    const { org } = await ssoOrg();
    const res = await ssoSignIn(org.slug, ssoLogin(), { query: `?returnTo=${encodeURIComponent(returnTo)}` });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(location);
  });

  it("refuses blocked users and accounts without a verified e-mail", async () => {
    const { org } = await ssoOrg();
    await expectError(await ssoSignIn(org.slug, ssoLogin("unverified")), 403, "verified_email_required");
    const hire = await ssoPerson(org.slug);
    await env.DB.prepare("UPDATE users SET blocked = 1 WHERE id = ?").bind(hire.id).run();
    await expectError(await ssoSignIn(org.slug, hire.login), 403, "account_blocked");
  });
});

describe("requiring single sign-on", () => {
  /** An SSO organization with a member who joined by invitation (signed in without SSO), and a team. */
  async function requiringOrg() {
    const { owner, org } = await ssoOrg();
    const member = await person("member");
    await join(member, (await invite(owner, org.id)).code);
    const team = await createTeam(owner, org.id);
    await requireSso(owner, org.id);
    return { owner, org, member, team };
  }

  it("can be turned on only while single sign-on is active, and is audited", async () => {
    const owner = await person("owner");
    await expectError(await as(owner, "POST", "/api/v1/orgs", { name: "Strict", settings: { requireSso: true } }), 409, "sso_not_active");
    const org = await createOrg(owner);
    const turnOn = () => as(owner, "PATCH", `/api/v1/orgs/${org.id}`, { settings: { requireSso: true } });
    await expectError(await turnOn(), 409, "sso_not_active");
    await configureSso(owner, org.id);
    await expectError(await turnOn(), 409, "sso_not_active");
    expect((await runTest(owner, org.id)).status).toBe(302);
    await expectError(await turnOn(), 409, "sso_not_active");
    await activate(owner, org.id);
    expect((await body<{ settings: { requireSso: boolean } }>(await turnOn())).settings.requireSso).toBe(true);
    const [entry] = await audit(owner, org.id, "org.settings.update");
    expect(entry).toMatchObject({ before: { "settings.requireSso": false }, after: { "settings.requireSso": true } });
  });

  it("refuses members without an SSO session (403 sso_required, with the login URL) everywhere in the org", async () => {
    const { org, member, team } = await requiringOrg();
    const paths: [string, string, unknown?][] = [
      ["GET", `/api/v1/orgs/${org.id}`],
      ["GET", `/api/v1/orgs/${org.id}/members`],
      ["GET", `/api/v1/orgs/${org.id}/teams`],
      ["GET", `/api/v1/orgs/${org.id}/teams/${team.id}`],
      ["GET", `/api/v1/orgs/${org.id}/runners`],
      ["POST", "/api/v1/workspaces", { contextUrl: "https://github.com/acme/app", organizationId: org.id }],
    ];
    for (const [method, path, payload] of paths) {
      const error = await expectError(await as(member, method, path, payload), 403, "sso_required");
      expect(error.message).toContain(`/auth/sso/${org.slug}/login`);
    }
    // Listing your own organizations is not an access to them.
    const mine = await body<{ items: { id: string }[] }>(await as(member, "GET", "/api/v1/orgs"));
    expect(mine.items.map((o) => o.id)).toContain(org.id);

    // Signing in through the organization's SSO (while signed in: the account is linked) lets them in.
    const res = await ssoSignIn(org.slug, ssoLogin(), { cookie: member.cookie });
    expect(res.status, await res.clone().text()).toBe(302);
    const sso = { ...member, cookie: sessionOf(res) };
    for (const [method, path] of paths.slice(0, 5)) {
      expect((await as(sso, method, path)).status, path).toBe(200);
    }
  });

  it("lets members who joined through SSO in with their SSO session, and only with it", async () => {
    const { org } = await requiringOrg();
    const hire = await ssoPerson(org.slug);
    expect((await as(hire, "GET", `/api/v1/orgs/${org.id}/members`)).status).toBe(200);
    const workspace = await body<{ id: string }>(
      await as(hire, "POST", "/api/v1/workspaces", { contextUrl: "https://github.com/acme/app", organizationId: org.id }),
    );
    expect((await as(hire, "GET", `/api/v1/workspaces/${workspace.id}`)).status).toBe(200);
    // The same user in another session, signed in another way: even their own workspace is closed.
    const plain = { ...hire, cookie: await plainSession(hire.email) };
    await expectError(await as(plain, "GET", `/api/v1/workspaces/${workspace.id}`), 403, "sso_required");
    await expectError(await as(plain, "POST", `/api/v1/workspaces/${workspace.id}/stop`), 403, "sso_required");
  });

  it("exempts owners (break-glass), so a broken identity provider cannot lock the organization out", async () => {
    const { owner, org } = await requiringOrg();
    // The identity provider breaks: the owner, signed in without SSO, still reaches everything.
    await env.DB.prepare("UPDATE org_sso SET issuer = 'https://idp.unreachable.example' WHERE org_id = ?").bind(org.id).run();
    expect((await as(owner, "GET", `/api/v1/orgs/${org.id}/members`)).status).toBe(200);
    expect((await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`)).status).toBe(200);
    // …and is the way out: turn the requirement off, then fix the configuration.
    await requireSso(owner, org.id, false);
    expect((await configureSso(owner, org.id)).state).toBe("inactive");
  });

  it("reveals nothing to outsiders (404), and an SSO session of another organization does not count", async () => {
    const { owner, org } = await requiringOrg();
    const outsider = await person("outsider");
    await expectError(await as(outsider, "GET", `/api/v1/orgs/${org.id}`), 404, "not_found");

    // A member of both, signed in through B's SSO only.
    const { org: b } = await ssoOrg();
    const atB = await ssoPerson(b.slug);
    await join(atB, (await invite(owner, org.id)).code);
    await expectError(await as(atB, "GET", `/api/v1/orgs/${org.id}`), 403, "sso_required");
    expect((await as(atB, "GET", `/api/v1/orgs/${b.id}`)).status).toBe(200);
  });

  it("keeps the configuration while required: no replacing or deleting (409 sso_required_on)", async () => {
    const { owner, org } = await requiringOrg();
    await expectError(await as(owner, "PUT", `/api/v1/orgs/${org.id}/sso`, ssoSettings()), 409, "sso_required_on");
    await expectError(await as(owner, "DELETE", `/api/v1/orgs/${org.id}/sso`), 409, "sso_required_on");
    await requireSso(owner, org.id, false);
    expect((await as(owner, "DELETE", `/api/v1/orgs/${org.id}/sso`)).status).toBe(204);
  });

  it("accepts a token only if the credential that issued it came through the organization's SSO", async () => {
    const { org, member } = await requiringOrg();
    const get = (token: string) => call(`/api/v1/orgs/${org.id}`, { headers: asBearer(token) });

    // Issued from a session without SSO: refused, as the session is.
    const plain = await issueToken(member.cookie);
    expect(plain).toMatchObject({ ssoOrganizationId: null });
    await expectError(await get(plain.token), 403, "sso_required");

    // Issued from an SSO session: accepted, and says so.
    const ssoCookie = sessionOf(await ssoSignIn(org.slug, ssoLogin(), { cookie: member.cookie }));
    const authorized = await issueToken(ssoCookie);
    expect(authorized).toMatchObject({ ssoOrganizationId: org.id });
    expect((await get(authorized.token)).status).toBe(200);

    // A token it creates inherits that; regenerating it from a session without SSO takes it away.
    const child = await call("/api/v1/tokens", {
      method: "POST",
      headers: { ...asBearer(authorized.token), "content-type": "application/json" },
      body: JSON.stringify({ name: "ci", scopes: ["orgs:read"], expiresAt: new Date(Date.now() + 864e5).toISOString() }),
    });
    const childToken = await body<{ token: string; ssoOrganizationId: string }>(child);
    expect(childToken.ssoOrganizationId).toBe(org.id);
    expect((await get(childToken.token)).status).toBe(200);

    const memberPlain = await plainSession(member.email);
    const regenerated = await body<{ token: string; ssoOrganizationId: string | null }>(
      await call(`/api/v1/tokens/${authorized.id}/regenerate`, {
        method: "POST",
        headers: { cookie: memberPlain, origin: ORIGIN, "content-type": "application/json" },
        body: "{}",
      }),
    );
    expect(regenerated.ssoOrganizationId).toBeNull();
    await expectError(await get(regenerated.token), 403, "sso_required");
  });
});

describe("the client secret", () => {
  it("never appears in a response, the audit log or the logs", async () => {
    const logs = [vi.spyOn(console, "log"), vi.spyOn(console, "error")];
    const seen: string[] = [];
    const record = async (res: Response) => {
      seen.push(`${res.status} ${JSON.stringify([...res.headers])} ${await res.clone().text()}`);
      return res;
    };
    const owner = await person("owner");
    const org = await createOrg(owner);
    await record(await as(owner, "PUT", `/api/v1/orgs/${org.id}/sso`, ssoSettings()));
    await record(await as(owner, "GET", `/api/v1/orgs/${org.id}/sso`));
    const test = await record(await as(owner, "POST", `/api/v1/orgs/${org.id}/sso/test`, {}));
    const link = new URL(((await test.json()) as { url: string }).url);
    await record(await throughSso(link.pathname + link.search, ssoLogin()));
    await record(await as(owner, "POST", `/api/v1/orgs/${org.id}/sso/activate`));
    const hire = await ssoSignIn(org.slug, ssoLogin());
    await record(hire);
    await record(await as(owner, "PUT", `/api/v1/orgs/${org.id}/sso`, ssoSettings({ clientSecret: `${CLIENTS.sso.secret}-2` })));
    await record(await as(owner, "GET", `/api/v1/orgs/${org.id}/audit-logs?limit=100`));
    await record(await call("/openapi.json"));
    const rows = await env.DB.prepare("SELECT * FROM audit_logs").all();
    seen.push(JSON.stringify(rows.results));
    seen.push(...logs.flatMap((spy) => spy.mock.calls.flat().map(String)));
    logs.forEach((spy) => spy.mockRestore());

    const everything = seen.join("\n");
    expect(everything).toContain(CLIENTS.sso.id);
    expect(everything).not.toContain(CLIENTS.sso.secret);
  });
});

/** A new session for an existing user, signed in without SSO (the development sign-in). */
async function plainSession(email: string): Promise<string> {
  return sessionOf(await call(`/auth/dev/login?email=${encodeURIComponent(email)}`));
}
