import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { CLIENTS } from "./fixtures";
import { call } from "./helpers";
import { as, createOrg, person, type Person } from "./org-helpers";
import { callback, SESSION_COOKIE, setCookie, startSignIn, throughOidcProvider } from "./sign-in-helpers";

/**
 * Organization single sign-on in tests: the organizations' identity provider is a second
 * local `oidc-provider` (test/node/oidc-provider.ts, `organizations`), whose accounts have
 * e-mail `<login>@corp.test`.
 */

export type SsoConfig = { issuer: string; clientId: string; state: string; callbackUrl: string; loginUrl: string };

/** Settings that work against the local identity provider. */
export const ssoSettings = (overrides: Record<string, unknown> = {}) => ({
  issuer: env.TEST_SSO_ISSUER,
  clientId: CLIENTS.sso.id,
  clientSecret: CLIENTS.sso.secret,
  ...overrides,
});

let n = 0;
/** A fresh login at the identity provider (its `sub`). */
export const ssoLogin = (tag = "sso") => `${tag}-${Date.now()}-${++n}`;

export async function configureSso(owner: Person, orgId: string, overrides: Record<string, unknown> = {}): Promise<SsoConfig> {
  const res = await as(owner, "PUT", `/api/v1/orgs/${orgId}/sso`, ssoSettings(overrides));
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

/** The test link from `POST …/sso/test`, as a path on the Worker. */
export async function testLink(owner: Person, orgId: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await as(owner, "POST", `/api/v1/orgs/${orgId}/sso/test`, body);
  expect(res.status, await res.clone().text()).toBe(200);
  const url = new URL(((await res.json()) as { url: string }).url);
  return url.pathname + url.search;
}

/** Runs a browser flow from a Worker path that redirects to the identity provider; returns the callback's response. */
export async function throughSso(path: string, login: string, cookie?: string): Promise<Response> {
  const start = await call(path, cookie ? { headers: { cookie } } : {});
  expect(start.status, await start.clone().text()).toBe(302);
  const flowCookie = setCookie(start, "__Host-edgepod_signin");
  const back = await throughOidcProvider(new URL(start.headers.get("location")!), login);
  return callback(back, flowCookie, cookie);
}

/** A test sign-in through the owner's link; returns the callback's response. */
export async function runTest(owner: Person, orgId: string, login = ssoLogin("tester")): Promise<Response> {
  return throughSso(await testLink(owner, orgId), login);
}

export async function activate(owner: Person, orgId: string): Promise<SsoConfig> {
  const res = await as(owner, "POST", `/api/v1/orgs/${orgId}/sso/activate`);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

/** An organization whose single sign-on is configured, verified and active. */
export async function ssoOrg(owner?: Person) {
  const who = owner ?? (await person("owner"));
  const org = await createOrg(who);
  await configureSso(who, org.id);
  expect((await runTest(who, org.id)).status).toBe(302);
  await activate(who, org.id);
  return { owner: who, org };
}

/** A whole sign-in at `/auth/sso/<slug>/login`; returns the callback's response. */
export async function ssoSignIn(slug: string, login: string, options: { cookie?: string; query?: string } = {}) {
  const { authorizeUrl, flowCookie } = await startSignIn(`sso/${slug}`, options.query ?? "", options.cookie);
  return callback(await throughOidcProvider(authorizeUrl, login), flowCookie, options.cookie);
}

/** The session cookie a response set (fails when none). */
export function sessionOf(res: Response): string {
  const cookie = setCookie(res, SESSION_COOKIE);
  expect(cookie, `no session cookie (status ${res.status})`).not.toBeNull();
  return cookie!;
}

/** A person signed in through the organization's single sign-on, with that session. */
export async function ssoPerson(slug: string, login = ssoLogin()): Promise<Person & { login: string }> {
  const res = await ssoSignIn(slug, login);
  expect(res.status, await res.clone().text()).toBe(302);
  const cookie = sessionOf(res);
  const me = (await (await call("/api/v1/me", { headers: { cookie } })).json()) as { id: string; email: string };
  return { id: me.id, email: me.email, cookie, login };
}

/** Sets the org's requireSso setting as its owner. */
export async function requireSso(owner: Person, orgId: string, on = true) {
  const res = await as(owner, "PATCH", `/api/v1/orgs/${orgId}`, { settings: { requireSso: on } });
  expect(res.status, await res.clone().text()).toBe(200);
}
