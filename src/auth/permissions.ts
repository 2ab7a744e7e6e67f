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
 * definition project      { relation parent: organization; relation team_reader, team_writer }
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

  "team.read": rule("team", "orgs:read", ["member", "parent->owner", "parent->member"]),
  "team.manage": rule("team", "orgs:write", ownerOfParent),

  "project.read": rule("project", "projects:read", ["team_reader", "team_writer", "parent->owner", "parent->member"]),
  "project.write": rule("project", "projects:write", ["team_writer", "parent->owner"]),

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
}

/** The one question: may this subject, holding these relations to the resource, do this? */
export function can(subject: Subject, permission: Permission, relations: ReadonlySet<Relation>): boolean {
  const { scope, anyOf } = PERMISSIONS[permission];
  return grants(subject.scopes, scope) && anyOf.some((r: Relation) => relations.has(r));
}

/**
 * `can`, or the right refusal: 403 for a missing scope; 404 when the subject holds no
 * relation at all to the resource (another org's resource is not leaked); 403 otherwise.
 */
export function authorize(
  subject: Subject,
  permission: Permission,
  relations: ReadonlySet<Relation>,
  resourceName: string,
): void {
  if (can(subject, permission, relations)) return;
  const { scope } = PERMISSIONS[permission];
  if (!grants(subject.scopes, scope)) {
    throw new Forbidden(`This token lacks the "${scope}" scope.`, "insufficient_scope");
  }
  if (relations.size === 0) throw new NotFound(resourceName);
  throw new Forbidden(`You are not allowed to do this (${permission}).`);
}

export const ORG_ROLES = ["owner", "member", "collaborator"] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

/** Relations to an organization that come from a membership role. */
export const orgRelations = (role: OrgRole | null | undefined): ReadonlySet<Relation<"organization">> =>
  new Set(role ? [role] : []);

/** Relations to a resource inside an organization that come from the org role. */
export function parentRelations(role: OrgRole | null | undefined): Relation<"team" | "runner">[] {
  return role ? [`parent->${role}`] : [];
}
