import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { asBearer, asBrowser, issueToken, signIn } from "./helpers";
import { createOrg, person, world } from "./org-helpers";
import { createProject, scmHeaders } from "./project-helpers";
import { fakeAccount, startSignIn, throughFakeProvider } from "./sign-in-helpers";

/**
 * Wraps D1 to count round trips: each statement executed alone is one, each batch is one.
 * Work passed to waitUntil is counted too, once it settles.
 */
function countingD1(real: D1Database) {
  const counter = { roundTrips: 0 };
  const unwrap = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, property) {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== "function") return value;
        if (property === "bind") return (...args: unknown[]) => wrap(value.apply(target, args));
        if (["first", "all", "run", "raw"].includes(String(property))) {
          return (...args: unknown[]) => {
            counter.roundTrips++;
            return value.apply(target, args);
          };
        }
        return value.bind(target);
      },
    });
    unwrap.set(proxy, statement);
    return proxy;
  };
  const db = {
    prepare: (query: string) => wrap(real.prepare(query)),
    batch: (statements: D1PreparedStatement[]) => {
      counter.roundTrips++;
      return real.batch(statements.map((s) => unwrap.get(s) ?? s));
    },
  } as unknown as D1Database;
  return { db, counter };
}

async function measure(path: string, headers: Record<string, string>, status = 200, init: RequestInit = {}) {
  const { db, counter } = countingD1(env.DB);
  const pending: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => pending.push(p), passThroughOnException() {}, props: {} };
  const res = await createApp().request(path, { ...init, headers }, { ...env, DB: db }, ctx as unknown as ExecutionContext);
  expect(res.status, await res.clone().text()).toBe(status);
  await Promise.all(pending);
  return counter.roundTrips;
}

describe("D1 round trips per request", () => {
  it("GET /health makes none", async () => {
    expect(await measure("/health", {})).toBe(0);
  });

  it("GET /api/v1/me with a bearer token makes one, plus one write a minute at most", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie);
    expect(await measure("/api/v1/me", asBearer(token))).toBe(2); // first use: look-up + last-used write
    expect(await measure("/api/v1/me", asBearer(token))).toBe(1); // within the minute: look-up only
  });

  it("GET /api/v1/me with a session makes one", async () => {
    const cookie = await signIn();
    expect(await measure("/api/v1/me", asBrowser(cookie))).toBe(1);
  });

  it("GET /api/v1/tokens makes two: authentication and the page", async () => {
    const cookie = await signIn();
    for (let i = 0; i < 3; i++) await issueToken(cookie, { name: `t${i}` });
    expect(await measure("/api/v1/tokens?limit=100", asBrowser(cookie))).toBe(2);
  });

  it("organization lists make two at any page size: authentication, one batch (access + page)", async () => {
    const w = await world();
    const owner = asBrowser(w.owner.cookie);
    for (const limit of [1, 100]) {
      expect(await measure(`/api/v1/orgs?limit=${limit}`, owner)).toBe(2);
      expect(await measure(`/api/v1/orgs/${w.org.id}/members?limit=${limit}`, owner)).toBe(2);
      expect(await measure(`/api/v1/orgs/${w.org.id}/teams?limit=${limit}`, owner)).toBe(2);
      expect(await measure(`/api/v1/orgs/${w.org.id}/teams/${w.team.id}/members?limit=${limit}`, owner)).toBe(2);
      expect(await measure(`/api/v1/orgs/${w.org.id}/audit-logs?limit=${limit}`, owner)).toBe(2);
      expect(await measure(`/api/v1/orgs/${w.org.id}/invitations?limit=${limit}`, owner)).toBe(2);
    }
    expect(await measure(`/api/v1/orgs/${w.org.id}`, owner)).toBe(2);
  });

  it("a provider sign-in callback makes three: the look-ups, the writes with their audit rows, the session", async () => {
    const account = fakeAccount();
    for (const step of ["sign-up", "sign-in"]) {
      // First a sign-up (user, identity and audit rows in one batch), then a sign-in (identity and user updated).
      const { authorizeUrl, flowCookie } = await startSignIn("gitlab");
      const back = await throughFakeProvider(authorizeUrl, account);
      expect(await measure(back.href, { cookie: flowCookie }, 302), step).toBe(3);
    }
  });

  it("a webhook delivery makes two (the project, the delivery's record) before its 202; an unsigned one none", async () => {
    const owner = await person();
    const project = await createProject(owner, (await createOrg(owner)).id);
    const body = JSON.stringify({ ref: "refs/heads/main", after: "c".repeat(40), repository: { full_name: "Codertocat/Hello-World" } });
    const path = `/webhooks/github?project=${project.id}`;
    const signed = scmHeaders("github", "push", "round-trips-1", project.webhookSecret, body);
    expect(await measure(path, signed, 202, { method: "POST", body })).toBe(2);
    expect(await measure(path, signed, 202, { method: "POST", body })).toBe(2); // the redelivery
    const { "x-hub-signature-256": _signature, ...unsigned } = signed;
    expect(await measure(path, unsigned, 401, { method: "POST", body })).toBe(0);
  });
});
