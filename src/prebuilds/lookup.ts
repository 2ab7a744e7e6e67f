import { and, desc, eq, like, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { prebuilds, projectRefs, projects } from "../db/schema";
import type { RepositoryContext } from "../scm/context-url";
import { repositoryKey } from "../services/repositories";

/**
 * The prebuild a new workspace can start from: an available prebuild, in a project of the
 * organization for the workspace's repository, of the commit the workspace opens — its
 * exact commit when it names one, else the head of its ref (the project's default branch
 * when it names none) as the webhooks last reported it. A query builder, so the caller
 * can batch it with its other reads.
 */
export function prebuildForQuery(db: Database, orgId: string, repository: RepositoryContext) {
  const commit = repository.revision
    ? like(prebuilds.commitSha, `${repository.revision.toLowerCase()}%`)
    : eq(
        prebuilds.commitSha,
        sql`(select ${projectRefs.commitSha} from ${projectRefs} where ${projectRefs.projectId} = ${projects.id}
              and ${projectRefs.ref} = coalesce(${repository.ref}, ${projects.defaultBranch}))`,
      );
  return db
    .select({ prebuildId: prebuilds.id, commitSha: prebuilds.commitSha, runnerId: prebuilds.runnerId })
    .from(prebuilds)
    .innerJoin(projects, eq(projects.id, prebuilds.projectId))
    .where(and(eq(projects.orgId, orgId), eq(projects.repositoryKey, repositoryKey(repository)), eq(prebuilds.state, "available"), commit))
    .orderBy(desc(prebuilds.finishedAt))
    .limit(1);
}
