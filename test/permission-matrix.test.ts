import { beforeAll, describe, expect, it } from "vitest";
import { can, PERMISSIONS, type Permission, type Relation } from "../src/auth/permissions";
import { grants } from "../src/auth/scopes";
import { env } from "cloudflare:workers";
import { asBearer, asBrowser, call, json } from "./helpers";
import { as, world, type World } from "./org-helpers";
import { configureSso, ssoSettings } from "./sso-helpers";

/**
 * Every organization route × every relation a caller can have, checked through HTTP.
 * The route's permission is read from the OpenAPI document (`x-permission`); the expected
 * outcome is generated from the permission model. A new org route without a fixture here
 * fails the first test.
 */

/** `body` may be made per run; `setup` prepares the world (as its owner) before any caller. */
type Fixture = { body?: unknown; ok: number; setup?: (w: World) => Promise<void> };

/** The organization has a single sign-on configuration (saved against the local identity provider). */
const ssoConfigured = async (w: World) => {
  await configureSso(w.owner, w.org.id);
};
const ssoVerified = async (w: World) => {
  await ssoConfigured(w);
  await env.DB.prepare("UPDATE org_sso SET state = 'verified' WHERE org_id = ?").bind(w.org.id).run();
};

/** The world's team may read the world's project. */
const projectGranted = async (w: World) => {
  const res = await as(w.owner, "PUT", `/api/v1/orgs/${w.org.id}/teams/${w.team.id}/projects/${w.project.id}`, { access: "read" });
  expect(res.status).toBe(200);
};

const FIXTURES: Record<string, Fixture> = {
  "GET /api/v1/orgs/{orgId}": { ok: 200 },
  "PATCH /api/v1/orgs/{orgId}": { body: { name: "Renamed" }, ok: 200 },
  "DELETE /api/v1/orgs/{orgId}": { ok: 204 },
  "GET /api/v1/orgs/{orgId}/audit-logs": { ok: 200 },
  "GET /api/v1/orgs/{orgId}/members": { ok: 200 },
  "PATCH /api/v1/orgs/{orgId}/members/{userId}": { body: { role: "collaborator" }, ok: 200 },
  "DELETE /api/v1/orgs/{orgId}/members/{userId}": { ok: 204 },
  "POST /api/v1/orgs/{orgId}/invitations": { body: { role: "member" }, ok: 201 },
  "GET /api/v1/orgs/{orgId}/invitations": { ok: 200 },
  "DELETE /api/v1/orgs/{orgId}/invitations/{invitationId}": { ok: 204 },
  "POST /api/v1/orgs/{orgId}/invitations/{invitationId}/reset": { body: {}, ok: 200 },
  "GET /api/v1/orgs/{orgId}/teams": { ok: 200 },
  "POST /api/v1/orgs/{orgId}/teams": { body: { name: "new team" }, ok: 201 },
  "GET /api/v1/orgs/{orgId}/teams/{teamId}": { ok: 200 },
  "PATCH /api/v1/orgs/{orgId}/teams/{teamId}": { body: { name: "renamed team" }, ok: 200 },
  "DELETE /api/v1/orgs/{orgId}/teams/{teamId}": { ok: 204 },
  "GET /api/v1/orgs/{orgId}/teams/{teamId}/members": { ok: 200 },
  "PUT /api/v1/orgs/{orgId}/teams/{teamId}/members/{userId}": { ok: 204 },
  "DELETE /api/v1/orgs/{orgId}/teams/{teamId}/members/{userId}": { ok: 204 },
  "POST /api/v1/orgs/{orgId}/runners": { body: { name: "runner-1" }, ok: 201 },
  "GET /api/v1/orgs/{orgId}/runners": { ok: 200 },
  "GET /api/v1/orgs/{orgId}/sso": { ok: 200, setup: ssoConfigured },
  "PUT /api/v1/orgs/{orgId}/sso": { body: ssoSettings(), ok: 200 },
  "DELETE /api/v1/orgs/{orgId}/sso": { ok: 204, setup: ssoConfigured },
  "POST /api/v1/orgs/{orgId}/sso/test": { body: {}, ok: 200, setup: ssoConfigured },
  "POST /api/v1/orgs/{orgId}/sso/activate": { ok: 200, setup: ssoVerified },
  "POST /api/v1/orgs/{orgId}/projects": { body: { name: "matrix", repositoryUrl: "https://github.com/acme/matrix" }, ok: 201 },
  "GET /api/v1/orgs/{orgId}/projects": { ok: 200 },
  "GET /api/v1/orgs/{orgId}/teams/{teamId}/projects": { ok: 200 },
  "PUT /api/v1/orgs/{orgId}/teams/{teamId}/projects/{projectId}": { body: { access: "write" }, ok: 200 },
  "DELETE /api/v1/orgs/{orgId}/teams/{teamId}/projects/{projectId}": { ok: 204, setup: projectGranted },
};

/** How each kind of caller relates to the org and its team, and what credential it uses. */
const CALLERS = {
  owner: { role: "owner", inTeam: false, scopes: ["*"] },
  member: { role: "member", inTeam: false, scopes: ["*"] },
  collaborator: { role: "collaborator", inTeam: false, scopes: ["*"] },
  teamMember: { role: "member", inTeam: true, scopes: ["*"] },
  outsider: { role: null, inTeam: false, scopes: ["*"] },
  otherOwner: { role: null, inTeam: false, scopes: ["*"] },
  readOnlyToken: { role: "owner", inTeam: false, scopes: ["orgs:read"] },
  blocked: { role: "member", inTeam: false, scopes: ["*"] },
} as const;
type CallerName = keyof typeof CALLERS;

function relationsOf(caller: CallerName, permission: Permission): Set<Relation> {
  const { role, inTeam } = CALLERS[caller];
  if (!role) return new Set();
  if (PERMISSIONS[permission].on === "organization") return new Set<Relation>([role]);
  return new Set<Relation>([`parent->${role}`, ...(inTeam ? (["member"] as const) : [])]);
}

/** The status and error code the model predicts. */
function expected(caller: CallerName, permission: Permission, fixture: Fixture): { status: number; code?: string } {
  if (caller === "blocked") return { status: 403, code: "account_blocked" };
  const scopes = CALLERS[caller].scopes;
  if (!grants(scopes, PERMISSIONS[permission].scope)) return { status: 403, code: "insufficient_scope" };
  const relations = relationsOf(caller, permission);
  if (can({ scopes }, permission, relations)) return { status: fixture.ok };
  return relations.size === 0 ? { status: 404, code: "not_found" } : { status: 403, code: "forbidden" };
}

function request(w: World, caller: CallerName, method: string, template: string, body: unknown) {
  const path = template
    .replace("{orgId}", w.org.id)
    .replace("{teamId}", w.team.id)
    .replace("{userId}", w.target.id)
    .replace("{invitationId}", w.invitation.id)
    .replace("{projectId}", w.project.id);
  const credential =
    caller === "readOnlyToken" ? asBearer(w.readOnlyToken) : asBrowser((w[caller as Exclude<CallerName, "readOnlyToken">]).cookie);
  const init = body === undefined ? { method } : json(body, method);
  return call(path, { ...init, headers: { ...(init.headers as Record<string, string>), ...credential } });
}

let routes: { key: string; method: string; path: string; permission: Permission }[] = [];

beforeAll(async () => {
  const doc = (await (await call("/openapi.json")).json()) as {
    paths: Record<string, Record<string, { "x-permission"?: Permission }>>;
  };
  routes = Object.entries(doc.paths)
    .filter(([path]) => path.startsWith("/api/v1/orgs/{orgId}"))
    .flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        permission: op["x-permission"]!,
      })),
    );
});

describe("permission matrix", () => {
  it("has a fixture for every organization route, and each route names its permission", () => {
    expect(routes.map((r) => r.key).sort()).toEqual(Object.keys(FIXTURES).sort());
    for (const route of routes) expect(PERMISSIONS[route.permission], route.key).toBeDefined();
  });

  it.each(Object.keys(FIXTURES))("%s answers every caller as the model says", async (key) => {
    const route = routes.find((r) => r.key === key)!;
    const fixture = FIXTURES[key]!;
    const w = await world();
    await fixture.setup?.(w);
    // Refusals first, on the untouched world; then the allowed callers, which may change it
    // (each route allows at most one writer, so one world per route suffices).
    const callers = (Object.keys(CALLERS) as CallerName[]).sort(
      (a, b) => Number(expected(a, route.permission, fixture).status < 300) - Number(expected(b, route.permission, fixture).status < 300),
    );
    const outcomes: string[] = [];
    const predictions: string[] = [];
    for (const caller of callers) {
      const want = expected(caller, route.permission, fixture);
      const res = await request(w, caller, route.method, route.path, fixture.body);
      const code = res.status >= 400 ? ((await res.json()) as { error: { code: string } }).error.code : undefined;
      outcomes.push(`${caller}: ${res.status}${code ? ` ${code}` : ""}`);
      predictions.push(`${caller}: ${want.status}${want.code ? ` ${want.code}` : ""}`);
    }
    expect(outcomes).toEqual(predictions);
  });
});
