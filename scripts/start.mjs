#!/usr/bin/env node
// `npm start`: the whole thing on one machine. Applies the D1 migrations locally, runs the
// Worker under `wrangler dev` (D1, Durable Objects and Queues simulated by workerd), signs
// in a development user, makes sure they have an organization with a registered runner,
// and starts that runner. The runner's token is kept in .runner/credentials.json
// (git-ignored) so a restart reuses it.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

const PORT = Number(process.env.PORT ?? 8787);
const BASE = `http://localhost:${PORT}`;
const DEV_EMAIL = process.env.DEV_EMAIL ?? "dev@edgepod.local";
const CREDENTIALS = ".runner/credentials.json";
const children = [];

function run(cmd, args, options = {}) {
  const child = spawn(cmd, args, { stdio: "inherit", ...options });
  children.push(child);
  return child;
}

function exitWith(code) {
  for (const child of children) child.kill("SIGTERM");
  process.exit(code);
}
process.on("SIGINT", () => exitWith(0));
process.on("SIGTERM", () => exitWith(0));

async function until(check, what, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} did not come up`);
}

async function api(cookie, method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: { cookie, origin: BASE, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The development user's organization and a runner token for it, reusing saved ones. */
async function bootstrap() {
  const login = await fetch(`${BASE}/auth/dev/login?email=${encodeURIComponent(DEV_EMAIL)}&name=Developer`, { redirect: "manual" });
  const cookie = login.headers.get("set-cookie").split(";")[0];
  const orgs = await api(cookie, "GET", "/api/v1/orgs");
  const org = orgs.items[0] ?? (await api(cookie, "POST", "/api/v1/orgs", { name: "Local", slug: "local" }));
  let saved;
  try {
    saved = JSON.parse(readFileSync(CREDENTIALS, "utf8"));
  } catch {}
  const runners = await api(cookie, "GET", `/api/v1/orgs/${org.id}/runners`);
  if (!saved || !runners.items.some((r) => r.id === saved.runnerId)) {
    const issued = await api(cookie, "POST", `/api/v1/orgs/${org.id}/runners`, { name: "local" });
    saved = { runnerId: issued.runner.id, token: issued.token };
    mkdirSync(".runner", { recursive: true });
    writeFileSync(CREDENTIALS, JSON.stringify(saved, null, 2), { mode: 0o600 });
  }
  return { org, token: saved.token };
}

/**
 * Projects seal their webhook secrets (and sign-in providers their tokens) with SEALING_KEY.
 * Without one in .dev.vars, a local key is made once and kept in .runner/ (git-ignored).
 */
function localSealingKey() {
  const devVars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
  if (/^SEALING_KEY=\S/m.test(devVars)) return [];
  const file = ".runner/dev-sealing-key";
  if (!existsSync(file)) {
    mkdirSync(".runner", { recursive: true });
    writeFileSync(file, randomBytes(32).toString("base64"), { mode: 0o600 });
  }
  return ["--var", `SEALING_KEY:${readFileSync(file, "utf8").trim()}`];
}

const migrate = run("wrangler", ["d1", "migrations", "apply", "DB", "--local"]);
migrate.on("exit", async (code) => {
  if (code !== 0) exitWith(code ?? 1);
  // Local request tracing is off: it writes every request into a SQLite file that grows without bound.
  const worker = run(
    "wrangler",
    [
      "dev",
      "--port",
      String(PORT),
      "--var",
      "DEV_LOGIN:true",
      "--var",
      "ALLOW_FILE_REPOSITORIES:true",
      "--var",
      "GIT_HOSTS:127.0.0.1,localhost",
      ...localSealingKey(),
    ],
    { env: { ...process.env, X_LOCAL_OBSERVABILITY: "false" } },
  );
  worker.on("exit", (c) => exitWith(c ?? 0));
  try {
    await until(async () => (await fetch(`${BASE}/health`)).ok, "the Worker");
    const { org, token } = await bootstrap();
    const runner = run("node", ["runner/src/main.ts"], {
      // file:// repositories on this machine are allowed locally, as the Worker allows them.
      env: { ...process.env, EDGEPOD_URL: BASE, EDGEPOD_RUNNER_TOKEN: token, RUNNER_GIT_PROTOCOLS: "https:http:ssh:git:file" },
    });
    runner.on("exit", (c) => console.error(`runner exited (${c}); the Worker keeps running`));
    console.log(
      [
        "",
        `edgepod is up at ${BASE} with a runner for organization "${org.name}" (${org.id}).`,
        `  sign in:   ${BASE}/auth/dev/login?email=${DEV_EMAIL}`,
        `  API docs:  ${BASE}/docs`,
        "",
      ].join("\n"),
    );
  } catch (error) {
    console.error(error);
    exitWith(1);
  }
});
