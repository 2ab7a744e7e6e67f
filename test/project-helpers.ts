import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { hmacSha256Hex } from "../src/lib/crypto";
import { call } from "./helpers";
import { as, type Person } from "./org-helpers";

export interface CreatedProject {
  id: string;
  organizationId: string;
  name: string;
  repositoryUrl: string;
  defaultBranch: string | null;
  prebuilds: { enabled: boolean; branchStrategy: string; branchPatterns: string[]; timeoutMinutes: number };
  webhook: { provider: string; url: string };
  webhookSecret: string;
}

let counter = 0;

export async function createProject(owner: Person, orgId: string, body: Record<string, unknown> = {}): Promise<CreatedProject> {
  const res = await as(owner, "POST", `/api/v1/orgs/${orgId}/projects`, {
    name: `project-${++counter}`,
    repositoryUrl: "https://github.com/Codertocat/Hello-World",
    ...body,
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json();
}

export type Provider = "github" | "gitlab" | "bitbucket";

/** The headers an SCM sends with a delivery of `body` signed with `secret` (or as `signature` says). */
export function scmHeaders(provider: Provider, event: string, deliveryId: string, secret: string, body: string): Record<string, string> {
  const base = { "content-type": "application/json" };
  switch (provider) {
    case "github":
      return { ...base, "x-github-event": event, "x-github-delivery": deliveryId, "x-hub-signature-256": `sha256=${hmacSha256Hex(secret, body)}` };
    case "gitlab":
      return { ...base, "x-gitlab-event": event, "x-gitlab-event-uuid": deliveryId, "x-gitlab-token": secret };
    case "bitbucket":
      return { ...base, "x-event-key": event, "x-request-uuid": deliveryId, "x-hub-signature": `sha256=${hmacSha256Hex(secret, body)}` };
  }
}

/** Delivers a webhook as the SCM would; `headers` override (or, as undefined, remove) the signed ones. */
export function deliver(
  provider: Provider,
  projectId: string | null,
  secret: string,
  event: string,
  payload: unknown,
  options: { deliveryId?: string; headers?: Record<string, string | undefined> } = {},
): Promise<Response> {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...scmHeaders(provider, event, options.deliveryId ?? crypto.randomUUID(), secret, body), ...options.headers })) {
    if (v !== undefined) headers[k] = v;
  }
  return call(`/webhooks/${provider}${projectId ? `?project=${projectId}` : ""}`, { method: "POST", body, headers });
}

export async function deliveryRows(projectId: string) {
  const { results } = await env.DB.prepare("SELECT delivery_id, status, detail, event FROM webhook_deliveries WHERE project_id = ? ORDER BY received_at")
    .bind(projectId)
    .all<{ delivery_id: string; status: string; detail: string | null; event: string }>();
  return results;
}

export async function prebuildRows(projectId: string) {
  const { results } = await env.DB.prepare("SELECT id, commit_sha, ref, state, reason, attempt, phase, runner_id, trigger FROM prebuilds WHERE project_id = ? ORDER BY id")
    .bind(projectId)
    .all<{ id: string; commit_sha: string; ref: string; state: string; reason: string | null; attempt: number; phase: string; runner_id: string | null; trigger: string }>();
  return results;
}
