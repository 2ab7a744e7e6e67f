import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { ORIGIN } from "./fixtures";

export { ORIGIN } from "./fixtures";

/** A request to the Worker through its real fetch handler. */
export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(ORIGIN + path, { redirect: "manual", ...init }));
}

export function json(body: unknown, method = "POST"): RequestInit {
  return { method, body: JSON.stringify(body), headers: { "content-type": "application/json" } };
}

let counter = 0;
/** A fresh e-mail per call: storage is shared by the tests of one file. */
export const uniqueEmail = (tag = "user") => `${tag}-${Date.now()}-${++counter}@example.com`;

/** Signs in through the dev login and returns the session cookie (`name=value`). */
export async function signIn(email = uniqueEmail()): Promise<string> {
  const res = await call(`/auth/dev/login?email=${encodeURIComponent(email)}`);
  expect(res.status).toBe(302);
  const cookie = res.headers.get("set-cookie") ?? "";
  const pair = cookie.split(";")[0]!;
  expect(pair).toMatch(/^__Host-edgepod_session=[a-z2-7]{52}$/);
  return pair;
}

/** Headers of a same-site browser request carrying the session cookie. */
export function asBrowser(cookie: string, extra: Record<string, string> = {}): Record<string, string> {
  return { cookie, origin: ORIGIN, ...extra };
}

export function asBearer(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...extra };
}

export const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

export interface IssuedToken {
  id: string;
  token: string;
  scopes: string[];
  expiresAt: string;
}

/** Creates a token as the signed-in browser user. */
export async function issueToken(cookie: string, body: Partial<Record<string, unknown>> = {}): Promise<IssuedToken> {
  const res = await call("/api/v1/tokens", {
    method: "POST",
    body: JSON.stringify({ name: "test", scopes: ["*"], expiresAt: inDays(30), ...body }),
    headers: { "content-type": "application/json", ...asBrowser(cookie) },
  });
  expect(res.status).toBe(201);
  return res.json();
}

/** Asserts the one error shape and returns its body. */
export async function expectError(res: Response, status: number, code?: string) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { code: string; message: string; requestId: string; fields?: unknown[] } };
  expect(body.error.requestId).toBe(res.headers.get("x-request-id"));
  expect(typeof body.error.message).toBe("string");
  if (code) expect(body.error.code).toBe(code);
  return body.error;
}

export { env };
