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
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PORT = Number(process.env.BENCH_PORT ?? 8799);
const BASE = `http://127.0.0.1:${PORT}`;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

const state = mkdtempSync(join(tmpdir(), "edgepod-bench-"));
const quiet = { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, X_LOCAL_OBSERVABILITY: "false" } };

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, quiet);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}`))));
  });
}

async function waitFor(url, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${url} did not come up`);
}

/** Signs in through the dev login and creates a `*` token; returns both credentials. */
async function credentials() {
  const login = await fetch(`${BASE}/auth/dev/login?email=bench@example.com&name=Bench`, { redirect: "manual" });
  const cookie = login.headers.get("set-cookie").split(";")[0];
  const res = await fetch(`${BASE}/api/v1/tokens`, {
    method: "POST",
    headers: { cookie, origin: BASE, "content-type": "application/json" },
    body: JSON.stringify({
      name: "bench",
      scopes: ["*"],
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    }),
  });
  if (res.status !== 201) throw new Error(`token creation failed: ${res.status} ${await res.text()}`);
  return { cookie, token: (await res.json()).token };
}

/** An organization with `members` members (signed in through the dev login, joined by invitation). */
async function organization({ cookie }, members) {
  const asOwner = { cookie, origin: BASE, "content-type": "application/json" };
  const org = await (await fetch(`${BASE}/api/v1/orgs`, { method: "POST", headers: asOwner, body: JSON.stringify({ name: "Bench" }) })).json();
  const invitation = await (await fetch(`${BASE}/api/v1/orgs/${org.id}/invitations`, { method: "POST", headers: asOwner, body: "{}" })).json();
  for (let i = 0; i < members; i++) {
    const login = await fetch(`${BASE}/auth/dev/login?email=member${i}@example.com`, { redirect: "manual" });
    const memberCookie = login.headers.get("set-cookie").split(";")[0];
    const res = await fetch(`${BASE}${invitation.acceptPath}`, { method: "POST", headers: { cookie: memberCookie, origin: BASE } });
    if (res.status !== 200) throw new Error(`join failed: ${res.status}`);
  }
  return org;
}

/** The endpoints measured; each gets its ratio to /health. */
function endpoints({ token }, org) {
  const bearer = { authorization: `Bearer ${token}` };
  return [
    { name: "GET /health", path: "/health", headers: {}, roundTrips: 0 },
    { name: "GET /api/v1/me (bearer)", path: "/api/v1/me", headers: bearer, roundTrips: 1 },
    { name: "GET /api/v1/tokens (bearer)", path: "/api/v1/tokens", headers: bearer, roundTrips: 2 },
    { name: "GET /api/v1/orgs (bearer)", path: "/api/v1/orgs", headers: bearer, roundTrips: 2 },
    { name: "GET /api/v1/orgs/{id}/members?limit=50 (bearer)", path: `/api/v1/orgs/${org.id}/members?limit=50`, headers: bearer, roundTrips: 2 },
  ];
}

function load(endpoint) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: BASE + endpoint.path, headers: endpoint.headers, connections: CONNECTIONS, duration: SECONDS },
      (error, result) => {
        if (error) return reject(error);
        const bad = result.non2xx + result.errors + result.timeouts;
        if (bad > 0) return reject(new Error(`${endpoint.name}: ${bad} failed requests`));
        resolve({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 });
      },
    );
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  await run("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state]);
  const worker = spawn(
    "wrangler",
    ["dev", "--port", String(PORT), "--ip", "127.0.0.1", "--persist-to", state, "--var", "DEV_LOGIN:true", "--log-level", "warn"],
    { ...quiet, detached: true },
  );
  try {
    await waitFor(`${BASE}/health`);
    const owner = await credentials();
    const targets = endpoints(owner, await organization(owner, 50));
    for (const t of targets) await load({ ...t, duration: 1 }); // warm-up
    const samples = new Map(targets.map((t) => [t.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        const r = await load(t);
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
    process.kill(-worker.pid, "SIGTERM");
    rmSync(state, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
