import { and, desc, eq, lt } from "drizzle-orm";
import type { OrgRole } from "../auth/permissions";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { isUniqueViolation } from "../db/errors";
import { organizations, orgMembers, runners, workspaces, type Organization } from "../db/schema";
import { BadRequest, Conflict } from "../lib/errors";
import { newId } from "../lib/ids";
import { toPage, type Page } from "../lib/pagination";
import { auditInsert } from "./audit";
import type { LiveObjects } from "./teardown";
import { loadOrg } from "./org-access";
import { assertSsoActive, ssoNotActive } from "./org-sso";
import { DEFAULT_ORG_SETTINGS, mergeSettings, settingsProblem, type OrgSettings } from "./org-settings";

export interface OrgWithRole {
  org: Organization;
  role: OrgRole;
}

export interface NewOrg {
  name: string;
  slug?: string | undefined;
  settings?: Partial<OrgSettings> | undefined;
}

export interface OrgChanges {
  name?: string | undefined;
  slug?: string | undefined;
  settings?: Partial<OrgSettings> | undefined;
}

/** `Acme Corp!` → `acme-corp`. */
export function slugify(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
}

const slugTaken = (slug: string) => new Conflict(`The slug "${slug}" is taken; choose another.`, "slug_taken");

function checkedSettings(settings: OrgSettings): OrgSettings {
  const problem = settingsProblem(settings);
  if (problem) throw new BadRequest("The settings are inconsistent.", [problem]);
  return settings;
}

/** Creates an organization; its creator becomes its owner. */
export async function createOrg(db: Database, caller: Caller, input: NewOrg): Promise<OrgWithRole> {
  const slug = input.slug ?? slugify(input.name);
  if (slug.length < 2) {
    throw new BadRequest("Choose a slug.", [{ path: "slug", message: "The name gives no usable slug." }]);
  }
  // A new organization has no single sign-on to require yet.
  if (input.settings?.requireSso) throw ssoNotActive();
  const now = new Date();
  const org: Organization = {
    id: newId("org"),
    name: input.name,
    slug,
    settings: checkedSettings(mergeSettings(DEFAULT_ORG_SETTINGS, input.settings ?? {})),
    createdAt: now,
    updatedAt: now,
  };
  try {
    await db.batch([
      db.insert(organizations).values(org),
      db.insert(orgMembers).values({ id: newId("mem"), orgId: org.id, userId: caller.user.id, role: "owner", createdAt: now }),
      auditInsert(db, caller, {
        orgId: org.id,
        action: "org.create",
        targetType: "organization",
        targetId: org.id,
        after: { name: org.name, slug: org.slug },
      }),
    ]);
  } catch (error) {
    if (isUniqueViolation(error)) throw slugTaken(slug);
    throw error;
  }
  return { org, role: "owner" };
}

/** The organizations the user belongs to, with their role, newest first. One query. */
export async function listMyOrgs(
  db: Database,
  userId: string,
  page: { limit: number; after: string | undefined },
): Promise<Page<OrgWithRole & { id: string }>> {
  const rows = await db
    .select({ id: organizations.id, org: organizations, role: orgMembers.role })
    .from(orgMembers)
    .innerJoin(organizations, eq(organizations.id, orgMembers.orgId))
    .where(and(eq(orgMembers.userId, userId), page.after ? lt(organizations.id, page.after) : undefined))
    .orderBy(desc(organizations.id))
    .limit(page.limit + 1);
  return toPage(rows, page.limit);
}

export async function getOrg(db: Database, caller: Caller, orgId: string): Promise<OrgWithRole> {
  const { org, role } = await loadOrg(db, caller, orgId, "org.read");
  return { org, role: role! };
}

export async function updateOrg(db: Database, caller: Caller, orgId: string, changes: OrgChanges): Promise<OrgWithRole> {
  const { org: before, role } = await loadOrg(db, caller, orgId, "org.update");
  // Requiring SSO needs it active (turning it off never does: that is the way out of a broken IdP).
  if (changes.settings?.requireSso && !before.settings.requireSso) await assertSsoActive(db, orgId);
  const after: Organization = {
    ...before,
    name: changes.name ?? before.name,
    slug: changes.slug ?? before.slug,
    settings: checkedSettings(mergeSettings(before.settings, changes.settings ?? {})),
    updatedAt: new Date(),
  };
  try {
    await db.batch([
      db
        .update(organizations)
        .set({ name: after.name, slug: after.slug, settings: after.settings, updatedAt: after.updatedAt })
        .where(eq(organizations.id, orgId)),
      auditInsert(db, caller, {
        orgId,
        action: changes.settings ? "org.settings.update" : "org.update",
        targetType: "organization",
        targetId: orgId,
        before: changedFields(before, after),
        after: changedFields(after, before),
      }),
    ]);
  } catch (error) {
    if (isUniqueViolation(error)) throw slugTaken(after.slug);
    throw error;
  }
  return { org: after, role: role! };
}

/** The fields of `a` (settings flattened) whose value differs in `b`: the audit summary. */
function changedFields(a: Organization, b: Organization): Record<string, unknown> {
  const flat = (o: Organization) => ({ name: o.name, slug: o.slug, ...prefixKeys(o.settings, "settings.") });
  const [fa, fb] = [flat(a), flat(b)] as [Record<string, unknown>, Record<string, unknown>];
  return Object.fromEntries(Object.entries(fa).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(fb[k])));
}

const prefixKeys = (o: object, prefix: string) => Object.fromEntries(Object.entries(o).map(([k, v]) => [prefix + k, v]));

/**
 * Deletes the organization and everything it owns (members, invitations, teams,
 * workspaces and runners cascade); returns the workspaces and runners whose Durable
 * Objects must now be torn down. The audit rows stay: they name the organization by id
 * and have no foreign key.
 */
export async function deleteOrg(db: Database, caller: Caller, orgId: string): Promise<LiveObjects> {
  const { org } = await loadOrg(db, caller, orgId, "org.delete");
  const [, workspaceRows, runnerRows] = await db.batch([
    auditInsert(db, caller, {
      orgId,
      action: "org.delete",
      targetType: "organization",
      targetId: orgId,
      before: { name: org.name, slug: org.slug },
    }),
    db.select({ id: workspaces.id }).from(workspaces).where(eq(workspaces.orgId, orgId)),
    db.select({ id: runners.id }).from(runners).where(eq(runners.orgId, orgId)),
    db.delete(organizations).where(eq(organizations.id, orgId)),
  ]);
  return { workspaceIds: workspaceRows.map((r) => r.id), runnerIds: runnerRows.map((r) => r.id) };
}
