// Shared by the benchmarks and the end-to-end tests: a Worker under `wrangler dev` on
// 127.0.0.1 with fresh local state, a signed-in development user, the real runner, and git
// repositories to open. Local observability is off (see bench/README.md).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

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

/** Starts the Worker; `vars` are extra `--var` settings. Returns its base URL and a stop(). */
export async function startWorker({ port, vars = {} }) {
  const state = mkdtempSync(join(tmpdir(), "edgepod-bench-"));
  await run("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state]);
  const varArgs = Object.entries({ DEV_LOGIN: "true", ...vars }).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const worker = spawn(
    "wrangler",
    ["dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", state, ...varArgs, "--log-level", "warn"],
    { ...quiet, detached: true },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/health`);
  return {
    base,
    stop() {
      process.kill(-worker.pid, "SIGTERM");
      rmSync(state, { recursive: true, force: true });
    },
  };
}

/** Signs a user in through the dev login; returns a helper for same-site JSON calls. */
export async function signIn(base, email) {
  const login = await fetch(`${base}/auth/dev/login?email=${encodeURIComponent(email)}`, { redirect: "manual" });
  const cookie = login.headers.get("set-cookie").split(";")[0];
  const api = async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { cookie, origin: base, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  return { cookie, api };
}

/** A `*` personal access token for the signed-in user. */
export async function token(api) {
  const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
  return (await api("POST", "/api/v1/tokens", { name: "bench", scopes: ["*"], expiresAt })).token;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The real runner (`runner/src/main.ts`) dialling `base` with `token`; allows file:// clones. */
export function startRunner({ base, token, workdir, stdio = ["ignore", "ignore", "inherit"] }) {
  return spawn(process.execPath, ["runner/src/main.ts"], {
    env: {
      PATH: process.env.PATH,
      EDGEPOD_URL: base,
      EDGEPOD_RUNNER_TOKEN: token,
      RUNNER_WORKDIR: workdir,
      RUNNER_GIT_PROTOCOLS: "file",
      RUNNER_CAPACITY: "4",
    },
    stdio,
  });
}

/**
 * A git repository with a `.gitpod.yml`, committed, in a new directory under `parent`;
 * returns its file:// URL. (Not under /tmp: the runner's sandbox has a private /tmp.)
 */
export function makeRepository(parent, gitpodYml) {
  const dir = mkdtempSync(join(parent, "repo-"));
  writeFileSync(join(dir, ".gitpod.yml"), gitpodYml);
  writeFileSync(join(dir, "README.md"), "# edgepod\n");
  const git = (...args) => execFileSync("git", args, { cwd: dir, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("add", ".");
  git("-c", "user.name=edgepod", "-c", "user.email=edgepod@example.com", "commit", "-q", "-m", "init");
  return `file://${dir}`;
}

/** Waits until the organization's first runner shows as connected. */
export async function runnerConnected(api, orgId, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await api("GET", `/api/v1/orgs/${orgId}/runners`)).items[0]?.connected) {
    if (Date.now() > deadline) throw new Error("the runner did not connect");
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Opens a WebSocket (with request headers) whose JSON messages go to `onMessage`; resolves once open. */
export function openSocket(url, headers, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.onmessage = (event) => onMessage(JSON.parse(event.data));
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`could not open ${url}`));
  });
}

/** The commit a file:// repository's HEAD is at. */
export function headCommit(url) {
  return execFileSync("git", ["-C", new URL(url).pathname, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
}
