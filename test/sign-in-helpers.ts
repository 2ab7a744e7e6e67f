import { expect } from "vitest";
import { CLIENTS, ORIGIN, type FakeAccount } from "./fixtures";
import { call } from "./helpers";

/**
 * Drives a browser through a provider sign-in: the Worker's login route, the provider's own
 * pages (the local OpenID Connect provider, or a fake provider's authorize endpoint), and
 * back to the Worker's callback, carrying cookies as a browser would.
 */

/** `name=value` of a cookie a response sets, or null. */
export function setCookie(res: Response, name: string): string | null {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  return line ? line.split(";")[0]! : null;
}

export const SIGN_IN_COOKIE = "__Host-edgepod_signin";
export const SESSION_COOKIE = "__Host-edgepod_session";

export interface StartedSignIn {
  /** Where the Worker sent the browser. */
  authorizeUrl: URL;
  /** The sign-in flow cookie the Worker set. */
  flowCookie: string;
}

/** GET /auth/<provider>/login, as a browser that may already carry cookies. */
export async function startSignIn(provider: string, query = "", cookie?: string): Promise<StartedSignIn> {
  const res = await call(`/auth/${provider}/login${query}`, cookie ? { headers: { cookie } } : {});
  expect(res.status, await res.clone().text()).toBe(302);
  const flowCookie = setCookie(res, SIGN_IN_COOKIE);
  expect(flowCookie).not.toBeNull();
  return { authorizeUrl: new URL(res.headers.get("location")!), flowCookie: flowCookie! };
}

/** The Worker's callback, with the browser's cookies. */
export function callback(url: URL, ...cookies: (string | null | undefined)[]): Promise<Response> {
  expect(url.origin).toBe(ORIGIN);
  const cookie = cookies.filter(Boolean).join("; ");
  return call(url.pathname + url.search, cookie ? { headers: { cookie } } : {});
}

/** A minimal browser cookie jar for one site (the provider). */
class CookieJar {
  #cookies = new Map<string, string>();
  absorb(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const [name = "", value = ""] = pair.split(/=(.*)/s);
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split("=")[1]!) < Date.now()));
      if (expired || value === "") this.#cookies.delete(name.trim());
      else this.#cookies.set(name.trim(), value);
    }
  }
  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

/**
 * Through the local OpenID Connect provider's pages: signs in as `login` on its login form (or
 * aborts there) and follows redirects until it sends the browser back to the Worker. Returns
 * that URL.
 */
export async function throughOidcProvider(authorizeUrl: URL, login: string, action: "login" | "abort" = "login"): Promise<URL> {
  const jar = new CookieJar();
  let url = authorizeUrl;
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(url, { headers: { cookie: jar.header() }, redirect: "manual" });
    jar.absorb(res);
    let location = res.headers.get("location");
    if (res.status === 200 && url.pathname.startsWith("/interaction/")) {
      await res.body?.cancel();
      const answered =
        action === "abort"
          ? await fetch(`${url.href}/abort`, { headers: { cookie: jar.header() }, redirect: "manual" })
          : await fetch(url, {
              method: "POST",
              headers: { cookie: jar.header(), "content-type": "application/x-www-form-urlencoded" },
              body: new URLSearchParams({ prompt: "login", login, password: "any" }),
              redirect: "manual",
            });
      jar.absorb(answered);
      location = answered.headers.get("location");
    }
    if (!location) throw new Error(`The provider answered ${res.status} at ${url.pathname}: ${await res.text()}`);
    const next = new URL(location, url);
    if (next.origin === ORIGIN) return next;
    url = next;
  }
  throw new Error("Too many redirects at the provider.");
}

let accounts = 0;
/** A fresh fake provider account (unique id, login and e-mail). */
export function fakeAccount(overrides: Partial<FakeAccount> = {}): FakeAccount {
  const n = `${Date.now()}${++accounts}`;
  return { id: n, login: `user${n}`, name: `User ${n}`, email: `user${n}@example.com`, emailVerified: true, ...overrides };
}

/** Through a fake provider's authorize endpoint, signing in as `account`; returns the callback URL. */
export async function throughFakeProvider(authorizeUrl: URL, account: FakeAccount): Promise<URL> {
  const url = new URL(authorizeUrl);
  url.searchParams.set("fake_account", btoa(JSON.stringify(account)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));
  const res = await fetch(url, { redirect: "manual" });
  expect(res.status, await res.clone().text()).toBe(302);
  return new URL(res.headers.get("location")!);
}

/** The whole sign-in at a fake provider; returns the callback's response. */
export async function signInWith(provider: keyof typeof CLIENTS, account: FakeAccount, options: { query?: string; cookie?: string } = {}) {
  const { authorizeUrl, flowCookie } = await startSignIn(provider, options.query, options.cookie);
  const back = provider === "oidc" ? await throughOidcProvider(authorizeUrl, account.login) : await throughFakeProvider(authorizeUrl, account);
  return callback(back, flowCookie, options.cookie);
}
