import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { organizations, orgMembers, prebuilds, projectRefs, projects, type Prebuild, type Project } from "../db/schema";
import { ApiError, BadRequest, Conflict } from "../lib/errors";
import { newId } from "../lib/ids";
import { toPage, type Page } from "../lib/pagination";
import { upgradeResponse } from "../lib/websocket";
import type { Build, PrebuildJob } from "../prebuilds/messages";
import { prebuildRecord } from "../prebuilds/record";
import { FINISHED, type PrebuildState, type PrebuildTrigger } from "../prebuilds/state";
import { readWorkspaceConfig } from "../workspaces/config";
import { orgPolicyColumns } from "./org-access";
import { authorizeProject, projectAccessQuery, teamGrantColumn } from "./project-access";

/**
 * Prebuilds: one record per project and commit (the unique index collapses duplicates),
 * whose headless workspace is the WorkspaceDO named by the record's id. Whoever makes a
 * record (the scm-events consumer, a manual trigger) creates that workspace, queued, and
 * puts a dispatch on the `prebuilds` queue; the consumer there schedules it on a runner.
 */
export const prebuildStub = (env: Env, id: string) => env.WORKSPACE.get(env.WORKSPACE.idFromName(id));

export interface Origin {
  trigger: PrebuildTrigger;
  deliveryId: string | null;
  triggeredBy: string | null;
}

/**
 * The statement that makes the prebuild of `build.commit` for the project, or — when one
 * exists (the unique index) — returns that one unchanged; a query builder, so callers can
 * batch it. `id` tells which happened: the returned row has it only if this made it.
 */
export function prebuildUpsert(db: Database, project: Project, build: Build, origin: Origin) {
  const now = new Date();
  const row: Prebuild = {
    id: newId("pb"),
    projectId: project.id,
    orgId: project.orgId,
    commitSha: build.commit,
    ref: build.ref,
    pullRequest: build.pullRequest,
    ...origin,
    state: "queued",
    reason: null,
    phase: "preparing",
    attempt: 1,
    runnerId: null,
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: null,
  };
  const query = db
    .insert(prebuilds)
    .values(row)
    // A no-op update, so that RETURNING gives the existing row too: one round trip either way.
    .onConflictDoUpdate({ target: [prebuilds.projectId, prebuilds.commitSha], set: { projectId: sql`${prebuilds.projectId}` } })
    .returning();
  return { id: row.id, query };
}

/**
 * Makes the queued workspace of each prebuild this caller owns: one it made — or one made
 * by the same delivery and still queued (a consumer retried after failing half-way), which
 * the caller then dispatches again. A duplicate from another delivery or trigger collapses
 * into the existing prebuild: `created` is false.
 */
export async function adoptPrebuild(env: Env, project: Project, madeId: string, prebuild: Prebuild, origin: Origin) {
  const ours = prebuild.id === madeId || (origin.deliveryId !== null && prebuild.deliveryId === origin.deliveryId && prebuild.state === "queued");
  if (ours) await prebuildStub(env, prebuild.id).create(prebuildRecord(project, prebuild, readWorkspaceConfig(env).pendingTimeoutMs));
  return { prebuild, created: ours };
}

/** The prebuild of `build.commit` for the project, made (with its queued workspace) unless one exists. */
export async function queuePrebuild(env: Env, db: Database, project: Project, build: Build, origin: Origin): Promise<{ prebuild: Prebuild; created: boolean }> {
  const { id, query } = prebuildUpsert(db, project, build, origin);
  const [prebuild] = await query;
  return adoptPrebuild(env, project, id, prebuild!, origin);
}

/** Puts dispatches on the `prebuilds` queue (a repeated one is harmless: dispatch is idempotent). */
export async function enqueueDispatches(env: Env, list: Pick<Prebuild, "id" | "attempt">[]): Promise<void> {
  if (list.length === 0) return;
  const jobs: PrebuildJob[] = list.map((p) => ({ v: 1, prebuildId: p.id, attempt: p.attempt }));
  await env.PREBUILDS.sendBatch(jobs.map((body) => ({ body })));
}

// ── the API ──────────────────────────────────────────────────────────────────────────

const prebuildAccessQuery = (db: Database, prebuildId: string, userId: string) =>
  db
    .select({ prebuild: prebuilds, project: projects, role: orgMembers.role, teamGrant: teamGrantColumn(userId), ...orgPolicyColumns })
    .from(prebuilds)
    .innerJoin(projects, eq(projects.id, prebuilds.projectId))
    .innerJoin(organizations, eq(organizations.id, prebuilds.orgId))
    .leftJoin(orgMembers, and(eq(orgMembers.orgId, prebuilds.orgId), eq(orgMembers.userId, userId)))
    .where(eq(prebuilds.id, prebuildId))
    .limit(1);

/** The prebuild (and its project) if `permission` on its project allows; one query. */
async function loadPrebuild(db: Database, caller: Caller, id: string, permission: "project.prebuilds.read" | "project.prebuilds.run") {
  const [access] = await prebuildAccessQuery(db, id, caller.user.id);
  const project = authorizeProject(caller, permission, access);
  return { prebuild: access!.prebuild, project };
}

export async function getPrebuild(db: Database, caller: Caller, id: string): Promise<Prebuild> {
  return (await loadPrebuild(db, caller, id, "project.prebuilds.read")).prebuild;
}

export async function listPrebuilds(
  db: Database,
  caller: Caller,
  projectId: string,
  filter: { ref?: string | undefined; state?: PrebuildState | undefined },
  page: { limit: number; after: string | undefined },
): Promise<Page<Prebuild>> {
  const [[access], rows] = await db.batch([
    projectAccessQuery(db, projectId, caller.user.id),
    db
      .select()
      .from(prebuilds)
      .where(
        and(
          eq(prebuilds.projectId, projectId),
          filter.ref ? eq(prebuilds.ref, filter.ref) : undefined,
          filter.state ? eq(prebuilds.state, filter.state) : undefined,
          page.after ? lt(prebuilds.id, page.after) : undefined,
        ),
      )
      .orderBy(desc(prebuilds.id))
      .limit(page.limit + 1),
  ]);
  authorizeProject(caller, "project.prebuilds.read", access);
  return toPage(rows, page.limit);
}

const maintenance = () => new ApiError(409, "maintenance_mode", "The organization is in maintenance mode: no prebuild may start now.");

/**
 * A manual trigger: the prebuild of `commit` (or of the head the webhooks last reported for
 * `branch`, the default branch when neither is given). A new one is queued (201); one in
 * progress is returned as it is; a finished one is run again as its next attempt.
 */
export async function triggerPrebuild(
  env: Env,
  db: Database,
  caller: Caller,
  projectId: string,
  input: { branch?: string | undefined; commit?: string | undefined },
): Promise<{ prebuild: Prebuild; created: boolean }> {
  const [[access], [org], [head]] = await db.batch([
    projectAccessQuery(db, projectId, caller.user.id),
    db
      .select({ maintenance: sql<boolean>`coalesce(json_extract(${organizations.settings}, '$.maintenanceMode'), 0)`.mapWith(Boolean).as("maintenance") })
      .from(organizations)
      .innerJoin(projects, eq(projects.orgId, organizations.id))
      .where(eq(projects.id, projectId)),
    db
      .select({ commitSha: projectRefs.commitSha })
      .from(projectRefs)
      .where(
        and(
          eq(projectRefs.projectId, projectId),
          eq(projectRefs.ref, input.branch ? sql`${input.branch}` : sql`(select ${projects.defaultBranch} from ${projects} where ${projects.id} = ${projectId})`),
        ),
      ),
  ]);
  const project = authorizeProject(caller, "project.prebuilds.run", access);
  if (org?.maintenance) throw maintenance();
  const branch = input.branch ?? project.defaultBranch;
  const commit = input.commit?.toLowerCase() ?? head?.commitSha;
  if (!branch) throw new BadRequest("Name the branch: the project's default branch is not known yet.", [{ path: "branch", message: "Required." }]);
  if (!commit) {
    throw new BadRequest(`No commit of "${branch}" is known yet: give \`commit\`, or push to the branch.`, [{ path: "commit", message: "Required." }]);
  }
  const origin: Origin = { trigger: "manual", deliveryId: null, triggeredBy: caller.user.id };
  const queued = await queuePrebuild(env, db, project, { ref: branch, branch, commit, pullRequest: null }, origin);
  if (queued.created) {
    await enqueueDispatches(env, [queued.prebuild]);
    return queued;
  }
  if (!FINISHED.has(queued.prebuild.state)) return queued;
  return { prebuild: await rerun(env, db, project, queued.prebuild, caller), created: false };
}

/** Runs a finished prebuild again, as its next attempt. */
async function rerun(env: Env, db: Database, project: Project, prebuild: Prebuild, caller: Caller): Promise<Prebuild> {
  const attempt = prebuild.attempt + 1;
  await db
    .update(prebuilds)
    .set({ trigger: "manual", deliveryId: null, triggeredBy: caller.user.id })
    .where(eq(prebuilds.id, prebuild.id));
  const stub = prebuildStub(env, prebuild.id);
  const result = await stub.rerun(attempt, project.prebuildSettings.timeoutMinutes * 60_000);
  if (!result) {
    // Its workspace was never made (a creation retried, then cancelled): make it for this attempt.
    await stub.create(prebuildRecord(project, { ...prebuild, attempt }, readWorkspaceConfig(env).pendingTimeoutMs));
  }
  if (!result || result.rerun) await enqueueDispatches(env, [{ id: prebuild.id, attempt }]);
  return (await db.select().from(prebuilds).where(eq(prebuilds.id, prebuild.id)).get())!;
}

/** Cancels a queued or building prebuild (aborted); a finished one is left as it is. */
export async function cancelPrebuild(env: Env, db: Database, caller: Caller, id: string): Promise<Prebuild> {
  const { prebuild } = await loadPrebuild(db, caller, id, "project.prebuilds.run");
  if (FINISHED.has(prebuild.state)) return prebuild;
  const reason = "Cancelled by a user.";
  const record = await prebuildStub(env, id).cancel(prebuild.attempt, reason);
  if (!record) {
    // Its workspace is not made yet; when it comes, it finds the cancellation and ends at once.
    const now = new Date();
    await db
      .update(prebuilds)
      .set({ state: "aborted", reason, updatedAt: now, finishedAt: now })
      .where(and(eq(prebuilds.id, id), eq(prebuilds.state, "queued")));
  }
  return (await db.select().from(prebuilds).where(eq(prebuilds.id, id)).get())!;
}

/** Hands a WebSocket upgrade to the prebuild's workspace DO: its state and its logs, live. */
export async function subscribePrebuild(env: Env, db: Database, caller: Caller, id: string, request: Request): Promise<Response> {
  await loadPrebuild(db, caller, id, "project.prebuilds.read");
  const response = await prebuildStub(env, id).fetch(request);
  if (response.status === 404) throw new Conflict("The prebuild is still being queued; connect again in a moment.", "not_ready");
  return upgradeResponse(response);
}

/** Ends the headless workspaces of prebuilds whose project is gone (stopped on their runners, forgotten). */
export async function endPrebuilds(env: Env, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => prebuildStub(env, id).remove()));
}
