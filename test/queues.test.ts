import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { database } from "../src/db/client";
import { projects } from "../src/db/schema";
import worker from "../src/index";
import type { PrebuildJob, ScmEvent } from "../src/prebuilds/messages";
import { queuePrebuild } from "../src/services/prebuilds";
import { createOrg, person, type Person } from "./org-helpers";
import { createProject, deliveryRows, prebuildRows, type CreatedProject } from "./project-helpers";
import { expire } from "./runner-peer";

/**
 * The consumers, driven with batches made by cloudflare:test (`createMessageBatch`) and read
 * back with `getQueueResult`: what was acknowledged and what retried. The plugin's result
 * leaves out a retry's `delaySeconds` (its message records only that `retry()` was called),
 * so the delays asked for are recorded here, by wrapping each message's `retry`. An `env`
 * with a failing binding stands for a dependency that is down.
 */
async function run(queue: string, bodies: unknown[], options: { attempts?: number; env?: Env } = {}) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: `msg-${i}`, timestamp: Date.now(), attempts: options.attempts ?? 1, body })),
  );
  const delays: Record<string, number | undefined> = {};
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    message.retry = (retryOptions?: QueueRetryOptions) => {
      delays[message.id] = retryOptions?.delaySeconds;
      retry(retryOptions);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env, ctx);
  const result = await getQueueResult(batch, ctx);
  return { ...result, retryMessages: result.retryMessages.map((m) => ({ msgId: m.msgId, delaySeconds: delays[m.msgId] })) };
}

const SHA = (c: string) => c.repeat(40);

let owner: Person;
let orgId: string;

beforeAll(async () => {
  owner = await person("owner");
  orgId = (await createOrg(owner)).id;
});

async function project(body: Record<string, unknown> = {}): Promise<CreatedProject> {
  return createProject(owner, orgId, { repositoryUrl: "https://github.com/acme/app", defaultBranch: "main", ...body });
}

/** A delivery as the webhook route records it, and its message. */
async function delivery(p: CreatedProject, deliveryId: string, builds: { ref: string; commit: string }[]): Promise<ScmEvent> {
  await env.DB.prepare(
    "INSERT INTO webhook_deliveries (id, project_id, provider, delivery_id, event, status, received_at) VALUES (?, ?, 'github', ?, 'push', 'queued', ?)",
  )
    .bind(`whd_${crypto.randomUUID().replaceAll("-", "").slice(0, 26)}`, p.id, deliveryId, Date.now())
    .run();
  return {
    v: 1,
    provider: "github",
    deliveryId,
    projectId: p.id,
    event: "push",
    repository: "acme/app",
    defaultBranch: "main",
    builds: builds.map((b) => ({ ...b, branch: b.ref, pullRequest: null })),
    receivedAt: Date.now(),
  };
}

const delivered = async (p: CreatedProject, id: string) => (await deliveryRows(p.id)).find((d) => d.delivery_id === id);

/** An env whose binding `name` fails every call, as a service that is down. */
function failing(name: "PREBUILDS" | "WORKSPACE", message: string): Env {
  const down = () => {
    throw new Error(message);
  };
  const binding = name === "PREBUILDS" ? { send: down, sendBatch: down } : { idFromName: () => ({}), get: () => ({ dispatch: down, failDispatch: down }) };
  return { ...env, [name]: binding } as unknown as Env;
}

describe("the scm-events consumer", () => {
  it("makes one prebuild per commit: a second delivery of it collapses", async () => {
    const p = await project();
    const result = await run("scm-events", [
      await delivery(p, "d-1", [{ ref: "main", commit: SHA("1") }]),
      await delivery(p, "d-2", [{ ref: "main", commit: SHA("1") }]),
    ]);
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-1"]);
    expect(result.retryMessages).toEqual([]);
    expect((await prebuildRows(p.id)).map((r) => [r.commit_sha, r.state, r.trigger])).toEqual([[SHA("1"), "queued", "push"]]);
    const details = [(await delivered(p, "d-1"))!, (await delivered(p, "d-2"))!];
    expect(details.map((d) => d.status)).toEqual(["processed", "processed"]);
    expect(details.filter((d) => d.detail!.includes("existing"))).toHaveLength(1);
  });

  it("the same delivery again (a redelivered message) makes nothing new", async () => {
    const p = await project();
    const event = await delivery(p, "d-again", [{ ref: "main", commit: SHA("2") }]);
    await run("scm-events", [event]);
    await run("scm-events", [event]);
    expect(await prebuildRows(p.id)).toHaveLength(1);
  });

  it("applies the branch strategy and the enabled switch, and records the refs regardless", async () => {
    const p = await project();
    await run("scm-events", [await delivery(p, "d-feature", [{ ref: "feature/x", commit: SHA("3") }])]);
    expect(await delivered(p, "d-feature")).toMatchObject({ status: "ignored", detail: expect.stringMatching(/branch strategy/) });
    const ref = await env.DB.prepare("SELECT commit_sha FROM project_refs WHERE project_id = ? AND ref = 'feature/x'").bind(p.id).first();
    expect(ref).toEqual({ commit_sha: SHA("3") });

    const matched = await project({ prebuilds: { branchStrategy: "matched-branches", branchPatterns: ["feature/**"] } });
    await run("scm-events", [await delivery(matched, "d-matched", [{ ref: "feature/x/y", commit: SHA("3") }])]);
    expect(await delivered(matched, "d-matched")).toMatchObject({ status: "processed" });

    const off = await project({ prebuilds: { enabled: false } });
    await run("scm-events", [await delivery(off, "d-off", [{ ref: "main", commit: SHA("4") }])]);
    expect(await delivered(off, "d-off")).toMatchObject({ status: "ignored", detail: expect.stringMatching(/disabled/) });
    expect(await prebuildRows(off.id)).toEqual([]);
  });

  it("retries with growing delays when it throws, then dead-letters: the delivery is marked failed with the error", async () => {
    const p = await project();
    const event = await delivery(p, "d-down", [{ ref: "main", commit: SHA("5") }]);
    const first = await run("scm-events", [event], { env: failing("PREBUILDS", "queue down") });
    expect(first.explicitAcks).toEqual([]);
    expect(first.retryMessages).toEqual([{ msgId: "msg-0", delaySeconds: 10 }]);
    expect(await delivered(p, "d-down")).toMatchObject({ status: "queued", detail: "Attempt 1 failed: queue down" });
    const third = await run("scm-events", [event], { env: failing("PREBUILDS", "queue down"), attempts: 3 });
    expect(third.retryMessages).toEqual([{ msgId: "msg-0", delaySeconds: 40 }]);

    // Past max_retries the platform moves the message to the dead-letter queue.
    const dead = await run("scm-events-dlq", [event], { attempts: 6 });
    expect(dead.explicitAcks).toEqual(["msg-0"]);
    expect(await delivered(p, "d-down")).toMatchObject({ status: "failed", detail: "Gave up after retries. Attempt 3 failed: queue down" });
  });

  it("a retry completes what a failure left half-way (the prebuild made, its dispatch not queued)", async () => {
    const p = await project();
    const event = await delivery(p, "d-half", [{ ref: "main", commit: SHA("6") }]);
    await run("scm-events", [event], { env: failing("PREBUILDS", "queue down") });
    expect((await prebuildRows(p.id)).map((r) => r.phase)).toEqual(["preparing"]);
    const retried = await run("scm-events", [event], { attempts: 2 });
    expect(retried.explicitAcks).toEqual(["msg-0"]);
    expect(await prebuildRows(p.id)).toHaveLength(1);
    // Dispatched now: with no runner in the organization, it waits for one.
    await expect.poll(async () => (await prebuildRows(p.id))[0]!.phase, { timeout: 5_000 }).toBe("pending");
  });

  it("drops (acknowledges) a message it cannot read", async () => {
    const result = await run("scm-events", [{ v: 99, nonsense: true }]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
  });
});

describe("the prebuilds consumer", () => {
  /** A prebuild made and queued, as the scm-events consumer does, without putting its dispatch on the real queue. */
  async function queued(commit: string) {
    const p = await project();
    const row = (await database(env.DB).select().from(projects).where(eq(projects.id, p.id)).get())!;
    const { prebuild } = await queuePrebuild(env, database(env.DB), row, { ref: "main", branch: "main", commit, pullRequest: null }, {
      trigger: "push",
      deliveryId: null,
      triggeredBy: null,
    });
    const job: PrebuildJob = { v: 1, prebuildId: prebuild.id, attempt: 1 };
    return { p, prebuild, job };
  }

  it("dispatches a queued prebuild (to pending, with no runner); a repeated dispatch is a no-op", async () => {
    const { p, job } = await queued(SHA("7"));
    expect((await run("prebuilds", [job, job])).explicitAcks.sort()).toEqual(["msg-0", "msg-1"]);
    expect((await prebuildRows(p.id))[0]).toMatchObject({ state: "queued", phase: "pending", reason: expect.stringMatching(/runner/) });
  });

  it("retries a failing dispatch with backoff, noting the error; dead-lettered, the prebuild fails with it", async () => {
    const { p, job } = await queued(SHA("8"));
    const result = await run("prebuilds", [job], { env: failing("WORKSPACE", "object unavailable") });
    expect(result.retryMessages).toEqual([{ msgId: "msg-0", delaySeconds: 10 }]);
    expect((await prebuildRows(p.id))[0]).toMatchObject({ state: "queued", reason: "Dispatch attempt 1 failed: object unavailable" });

    await run("prebuilds-dlq", [job], { attempts: 6 });
    expect((await prebuildRows(p.id))[0]).toMatchObject({
      state: "failed",
      phase: "failed",
      reason: "The prebuild could not be dispatched: Dispatch attempt 1 failed: object unavailable",
    });
  });

  it("fails the prebuild on its row when even its workspace is unreachable from the dead-letter queue", async () => {
    const { p, job } = await queued(SHA("9"));
    await run("prebuilds-dlq", [job], { env: failing("WORKSPACE", "object unavailable") });
    expect((await prebuildRows(p.id))[0]).toMatchObject({ state: "failed", reason: expect.stringMatching(/could not be dispatched/) });
  });
});

describe("nothing stays queued forever", () => {
  it("a prebuild never dispatched fails when its queue deadline passes", async () => {
    const { prebuild, p } = await (async () => {
      const pr = await project();
      const row = (await database(env.DB).select().from(projects).where(eq(projects.id, pr.id)).get())!;
      const made = await queuePrebuild(env, database(env.DB), row, { ref: "main", branch: "main", commit: SHA("c"), pullRequest: null }, {
        trigger: "push",
        deliveryId: null,
        triggeredBy: null,
      });
      return { prebuild: made.prebuild, p: pr };
    })();
    await expire(prebuild.id, "pending");
    expect((await prebuildRows(p.id))[0]).toMatchObject({ state: "failed", reason: "The prebuild was not dispatched in time." });
  });

  it("the hourly housekeeping fails a prebuild whose workspace was never made", async () => {
    const p = await project();
    const old = Date.now() - 3 * 3600_000;
    await env.DB.prepare(
      "INSERT INTO prebuilds (id, project_id, org_id, commit_sha, ref, trigger, state, phase, attempt, created_at, updated_at) VALUES (?, ?, ?, ?, 'main', 'push', 'queued', 'preparing', 1, ?, ?)",
    )
      .bind("pb_01jd3k5v8m0000000000000000", p.id, orgId, SHA("d"), old, old)
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController(), env, ctx);
    await waitOnExecutionContext(ctx);
    expect((await prebuildRows(p.id))[0]).toMatchObject({ state: "failed", reason: "The prebuild was never dispatched." });
  });
});
