import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { projects, webhookDeliveries, type Project } from "../db/schema";
import type { Config } from "../env";
import { ApiError, BadRequest, NotFound, Unauthorized } from "../lib/errors";
import { newId } from "../lib/ids";
import type { ScmEvent, WebhookProvider } from "../prebuilds/messages";
import { verifyDelivery, SIGNATURE_HEADER } from "../scm/webhook-signatures";
import { deliveryIdOf, type Delivery, type HeaderOf } from "../scm/webhook-payloads";
import { openWebhookSecret } from "./projects";

/**
 * SCM webhooks at the edge: find the project the URL names, check the delivery against the
 * project's secret, record it by the SCM's delivery id (a redelivery is a no-op), put it on
 * the `scm-events` queue and answer. Nothing else happens before the answer.
 */
export type VerifiedProject = Pick<Project, "id" | "orgId" | "repository">;

export interface WebhookOutcome {
  status: "queued" | "duplicate" | "ignored" | "pong";
  event: string;
  deliveryId: string | null;
  reason?: string;
}

/** The project named by `?project=`, once the delivery proves it holds its webhook secret. */
export async function verifyWebhook(
  config: Config,
  db: Database,
  provider: WebhookProvider,
  projectId: string | undefined,
  body: string,
  header: HeaderOf,
): Promise<VerifiedProject> {
  // Checked before any look-up: an unsigned delivery costs no database read.
  if (!header(SIGNATURE_HEADER[provider])) {
    throw new Unauthorized(`Unsigned delivery: the webhook needs the project's secret (${SIGNATURE_HEADER[provider]}).`, "signature_required");
  }
  const project = projectId
    ? await db
        .select({ id: projects.id, orgId: projects.orgId, repository: projects.repository, webhookSecretSealed: projects.webhookSecretSealed })
        .from(projects)
        .where(eq(projects.id, projectId))
        .get()
    : undefined;
  if (!project) throw new NotFound("Project (name it in the webhook URL: ?project=<id>)");
  const verdict = await verifyDelivery(provider, await openWebhookSecret(config, project), body, header);
  if (verdict !== "valid") throw new Unauthorized("The delivery's signature does not match the project's webhook secret.", "invalid_signature");
  return { id: project.id, orgId: project.orgId, repository: project.repository };
}

/** Records and enqueues a verified delivery; pings and other events are answered without either. */
export async function acceptWebhook(
  env: Env,
  db: Database,
  provider: WebhookProvider,
  project: VerifiedProject,
  delivery: Delivery,
  header: HeaderOf,
): Promise<WebhookOutcome> {
  const deliveryId = deliveryIdOf(provider, header)?.slice(0, 200) ?? null;
  if (delivery.kind === "ping") return { status: "pong", event: delivery.event, deliveryId };
  if (delivery.kind === "ignored") return { status: "ignored", event: delivery.event, deliveryId, reason: delivery.reason };
  // A hook set on the wrong repository (plain git servers name repositories their own way: not checked).
  const expected = project.repository.provider === provider ? project.repository.fullName.toLowerCase() : null;
  if (expected && delivery.repository.toLowerCase() !== expected) {
    const reason = `The delivery is for ${delivery.repository}; the project's repository is ${project.repository.fullName}.`;
    return { status: "ignored", event: delivery.event, deliveryId, reason };
  }
  if (!deliveryId) throw new BadRequest("The delivery has no delivery id header.", [{ path: "header", message: "Missing delivery id." }], "missing_delivery_id");
  const receivedAt = Date.now();
  const id = newId("whd");
  const [recorded] = await db
    .insert(webhookDeliveries)
    .values({ id, projectId: project.id, provider, deliveryId, event: delivery.event, status: "queued", detail: null, receivedAt: new Date(receivedAt), processedAt: null })
    .onConflictDoNothing()
    .returning({ id: webhookDeliveries.id });
  if (!recorded) return { status: "duplicate", event: delivery.event, deliveryId };
  const message: ScmEvent = {
    v: 1,
    provider,
    deliveryId,
    projectId: project.id,
    event: delivery.event,
    repository: delivery.repository,
    defaultBranch: delivery.defaultBranch,
    builds: delivery.builds,
    receivedAt,
  };
  try {
    await env.SCM_EVENTS.send(message);
  } catch (error) {
    // Not queued: forget the delivery so that the SCM's retry is not taken for a duplicate.
    await db.delete(webhookDeliveries).where(eq(webhookDeliveries.id, id));
    console.error(JSON.stringify({ msg: "enqueue failed", queue: "scm-events", error: String(error) }));
    throw new ApiError(503, "queue_unavailable", "The delivery could not be queued; the SCM will retry it.");
  }
  return { status: "queued", event: delivery.event, deliveryId };
}
