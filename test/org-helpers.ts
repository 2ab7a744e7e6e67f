import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { asBrowser, call, issueToken, json, signIn, uniqueEmail } from "./helpers";

export interface Person {
  id: string;
  email: string;
  cookie: string;
}

export async function person(tag = "user"): Promise<Person> {
  const email = uniqueEmail(tag);
  const cookie = await signIn(email);
  const me = (await (await call("/api/v1/me", { headers: { cookie } })).json()) as { id: string };
  return { id: me.id, email, cookie };
}

/** A JSON request as a same-site browser. */
export function as(who: Person, method: string, path: string, body?: unknown): Promise<Response> {
  const init = body === undefined ? { method } : json(body, method);
  return call(path, { ...init, headers: { ...(init.headers as Record<string, string>), ...asBrowser(who.cookie) } });
}

export async function createOrg(owner: Person, name = `Org ${Math.random().toString(36).slice(2, 8)}`) {
  const res = await as(owner, "POST", "/api/v1/orgs", { name });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; slug: string; name: string };
}

export async function invite(owner: Person, orgId: string, role = "member") {
  const res = await as(owner, "POST", `/api/v1/orgs/${orgId}/invitations`, { role });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; code: string; acceptPath: string };
}

export async function join(who: Person, code: string) {
  const res = await as(who, "POST", `/api/v1/invitations/${code}/accept`);
  expect(res.status).toBe(200);
  return res.json();
}

export async function createTeam(owner: Person, orgId: string, name = "core") {
  const res = await as(owner, "POST", `/api/v1/orgs/${orgId}/teams`, { name });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string };
}

export async function addToTeam(owner: Person, orgId: string, teamId: string, userId: string) {
  expect((await as(owner, "PUT", `/api/v1/orgs/${orgId}/teams/${teamId}/members/${userId}`)).status).toBe(204);
}

export async function block(who: Person) {
  await env.DB.prepare("UPDATE users SET blocked = 1 WHERE id = ?").bind(who.id).run();
}

/**
 * An organization with one person per relation, a team, a project, an invitation, a member
 * to act on, and a second organization with its own owner.
 */
export async function world() {
  const [owner, member, collaborator, teamMember, target, blocked, outsider, otherOwner] = await Promise.all(
    ["owner", "member", "collab", "teammember", "target", "blocked", "outsider", "otherowner"].map(person),
  ) as [Person, Person, Person, Person, Person, Person, Person, Person];
  const org = await createOrg(owner);
  const memberInvite = await invite(owner, org.id, "member");
  const collaboratorInvite = await invite(owner, org.id, "collaborator");
  for (const p of [member, teamMember, target, blocked]) await join(p, memberInvite.code);
  await join(collaborator, collaboratorInvite.code);
  const team = await createTeam(owner, org.id);
  await addToTeam(owner, org.id, team.id, teamMember.id);
  await addToTeam(owner, org.id, team.id, target.id);
  await createOrg(otherOwner);
  await block(blocked);
  const readOnlyToken = (await issueToken(owner.cookie, { scopes: ["orgs:read"] })).token;
  const projectRes = await as(owner, "POST", `/api/v1/orgs/${org.id}/projects`, { name: "world", repositoryUrl: "https://github.com/acme/world" });
  expect(projectRes.status).toBe(201);
  const project = (await projectRes.json()) as { id: string };
  return { org, team, project, invitation: memberInvite, owner, member, collaborator, teamMember, target, blocked, outsider, otherOwner, readOnlyToken };
}

export type World = Awaited<ReturnType<typeof world>>;
