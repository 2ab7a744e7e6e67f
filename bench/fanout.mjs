#!/usr/bin/env node
// Fan-out of one workspace transition to many WebSocket subscribers (default 1,000) of the
// same workspace, under `wrangler dev`. A protocol peer plays the runner, reports phase
// changes, and we time from the report until every subscriber has the new state.
//
//   npm run bench:fanout               # needs ~4 file descriptors per socket: the script
//   SUBSCRIBERS=2000 npm run bench:fanout   raises `ulimit -n` to 8192 first
import { writeFileSync } from "node:fs";
import { median, openSocket as open, signIn, startWorker, token } from "../scripts/local-worker.mjs";

const PORT = Number(process.env.BENCH_PORT ?? 8798);
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const wsUrl = (base, path) => base.replace(/^http/, "ws") + path;

async function main() {
  const worker = await startWorker({ port: PORT });
  const sockets = [];
  try {
    const owner = await signIn(worker.base, "fanout@example.com");
    const bearer = { authorization: `Bearer ${await token(owner.api)}` };
    const org = await owner.api("POST", "/api/v1/orgs", { name: "Fan-out" });
    const { token: runnerToken } = await owner.api("POST", `/api/v1/orgs/${org.id}/runners`, { name: "peer" });

    const commands = [];
    const runner = await open(wsUrl(worker.base, "/api/v1/runners/connect"), { authorization: `Bearer ${runnerToken}` }, (m) =>
      commands.push(m),
    );
    sockets.push(runner);
    runner.send(JSON.stringify({ type: "hello", v: 1, version: "bench-peer", capacity: 1, workspaces: [] }));
    await new Promise((r) => setTimeout(r, 300));
    const ws = await owner.api("POST", "/api/v1/workspaces", { contextUrl: "https://github.com/acme/app", organizationId: org.id });

    // Every subscriber records when it saw each phase.
    const seen = Array.from({ length: SUBSCRIBERS }, () => new Map());
    const connectStart = performance.now();
    for (let i = 0; i < SUBSCRIBERS; i += 50) {
      const batch = [];
      for (let j = i; j < Math.min(i + 50, SUBSCRIBERS); j++) {
        batch.push(
          open(wsUrl(worker.base, `/api/v1/workspaces/${ws.id}/events`), bearer, (m) => {
            if (m.type === "state") seen[j].set(`${m.workspace.generation}:${m.workspace.phase}`, performance.now());
          }),
        );
      }
      sockets.push(...(await Promise.all(batch)));
    }
    const connectMs = performance.now() - connectStart;
    console.log(`${SUBSCRIBERS} subscribers connected in ${connectMs.toFixed(0)} ms`);
    await new Promise((r) => setTimeout(r, 2000)); // let the object go idle

    // Alternate stop/start cycles: each report is one transition broadcast to everyone.
    const latencies = [];
    let generation = 1;
    const transition = async (phase) => {
      const key = `${generation}:${phase}`;
      const sent = performance.now();
      runner.send(JSON.stringify({ type: "status", workspaceId: ws.id, generation, phase }));
      while (seen.some((m) => !m.has(key))) await new Promise((r) => setTimeout(r, 2));
      const last = Math.max(...seen.map((m) => m.get(key)));
      latencies.push(last - sent);
      console.log(`${phase}: all ${SUBSCRIBERS} had it after ${(last - sent).toFixed(1)} ms`);
    };
    for (let round = 0; round < ROUNDS; round++) {
      await transition("running");
      await owner.api("POST", `/api/v1/workspaces/${ws.id}/stop`);
      generation += 1;
      await transition("stopped");
      await owner.api("POST", `/api/v1/workspaces/${ws.id}/start`);
      generation += 1;
    }
    const report = [
      `Run ${new Date().toISOString()}: wrangler dev, X_LOCAL_OBSERVABILITY=false, ${SUBSCRIBERS} subscribers of one workspace.`,
      "",
      "| measure | value |",
      "| --- | ---: |",
      `| subscribers connected (bearer, 50 at a time) | ${connectMs.toFixed(0)} ms |`,
      `| one transition to all subscribers, median of ${latencies.length} | ${median(latencies).toFixed(1)} ms |`,
      `| … slowest | ${Math.max(...latencies).toFixed(1)} ms |`,
      "",
    ].join("\n");
    writeFileSync(new URL("./fanout-results.md", import.meta.url), report);
    console.log(`\n${report}`);
  } finally {
    for (const s of sockets) s.close();
    worker.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
