import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { database } from "../db/client";
import { readConfig, type AppEnv } from "../env";
import { ApiError, BadRequest } from "../lib/errors";
import { WEBHOOK_PROVIDERS, type WebhookProvider } from "../prebuilds/messages";
import { PayloadError, readDelivery } from "../scm/webhook-payloads";
import { acceptWebhook, verifyWebhook } from "../services/webhooks";
import { createRouter, errors, jsonResponse } from "./openapi";

/** GitHub caps deliveries at 25 MB; what edgepod reads is small, and pushes of thousands of commits are not. */
const MAX_BODY_BYTES = 5 * 1024 * 1024;

const HEADERS: Record<WebhookProvider, { event: string; delivery: string; signature: string; signatureHelp: string; name: string }> = {
  github: {
    name: "GitHub",
    event: "x-github-event",
    delivery: "x-github-delivery",
    signature: "x-hub-signature-256",
    signatureHelp: "`sha256=` and the hex HMAC-SHA256 of the body under the project's webhook secret.",
  },
  gitlab: {
    name: "GitLab",
    event: "x-gitlab-event",
    delivery: "x-gitlab-event-uuid",
    signature: "x-gitlab-token",
    signatureHelp: "The project's webhook secret itself (GitLab's secret token), compared in constant time.",
  },
  bitbucket: {
    name: "Bitbucket Cloud",
    event: "x-event-key",
    delivery: "x-request-uuid",
    signature: "x-hub-signature",
    signatureHelp: "`sha256=` and the hex HMAC-SHA256 of the body under the project's webhook secret.",
  },
};

const WebhookAcceptedSchema = z
  .object({
    status: z.enum(["queued", "duplicate", "ignored", "pong"]).openapi({
      description: "queued: recorded and queued; duplicate: this delivery id was seen (nothing done); ignored: an event that starts nothing; pong: a ping.",
    }),
    event: z.string(),
    deliveryId: z.string().nullable(),
    reason: z.string().optional(),
  })
  .openapi("WebhookAccepted");

const PayloadSchema = z.record(z.string(), z.unknown()).openapi("WebhookPayload", { description: "The SCM's event payload, as it sends it." });

/**
 * Runs before input validation: the delivery must be signed for the project it names before
 * anything about it is believed (a malformed, unsigned body is a 401, not a 400).
 */
const verified =
  (provider: WebhookProvider): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    if (Number(c.req.header("content-length") ?? 0) > MAX_BODY_BYTES) throw tooLarge();
    const body = await c.req.text();
    if (body.length > MAX_BODY_BYTES) throw tooLarge();
    const header = (name: string) => c.req.header(name);
    c.set("webhookProject", await verifyWebhook(readConfig(c.env), database(c.env.DB), provider, c.req.query("project"), body, header));
    const mediaType = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (mediaType !== "application/json") {
      throw new ApiError(415, "unsupported_media_type", `Set the webhook's content type to application/json (got ${mediaType ?? "nothing"}).`);
    }
    await next();
  };

const tooLarge = () => new ApiError(413, "payload_too_large", `Deliveries are limited to ${MAX_BODY_BYTES / 1024 / 1024} MiB.`);

function webhookRoute(provider: WebhookProvider) {
  const h = HEADERS[provider];
  return createRoute({
    method: "post",
    path: `/webhooks/${provider}`,
    tags: ["webhooks"],
    summary: `${h.name} webhook: verified, recorded, queued, answered 202`,
    description:
      `Public (no user authentication): the delivery proves itself with \`${h.signature}\`. The URL names the project ` +
      "(`?project=<id>`, shown on the project as `webhook.url`). Pushes to branches and pull/merge requests opened or " +
      "updated are queued for prebuilds; pings are answered; other events are acknowledged and ignored. A delivery id " +
      "seen before is acknowledged and not queued again. Send JSON (content type `application/json`).",
    middleware: [verified(provider)] as const,
    request: {
      query: z.object({ project: z.string().min(1).max(64).openapi({ description: "The project's id." }) }),
      headers: z.object({
        [h.event]: z.string().optional().openapi({ description: "The event's name." }),
        [h.delivery]: z.string().optional().openapi({ description: "The delivery's id; a redelivery repeats it." }),
        [h.signature]: z.string().optional().openapi({ description: h.signatureHelp }),
      }),
      body: { required: true, content: { "application/json": { schema: PayloadSchema } } },
    },
    responses: {
      202: jsonResponse(WebhookAcceptedSchema, "Accepted."),
      400: errors[400],
      401: errors[401],
      404: errors[404],
      413: errors[413],
      415: errors[415],
      503: errors[503],
    },
  });
}

export const webhookRoutes = createRouter();
for (const provider of WEBHOOK_PROVIDERS) {
  webhookRoutes.openapi(webhookRoute(provider), async (c) => {
    const header = (name: string) => c.req.header(name);
    let delivery;
    try {
      delivery = readDelivery[provider](header, c.req.valid("json"));
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      throw new BadRequest(error.message, [{ path: "body", message: error.message }], "invalid_payload");
    }
    const outcome = await acceptWebhook(c.env, database(c.env.DB), provider, c.get("webhookProject")!, delivery, header);
    return c.json(outcome, 202);
  });
}
