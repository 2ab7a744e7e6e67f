import { Forbidden, NotFound } from "../lib/errors";
import { grants, type Scope } from "./scopes";

/**
 * The permission model, stated as data the way a SpiceDB schema is. Each resource type has
 * relations a principal can hold to it; `parent->relation` is a relation held to the parent
 * (a team's or workspace's organization). Each permission is a rule over those relations
 * plus the token scope it needs. Every route asks one question — `can` — through
 * `authorize`, and no route compares roles by hand.
 *
 * ```
 * definition platform     { relation admin, user }
 * definition user         { relation self }
 * definition token        { relation owner }
 * definition organization { relation owner, member, collaborator }
 * definition team         { relation parent: organization; relation member }
 * definition project      { relation parent: organization; relation team_reader, team_writer }  // from team grants
 * definition workspace    { relation parent: organization; relation owner, shared }
 * definition runner       { relation parent: organization }
 * ```
 */
export const RELATIONS = {
  platform: ["admin", "user"],
  user: ["self"],
  token: ["owner"],
  organization: ["owner", "member", "collaborator"],
  team: ["member", "parent->owner", "parent->member", "parent->collaborator"],
  project: ["team_reader", "team_writer", "parent->owner", "parent->member", "parent->collaborator"],
  workspace: ["owner", "shared", "parent->owner", "parent->member", "parent->collaborator"],
  runner: ["parent->owner", "parent->member", "parent->collaborator"],
} as const;

export type ResourceType = keyof typeof RELATIONS;
export type Relation<T extends ResourceType = ResourceType> = (typeof RELATIONS)[T][number];

interface Rule<T extends ResourceType> {
  on: T;
  scope: Scope;
  anyOf: readonly Relation<T>[];
}

const rule = <T extends ResourceType>(on: T, scope: Scope, anyOf: readonly Relation<T>[]): Rule<T> => ({
  on,
  scope,
  anyOf,
});

const orgMembers = ["owner", "member"] as const;
const anyoneInOrg = ["owner", "member", "collaborator"] as const;
const ownerOfParent = ["parent->owner"] as const;

export const PERMISSIONS = {
  "platform.admin": rule("platform", "*", ["admin"]),
  "org.create": rule("platform", "orgs:write", ["user"]),
  "org.list": rule("platform", "orgs:read", ["user"]),
  "invitation.accept": rule("platform", "orgs:write", ["user"]),

  "user.read": rule("user", "user:read", ["self"]),
  "user.update": rule("user", "user:write", ["self"]),
  "token.read": rule("token", "tokens:read", ["owner"]),
  "token.write": rule("token", "tokens:write", ["owner"]),

  "org.read": rule("organization", "orgs:read", anyoneInOrg),
  "org.update": rule("organization", "orgs:write", ["owner"]),
  "org.delete": rule("organization", "orgs:write", ["owner"]),
  "org.leave": rule("organization", "orgs:write", anyoneInOrg),
  "org.members.read": rule("organization", "orgs:read", orgMembers),
  "org.members.manage": rule("organization", "orgs:write", ["owner"]),
  "org.invitations.manage": rule("organization", "orgs:write", ["owner"]),
  "org.audit.read": rule("organization", "orgs:read", ["owner"]),
  "org.teams.read": rule("organization", "orgs:read", orgMembers),
  "org.teams.create": rule("organization", "orgs:write", ["owner"]),
  "org.workspaces.create": rule("organization", "workspaces:write", orgMembers),
  "org.workspaces.list": rule("organization", "workspaces:read", ["owner"]),
  "org.runners.read": rule("organization", "runners:read", orgMembers),
  "org.runners.manage": rule("organization", "runners:write", ["owner"]),
  "org.sso.read": rule("organization", "orgs:read", ["owner"]),
  "org.sso.manage": rule("organization", "orgs:write", ["owner"]),
  /** Collaborators see only the projects granted to their teams (the list filters). */
  "org.projects.read": rule("organization", "projects:read", anyoneInOrg),
  "org.projects.create": rule("organization", "projects:write", ["owner"]),

  "team.read": rule("team", "orgs:read", ["member", "parent->owner", "parent->member"]),
  "team.manage": rule("team", "orgs:write", ownerOfParent),

  "project.read": rule("project", "projects:read", ["team_reader", "team_writer", "parent->owner", "parent->member"]),
  "project.write": rule("project", "projects:write", ["team_writer", "parent->owner"]),
  "project.delete": rule("project", "projects:write", ownerOfParent),
  "project.prebuilds.read": rule("project", "prebuilds:read", ["team_reader", "team_writer", "parent->owner", "parent->member"]),
  /** Trigger, re-run and cancel prebuilds. */
  "project.prebuilds.run": rule("project", "prebuilds:write", ["team_writer", "parent->owner", "parent->member"]),

  "workspace.read": rule("workspace", "workspaces:read", ["owner", "shared", "parent->owner"]),
  "workspace.start": rule("workspace", "workspaces:write", ["owner"]),
  /** IDE heartbeats: only the owner uses the workspace. */
  "workspace.use": rule("workspace", "workspaces:write", ["owner"]),
  "workspace.stop": rule("workspace", "workspaces:write", ["owner", "parent->owner"]),
  "workspace.delete": rule("workspace", "workspaces:write", ["owner", "parent->owner"]),

  "runner.manage": rule("runner", "runners:write", ownerOfParent),
} as const satisfies Record<string, Rule<ResourceType>>;

export type Permission = keyof typeof PERMISSIONS;

/** What `can` needs of a principal: the scopes of its credential. */
export interface Subject {
  scopes: readonly string[];
  /**
   * The organization whose single sign-on the credential came through (a session signed in
   * through it, or a token issued by such a credential); absent or null for any other.
   */
  ssoOrgId?: string | null | undefined;
}

/**
 * What an organization asks of every access to its resources beyond relations, loaded with
 * them: its single sign-on requirement, and the caller's role (owners are exempt from it).
 */
export interface OrgPolicy {
  orgId: string;
  slug: string;
  requireSso: boolean;
  role: OrgRole | null;
}

/** Resource types that live inside an organization: their access always carries its policy. */
const IN_ORG: ReadonlySet<ResourceType> = new Set(["organization", "team", "project", "workspace", "runner"]);

/** The one question: may this subject, holding these relations to the resource, do this? */
export function can(subject: Subject, permission: Permission, relations: ReadonlySet<Relation>): boolean {
  const { scope, anyOf } = PERMISSIONS[permission];
  return grants(subject.scopes, scope) && anyOf.some((r: Relation) => relations.has(r));
}

/**
 * `can`, or the right refusal: 403 for a missing scope; 404 when the subject holds no
 * relation at all to the resource (another org's resource is not leaked); 403 `sso_required`
 * when the resource's organization requires single sign-on and the subject did not come
 * through it (see `requireOrgSso`); 403 otherwise.
 *
 * Resources inside an organization must pass the organization's `policy`: this is the one
 * place its single sign-on requirement is enforced, for every route of every such resource.
 */
export function authorize(
  subject: Subject,
  permission: Permission,
  relations: ReadonlySet<Relation>,
  resourceName: string,
  policy?: OrgPolicy,
): void {
  const { on, scope } = PERMISSIONS[permission];
  if (!grants(subject.scopes, scope)) {
    throw new Forbidden(`This token lacks the "${scope}" scope.`, "insufficient_scope");
  }
  if (relations.size === 0) throw new NotFound(resourceName);
  if (IN_ORG.has(on)) {
    // A loader that forgot the policy would skip the organization's SSO requirement: fail loudly.
    if (!policy) throw new Error(`authorize(${permission}) needs the organization's policy.`);
    requireOrgSso(subject, policy);
  }
  if (!can(subject, permission, relations)) throw new Forbidden(`You are not allowed to do this (${permission}).`);
}

/**
 * An organization that requires single sign-on admits only subjects that came through its
 * own SSO. Owners are exempt ("break-glass"): a broken or misconfigured identity provider
 * must not lock the organization out of the settings that fix it.
 */
export function requireOrgSso(subject: Subject, policy: OrgPolicy): void {
  if (!policy.requireSso || policy.role === "owner" || subject.ssoOrgId === policy.orgId) return;
  throw new Forbidden(
    `This organization requires single sign-on: sign in at /auth/sso/${policy.slug}/login, then try again.`,
    "sso_required",
  );
}

export const ORG_ROLES = ["owner", "member", "collaborator"] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

/** Relations to an organization that come from a membership role. */
export const orgRelations = (role: OrgRole | null | undefined): ReadonlySet<Relation<"organization">> =>
  new Set(role ? [role] : []);

/** Relations to a resource inside an organization that come from the org role. */
export function parentRelations(role: OrgRole | null | undefined): Relation<"team" | "runner" | "project">[] {
  return role ? [`parent->${role}`] : [];
}
