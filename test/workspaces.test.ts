import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import type { WorkspaceRecord } from "../src/workspaces/types";
import { asBearer, call, expectError, issueToken, ORIGIN } from "./helpers";
import { as, createOrg, invite, join, person, type Person } from "./org-helpers";
import { connectRunner, expire, RunnerPeer, runnerRow, workspaceStub } from "./runner-peer";

type Workspace = { id: string; phase: string; reason: string | null; generation: number; runnerId: string | null; ports: number[] };

const CONTEXT = "https://github.com/acme/app/tree/main";

async function setup(capacity = 2) {
  const owner = await person("owner");
  const org = await createOrg(owner);
  return { owner, org, ...(await connectRunner(owner, org.id, capacity)) };
}

async function createWorkspace(owner: Person, orgId: string, body: Record<string, unknown> = {}) {
  const res = await as(owner, "POST", "/api/v1/workspaces", { contextUrl: CONTEXT, organizationId: orgId, ...body });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Workspace;
}

const get = async (who: Person, id: string) => (await (await as(who, "GET", `/api/v1/workspaces/${id}`)).json()) as Workspace;
const phaseOf = (who: Person, id: string) => async () => (await get(who, id)).phase;
const stub = workspaceStub;

describe("a workspace's lifecycle with a runner", () => {
  it("goes preparing → creating → initializing → running, then stopping → stopped", async () => {
    const { owner, org, runnerId, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    expect(ws).toMatchObject({ phase: "creating", generation: 1, runnerId });

    const start = await peer.next("start");
    expect(start.spec).toMatchObject({
      workspaceId: ws.id,
      generation: 1,
      repository: { cloneUrl: "https://github.com/acme/app.git", ref: "main", revision: null },
      tasks: null,
    });
    peer.send({ type: "ack", id: start.id });
    peer.report(ws.id, 1, "initializing");
    await expect.poll(phaseOf(owner, ws.id)).toBe("initializing");
    peer.report(ws.id, 1, "running", { ports: [{ port: 3000 }] });
    await expect.poll(phaseOf(owner, ws.id)).toBe("running");
    expect((await get(owner, ws.id)).ports).toEqual([3000]);

    const stopping = (await (await as(owner, "POST", `/api/v1/workspaces/${ws.id}/stop`)).json()) as Workspace;
    expect(stopping).toMatchObject({ phase: "stopping", generation: 2 });
    expect(await peer.next("stop")).toMatchObject({ workspaceId: ws.id, generation: 2 });
    peer.report(ws.id, 2, "stopped");
    await expect.poll(phaseOf(owner, ws.id)).toBe("stopped");
    expect((await runnerRow(runnerId)).assigned).toBe(0);
    peer.close();
  });

  it("restarts on the same runner with a new generation; starting twice is one start", async () => {
    const { owner, org, runnerId, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    peer.report(ws.id, 1, "running");
    await expect.poll(phaseOf(owner, ws.id)).toBe("running");
    await as(owner, "POST", `/api/v1/workspaces/${ws.id}/stop`);
    await peer.next("stop");
    peer.report(ws.id, 2, "stopped");
    await expect.poll(phaseOf(owner, ws.id)).toBe("stopped");

    const [a, b] = await Promise.all([
      as(owner, "POST", `/api/v1/workspaces/${ws.id}/start`),
      as(owner, "POST", `/api/v1/workspaces/${ws.id}/start`),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const restarted = await get(owner, ws.id);
    expect(restarted).toMatchObject({ phase: "creating", generation: 3, runnerId });
    await peer.next("start", (m) => m.spec.generation === 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(peer.pending("start")).toHaveLength(0);
    peer.close();
  });

  it("ignores reports of an old generation and of illegal transitions", async () => {
    const { owner, org, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    peer.report(ws.id, 1, "running");
    await expect.poll(phaseOf(owner, ws.id)).toBe("running");
    peer.report(ws.id, 0, "failed", { reason: "stale" });
    peer.report(ws.id, 1, "initializing");
    await new Promise((r) => setTimeout(r, 100));
    expect(await get(owner, ws.id)).toMatchObject({ phase: "running", reason: null });
    peer.close();
  });

  it("fails with the runner's reason when a task fails", async () => {
    const { owner, org, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    peer.report(ws.id, 1, "failed", { reason: "task 0 init exited with code 1" });
    await expect.poll(phaseOf(owner, ws.id)).toBe("failed");
    expect((await get(owner, ws.id)).reason).toBe("task 0 init exited with code 1");
    peer.close();
  });
});

describe("scheduling", () => {
  it("waits in pending with a reason when no runner has room, and starts when one does", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const ws = await createWorkspace(owner, org.id);
    expect(ws.phase).toBe("pending");
    expect(ws.reason).toMatch(/runner/i);

    const { token } = (await (await as(owner, "POST", `/api/v1/orgs/${org.id}/runners`, { name: "late" })).json()) as { token: string };
    const peer = await RunnerPeer.connect(token);
    peer.hello(1);
    const start = await peer.next("start");
    expect(start.spec.workspaceId).toBe(ws.id);
    await expect.poll(phaseOf(owner, ws.id)).toBe("creating");
    peer.close();
  });

  it("respects the capacity a runner announced", async () => {
    const { owner, org, runnerId, peer } = await setup(1);
    const first = await createWorkspace(owner, org.id);
    const second = await createWorkspace(owner, org.id);
    expect(first.phase).toBe("creating");
    expect(second.phase).toBe("pending");
    expect((await runnerRow(runnerId)).assigned).toBe(1);

    // The first stops: its place goes to the one waiting once the runner has room again.
    await peer.next("start");
    await as(owner, "POST", `/api/v1/workspaces/${first.id}/stop`);
    await peer.next("stop");
    peer.report(first.id, 2, "stopped");
    await expect.poll(phaseOf(owner, first.id)).toBe("stopped");
    peer.hello(1, [{ workspaceId: first.id, generation: 2, phase: "stopped" }]);
    expect((await peer.next("start")).spec.workspaceId).toBe(second.id);
    peer.close();
  });

  it("gives up on pending after the pending timeout", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const ws = await createWorkspace(owner, org.id);
    await expire(ws.id, "pending");
    expect(await get(owner, ws.id)).toMatchObject({ phase: "failed", reason: expect.stringMatching(/runner/) });
  });
});

describe("runner connections", () => {
  it("refuse missing, malformed and revoked tokens", async () => {
    const connect = (authorization?: string) =>
      call("/api/v1/runners/connect", { headers: { upgrade: "websocket", ...(authorization ? { authorization } : {}) } });
    await expectError(await connect(), 401);
    await expectError(await connect("Bearer edp_notarunnertoken"), 401);
    const owner = await person();
    const org = await createOrg(owner);
    const made = (await (await as(owner, "POST", `/api/v1/orgs/${org.id}/runners`, { name: "r" })).json()) as {
      runner: { id: string };
      token: string;
      tokenId: string;
    };
    const rotated = (await (await as(owner, "POST", `/api/v1/runners/${made.runner.id}/tokens`)).json()) as { token: string };
    expect((await as(owner, "DELETE", `/api/v1/runners/${made.runner.id}/tokens/${made.tokenId}`)).status).toBe(204);
    await expectError(await connect(`Bearer ${made.token}`), 401);
    const peer = await RunnerPeer.connect(rotated.token);
    peer.send("ping");
    await expect.poll(() => peer.received.includes("pong")).toBe(true);
    peer.close();
  });

  it("reconcile after a reconnect: desired state is re-sent, nothing is started twice, strays are stopped", async () => {
    const { owner, org, token, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    peer.report(ws.id, 1, "running");
    await expect.poll(phaseOf(owner, ws.id)).toBe("running");
    peer.close();

    const again = await RunnerPeer.connect(token);
    again.hello(2, [
      { workspaceId: ws.id, generation: 1, phase: "running" },
      { workspaceId: "ws_stray", generation: 4, phase: "running" },
    ]);
    const resent = await again.next("start");
    expect(resent.spec).toMatchObject({ workspaceId: ws.id, generation: 1 });
    expect(await again.next("stop")).toMatchObject({ workspaceId: "ws_stray", generation: 5 });
    expect(await get(owner, ws.id)).toMatchObject({ phase: "running", generation: 1 });
    again.close();
  });

  it("a runner that vanishes leaves its workspaces failed after the grace period", async () => {
    const { owner, org, runnerId, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    peer.report(ws.id, 1, "running");
    await expect.poll(phaseOf(owner, ws.id)).toBe("running");
    peer.close();
    await expect.poll(async () => (await runnerRow(runnerId)).connected).toBe(0);

    const runner = env.RUNNER.get(env.RUNNER.idFromName(runnerId));
    await runInDurableObject(runner, async (_instance, state) => {
      const saved = (await state.storage.get<{ disconnectedAt: number }>("runner"))!;
      saved.disconnectedAt = Date.now() - 10 * 60_000;
      await state.storage.put("runner", saved);
    });
    await runDurableObjectAlarm(runner);
    await expect.poll(phaseOf(owner, ws.id)).toBe("failed");
    expect((await get(owner, ws.id)).reason).toMatch(/runner was lost/);
  });
});

describe("timers", () => {
  it("a start that does not reach running in time fails, and the runner is told to stop", async () => {
    const { owner, org, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    await expire(ws.id, "start");
    expect(await get(owner, ws.id)).toMatchObject({ phase: "failed", reason: expect.stringMatching(/did not start in time/) });
    expect(await peer.next("stop")).toMatchObject({ workspaceId: ws.id, generation: 2 });
    peer.close();
  });

  it("inactivity stops a running workspace; heartbeats push the timeout back", async () => {
    const { owner, org, peer } = await setup();
    const ws = await createWorkspace(owner, org.id, { timeoutMinutes: 30 });
    await peer.next("start");
    peer.report(ws.id, 1, "running");
    await expect.poll(phaseOf(owner, ws.id)).toBe("running");

    const deadline = () =>
      runInDurableObject(stub(ws.id), async (_i, state) => (await state.storage.get<WorkspaceRecord>("workspace"))!.deadlines.inactivity!);
    const before = await deadline();
    await runInDurableObject(stub(ws.id), async (_i, state) => {
      const record = (await state.storage.get<WorkspaceRecord>("workspace"))!;
      record.lastActivityAt = Date.now() - 5 * 60_000;
      await state.storage.put("workspace", record);
    });
    expect((await as(owner, "POST", `/api/v1/workspaces/${ws.id}/heartbeat`)).status).toBe(204);
    expect(await deadline()).toBeGreaterThan(before);

    await expire(ws.id, "inactivity");
    expect(await get(owner, ws.id)).toMatchObject({ phase: "stopping", reason: expect.stringMatching(/inactivity/) });
    expect(await peer.next("stop")).toMatchObject({ workspaceId: ws.id });
    peer.close();
  });

  it("survive the object's eviction: the deadline is in storage, the alarm fires after", async () => {
    const { owner, org, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    await evictDurableObject(stub(ws.id));
    await expire(ws.id, "start");
    expect(await get(owner, ws.id)).toMatchObject({ phase: "failed", reason: expect.stringMatching(/did not start in time/) });
    peer.close();
  });

  it("the maximum lifetime stops it regardless of activity", async () => {
    const { owner, org, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    peer.report(ws.id, 1, "running");
    await expect.poll(phaseOf(owner, ws.id)).toBe("running");
    await expire(ws.id, "maxLifetime");
    expect(await get(owner, ws.id)).toMatchObject({ phase: "stopping", reason: expect.stringMatching(/maximum lifetime/) });
    peer.close();
  });
});

describe("the events socket", () => {
  async function subscribe(headers: Record<string, string>, id: string) {
    const res = await exports.default.fetch(new Request(`${ORIGIN}/api/v1/workspaces/${id}/events`, { headers: { upgrade: "websocket", ...headers } }));
    return res;
  }

  it("sends the current state at once, then transitions and task logs; never the env", async () => {
    const { owner, org, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    const res = await subscribe({ cookie: owner.cookie, origin: ORIGIN }, ws.id);
    expect(res.status).toBe(101);
    const socket = res.webSocket!;
    const messages: { type: string; workspace?: Workspace; data?: string; task?: string }[] = [];
    socket.accept();
    socket.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string)));

    await expect.poll(() => messages.length).toBeGreaterThan(0);
    expect(messages[0]).toMatchObject({ type: "state", workspace: { id: ws.id, phase: "creating" } });
    peer.report(ws.id, 1, "initializing");
    peer.send({ type: "log", workspaceId: ws.id, task: "0:init", stream: "stdout", data: "npm install\n" });
    peer.report(ws.id, 1, "running");
    await expect
      .poll(() => messages.map((m) => (m.type === "state" ? m.workspace!.phase : `log:${m.data}`)))
      .toEqual(["creating", "initializing", "log:npm install\n", "running"]);
    expect(JSON.stringify(messages)).not.toMatch(/"env"|deadlines/);
    socket.close();
    peer.close();
  });

  it("requires a same-site Origin with the cookie, accepts a bearer token, and hides others' workspaces", async () => {
    const { owner, org, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await expectError(await subscribe({ cookie: owner.cookie, origin: "https://evil.example" }, ws.id), 403, "cross_site_request");
    await expectError(await subscribe({ cookie: owner.cookie }, ws.id), 403, "cross_site_request");
    const { token } = await issueToken(owner.cookie, { scopes: ["workspaces:read"] });
    const viaToken = await subscribe(asBearer(token), ws.id);
    expect(viaToken.status).toBe(101);
    viaToken.webSocket!.accept();
    viaToken.webSocket!.close();
    const stranger = await person();
    await expectError(await subscribe({ cookie: stranger.cookie, origin: ORIGIN }, ws.id), 404);
    await expectError(await call(`/api/v1/workspaces/${ws.id}/events`, { headers: { cookie: owner.cookie } }), 426);
    peer.close();
  });
});

describe("workspace rules", () => {
  it("enforces organization settings and maintenance mode", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    await as(owner, "PATCH", `/api/v1/orgs/${org.id}`, {
      settings: { allowedEditors: ["vscode"], maxWorkspaceTimeoutMinutes: 60, allowedScmHosts: ["github.com"] },
    });
    const create = (body: Record<string, unknown>) =>
      as(owner, "POST", "/api/v1/workspaces", { contextUrl: CONTEXT, organizationId: org.id, ...body });
    expect((await expectError(await create({ editor: "emacs" }), 400)).fields).toEqual([{ path: "editor", message: expect.any(String) }]);
    expect((await expectError(await create({ timeoutMinutes: 120 }), 400)).fields).toEqual([{ path: "timeoutMinutes", message: expect.any(String) }]);
    await expectError(await create({ contextUrl: "https://gitlab.com/acme/app" }), 400);
    const bad = await expectError(await create({ contextUrl: "https://example.com/nope" }), 400);
    expect(bad.message).toContain("Accepted forms");
    expect(bad.fields).toEqual([{ path: "contextUrl", message: expect.stringContaining("Unknown host") }]);

    const ws = (await (await create({})).json()) as Workspace;
    await as(owner, "POST", `/api/v1/workspaces/${ws.id}/stop`);
    await as(owner, "PATCH", `/api/v1/orgs/${org.id}`, { settings: { maintenanceMode: true } });
    await expectError(await create({}), 409, "maintenance_mode");
    await expectError(await as(owner, "POST", `/api/v1/workspaces/${ws.id}/start`), 409, "maintenance_mode");
    // Owners still manage the organization.
    expect((await as(owner, "PATCH", `/api/v1/orgs/${org.id}`, { settings: { maintenanceMode: false } })).status).toBe(200);
  });

  it("accepts context URLs of a self-hosted instance configured for sign-in", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const app = createApp();
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
    const open = (vars: Record<string, string>) =>
      app.request(
        `${ORIGIN}/api/v1/workspaces`,
        {
          method: "POST",
          body: JSON.stringify({ contextUrl: "https://github.example.com/team/app", organizationId: org.id }),
          headers: { "content-type": "application/json", cookie: owner.cookie, origin: ORIGIN },
        },
        { ...env, ...vars },
        ctx,
      );
    await expectError(await open({}), 400);
    const res = await open({ GITHUB_BASE_URL: "https://github.example.com" });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ repository: { provider: "github", host: "github.example.com", fullName: "team/app" } });
  });

  it("owners see and stop members' workspaces; members and strangers do not", async () => {
    const { owner, org, peer } = await setup();
    const member = await person();
    const other = await person();
    const { code } = await invite(owner, org.id);
    await join(member, code);
    await join(other, code);
    const ws = await createWorkspace(member, org.id);
    await peer.next("start");

    await expectError(await as(other, "GET", `/api/v1/workspaces/${ws.id}`), 403);
    await expectError(await as(other, "POST", `/api/v1/workspaces/${ws.id}/stop`), 403);
    await expectError(await as(await person(), "GET", `/api/v1/workspaces/${ws.id}`), 404);
    expect((await as(owner, "GET", `/api/v1/workspaces/${ws.id}`)).status).toBe(200);
    await expectError(await as(owner, "POST", `/api/v1/workspaces/${ws.id}/start`), 403);

    const mine = (await (await as(member, "GET", "/api/v1/workspaces")).json()) as { items: Workspace[] };
    expect(mine.items.map((w) => w.id)).toEqual([ws.id]);
    await expectError(await as(member, "GET", `/api/v1/workspaces?organizationId=${org.id}&all=true`), 403);
    const all = (await (await as(owner, "GET", `/api/v1/workspaces?organizationId=${org.id}&all=true`)).json()) as { items: Workspace[] };
    expect(all.items.map((w) => w.id)).toEqual([ws.id]);

    expect((await as(owner, "POST", `/api/v1/workspaces/${ws.id}/stop`)).status).toBe(200);
    await peer.next("stop");
    peer.close();
  });

  it("deletion stops it on the runner and forgets it", async () => {
    const { owner, org, runnerId, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    expect((await as(owner, "DELETE", `/api/v1/workspaces/${ws.id}`)).status).toBe(204);
    expect(await peer.next("stop")).toMatchObject({ workspaceId: ws.id });
    await expectError(await as(owner, "GET", `/api/v1/workspaces/${ws.id}`), 404);
    expect((await runnerRow(runnerId)).assigned).toBe(0);
    peer.close();
  });

  it("deleting a runner fails its workspaces", async () => {
    const { owner, org, runnerId, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    expect((await as(owner, "DELETE", `/api/v1/runners/${runnerId}`)).status).toBe(204);
    await expect.poll(phaseOf(owner, ws.id)).toBe("failed");
  });

  it("deleting the organization stops its workspaces on the runner and drops its runners", async () => {
    const { owner, org, runnerId, peer } = await setup();
    const ws = await createWorkspace(owner, org.id);
    await peer.next("start");
    peer.report(ws.id, 1, "running");
    await expect.poll(phaseOf(owner, ws.id)).toBe("running");
    const closed = new Promise<number>((resolve) => peer.ws.addEventListener("close", (e) => resolve(e.code)));
    expect((await as(owner, "DELETE", `/api/v1/orgs/${org.id}`)).status).toBe(204);
    expect(await peer.next("stop")).toMatchObject({ workspaceId: ws.id });
    expect(await closed).toBe(4001);
    const row = await env.DB.prepare("SELECT count(*) AS n FROM runners WHERE id = ?").bind(runnerId).first<{ n: number }>();
    expect(row!.n).toBe(0);
  });

  it("deleting an account stops the workspaces it owned", async () => {
    const { owner, org, peer } = await setup();
    const member = await person();
    await join(member, (await invite(owner, org.id)).code);
    const ws = await createWorkspace(member, org.id);
    await peer.next("start");
    expect((await as(member, "DELETE", "/api/v1/me")).status).toBe(204);
    expect(await peer.next("stop")).toMatchObject({ workspaceId: ws.id });
    await expectError(await as(owner, "GET", `/api/v1/workspaces/${ws.id}`), 404);
    peer.close();
  });
});
