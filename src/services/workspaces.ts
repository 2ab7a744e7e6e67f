import { and, desc, eq, lt } from "drizzle-orm";
import { authorize, parentRelations, type Permission, type Relation } from "../auth/permissions";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { organizations, orgMembers, workspaces, type Workspace } from "../db/schema";
import type { Config } from "../env";
import { ApiError, BadRequest, Conflict } from "../lib/errors";
import { newId } from "../lib/ids";
import { upgradeResponse } from "../lib/websocket";
import { toPage, type Page } from "../lib/pagination";
import type { WorkspaceRecord } from "../workspaces/types";
import { workspaceView, type WorkspaceView } from "../workspaces/view";
import { prebuildForQuery } from "../prebuilds/lookup";
import { authorizeOrg, loadOrg, orgAccessQuery, orgPolicyColumns, orgPolicyOf } from "./org-access";
import { allowedBy, parseRepository } from "./repositories";

export const DEFAULT_EDITOR = "vscode";

export interface NewWorkspace {
  contextUrl: string;
  organizationId: string;
  editor?: string | undefined;
  timeoutMinutes?: number | undefined;
}

const maintenance = () =>
  new ApiError(409, "maintenance_mode", "The organization is in maintenance mode: no workspace may start now.");

/** A D1 row in the public shape (the DO's record has the same fields, in milliseconds). */
export const rowView = (w: Workspace): WorkspaceView =>
  workspaceView({
    ...w,
    basedOn: w.prebuildId ? { prebuildId: w.prebuildId, runnerId: null } : null,
    reason: w.phaseReason,
    createdAt: w.createdAt.getTime(),
    updatedAt: w.updatedAt.getTime(),
    startedAt: w.startedAt?.getTime() ?? null,
    stoppedAt: w.stoppedAt?.getTime() ?? null,
  });

const workspaceStub = (env: Env, id: string) => env.WORKSPACE.get(env.WORKSPACE.idFromName(id));

/**
 * Creates a workspace from a context URL and starts its first instance, within the
 * organization's settings: maintenance mode, allowed editors and SCM hosts, timeouts.
 */
export async function createWorkspace(
  env: Env,
  config: Config,
  db: Database,
  caller: Caller,
  input: NewWorkspace,
): Promise<WorkspaceView> {
  // The organization (with the caller's role) and a prebuild to start from, in one round trip.
  const parsed = parseRepository(input.contextUrl, config, "contextUrl");
  const [[access], [prebuild]] = await db.batch([
    orgAccessQuery(db, input.organizationId, caller.user.id),
    prebuildForQuery(db, input.organizationId, parsed),
  ]);
  const { org } = authorizeOrg(caller, "org.workspaces.create", access);
  const settings = org.settings;
  if (settings.maintenanceMode) throw maintenance();
  // Pinned to the prebuild's commit, so a runner without its result clones the same one.
  const repository = { ...allowedBy(settings, parsed, "contextUrl"), revision: prebuild?.commitSha ?? parsed.revision };
  const editor = input.editor ?? settings.allowedEditors[0] ?? DEFAULT_EDITOR;
  if (settings.allowedEditors.length > 0 && !settings.allowedEditors.includes(editor)) {
    throw new BadRequest("This organization does not allow that editor.", [
      { path: "editor", message: `Allowed editors: ${settings.allowedEditors.join(", ")}.` },
    ]);
  }
  const timeoutMinutes = input.timeoutMinutes ?? settings.defaultWorkspaceTimeoutMinutes;
  if (timeoutMinutes > settings.maxWorkspaceTimeoutMinutes) {
    throw new BadRequest("The timeout exceeds the organization's maximum.", [
      { path: "timeoutMinutes", message: `At most ${settings.maxWorkspaceTimeoutMinutes} minutes.` },
    ]);
  }
  const now = Date.now();
  const record: WorkspaceRecord = {
    id: newId("ws"),
    orgId: org.id,
    ownerId: caller.user.id,
    contextUrl: repository.normalizedUrl,
    repository,
    editor,
    timeoutMinutes,
    phase: "preparing",
    reason: null,
    desiredPhase: "running",
    generation: 1,
    runnerId: null,
    ports: [],
    shared: false,
    env: {},
    deadlines: {},
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    stoppedAt: null,
    lastActivityAt: null,
    basedOn: prebuild ? { prebuildId: prebuild.prebuildId, runnerId: prebuild.runnerId } : null,
  };
  return workspaceView(await workspaceStub(env, record.id).create(record));
}

/** The caller's workspaces, or (owners) an organization's; newest first; one query. */
export async function listWorkspaces(
  db: Database,
  caller: Caller,
  filter: { organizationId?: string | undefined; all?: boolean | undefined },
  page: { limit: number; after: string | undefined },
): Promise<Page<Workspace>> {
  if (filter.all) {
    if (!filter.organizationId) throw new BadRequest("Name the organization.", [{ path: "organizationId", message: "Required with all=true." }]);
    await loadOrg(db, caller, filter.organizationId, "org.workspaces.list");
  }
  const rows = await db
    .select()
    .from(workspaces)
    .where(
      and(
        filter.all ? undefined : eq(workspaces.ownerId, caller.user.id),
        filter.organizationId ? eq(workspaces.orgId, filter.organizationId) : undefined,
        page.after ? lt(workspaces.id, page.after) : undefined,
      ),
    )
    .orderBy(desc(workspaces.id))
    .limit(page.limit + 1);
  return toPage(rows, page.limit);
}

/** The workspace, if `permission` allows; relations come with it in one query. */
export async function loadWorkspace(db: Database, caller: Caller, id: string, permission: Permission): Promise<Workspace> {
  const row = await db
    .select({ workspace: workspaces, role: orgMembers.role, ...orgPolicyColumns })
    .from(workspaces)
    .innerJoin(organizations, eq(organizations.id, workspaces.orgId))
    .leftJoin(orgMembers, and(eq(orgMembers.orgId, workspaces.orgId), eq(orgMembers.userId, caller.user.id)))
    .where(eq(workspaces.id, id))
    .get();
  const relations = new Set<Relation>(parentRelations(row?.role));
  if (row?.workspace.ownerId === caller.user.id) relations.add("owner");
  if (row?.workspace.shared && row.role) relations.add("shared");
  authorize(caller, permission, relations, "Workspace", orgPolicyOf(row));
  return row!.workspace;
}

export async function startWorkspace(env: Env, db: Database, caller: Caller, id: string): Promise<WorkspaceView> {
  const workspace = await loadWorkspace(db, caller, id, "workspace.start");
  const { org } = await loadOrg(db, caller, workspace.orgId, "org.read");
  if (org.settings.maintenanceMode) throw maintenance();
  return workspaceView(await workspaceStub(env, id).start());
}

export async function stopWorkspace(env: Env, db: Database, caller: Caller, id: string): Promise<WorkspaceView> {
  await loadWorkspace(db, caller, id, "workspace.stop");
  return workspaceView(await workspaceStub(env, id).stop("Stopped by a user."));
}

export async function deleteWorkspace(env: Env, db: Database, caller: Caller, id: string): Promise<void> {
  await loadWorkspace(db, caller, id, "workspace.delete");
  await workspaceStub(env, id).remove();
}

export async function heartbeat(env: Env, db: Database, caller: Caller, id: string): Promise<void> {
  const workspace = await loadWorkspace(db, caller, id, "workspace.use");
  if (workspace.phase !== "running") throw new Conflict("The workspace is not running.", "not_running");
  await workspaceStub(env, id).activity();
}

/** Hands a WebSocket upgrade to the workspace's DO, which keeps the subscriber. */
export async function subscribe(env: Env, db: Database, caller: Caller, id: string, request: Request): Promise<Response> {
  await loadWorkspace(db, caller, id, "workspace.read");
  return upgradeResponse(await workspaceStub(env, id).fetch(request));
}
