#!/usr/bin/env node
// Starts the Worker under `wrangler dev` on a fresh local state, signs a user in, and
// measures each endpoint against the bare `GET /health` of the same server in the same run,
// alternating rounds so that machine noise hits both alike. Writes bench/results.md.
//
//   npm run bench                      # defaults: 10 connections, 8 s per round, 3 rounds
//   BENCH_SECONDS=15 BENCH_ROUNDS=5 npm run bench
//
// Local observability (X_LOCAL_OBSERVABILITY) is off here, as in `npm start`: it traces
// every request into a local SQLite file and costs ~40 % of D1-route throughput.
import autocannon from "autocannon";
import { writeFileSync } from "node:fs";
import { median, signIn, startWorker, token } from "../scripts/local-worker.mjs";

const PORT = Number(process.env.BENCH_PORT ?? 8799);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

/** An organization with `members` members (signed in through the dev login, joined by invitation). */
async function organization(base, owner, members) {
  const org = await owner.api("POST", "/api/v1/orgs", { name: "Bench" });
  const invitation = await owner.api("POST", `/api/v1/orgs/${org.id}/invitations`, {});
  for (let i = 0; i < members; i++) {
    const member = await signIn(base, `member${i}@example.com`);
    await member.api("POST", invitation.acceptPath);
  }
  return org;
}

/** The endpoints measured; each gets its ratio to /health. */
function endpoints(token, org) {
  const bearer = { authorization: `Bearer ${token}` };
  return [
    { name: "GET /health", path: "/health", headers: {}, roundTrips: 0 },
    { name: "GET /api/v1/me (bearer)", path: "/api/v1/me", headers: bearer, roundTrips: 1 },
    { name: "GET /api/v1/tokens (bearer)", path: "/api/v1/tokens", headers: bearer, roundTrips: 2 },
    { name: "GET /api/v1/orgs (bearer)", path: "/api/v1/orgs", headers: bearer, roundTrips: 2 },
    { name: "GET /api/v1/orgs/{id}/members?limit=50 (bearer)", path: `/api/v1/orgs/${org.id}/members?limit=50`, headers: bearer, roundTrips: 2 },
  ];
}

function load(base, endpoint) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: base + endpoint.path, headers: endpoint.headers, connections: CONNECTIONS, duration: SECONDS },
      (error, result) => {
        if (error) return reject(error);
        const bad = result.non2xx + result.errors + result.timeouts;
        if (bad > 0) return reject(new Error(`${endpoint.name}: ${bad} failed requests`));
        resolve({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 });
      },
    );
  });
}

async function main() {
  const worker = await startWorker({ port: PORT });
  try {
    const owner = await signIn(worker.base, "bench@example.com");
    const targets = endpoints(await token(owner.api), await organization(worker.base, owner, 50));
    for (const t of targets) await load(worker.base, { ...t, duration: 1 }); // warm-up
    const samples = new Map(targets.map((t) => [t.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        const r = await load(worker.base, t);
        samples.get(t.name).push(r);
        console.log(`round ${round} ${t.name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms`);
      }
    }
    // Each round's ratio pairs an endpoint with the /health run right before it.
    const health = samples.get("GET /health");
    const rows = targets.map((t) => {
      const s = samples.get(t.name);
      const ratio = median(s.map((x, i) => x.rps / health[i].rps));
      return `| ${t.name} | ${t.roundTrips} | ${median(s.map((x) => x.rps)).toFixed(0)} | ${ratio.toFixed(2)} | ${median(s.map((x) => x.p50))} | ${median(s.map((x) => x.p99))} |`;
    });
    const report = [
      `Run ${new Date().toISOString()}: wrangler dev, X_LOCAL_OBSERVABILITY=false, ${CONNECTIONS} connections,`,
      `${ROUNDS} alternating rounds of ${SECONDS} s per endpoint; medians of the rounds (ratio: median of per-round ratios).`,
      "",
      "| endpoint | D1 round trips | req/s | ratio to /health | p50 ms | p99 ms |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      ...rows,
      "",
    ].join("\n");
    writeFileSync(new URL("./results.md", import.meta.url), report);
    console.log(`\n${report}`);
  } finally {
    worker.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
