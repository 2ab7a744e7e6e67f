import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { asBearer, call, expectError, issueToken } from "./helpers";
import { addToTeam, as, createOrg, createTeam, invite, join, person, type Person } from "./org-helpers";
import { createProject, type CreatedProject } from "./project-helpers";

let owner: Person;
let member: Person;
let collaborator: Person;
let outsider: Person;
let orgId: string;

beforeAll(async () => {
  [owner, member, collaborator, outsider] = await Promise.all(["owner", "member", "collab", "outsider"].map(person)) as [Person, Person, Person, Person];
  orgId = (await createOrg(owner)).id;
  await join(member, (await invite(owner, orgId, "member")).code);
  await join(collaborator, (await invite(owner, orgId, "collaborator")).code);
});

const get = (who: Person, id: string) => as(who, "GET", `/api/v1/projects/${id}`);
const names = async (who: Person) =>
  ((await (await as(who, "GET", `/api/v1/orgs/${orgId}/projects`)).json()) as { items: { name: string }[] }).items.map((p) => p.name);

describe("projects", () => {
  it("are created with a sealed webhook secret shown once, a webhook URL and default prebuild settings", async () => {
    const created = await createProject(owner, orgId, { name: "web", repositoryUrl: "https://github.com/acme/web.git" });
    expect(created).toMatchObject({
      organizationId: orgId,
      name: "web",
      repositoryUrl: "https://github.com/acme/web",
      repository: { provider: "github", host: "github.com", fullName: "acme/web", cloneUrl: "https://github.com/acme/web.git" },
      defaultBranch: null,
      prebuilds: { enabled: true, branchStrategy: "default-branch", branchPatterns: [], timeoutMinutes: 60 },
      webhook: { provider: "github", url: `https://edgepod.test/webhooks/github?project=${created.id}` },
    });
    expect(created.webhookSecret).toMatch(/^[a-z2-7]{32}$/);
    const fetched = (await (await get(owner, created.id)).json()) as Record<string, unknown>;
    expect(fetched).not.toHaveProperty("webhookSecret");
    expect(fetched.webhook).toEqual(created.webhook);
    const audit = await env.DB.prepare("SELECT after FROM audit_logs WHERE action = 'project.create' AND target_id = ?").bind(created.id).first<{ after: string }>();
    expect(audit!.after).not.toContain(created.webhookSecret);
  });

  it("refuse what is not a repository, hosts the organization disallows, inconsistent settings and taken names", async () => {
    const post = (body: unknown) => as(owner, "POST", `/api/v1/orgs/${orgId}/projects`, body);
    const bad = async (body: unknown, path: string) => {
      const error = await expectError(await post(body), 400);
      expect(error.fields?.map((f) => (f as { path: string }).path)).toContain(path);
    };
    await bad({ name: "x", repositoryUrl: "ftp://example.com/repo" }, "repositoryUrl");
    await bad({ name: "x", repositoryUrl: "https://github.com/acme/web/tree/main" }, "repositoryUrl");
    await bad({ name: "x", repositoryUrl: "https://github.com/acme/web", prebuilds: { branchStrategy: "matched-branches" } }, "prebuilds.branchPatterns");
    await bad({ name: "x", repositoryUrl: "https://github.com/acme/web", prebuilds: { timeoutMinutes: 1 } }, "prebuilds.timeoutMinutes");
    await createProject(owner, orgId, { name: "taken" });
    await expectError(await post({ name: "taken", repositoryUrl: "https://github.com/acme/other" }), 409, "project_name_taken");
  });

  it("are changed with settings merged, and deleted", async () => {
    const project = await createProject(owner, orgId);
    const res = await as(owner, "PATCH", `/api/v1/projects/${project.id}`, {
      name: "renamed",
      defaultBranch: "develop",
      prebuilds: { branchStrategy: "matched-branches", branchPatterns: ["release/*"] },
    });
    expect(res.status).toBe(200);
    const updated = (await res.json()) as CreatedProject;
    expect(updated).toMatchObject({
      name: "renamed",
      defaultBranch: "develop",
      prebuilds: { enabled: true, branchStrategy: "matched-branches", branchPatterns: ["release/*"], timeoutMinutes: 60 },
      webhookSecret: null,
    });
    await expectError(await as(owner, "PATCH", `/api/v1/projects/${project.id}`, { prebuilds: { branchPatterns: [] } }), 400);
    await expectError(await as(owner, "PATCH", `/api/v1/projects/${project.id}`, { repositoryUrl: "https://github.com/x/y" }), 400);
    expect((await as(owner, "DELETE", `/api/v1/projects/${project.id}`)).status).toBe(204);
    await expectError(await get(owner, project.id), 404);
  });
});

describe("who may do what", () => {
  it("members read every project; collaborators only those granted to their teams; outsiders nothing", async () => {
    const project = await createProject(owner, orgId, { name: "visible" });
    expect((await get(member, project.id)).status).toBe(200);
    expect(await names(member)).toContain("visible");
    // Related to the project (through the organization) but not allowed: 403, as the model says.
    await expectError(await get(collaborator, project.id), 403, "forbidden");
    expect(await names(collaborator)).not.toContain("visible");
    await expectError(await get(outsider, project.id), 404);
    await expectError(await as(outsider, "GET", `/api/v1/orgs/${orgId}/projects`), 404);
    await expectError(await as(member, "PATCH", `/api/v1/projects/${project.id}`, { name: "nope" }), 403, "forbidden");
    await expectError(await as(member, "POST", `/api/v1/orgs/${orgId}/projects`, { name: "m", repositoryUrl: "https://github.com/a/b" }), 403);
  });

  it("team grants give a team's members read or write access, and revoking takes it away", async () => {
    const project = await createProject(owner, orgId, { name: "granted" });
    const team = await createTeam(owner, orgId, "granted-team");
    await addToTeam(owner, orgId, team.id, collaborator.id);
    const grant = (access: string) => as(owner, "PUT", `/api/v1/orgs/${orgId}/teams/${team.id}/projects/${project.id}`, { access });

    const read = await grant("read");
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ projectId: project.id, projectName: "granted", access: "read" });
    expect((await get(collaborator, project.id)).status).toBe(200);
    expect(await names(collaborator)).toEqual(["granted"]);
    await expectError(await as(collaborator, "PATCH", `/api/v1/projects/${project.id}`, { name: "by collaborator" }), 403, "forbidden");

    expect(((await (await grant("write")).json()) as { access: string }).access).toBe("write");
    expect((await as(collaborator, "PATCH", `/api/v1/projects/${project.id}`, { name: "by collaborator" })).status).toBe(200);
    // Writers change a project; deleting it is for the organization's owners.
    await expectError(await as(collaborator, "DELETE", `/api/v1/projects/${project.id}`), 403, "forbidden");

    const listed = (await (await as(owner, "GET", `/api/v1/orgs/${orgId}/teams/${team.id}/projects`)).json()) as { items: { access: string }[] };
    expect(listed.items).toEqual([expect.objectContaining({ projectId: project.id, access: "write" })]);
    const audit = await env.DB.prepare("SELECT action FROM audit_logs WHERE org_id = ? AND action LIKE 'team.project.%'").bind(orgId).all<{ action: string }>();
    expect(audit.results.map((a) => a.action)).toEqual(["team.project.grant", "team.project.grant"]);

    expect((await as(owner, "DELETE", `/api/v1/orgs/${orgId}/teams/${team.id}/projects/${project.id}`)).status).toBe(204);
    await expectError(await get(collaborator, project.id), 403, "forbidden");
    await expectError(await as(owner, "DELETE", `/api/v1/orgs/${orgId}/teams/${team.id}/projects/${project.id}`), 404);
  });

  it("a grant names a project of the same organization", async () => {
    const other = await createOrg(owner);
    const foreign = await createProject(owner, other.id);
    const team = await createTeam(owner, orgId, "cross-org");
    await expectError(await as(owner, "PUT", `/api/v1/orgs/${orgId}/teams/${team.id}/projects/${foreign.id}`, { access: "read" }), 404);
  });

  it("tokens need the projects scopes", async () => {
    const project = await createProject(owner, orgId);
    const orgsOnly = await issueToken(owner.cookie, { scopes: ["orgs:read"] });
    await expectError(await call(`/api/v1/projects/${project.id}`, { headers: asBearer(orgsOnly.token) }), 403, "insufficient_scope");
    const projectsRead = await issueToken(owner.cookie, { scopes: ["projects:read"] });
    expect((await call(`/api/v1/projects/${project.id}`, { headers: asBearer(projectsRead.token) })).status).toBe(200);
  });
});
