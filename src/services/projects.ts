import { and, desc, eq, inArray, lt } from "drizzle-orm";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { isUniqueViolation } from "../db/errors";
import { prebuilds, projects, type Project } from "../db/schema";
import { requireSealingKeys, type Config } from "../env";
import { randomSecret } from "../lib/crypto";
import { BadRequest, Conflict } from "../lib/errors";
import { newId } from "../lib/ids";
import type { Page } from "../lib/pagination";
import { seal, unseal, type SealingKeys } from "../lib/seal";
import {
  DEFAULT_PREBUILD_SETTINGS,
  settingsProblem,
  type PrebuildSettings,
} from "../projects/settings";
import type { RepositoryContext } from "../scm/context-url";
import { auditInsert } from "./audit";
import { loadOrg, orgPage } from "./org-access";
import { loadProject, visibleProjects } from "./project-access";
import { repositoryFrom, repositoryKey } from "./repositories";

export interface NewProject {
  name: string;
  repositoryUrl: string;
  defaultBranch?: string | undefined;
  prebuilds?: Partial<PrebuildSettings> | undefined;
}

export interface ProjectChanges {
  name?: string | undefined;
  defaultBranch?: string | null | undefined;
  prebuilds?: Partial<PrebuildSettings> | undefined;
  rotateWebhookSecret?: boolean | undefined;
}

/** A project with its webhook secret in the clear: only in the create and rotate responses. */
export interface ProjectWithSecret {
  project: Project;
  webhookSecret: string | null;
}

type PageArgs = { limit: number; after: string | undefined };

const nameTaken = (name: string) => new Conflict(`A project named "${name}" exists already.`, "project_name_taken");

/** The webhook secret is bound to its project: a sealed value copied to another row does not open. */
const secretContext = (projectId: string) => `project:${projectId}:webhook`;

/** 160 random bits, base32: what the SCM signs deliveries with (or sends, for GitLab). */
async function newSecret(keys: SealingKeys, projectId: string) {
  const secret = randomSecret(20);
  return { secret, sealed: await seal(keys, secret, secretContext(projectId)) };
}

export function openWebhookSecret(config: Config, project: Pick<Project, "id" | "webhookSecretSealed">): Promise<string> {
  return unseal(requireSealingKeys(config), project.webhookSecretSealed, secretContext(project.id));
}

function checkedSettings(settings: PrebuildSettings): PrebuildSettings {
  const problem = settingsProblem(settings);
  if (problem) throw new BadRequest("The prebuild settings are inconsistent.", [problem]);
  return settings;
}

/** A project's repository is the repository itself, not a branch, commit or file in it. */
function projectRepository(repository: RepositoryContext): RepositoryContext {
  if (repository.ref || repository.revision || repository.pullRequest || repository.path) {
    throw new BadRequest("Give the repository's own URL, not a branch, commit, pull request or file in it.", [
      { path: "repositoryUrl", message: "Expected a repository URL." },
    ]);
  }
  return repository;
}

export async function createProject(config: Config, db: Database, caller: Caller, orgId: string, input: NewProject): Promise<ProjectWithSecret> {
  const { org } = await loadOrg(db, caller, orgId, "org.projects.create");
  const repository = projectRepository(repositoryFrom(input.repositoryUrl, config, org.settings, "repositoryUrl"));
  const settings = checkedSettings({ ...DEFAULT_PREBUILD_SETTINGS, ...input.prebuilds });
  const id = newId("prj");
  const { secret, sealed } = await newSecret(requireSealingKeys(config), id);
  const now = new Date();
  const project: Project = {
    id,
    orgId,
    name: input.name,
    repository,
    repositoryKey: repositoryKey(repository),
    defaultBranch: input.defaultBranch ?? null,
    prebuildSettings: settings,
    webhookSecretSealed: sealed,
    createdBy: caller.user.id,
    createdAt: now,
    updatedAt: now,
  };
  try {
    await db.batch([
      db.insert(projects).values(project),
      auditInsert(db, caller, {
        orgId,
        action: "project.create",
        targetType: "project",
        targetId: id,
        after: { name: project.name, repository: repository.normalizedUrl, prebuilds: settings },
      }),
    ]);
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(input.name);
    throw error;
  }
  return { project, webhookSecret: secret };
}

/** The projects of an organization the caller may see, newest first; one batch with the access check. */
export async function listProjects(db: Database, caller: Caller, orgId: string, page: PageArgs): Promise<Page<Project>> {
  const query = db
    .select()
    .from(projects)
    .where(and(eq(projects.orgId, orgId), visibleProjects(db, caller.user.id), page.after ? lt(projects.id, page.after) : undefined))
    .orderBy(desc(projects.id))
    .limit(page.limit + 1);
  return orgPage(db, caller, orgId, "org.projects.read", query, page.limit);
}

export function getProject(db: Database, caller: Caller, projectId: string): Promise<Project> {
  return loadProject(db, caller, projectId, "project.read");
}

export async function updateProject(
  config: Config,
  db: Database,
  caller: Caller,
  projectId: string,
  changes: ProjectChanges,
): Promise<ProjectWithSecret> {
  const before = await loadProject(db, caller, projectId, "project.write");
  const settings = checkedSettings({ ...DEFAULT_PREBUILD_SETTINGS, ...before.prebuildSettings, ...changes.prebuilds });
  const rotated = changes.rotateWebhookSecret ? await newSecret(requireSealingKeys(config), projectId) : null;
  const project: Project = {
    ...before,
    name: changes.name ?? before.name,
    defaultBranch: changes.defaultBranch === undefined ? before.defaultBranch : changes.defaultBranch,
    prebuildSettings: settings,
    webhookSecretSealed: rotated?.sealed ?? before.webhookSecretSealed,
    updatedAt: new Date(),
  };
  const described = (p: Project) => ({ name: p.name, defaultBranch: p.defaultBranch, prebuilds: p.prebuildSettings });
  try {
    await db.batch([
      db
        .update(projects)
        .set({
          name: project.name,
          defaultBranch: project.defaultBranch,
          prebuildSettings: project.prebuildSettings,
          webhookSecretSealed: project.webhookSecretSealed,
          updatedAt: project.updatedAt,
        })
        .where(eq(projects.id, projectId)),
      auditInsert(db, caller, {
        orgId: project.orgId,
        action: "project.update",
        targetType: "project",
        targetId: projectId,
        before: described(before),
        // Never the secret itself: only that it changed.
        after: { ...described(project), ...(rotated ? { webhookSecretRotated: true } : {}) },
      }),
    ]);
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(project.name);
    throw error;
  }
  return { project, webhookSecret: rotated?.secret ?? null };
}

/**
 * Deletes the project (its prebuild records, refs and team grants go with it); returns the
 * ids of its prebuilds still queued or building, whose headless workspaces the caller ends.
 */
export async function deleteProject(db: Database, caller: Caller, projectId: string): Promise<string[]> {
  const project = await loadProject(db, caller, projectId, "project.delete");
  const [inFlight] = await db.batch([
    db
      .select({ id: prebuilds.id })
      .from(prebuilds)
      .where(and(eq(prebuilds.projectId, projectId), inArray(prebuilds.state, ["queued", "building"]))),
    db.delete(projects).where(eq(projects.id, projectId)),
    auditInsert(db, caller, {
      orgId: project.orgId,
      action: "project.delete",
      targetType: "project",
      targetId: projectId,
      before: { name: project.name, repository: project.repository.normalizedUrl },
    }),
  ]);
  return inFlight.map((p) => p.id);
}

/** Where the SCM delivers this project's events: the provider's route, the project named in the query. */
export function webhookUrl(origin: string, project: Pick<Project, "id" | "repository">): { provider: WebhookProvider; url: string } {
  const provider = webhookProviderOf(project.repository);
  return { provider, url: `${origin}/webhooks/${provider}?project=${project.id}` };
}

export type WebhookProvider = "github" | "gitlab" | "bitbucket";

/** Plain git servers (Gitea, Forgejo, …) speak GitHub's webhook format. */
export const webhookProviderOf = (r: Pick<RepositoryContext, "provider">): WebhookProvider =>
  r.provider === "git" ? "github" : r.provider;
