import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { OrgRole } from "../auth/permissions";
import type { PrebuildSettings } from "../projects/settings";
import type { PrebuildState, PrebuildTrigger } from "../prebuilds/state";
import type { RepositoryContext } from "../scm/context-url";
import type { OrgSettings } from "../services/org-settings";
import type { DesiredPhase, WorkspacePhase } from "../workspaces/lifecycle";

/** UTC milliseconds, surfaced to code as Date. */
const timestamp = (name: string) => integer(name, { mode: "timestamp_ms" });
const createdAt = () =>
  timestamp("created_at")
    .notNull()
    .default(sql`(unixepoch('subsec') * 1000)`);

export const users = sqliteTable("users", {
  id: text("id").primaryKey(),
  /** Stored lower-cased so look-ups and uniqueness ignore case. */
  email: text("email").notNull().unique(),
  name: text("name").notNull(),
  avatarUrl: text("avatar_url"),
  createdAt: createdAt(),
  lastSeenAt: timestamp("last_seen_at"),
  blocked: integer("blocked", { mode: "boolean" }).notNull().default(false),
  platformAdmin: integer("platform_admin", { mode: "boolean" }).notNull().default(false),
});

export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    /** SHA-256 of the cookie secret; the secret itself is never stored. */
    tokenHash: text("token_hash").notNull().unique(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: createdAt(),
    /** Slides forward while the session is used. */
    expiresAt: timestamp("expires_at").notNull(),
    /**
     * The organization whose single sign-on this session was signed in through; null for any
     * other sign-in. An organization that requires SSO accepts only its own (README).
     */
    ssoOrgId: text("sso_org_id"),
  },
  (t) => [index("sessions_user_idx").on(t.userId), index("sessions_expires_idx").on(t.expiresAt)],
);

export const personalAccessTokens = sqliteTable(
  "personal_access_tokens",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    description: text("description"),
    /** JSON array of scope strings, e.g. ["workspaces:write"] or ["*"]. */
    scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
    /** SHA-256 of the secret; the secret is shown once at creation and never stored. */
    tokenHash: text("token_hash").notNull().unique(),
    expiresAt: timestamp("expires_at").notNull(),
    /** When the current secret was issued (creation or last regeneration). */
    issuedAt: timestamp("issued_at").notNull(),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at").notNull(),
    lastUsedAt: timestamp("last_used_at"),
    /** Soft delete: a deleted token is dead at once but its row stays for the record. */
    deletedAt: timestamp("deleted_at"),
    /**
     * The organization whose single sign-on the credential that issued the current secret
     * (create or regenerate) came through: the token counts as signed in through it.
     */
    ssoOrgId: text("sso_org_id"),
  },
  (t) => [index("pat_user_idx").on(t.userId, t.deletedAt, t.id)],
);

export const auditLogs = sqliteTable(
  "audit_logs",
  {
    id: text("id").primaryKey(),
    /** Null for actions outside any organization (a user's own tokens, for example). */
    orgId: text("org_id"),
    /** No foreign key: the record outlives the actor. */
    actorId: text("actor_id"),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    before: text("before", { mode: "json" }).$type<Record<string, unknown>>(),
    after: text("after", { mode: "json" }).$type<Record<string, unknown>>(),
    requestId: text("request_id").notNull(),
    ip: text("ip"),
    createdAt: createdAt(),
  },
  (t) => [
    index("audit_org_idx").on(t.orgId, t.id),
    index("audit_org_action_idx").on(t.orgId, t.action, t.id),
    index("audit_actor_idx").on(t.actorId, t.id),
  ],
);

export const organizations = sqliteTable("organizations", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  slug: text("slug").notNull().unique(),
  settings: text("settings", { mode: "json" }).$type<OrgSettings>().notNull(),
  createdAt: createdAt(),
  updatedAt: timestamp("updated_at").notNull(),
});

export const orgMembers = sqliteTable(
  "org_members",
  {
    /** Sortable by join time, so member lists page by it. */
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role").$type<OrgRole>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex("org_members_org_user_idx").on(t.orgId, t.userId),
    index("org_members_user_idx").on(t.userId, t.orgId),
    index("org_members_org_id_idx").on(t.orgId, t.id),
  ],
);

export const invitations = sqliteTable(
  "invitations",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    /** SHA-256 of the invitation code; the code is shown once, to the owner who made it. */
    codeHash: text("code_hash").notNull().unique(),
    role: text("role").$type<OrgRole>().notNull(),
    createdBy: text("created_by").references(() => users.id, { onDelete: "set null" }),
    expiresAt: timestamp("expires_at").notNull(),
    createdAt: createdAt(),
  },
  (t) => [index("invitations_org_idx").on(t.orgId, t.id)],
);

export const teams = sqliteTable(
  "teams",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at").notNull(),
  },
  (t) => [uniqueIndex("teams_org_name_idx").on(t.orgId, t.name), index("teams_org_id_idx").on(t.orgId, t.id)],
);

export const teamMembers = sqliteTable(
  "team_members",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id")
      .notNull()
      .references(() => teams.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("team_members_team_user_idx").on(t.teamId, t.userId), index("team_members_user_idx").on(t.userId)],
);

export const workspaces = sqliteTable(
  "workspaces",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    ownerId: text("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    contextUrl: text("context_url").notNull(),
    repository: text("repository", { mode: "json" }).$type<RepositoryContext>().notNull(),
    editor: text("editor").notNull(),
    /** Inactivity timeout. */
    timeoutMinutes: integer("timeout_minutes").notNull(),
    /** Written through by the WorkspaceDO on every transition, so lists stay one query. */
    phase: text("phase").$type<WorkspacePhase>().notNull(),
    phaseReason: text("phase_reason"),
    desiredPhase: text("desired_phase").$type<DesiredPhase>().notNull(),
    generation: integer("generation").notNull(),
    runnerId: text("runner_id"),
    ports: text("ports", { mode: "json" }).$type<number[]>().notNull(),
    shared: integer("shared", { mode: "boolean" }).notNull().default(false),
    /** The prebuild the workspace was offered to start from (no foreign key: prebuilds come and go). */
    prebuildId: text("prebuild_id"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at").notNull(),
    startedAt: timestamp("started_at"),
    stoppedAt: timestamp("stopped_at"),
  },
  (t) => [
    index("workspaces_owner_idx").on(t.ownerId, t.id),
    index("workspaces_org_idx").on(t.orgId, t.id),
    index("workspaces_org_phase_idx").on(t.orgId, t.phase),
    index("workspaces_runner_idx").on(t.runnerId),
  ],
);

export const runners = sqliteTable(
  "runners",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    createdBy: text("created_by").references(() => users.id, { onDelete: "set null" }),
    /** Maintained by the RunnerDO: live connection, announced capacity, assigned workspaces. */
    connected: integer("connected", { mode: "boolean" }).notNull().default(false),
    capacity: integer("capacity").notNull().default(0),
    assigned: integer("assigned").notNull().default(0),
    version: text("version"),
    lastSeenAt: timestamp("last_seen_at"),
    createdAt: createdAt(),
  },
  (t) => [index("runners_org_idx").on(t.orgId, t.id), index("runners_org_connected_idx").on(t.orgId, t.connected)],
);

/** Several live tokens per runner, so rotation needs no downtime. Only hashes are stored. */
export const runnerTokens = sqliteTable(
  "runner_tokens",
  {
    id: text("id").primaryKey(),
    runnerId: text("runner_id")
      .notNull()
      .references(() => runners.id, { onDelete: "cascade" }),
    tokenHash: text("token_hash").notNull().unique(),
    createdAt: createdAt(),
  },
  (t) => [index("runner_tokens_runner_idx").on(t.runnerId)],
);

/**
 * An account at a sign-in provider, linked to one user. A user has at most one identity per
 * provider. The provider's tokens are sealed (src/lib/seal.ts) and never leave the Worker.
 */
export const identities = sqliteTable(
  "identities",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** `github`, `gitlab`, `bitbucket`, `google`, `oidc`. */
    provider: text("provider").notNull(),
    /** The provider's stable id for the account (for OpenID Connect: `<issuer>#<sub>`). */
    providerUserId: text("provider_user_id").notNull(),
    /** The account's handle at the provider, as last seen. */
    login: text("login"),
    /** The account's verified e-mail at the provider, as last seen. */
    email: text("email"),
    accessTokenSealed: text("access_token_sealed").notNull(),
    refreshTokenSealed: text("refresh_token_sealed"),
    /** When the access token expires; null when the provider did not say (it may never). */
    tokenExpiresAt: timestamp("token_expires_at"),
    createdAt: createdAt(),
    /** Last sign-in or token refresh. */
    updatedAt: timestamp("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("identities_provider_account_idx").on(t.provider, t.providerUserId),
    uniqueIndex("identities_user_provider_idx").on(t.userId, t.provider),
  ],
);

export const SSO_STATES = ["inactive", "verified", "active"] as const;
export type SsoState = (typeof SSO_STATES)[number];

/**
 * An organization's single sign-on: one OpenID Connect provider per organization. Saved
 * `inactive`; a successful test sign-in makes it `verified`; an owner then makes it `active`.
 * Replacing it starts again from `inactive` with the next `revision`. The client secret is
 * sealed (src/lib/seal.ts) for this organization and never leaves the Worker.
 */
export const orgSso = sqliteTable("org_sso", {
  orgId: text("org_id")
    .primaryKey()
    .references(() => organizations.id, { onDelete: "cascade" }),
  /** Issuer identifier, verbatim (compared with what the provider says). */
  issuer: text("issuer").notNull(),
  clientId: text("client_id").notNull(),
  clientSecretSealed: text("client_secret_sealed").notNull(),
  state: text("state").$type<SsoState>().notNull(),
  /** Increases on every replacement; a test sign-in verifies one revision only. */
  revision: integer("revision").notNull(),
  verifiedAt: timestamp("verified_at"),
  verifiedBy: text("verified_by"),
  activatedAt: timestamp("activated_at"),
  createdAt: createdAt(),
  updatedAt: timestamp("updated_at").notNull(),
});

/**
 * A repository tied to an organization: its prebuild settings and the webhook that starts
 * them. The webhook secret is sealed (src/lib/seal.ts) for this project.
 */
export const projects = sqliteTable(
  "projects",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    repository: text("repository", { mode: "json" }).$type<RepositoryContext>().notNull(),
    /** `host/full/name`, lower-cased for the SCM hosts: how a workspace finds its project. */
    repositoryKey: text("repository_key").notNull(),
    /** As set, or as webhooks last said; null until known. */
    defaultBranch: text("default_branch"),
    prebuildSettings: text("prebuild_settings", { mode: "json" }).$type<PrebuildSettings>().notNull(),
    webhookSecretSealed: text("webhook_secret_sealed").notNull(),
    createdBy: text("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("projects_org_name_idx").on(t.orgId, t.name),
    index("projects_org_id_idx").on(t.orgId, t.id),
    index("projects_org_repository_idx").on(t.orgId, t.repositoryKey),
  ],
);

/** A team's access to a project: its members hold `team_reader` or `team_writer` on it. */
export const teamProjects = sqliteTable(
  "team_projects",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id")
      .notNull()
      .references(() => teams.id, { onDelete: "cascade" }),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    access: text("access").$type<"read" | "write">().notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("team_projects_team_project_idx").on(t.teamId, t.projectId), index("team_projects_project_idx").on(t.projectId)],
);

/** The head commit of each ref of a project, as its webhooks last said (newest delivery wins). */
export const projectRefs = sqliteTable(
  "project_refs",
  {
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    /** A branch name, or a fetchable ref such as `refs/pull/7/head`. */
    ref: text("ref").notNull(),
    commitSha: text("commit_sha").notNull(),
    updatedAt: timestamp("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.ref] })],
);

/**
 * One prebuild per project and commit (duplicates collapse on the unique index). Its
 * headless workspace is the WorkspaceDO named by the prebuild's id, which writes its state
 * through to this row; a re-run is the next `attempt` of the same row.
 */
export const prebuilds = sqliteTable(
  "prebuilds",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    orgId: text("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    commitSha: text("commit_sha").notNull(),
    /** What was built: a branch, or a pull/merge request's fetchable ref. */
    ref: text("ref").notNull(),
    pullRequest: integer("pull_request"),
    trigger: text("trigger").$type<PrebuildTrigger>().notNull(),
    /** The webhook delivery that created it (null for manual triggers). */
    deliveryId: text("delivery_id"),
    triggeredBy: text("triggered_by").references(() => users.id, { onDelete: "set null" }),
    state: text("state").$type<PrebuildState>().notNull(),
    reason: text("reason"),
    /** The headless workspace's phase (scheduling looks for `pending` ones). */
    phase: text("phase").$type<WorkspacePhase>().notNull(),
    attempt: integer("attempt").notNull(),
    runnerId: text("runner_id"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at").notNull(),
    startedAt: timestamp("started_at"),
    finishedAt: timestamp("finished_at"),
  },
  (t) => [
    uniqueIndex("prebuilds_project_commit_idx").on(t.projectId, t.commitSha),
    index("prebuilds_project_id_idx").on(t.projectId, t.id),
    index("prebuilds_org_phase_idx").on(t.orgId, t.phase),
    index("prebuilds_state_idx").on(t.state, t.updatedAt),
  ],
);

export const DELIVERY_STATUSES = ["queued", "processed", "ignored", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Verified SCM webhook deliveries, by the SCM's delivery id: a redelivery is a no-op. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    provider: text("provider").notNull(),
    deliveryId: text("delivery_id").notNull(),
    event: text("event").notNull(),
    status: text("status").$type<DeliveryStatus>().notNull(),
    /** What came of it (prebuilds made, why ignored, the last error). */
    detail: text("detail"),
    receivedAt: timestamp("received_at").notNull(),
    processedAt: timestamp("processed_at"),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_delivery_idx").on(t.projectId, t.provider, t.deliveryId),
    index("webhook_deliveries_received_idx").on(t.receivedAt),
  ],
);

export type User = typeof users.$inferSelect;
export type Session = typeof sessions.$inferSelect;
export type PersonalAccessToken = typeof personalAccessTokens.$inferSelect;
export type AuditLog = typeof auditLogs.$inferSelect;
export type Organization = typeof organizations.$inferSelect;
export type OrgMember = typeof orgMembers.$inferSelect;
export type Invitation = typeof invitations.$inferSelect;
export type Team = typeof teams.$inferSelect;
export type Workspace = typeof workspaces.$inferSelect;
export type Runner = typeof runners.$inferSelect;
export type Identity = typeof identities.$inferSelect;
export type OrgSso = typeof orgSso.$inferSelect;
export type Project = typeof projects.$inferSelect;
export type TeamProject = typeof teamProjects.$inferSelect;
export type Prebuild = typeof prebuilds.$inferSelect;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
