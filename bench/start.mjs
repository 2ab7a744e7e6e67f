#!/usr/bin/env node
// Time from `POST /api/v1/workspaces` to `running` for a small repository, against doing the
// same work by hand on the same machine in the same run: a bare `git clone` of the
// repository plus its init task and the start of its command. The difference is the
// control plane's overhead (Worker, D1, the two Durable Objects, the runner protocol) plus
// the runner's own (sandbox, state); reported in milliseconds and as a ratio.
//
//   npm run bench:start                BENCH_ROUNDS=10 npm run bench:start
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { makeRepository, median, runnerConnected, signIn, startRunner, startWorker } from "../scripts/local-worker.mjs";

const PORT = Number(process.env.BENCH_PORT ?? 8796);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SCRATCH = resolve(".bench-start");
const INIT = "echo built > built.txt";
const COMMAND = "echo up";
const GITPOD_YML = ["tasks:", `  - init: ${INIT}`, `    command: ${COMMAND} && sleep 600`, ""].join("\n");

/** The same work by hand: clone, init, and the command until it has printed. */
function bare(url) {
  const started = performance.now();
  const dir = mkdtempSync(join(SCRATCH, "bare-"));
  execFileSync("git", ["clone", "-q", "--depth", "1", url, join(dir, "repo")], { stdio: "ignore" });
  execFileSync("bash", ["-c", INIT], { cwd: join(dir, "repo") });
  return new Promise((done) => {
    const command = spawn("bash", ["-c", COMMAND], { cwd: join(dir, "repo") });
    command.stdout.once("data", () => {
      done(performance.now() - started);
      command.kill();
    });
  });
}

/** Through edgepod: POST, then the events socket until `running`. */
async function throughEdgepod(base, api, bearer, orgId, url) {
  const started = performance.now();
  const ws = await api("POST", "/api/v1/workspaces", { contextUrl: url, organizationId: orgId });
  const socket = new WebSocket(`${base.replace("http", "ws")}/api/v1/workspaces/${ws.id}/events`, { headers: { authorization: `Bearer ${bearer}` } });
  const elapsed = await new Promise((done, fail) => {
    socket.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "state" && m.workspace.phase === "running") done(performance.now() - started);
      if (m.type === "state" && m.workspace.phase === "failed") fail(new Error(m.workspace.reason));
    };
  });
  socket.close();
  await api("POST", `/api/v1/workspaces/${ws.id}/stop`);
  return elapsed;
}

async function main() {
  mkdirSync(SCRATCH, { recursive: true });
  const worker = await startWorker({ port: PORT, vars: { ALLOW_FILE_REPOSITORIES: "true" } });
  let runner;
  try {
    const { api } = await signIn(worker.base, "start-bench@example.com");
    const bearer = (await api("POST", "/api/v1/tokens", { name: "bench", scopes: ["*"], expiresAt: new Date(Date.now() + 864e5).toISOString() })).token;
    const org = await api("POST", "/api/v1/orgs", { name: "Start bench" });
    const { token } = await api("POST", `/api/v1/orgs/${org.id}/runners`, { name: "bench" });
    runner = startRunner({ base: worker.base, token, workdir: mkdtempSync(join(SCRATCH, "runner-")) });
    await runnerConnected(api, org.id);
    const url = makeRepository(SCRATCH, GITPOD_YML);
    await throughEdgepod(worker.base, api, bearer, org.id, url); // warm-up
    await bare(url);
    const rows = { edgepod: [], bare: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const e = await throughEdgepod(worker.base, api, bearer, org.id, url);
      const b = await bare(url);
      rows.edgepod.push(e);
      rows.bare.push(b);
      console.log(`round ${round}: edgepod ${e.toFixed(0)} ms, bare ${b.toFixed(0)} ms`);
    }
    const e = median(rows.edgepod);
    const b = median(rows.bare);
    const sandbox = execFileSync("sh", ["-c", "command -v bwrap || true"]).toString().trim() ? "bubblewrap" : "plain processes";
    const report = [
      `Run ${new Date().toISOString()}: wrangler dev, X_LOCAL_OBSERVABILITY=false, runner sandbox: ${sandbox}, ${ROUNDS} alternating rounds, medians.`,
      "",
      "| path | POST → running |",
      "| --- | ---: |",
      `| edgepod (Worker → DOs → runner → clone, init, command) | ${e.toFixed(0)} ms |`,
      `| bare: git clone --depth 1 + init + command | ${b.toFixed(0)} ms |`,
      `| overhead | ${(e - b).toFixed(0)} ms (${(e / b).toFixed(1)}×) |`,
      "",
    ].join("\n");
    writeFileSync(new URL("./start-results.md", import.meta.url), report);
    console.log(`\n${report}`);
  } finally {
    runner?.kill("SIGTERM");
    worker.stop();
    rmSync(SCRATCH, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
