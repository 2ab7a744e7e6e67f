import examples from "@octokit/webhooks-examples";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import bitbucketPullRequest from "./fixtures/bitbucket-pullrequest-created.json";
import bitbucketPush from "./fixtures/bitbucket-push.json";
import gitlabMergeRequest from "./fixtures/gitlab-merge-request.json";
import gitlabPush from "./fixtures/gitlab-push.json";
import { call, expectError } from "./helpers";
import { createOrg, person, type Person } from "./org-helpers";
import { createProject, deliver, deliveryRows, prebuildRows, type CreatedProject } from "./project-helpers";

/** GitHub's own example payloads (@octokit/webhooks-examples). */
function example(name: string, match: (payload: Record<string, any>) => boolean = () => true): Record<string, any> {
  const found = examples.find((e) => e.name === name)?.examples.find((e) => match(e as Record<string, any>));
  if (!found) throw new Error(`no ${name} example`);
  return found as Record<string, any>;
}

const githubPush = example("push", (p) => p.ref === "refs/heads/master");
const githubTagPush = example("push", (p) => p.ref.startsWith("refs/tags/") && !p.deleted);
const githubPrOpened = example("pull_request", (p) => p.action === "opened");
const githubPrLabeled = example("pull_request", (p) => p.action === "labeled");
const githubPing = example("ping", (p) => p.hook?.config);
const githubIssue = example("issues", (p) => p.action === "opened");

let owner: Person;
let orgId: string;
let github: CreatedProject;

beforeAll(async () => {
  owner = await person("owner");
  orgId = (await createOrg(owner)).id;
  github = await createProject(owner, orgId, { prebuilds: { branchStrategy: "all-branches" } });
});

describe("POST /webhooks/github", () => {
  it("verifies, records and queues a push, answering 202; the consumer makes its prebuild", async () => {
    const res = await deliver("github", github.id, github.webhookSecret, "push", githubPush, { deliveryId: "gh-push-1" });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ status: "queued", event: "push", deliveryId: "gh-push-1" });
    expect((await deliveryRows(github.id)).find((d) => d.delivery_id === "gh-push-1")).toMatchObject({ event: "push" });
    await expect
      .poll(async () => (await prebuildRows(github.id)).map((p) => [p.commit_sha, p.ref, p.trigger]), { timeout: 10_000, interval: 100 })
      .toContainEqual([githubPush.after, "master", "push"]);
  });
});

describe("refusals (nothing recorded, nothing queued)", () => {
  it("refuses a wrong signature (401), an unsigned delivery (401) and an unknown or unnamed project (404)", async () => {
    const wrong = await deliver("github", github.id, "not-the-secret", "push", githubPush, { deliveryId: "gh-bad-1" });
    await expectError(wrong, 401, "invalid_signature");
    const malformed = await deliver("github", github.id, github.webhookSecret, "push", githubPush, {
      deliveryId: "gh-bad-2",
      headers: { "x-hub-signature-256": "sha256=not-hex" },
    });
    await expectError(malformed, 401, "invalid_signature");
    const unsigned = await deliver("github", github.id, github.webhookSecret, "push", githubPush, {
      deliveryId: "gh-bad-3",
      headers: { "x-hub-signature-256": undefined },
    });
    await expectError(unsigned, 401, "signature_required");
    // Unsigned garbage is refused for its missing signature, not parsed.
    const garbage = await deliver("github", github.id, github.webhookSecret, "push", "{not json", { headers: { "x-hub-signature-256": undefined } });
    await expectError(garbage, 401, "signature_required");
    await expectError(await deliver("github", "prj_01jd3k5v8m0000000000000000", github.webhookSecret, "push", githubPush), 404, "not_found");
    await expectError(await deliver("github", null, github.webhookSecret, "push", githubPush), 404, "not_found");

    const ids = (await deliveryRows(github.id)).map((d) => d.delivery_id);
    expect(ids).not.toContain("gh-bad-1");
    expect(ids).not.toContain("gh-bad-2");
    expect(ids).not.toContain("gh-bad-3");
  });

  it("a secret of another project does not sign for this one", async () => {
    const other = await createProject(owner, orgId);
    await expectError(await deliver("github", github.id, other.webhookSecret, "push", githubPush), 401, "invalid_signature");
  });

  it("a rotated secret takes over at once; the old one is refused", async () => {
    const project = await createProject(owner, orgId);
    const res = await call(`/api/v1/projects/${project.id}`, {
      method: "PATCH",
      body: JSON.stringify({ rotateWebhookSecret: true }),
      headers: { "content-type": "application/json", cookie: owner.cookie, origin: "https://edgepod.test" },
    });
    const { webhookSecret } = (await res.json()) as { webhookSecret: string };
    expect(webhookSecret).toMatch(/^[a-z2-7]{32}$/);
    expect(webhookSecret).not.toBe(project.webhookSecret);
    await expectError(await deliver("github", project.id, project.webhookSecret, "ping", githubPing), 401, "invalid_signature");
    expect((await deliver("github", project.id, webhookSecret, "ping", githubPing)).status).toBe(202);
  });
});

describe("redeliveries", () => {
  it("the same delivery id again is acknowledged and does nothing", async () => {
    const project = await createProject(owner, orgId);
    const first = await deliver("github", project.id, project.webhookSecret, "push", githubPush, { deliveryId: "gh-redeliver" });
    expect(await first.json()).toMatchObject({ status: "queued" });
    await expect.poll(async () => (await prebuildRows(project.id)).length, { timeout: 10_000, interval: 100 }).toBe(1);
    const again = await deliver("github", project.id, project.webhookSecret, "push", githubPush, { deliveryId: "gh-redeliver" });
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ status: "duplicate", event: "push", deliveryId: "gh-redeliver" });
    // Give the queue time it would need to deliver anything (batches wait up to 2 s).
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await prebuildRows(project.id)).toHaveLength(1);
    expect(await deliveryRows(project.id)).toHaveLength(1);
  });

  it("another delivery of the same commit collapses into the same prebuild", async () => {
    const project = await createProject(owner, orgId);
    await deliver("github", project.id, project.webhookSecret, "push", githubPush, { deliveryId: "gh-collapse-1" });
    await deliver("github", project.id, project.webhookSecret, "push", githubPush, { deliveryId: "gh-collapse-2" });
    await expect
      .poll(async () => (await deliveryRows(project.id)).map((d) => d.status), { timeout: 10_000, interval: 100 })
      .toEqual(["processed", "processed"]);
    expect(await prebuildRows(project.id)).toHaveLength(1);
    expect((await deliveryRows(project.id))[1]!.detail).toMatch(/existing/);
  });
});

describe("events understood and ignored", () => {
  it("answers pings, and acknowledges events that start nothing without recording them", async () => {
    const project = await createProject(owner, orgId);
    const ping = await deliver("github", project.id, project.webhookSecret, "ping", githubPing);
    expect(await ping.json()).toMatchObject({ status: "pong", event: "ping" });
    for (const [event, payload, reason] of [
      ["issues", githubIssue, /starts nothing/],
      ["push", githubTagPush, /Not a branch/],
      ["pull_request", githubPrLabeled, /labeled/],
    ] as const) {
      const res = await deliver("github", project.id, project.webhookSecret, event, payload);
      expect(res.status).toBe(202);
      expect(await res.json()).toMatchObject({ status: "ignored", event, reason: expect.stringMatching(reason) });
    }
    expect(await deliveryRows(project.id)).toEqual([]);
  });

  it("queues a pull request opened, as its pull request ref", async () => {
    const res = await deliver("github", github.id, github.webhookSecret, "pull_request", githubPrOpened, { deliveryId: "gh-pr-1" });
    expect(await res.json()).toMatchObject({ status: "queued", event: "pull_request" });
    const head = githubPrOpened.pull_request.head.sha;
    await expect
      .poll(async () => (await prebuildRows(github.id)).map((p) => [p.commit_sha, p.ref, p.trigger]), { timeout: 10_000, interval: 100 })
      .toContainEqual([head, `refs/pull/${githubPrOpened.number}/head`, "pull_request"]);
  });

  it("ignores a delivery for another repository than the project's", async () => {
    const project = await createProject(owner, orgId, { repositoryUrl: "https://github.com/acme/other" });
    const res = await deliver("github", project.id, project.webhookSecret, "push", githubPush);
    expect(await res.json()).toMatchObject({ status: "ignored", reason: expect.stringMatching(/Codertocat\/Hello-World/) });
  });

  it("refuses a signed delivery that is not JSON (415), or lacks what is read (400)", async () => {
    const form = await deliver("github", github.id, github.webhookSecret, "push", "payload=%7B%7D", {
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    const error = await expectError(form, 415, "unsupported_media_type");
    expect(error.message).toMatch(/application\/json/);
    await expectError(await deliver("github", github.id, github.webhookSecret, "push", { ref: "refs/heads/main" }), 400, "invalid_payload");
  });
});

describe("POST /webhooks/gitlab", () => {
  it("checks X-Gitlab-Token and queues pushes and merge requests", async () => {
    const push = await createProject(owner, orgId, { repositoryUrl: "https://gitlab.com/mike/diaspora" });
    expect(push.webhook).toEqual({ provider: "gitlab", url: `https://edgepod.test/webhooks/gitlab?project=${push.id}` });
    await expectError(await deliver("gitlab", push.id, "wrong-token", "Push Hook", gitlabPush), 401, "invalid_signature");
    await expectError(await deliver("gitlab", push.id, push.webhookSecret, "Push Hook", gitlabPush, { headers: { "x-gitlab-token": undefined } }), 401, "signature_required");
    expect(await deliveryRows(push.id)).toEqual([]);
    const res = await deliver("gitlab", push.id, push.webhookSecret, "Push Hook", gitlabPush, { deliveryId: "gl-push-1" });
    expect(await res.json()).toEqual({ status: "queued", event: "push", deliveryId: "gl-push-1" });
    await expect
      .poll(async () => (await prebuildRows(push.id)).map((p) => [p.commit_sha, p.ref]), { timeout: 10_000, interval: 100 })
      .toEqual([[gitlabPush.checkout_sha, "master"]]);

    const mr = await createProject(owner, orgId, {
      repositoryUrl: "https://gitlab.com/gitlabhq/gitlab-test",
      prebuilds: { branchStrategy: "matched-branches", branchPatterns: ["ms-*"] },
    });
    const opened = await deliver("gitlab", mr.id, mr.webhookSecret, "Merge Request Hook", gitlabMergeRequest);
    expect(await opened.json()).toMatchObject({ status: "queued", event: "pull_request" });
    await expect
      .poll(async () => (await prebuildRows(mr.id)).map((p) => [p.commit_sha, p.ref]), { timeout: 10_000, interval: 100 })
      .toEqual([[gitlabMergeRequest.object_attributes.last_commit.id, "refs/merge-requests/1/head"]]);
    const retitled = { ...gitlabMergeRequest, object_attributes: { ...gitlabMergeRequest.object_attributes, action: "update" } };
    expect(await (await deliver("gitlab", mr.id, mr.webhookSecret, "Merge Request Hook", retitled)).json()).toMatchObject({ status: "ignored" });
  });
});

describe("POST /webhooks/bitbucket", () => {
  it("verifies X-Hub-Signature and queues branch pushes and pull requests", async () => {
    const project = await createProject(owner, orgId, {
      repositoryUrl: "https://bitbucket.org/team_name/repo_name",
      prebuilds: { branchStrategy: "all-branches" },
    });
    await expectError(await deliver("bitbucket", project.id, "wrong", "repo:push", bitbucketPush), 401, "invalid_signature");
    const push = await deliver("bitbucket", project.id, project.webhookSecret, "repo:push", bitbucketPush, { deliveryId: "bb-1" });
    expect(await push.json()).toEqual({ status: "queued", event: "push", deliveryId: "bb-1" });
    const pr = await deliver("bitbucket", project.id, project.webhookSecret, "pullrequest:created", bitbucketPullRequest);
    expect(await pr.json()).toMatchObject({ status: "queued", event: "pull_request" });
    await expect
      .poll(async () => (await prebuildRows(project.id)).map((p) => [p.commit_sha, p.ref]).sort(), { timeout: 10_000, interval: 100 })
      .toEqual([
        ["709d658dc5b6d6afcd46049c2f332ee3f515a67d", "main"],
        ["d3022fc0ca3d", "feature/login"],
      ]);
  });
});

describe("the OpenAPI document", () => {
  it("lists the public webhook routes with their schemas and the one error shape", async () => {
    const doc = (await (await call("/openapi.json")).json()) as { paths: Record<string, Record<string, any>> };
    for (const provider of ["github", "gitlab", "bitbucket"]) {
      const op = doc.paths[`/webhooks/${provider}`]?.post;
      expect(op, provider).toBeDefined();
      expect(op.security).toBeUndefined();
      expect(op.responses["202"].content["application/json"].schema.$ref).toBe("#/components/schemas/WebhookAccepted");
      for (const status of ["400", "401", "404"]) expect(op.responses[status].content["application/json"].schema.$ref).toBe("#/components/schemas/Error");
      expect(op.parameters.map((p: { name: string }) => p.name)).toContain("project");
    }
  });
});

describe("what is stored", () => {
  it("keeps the webhook secret sealed, bound to its project", async () => {
    const row = await env.DB.prepare("SELECT webhook_secret_sealed FROM projects WHERE id = ?").bind(github.id).first<{ webhook_secret_sealed: string }>();
    expect(row!.webhook_secret_sealed).toMatch(/^v1\./);
    expect(row!.webhook_secret_sealed).not.toContain(github.webhookSecret);
  });
});
