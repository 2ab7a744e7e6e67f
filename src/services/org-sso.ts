import { z } from "@hono/zod-openapi";
import { and, eq, sql } from "drizzle-orm";
import type { OidcClientConfig } from "../auth/oidc";
import { validateIssuer } from "../auth/oidc";
import type { OrgRole } from "../auth/permissions";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { organizations, orgMembers, orgSso, users, type Organization, type OrgSso, type User } from "../db/schema";
import { BadRequest, Conflict, NotFound } from "../lib/errors";
import { newId } from "../lib/ids";
import { seal, SealError, unseal, type SealingKeys } from "../lib/seal";
import { auditInsert, auditInsertWhere } from "./audit";
import type { RequestMeta } from "./identities";
import { authorizeOrg, orgAccessQuery } from "./org-access";

/**
 * Organization single sign-on: each organization may bring its own OpenID Connect provider.
 * Owners save it (`inactive`), prove it works with a test sign-in (`verified`) and switch it
 * on (`active`); members then sign in through it at `/auth/sso/<slug>/login` and join the
 * organization as they do. The browser flow itself is the shared sign-in pipeline
 * (src/routes/sign-in.ts, src/auth/oidc.ts); this module holds the rules around it.
 *
 * Sign-ins through an organization's provider are identities of provider `sso:<orgId>`, so
 * accounts at different organizations' providers never collide, and their account id is
 * `<issuer>#<sub>` (src/auth/providers/oidc.ts), so replacing the issuer orphans old links
 * instead of handing them to whoever holds the same `sub` at the new one.
 */

/** The identity provider name of an organization's single sign-on. */
export const ssoProviderName = (orgId: string) => `sso:${orgId}`;

/** A test sign-in's link is good for this long (as long as a sign-in flow). */
export const TEST_TICKET_TTL_MS = 10 * 60_000;

export interface SsoSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface OrgSsoView {
  org: Organization;
  sso: OrgSso;
}

const secretContext = (orgId: string) => `org-sso:${orgId}:client-secret`;
const ticketContext = (orgId: string) => `org-sso:${orgId}:test-ticket`;

const notConfigured = () => new NotFound("Single sign-on configuration");
const requiredOn = () =>
  new Conflict(
    "Members are required to sign in through this configuration; turn off the organization's requireSso setting first.",
    "sso_required_on",
  );
const configChanged = () =>
  new Conflict("The single sign-on configuration was replaced since this sign-in began; start again.", "sso_config_changed");

/** What the audit log records of a configuration: never the secret, sealed or not. */
const auditView = (s: Pick<OrgSso, "issuer" | "clientId" | "state" | "revision">) => ({
  issuer: s.issuer,
  clientId: s.clientId,
  state: s.state,
  revision: s.revision,
});

const ssoQuery = (db: Database, orgId: string) => db.select().from(orgSso).where(eq(orgSso.orgId, orgId)).limit(1);

/** The organization (authorized for `permission`) and its configuration, if any: one round trip. */
async function loadSso(db: Database, caller: Caller, orgId: string, permission: "org.sso.read" | "org.sso.manage") {
  const [[access], [sso]] = await db.batch([orgAccessQuery(db, orgId, caller.user.id), ssoQuery(db, orgId)]);
  const { org } = authorizeOrg(caller, permission, access);
  return { org, sso };
}

export async function getSso(db: Database, caller: Caller, orgId: string): Promise<OrgSsoView> {
  const { org, sso } = await loadSso(db, caller, orgId, "org.sso.read");
  if (!sso) throw notConfigured();
  return { org, sso };
}

/**
 * Creates or replaces the configuration. The issuer's discovery document is checked first
 * (400 `invalid_issuer`, 502 `issuer_unreachable`); the saved configuration starts over as
 * `inactive` with the next revision, so it must be tested and activated again. Refused while
 * the organization requires SSO (409 `sso_required_on`): that would lock its members out.
 */
export async function putSso(
  db: Database,
  keys: SealingKeys,
  caller: Caller,
  orgId: string,
  input: SsoSettings,
): Promise<OrgSsoView> {
  // Authorized before the issuer is fetched: outsiders cannot make the Worker fetch anything.
  const { org, sso: before } = await loadSso(db, caller, orgId, "org.sso.manage");
  if (before && org.settings.requireSso) throw requiredOn();
  await validateIssuer(input.issuer);
  const now = new Date();
  const reset = {
    issuer: input.issuer,
    clientId: input.clientId,
    clientSecretSealed: await seal(keys, input.clientSecret, secretContext(orgId)),
    state: "inactive" as const,
    verifiedAt: null,
    verifiedBy: null,
    activatedAt: null,
    updatedAt: now,
  };
  const [[sso]] = await db.batch([
    db
      .insert(orgSso)
      .values({ orgId, revision: 1, createdAt: now, ...reset })
      .onConflictDoUpdate({ target: orgSso.orgId, set: { ...reset, revision: sql`${orgSso.revision} + 1` } })
      .returning(),
    auditInsert(db, caller, {
      orgId,
      action: before ? "sso.update" : "sso.create",
      targetType: "organization",
      targetId: orgId,
      before: before ? auditView(before) : null,
      after: { issuer: reset.issuer, clientId: reset.clientId, state: reset.state },
    }),
  ]);
  return { org, sso: sso! };
}

/** Removes the configuration (not while the organization requires SSO: 409 `sso_required_on`). */
export async function deleteSso(db: Database, caller: Caller, orgId: string): Promise<void> {
  const { org, sso } = await loadSso(db, caller, orgId, "org.sso.manage");
  if (!sso) throw notConfigured();
  if (org.settings.requireSso) throw requiredOn();
  await db.batch([
    db.delete(orgSso).where(eq(orgSso.orgId, orgId)),
    auditInsert(db, caller, { orgId, action: "sso.delete", targetType: "organization", targetId: orgId, before: auditView(sso) }),
  ]);
}

const TicketSchema = z.object({ revision: z.number(), by: z.string(), returnTo: z.string().nullable(), exp: z.number() });
export type TestTicket = z.infer<typeof TicketSchema>;

/**
 * A test sign-in for the current configuration, in any state: a sealed ticket, bound to this
 * organization, this revision and the owner who asked, good for ten minutes. Opening
 * `/auth/sso/<slug>/test?ticket=…` runs the browser flow; its success marks this revision
 * `verified` and changes nothing else (no user, membership or session).
 */
export async function createTestTicket(
  db: Database,
  keys: SealingKeys,
  caller: Caller,
  orgId: string,
  returnTo: string | undefined,
): Promise<{ org: Organization; ticket: string; expiresAt: Date }> {
  const { org, sso } = await loadSso(db, caller, orgId, "org.sso.manage");
  if (!sso) throw notConfigured();
  const expiresAt = new Date(Date.now() + TEST_TICKET_TTL_MS);
  const ticket: TestTicket = { revision: sso.revision, by: caller.user.id, returnTo: returnTo ?? null, exp: expiresAt.getTime() };
  return { org, ticket: await seal(keys, JSON.stringify(ticket), ticketContext(orgId)), expiresAt };
}

/** The ticket's content, if it is this organization's and still good (400 `invalid_ticket` otherwise). */
export async function openTestTicket(keys: SealingKeys, orgId: string, ticket: string): Promise<TestTicket> {
  let parsed: TestTicket | null = null;
  try {
    const result = TicketSchema.safeParse(JSON.parse(await unseal(keys, ticket, ticketContext(orgId))));
    parsed = result.success ? result.data : null;
  } catch (error) {
    if (!(error instanceof SealError || error instanceof SyntaxError)) throw error;
  }
  if (!parsed || parsed.exp <= Date.now()) {
    throw new BadRequest(
      "This test sign-in link is invalid or has expired; ask for a new one.",
      [{ path: "ticket", message: "Not a current test sign-in link of this organization." }],
      "invalid_ticket",
    );
  }
  return parsed;
}

/**
 * Makes a verified configuration active: members can sign in through it. 409
 * `sso_not_verified` until a test sign-in of the current revision has succeeded.
 */
export async function activateSso(db: Database, caller: Caller, orgId: string): Promise<OrgSsoView> {
  const { org, sso } = await loadSso(db, caller, orgId, "org.sso.manage");
  if (!sso) throw notConfigured();
  if (sso.state === "active") return { org, sso };
  const notVerified = () =>
    new Conflict("Verify the configuration with a test sign-in (POST …/sso/test) before activating it.", "sso_not_verified");
  if (sso.state !== "verified") throw notVerified();
  const now = new Date();
  const thisRevision = and(eq(orgSso.orgId, orgId), eq(orgSso.revision, sso.revision));
  // Guarded by revision: a configuration replaced meanwhile is not activated unverified.
  const [[activated]] = await db.batch([
    db
      .update(orgSso)
      .set({ state: "active", activatedAt: now, updatedAt: now })
      .where(and(thisRevision, eq(orgSso.state, "verified")))
      .returning(),
    auditInsertWhere(
      db,
      caller,
      { orgId, action: "sso.activate", targetType: "organization", targetId: orgId, after: auditView({ ...sso, state: "active" }) },
      sql`exists (select 1 from ${orgSso} where ${thisRevision} and ${orgSso.activatedAt} = ${now.getTime()})`,
    ),
  ]);
  if (!activated) throw notVerified();
  return { org, sso: activated };
}

export const ssoNotActive = () =>
  new Conflict("Single sign-on must be active before the organization can require it.", "sso_not_active");

/** Whether the organization may require SSO now: only while it is active (409 `sso_not_active`). */
export async function assertSsoActive(db: Database, orgId: string): Promise<void> {
  const [sso] = await db.select({ state: orgSso.state }).from(orgSso).where(eq(orgSso.orgId, orgId)).limit(1);
  if (sso?.state !== "active") throw ssoNotActive();
}

/** The public side: an organization's configuration by its slug, for its sign-in routes. */
export async function ssoBySlug(db: Database, slug: string): Promise<{ orgId: string; slug: string; sso: OrgSso } | null> {
  const row = await db
    .select({ sso: orgSso, slug: organizations.slug })
    .from(organizations)
    .innerJoin(orgSso, eq(orgSso.orgId, organizations.id))
    .where(eq(organizations.slug, slug))
    .get();
  return row ? { orgId: row.sso.orgId, slug: row.slug, sso: row.sso } : null;
}

/** The OpenID Connect client for the configuration, its secret opened. */
export async function ssoClient(keys: SealingKeys, sso: OrgSso): Promise<OidcClientConfig> {
  try {
    return { issuer: sso.issuer, clientId: sso.clientId, clientSecret: await unseal(keys, sso.clientSecretSealed, secretContext(sso.orgId)) };
  } catch (error) {
    if (!(error instanceof SealError)) throw error;
    // Sealed under a key since removed from the keyring: only saving it again helps.
    throw new Conflict(
      "This organization's single sign-on must be saved again by an owner (its secret can no longer be opened).",
      "sso_reconfiguration_required",
    );
  }
}

/**
 * A successful test sign-in: the revision it was started for becomes `verified` (an active
 * one stays active), recorded in the audit log as done by the owner who asked for the test.
 * 409 `sso_config_changed` if the configuration was replaced meanwhile, or if that owner is
 * no longer one.
 */
export async function markVerified(
  db: Database,
  orgId: string,
  ticket: Pick<TestTicket, "revision" | "by">,
  request: RequestMeta,
  account: { login: string | null; email: string | null },
): Promise<void> {
  const requester = await db
    .select({ user: users, role: orgMembers.role })
    .from(users)
    .leftJoin(orgMembers, and(eq(orgMembers.orgId, orgId), eq(orgMembers.userId, users.id)))
    .where(eq(users.id, ticket.by))
    .get();
  if (!requester || requester.role !== "owner" || requester.user.blocked) throw configChanged();
  const now = new Date();
  const thisRevision = and(eq(orgSso.orgId, orgId), eq(orgSso.revision, ticket.revision));
  const [[verified]] = await db.batch([
    db
      .update(orgSso)
      .set({
        state: sql`case when ${orgSso.state} = 'inactive' then 'verified' else ${orgSso.state} end`,
        verifiedAt: now,
        verifiedBy: ticket.by,
        updatedAt: now,
      })
      .where(thisRevision)
      .returning({ state: orgSso.state }),
    auditInsertWhere(
      db,
      actor(requester.user, request),
      {
        orgId,
        action: "sso.verify",
        targetType: "organization",
        targetId: orgId,
        after: { revision: ticket.revision, testAccount: account.email ?? account.login },
      },
      sql`exists (select 1 from ${orgSso} where ${thisRevision} and ${orgSso.verifiedAt} = ${now.getTime()})`,
    ),
  ]);
  if (!verified) throw configChanged();
}

/**
 * Makes a user who signed in through the organization's SSO a member of it (role `member`);
 * an existing member keeps their role. `member.join` is audited only when they joined.
 */
export async function joinViaSso(db: Database, orgId: string, user: User, request: RequestMeta): Promise<void> {
  const id = newId("mem");
  const role: OrgRole = "member";
  await db.batch([
    db.insert(orgMembers).values({ id, orgId, userId: user.id, role }).onConflictDoNothing(),
    auditInsertWhere(
      db,
      actor(user, request),
      { orgId, action: "member.join", targetType: "user", targetId: user.id, after: { role, via: "sso" } },
      sql`exists (select 1 from ${orgMembers} where ${orgMembers.id} = ${id})`,
    ),
  ]);
}

/** The revision a sign-in flow was started for must still be the configuration's. */
export function assertSameRevision(sso: OrgSso, revision: unknown): void {
  if (revision !== sso.revision) throw configChanged();
}

const actor = (user: User, request: RequestMeta): Caller => ({ user, scopes: [], ...request });
