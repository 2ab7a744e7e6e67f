import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

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
  (t) => [index("audit_org_idx").on(t.orgId, t.id), index("audit_actor_idx").on(t.actorId, t.id)],
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

export type User = typeof users.$inferSelect;
export type Session = typeof sessions.$inferSelect;
export type PersonalAccessToken = typeof personalAccessTokens.$inferSelect;
export type AuditLog = typeof auditLogs.$inferSelect;
export type Identity = typeof identities.$inferSelect;
