import { and, eq, sql } from "drizzle-orm";
import { database, type Database } from "../db/client";
import { organizations, projectRefs, projects, webhookDeliveries, type DeliveryStatus, type Prebuild } from "../db/schema";
import { ScmEventSchema, type ScmEvent } from "../prebuilds/messages";
import { branchSelected } from "../projects/settings";
import { adoptPrebuild, enqueueDispatches, prebuildUpsert } from "../services/prebuilds";
import { withDefaults } from "../services/org-settings";
import { eachMessage, errorText } from "./retry";

/**
 * The `scm-events` consumer: for each verified delivery, records what the SCM said of its
 * refs (for workspaces and manual triggers), applies the project's prebuild settings and
 * branch strategy, makes one prebuild per selected commit (duplicates collapse) and
 * queues their dispatch. The delivery's row says what came of it.
 */
export function consumeScmEvents(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = database(env.DB);
  return eachMessage(
    batch,
    (body) => ScmEventSchema.safeParse(body).data ?? null,
    async (event) => {
      const { status, detail } = await handleScmEvent(env, db, event);
      await markDelivery(db, event, status, detail);
    },
    (event, error, attempts) => markDelivery(db, event, "queued", `Attempt ${attempts} failed: ${errorText(error)}`),
  );
}

export async function handleScmEvent(env: Env, db: Database, event: ScmEvent): Promise<{ status: DeliveryStatus; detail: string }> {
  const row = await db
    .select({ project: projects, orgSettings: organizations.settings })
    .from(projects)
    .innerJoin(organizations, eq(organizations.id, projects.orgId))
    .where(eq(projects.id, event.projectId))
    .get();
  if (!row) return { status: "ignored", detail: "The project no longer exists." };
  const { project } = row;
  const defaultBranch = event.defaultBranch ?? project.defaultBranch;
  const settings = project.prebuildSettings;
  const why = !settings.enabled
    ? "Prebuilds are disabled for the project."
    : withDefaults(row.orgSettings).maintenanceMode
      ? "The organization is in maintenance mode."
      : null;
  // Unknown until the SCM or a user says: `main`, today's usual default.
  const selected = why ? [] : event.builds.filter((b) => branchSelected(settings, b.branch, defaultBranch ?? "main"));
  const trigger = event.event === "push" ? "push" : "pull_request";
  const origin = { trigger, deliveryId: event.deliveryId, triggeredBy: null } as const;
  const upserts = selected.map((build) => prebuildUpsert(db, { ...project, defaultBranch }, build, origin));
  // One round trip: what the SCM said of its refs (kept whatever the settings, for
  // workspaces and manual triggers) and the prebuilds of the selected commits.
  const [, ...results] = await db.batch([
    db
      .update(projects)
      .set({ defaultBranch })
      .where(and(eq(projects.id, project.id), sql`${projects.defaultBranch} is not ${defaultBranch}`)),
    // Newest delivery wins: an old one arriving late does not move a ref back.
    ...event.builds.map((b) =>
      db
        .insert(projectRefs)
        .values({ projectId: project.id, ref: b.ref, commitSha: b.commit, updatedAt: new Date(event.receivedAt) })
        .onConflictDoUpdate({
          target: [projectRefs.projectId, projectRefs.ref],
          set: { commitSha: b.commit, updatedAt: new Date(event.receivedAt) },
          setWhere: sql`excluded.updated_at > ${projectRefs.updatedAt}`,
        }),
    ),
    ...upserts.map((u) => u.query),
  ]);
  if (why) return { status: "ignored", detail: why };
  if (selected.length === 0) {
    return { status: "ignored", detail: `No branch of the event is selected by the project's branch strategy (${settings.branchStrategy}).` };
  }
  const made = results.slice(event.builds.length) as Prebuild[][];
  const adopted = await Promise.all(upserts.map((u, i) => adoptPrebuild(env, { ...project, defaultBranch }, u.id, made[i]![0]!, origin)));
  await enqueueDispatches(env, adopted.filter((r) => r.created).map((r) => r.prebuild));
  const list = adopted.map((r) => `${r.prebuild.id} (${r.prebuild.commitSha.slice(0, 12)}${r.created ? "" : ", existing"})`);
  return { status: "processed", detail: `Prebuilds: ${list.join(", ")}.` };
}

function markDelivery(db: Database, event: ScmEvent, status: DeliveryStatus, detail: string) {
  return db
    .update(webhookDeliveries)
    .set({ status, detail, processedAt: status === "queued" ? null : new Date() })
    .where(
      and(
        eq(webhookDeliveries.projectId, event.projectId),
        eq(webhookDeliveries.provider, event.provider),
        eq(webhookDeliveries.deliveryId, event.deliveryId),
      ),
    );
}

/** Dead-lettered: the retries are spent. The delivery is marked failed with its last error. */
export async function deadScmEvents(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = database(env.DB);
  for (const message of batch.messages) {
    const event = ScmEventSchema.safeParse(message.body).data;
    if (event) {
      await db
        .update(webhookDeliveries)
        .set({ status: "failed", detail: sql`'Gave up after retries. ' || coalesce(${webhookDeliveries.detail}, '')`, processedAt: new Date() })
        .where(
          and(
            eq(webhookDeliveries.projectId, event.projectId),
            eq(webhookDeliveries.provider, event.provider),
            eq(webhookDeliveries.deliveryId, event.deliveryId),
          ),
        );
    }
    console.error(JSON.stringify({ msg: "dead-lettered message", queue: batch.queue, id: message.id, attempts: message.attempts, deliveryId: event?.deliveryId }));
    message.ack();
  }
}
