#!/usr/bin/env node
// The prebuild pipeline under `wrangler dev` (D1, Durable Objects and Queues local), in three parts:
//   1. delivery → building: signed GitHub pushes of new commits, one at a time; a protocol
//      peer plays the runner, and each is timed from sending the delivery until the peer is
//      told to start the prebuild (its state is `building` from then on);
//   2. deliveries accepted (202) per second against GET /health of the same server, in
//      alternating rounds: new delivery ids (each recorded and queued) and redeliveries;
//   3. a workspace's start (created → running) with and without a prebuild, on the real runner.
// Writes bench/prebuilds-results.md.
//
//   npm run bench:prebuilds            # BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_DELIVERIES, BENCH_STARTS
import autocannon from "autocannon";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { headCommit, makeRepository, median, openSocket as open, runnerConnected, signIn, startRunner, startWorker, token } from "../scripts/local-worker.mjs";

const PORT = Number(process.env.BENCH_PORT ?? 8796);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 10);
const STARTS = Number(process.env.BENCH_STARTS ?? 3);
// Under the project, not /tmp: the runner's sandbox has a private /tmp.
const SCRATCH = resolve(".bench-prebuilds");
/** init stands for a dependency install: 3 s and 20 MB written. */
const GITPOD_YML = "tasks:\n  - init: sleep 3 && head -c 20000000 /dev/urandom > deps.bin\n    command: sleep 600\n";

const sha = () => randomBytes(20).toString("hex");

function push(commit) {
  return JSON.stringify({
    ref: "refs/heads/main",
    before: "0".repeat(40),
    after: commit,
    deleted: false,
    repository: { full_name: "acme/app", default_branch: "main" },
    pusher: { name: "bench" },
    commits: [],
  });
}

function deliveryHeaders(secret, body, deliveryId = randomUUID()) {
  return {
    "content-type": "application/json",
    "x-github-event": "push",
    "x-github-delivery": deliveryId,
    "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
  };
}

const until = async (check, what, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Part 1: from a signed delivery to the runner told to start its prebuild. */
async function deliveryToBuilding(base, project, runner) {
  const latencies = [];
  for (let i = 0; i < DELIVERIES; i++) {
    const commit = sha();
    const body = push(commit);
    const sent = performance.now();
    const res = await fetch(project.webhook.url, { method: "POST", body, headers: deliveryHeaders(project.webhookSecret, body) });
    if (res.status !== 202) throw new Error(`delivery answered ${res.status}`);
    await until(() => runner.started.get(commit), "the prebuild's start");
    latencies.push(runner.started.get(commit) - sent);
    console.log(`delivery ${i + 1}: building after ${latencies.at(-1).toFixed(0)} ms`);
  }
  return latencies;
}

/** Part 2: one autocannon run; `fresh` gives every request a new delivery id. */
function load(base, target) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: base,
        connections: CONNECTIONS,
        duration: target.seconds ?? SECONDS,
        requests: [
          {
            method: target.method,
            path: target.path,
            headers: target.headers,
            body: target.body,
            setupRequest: (request) =>
              target.fresh ? { ...request, headers: { ...request.headers, "x-github-delivery": randomUUID() } } : request,
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        const bad = result.non2xx + result.errors + result.timeouts;
        if (bad > 0) return reject(new Error(`${target.name}: ${bad} failed requests`));
        resolve({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 });
      },
    );
  });
}

async function throughput(base, project) {
  const body = push(sha());
  const headers = deliveryHeaders(project.webhookSecret, body, "bench-redelivery");
  await fetch(project.webhook.url, { method: "POST", body, headers }); // the one a redelivery repeats
  const path = new URL(project.webhook.url).pathname + new URL(project.webhook.url).search;
  const targets = [
    { name: "GET /health", method: "GET", path: "/health" },
    { name: "POST /webhooks/github (new delivery: verified, recorded, queued)", method: "POST", path, headers, body, fresh: true },
    { name: "POST /webhooks/github (redelivery: verified, found, not queued)", method: "POST", path, headers, body },
  ];
  for (const t of targets) await load(base, { ...t, seconds: 1 }); // warm-up
  const samples = new Map(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of targets) {
      const r = await load(base, t);
      samples.get(t.name).push(r);
      console.log(`round ${round} ${t.name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms`);
    }
  }
  const health = samples.get("GET /health");
  return targets.map((t) => {
    const s = samples.get(t.name);
    const ratio = median(s.map((x, i) => x.rps / health[i].rps));
    return `| ${t.name} | ${median(s.map((x) => x.rps)).toFixed(0)} | ${ratio.toFixed(2)} | ${median(s.map((x) => x.p50))} | ${median(s.map((x) => x.p99))} |`;
  });
}

/** Part 3: created → running, with the prebuild's result and without (clone and init). */
async function startTimes(base, owner, bearer) {
  const org = await owner.api("POST", "/api/v1/orgs", { name: "Bench starts" });
  const { token: runnerToken } = await owner.api("POST", `/api/v1/orgs/${org.id}/runners`, { name: "bench" });
  const runner = startRunner({ base, token: runnerToken, workdir: mkdtempSync(join(SCRATCH, "runner-")) });
  try {
    await runnerConnected(owner.api, org.id);
    const url = makeRepository(SCRATCH, GITPOD_YML);
    const repo = { url, sha: headCommit(url) };
    const project = await owner.api("POST", `/api/v1/orgs/${org.id}/projects`, { name: "bench", repositoryUrl: repo.url });
    const body = push(repo.sha);
    await fetch(project.webhook.url, { method: "POST", body, headers: deliveryHeaders(project.webhookSecret, body) });
    const prebuild = await until(async () => {
      const [p] = (await owner.api("GET", `/api/v1/projects/${project.id}/prebuilds`)).items;
      if (p?.state === "failed") throw new Error(`prebuild failed: ${p.reason}`);
      return p?.state === "available" ? p : null;
    }, "the prebuild");
    const time = async (contextUrl) => {
      const sent = performance.now();
      const ws = await owner.api("POST", "/api/v1/workspaces", { contextUrl, organizationId: org.id });
      let running = 0;
      const socket = await open(`${base.replace(/^http/, "ws")}/api/v1/workspaces/${ws.id}/events`, bearer, (m) => {
        if (m.type === "state" && m.workspace.phase === "running" && !running) running = performance.now();
        if (m.type === "state" && m.workspace.phase === "failed") running = -1;
      });
      await until(() => running, "running", 120_000);
      if (running < 0) throw new Error("the workspace failed");
      socket.close();
      await owner.api("POST", `/api/v1/workspaces/${ws.id}/stop`);
      await until(async () => (await owner.api("GET", `/api/v1/workspaces/${ws.id}`)).phase === "stopped", "stopped");
      return { ms: running - sent, prebuildId: ws.prebuildId };
    };
    const withPrebuild = [];
    const without = [];
    for (let i = 0; i < STARTS; i++) {
      const a = await time(repo.url);
      if (a.prebuildId !== prebuild.id) throw new Error("the workspace did not get the prebuild");
      withPrebuild.push(a.ms);
      const b = await time(makeRepository(SCRATCH, GITPOD_YML));
      without.push(b.ms);
      console.log(`start ${i + 1}: with prebuild ${a.ms.toFixed(0)} ms, without ${b.ms.toFixed(0)} ms`);
    }
    const built = Date.parse(prebuild.finishedAt) - Date.parse(prebuild.startedAt);
    return { withPrebuild, without, built };
  } finally {
    runner.kill("SIGTERM");
  }
}

async function main() {
  mkdirSync(SCRATCH, { recursive: true });
  const worker = await startWorker({ port: PORT, vars: { SEALING_KEY: randomBytes(32).toString("base64"), ALLOW_FILE_REPOSITORIES: "true" } });
  try {
    const owner = await signIn(worker.base, "prebuilds-bench@example.com");
    const bearer = { authorization: `Bearer ${await token(owner.api)}` };
    const org = await owner.api("POST", "/api/v1/orgs", { name: "Bench prebuilds" });
    const project = await owner.api("POST", `/api/v1/orgs/${org.id}/projects`, { name: "app", repositoryUrl: "https://github.com/acme/app" });

    // A protocol peer plays the runner: it records when it is told to start each prebuild.
    const { token: runnerToken } = await owner.api("POST", `/api/v1/orgs/${org.id}/runners`, { name: "peer" });
    const started = new Map();
    const peer = await open(`${worker.base.replace(/^http/, "ws")}/api/v1/runners/connect`, { authorization: `Bearer ${runnerToken}` }, (m) => {
      if (m.type === "start" && m.spec.mode === "prebuild") started.set(m.spec.repository.revision, performance.now());
    });
    peer.send(JSON.stringify({ type: "hello", v: 1, version: "bench-peer", capacity: 10_000, workspaces: [] }));
    await new Promise((r) => setTimeout(r, 500));

    const building = await deliveryToBuilding(worker.base, project, { started });
    const starts = await startTimes(worker.base, owner, bearer);
    const rows = await throughput(worker.base, project);
    peer.close();

    const report = [
      `Run ${new Date().toISOString()}: wrangler dev, X_LOCAL_OBSERVABILITY=false.`,
      "",
      `Delivery → building (${DELIVERIES} signed pushes of new commits, one at a time; a protocol peer as the runner):`,
      "",
      "| measure | value |",
      "| --- | ---: |",
      `| median | ${median(building).toFixed(0)} ms |`,
      `| fastest | ${Math.min(...building).toFixed(0)} ms |`,
      `| slowest | ${Math.max(...building).toFixed(0)} ms |`,
      "",
      `Deliveries accepted, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS} s; medians (ratio: median of per-round ratios):`,
      "",
      "| endpoint | req/s | ratio to /health | p50 ms | p99 ms |",
      "| --- | ---: | ---: | ---: | ---: |",
      ...rows,
      "",
      `Workspace start, created → running on the real runner (init: 3 s and 20 MB written), ${STARTS} each, median:`,
      "",
      "| start | ms |",
      "| --- | ---: |",
      `| with the prebuild (its result copied; no clone, no init) | ${median(starts.withPrebuild).toFixed(0)} |`,
      `| without (clone, then init) | ${median(starts.without).toFixed(0)} |`,
      `| the prebuild itself, building → available | ${starts.built} |`,
      "",
    ].join("\n");
    writeFileSync(new URL("./prebuilds-results.md", import.meta.url), report);
    console.log(`\n${report}`);
  } finally {
    worker.stop();
    rmSync(SCRATCH, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
