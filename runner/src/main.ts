/**
 * The edgepod runner: `EDGEPOD_URL=… EDGEPOD_RUNNER_TOKEN=… node runner/src/main.ts`.
 * Dials the control plane, runs the workspaces it is told to run, and on SIGINT/SIGTERM
 * stops them (keeping their directories) before exiting.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { ConfigError, connectUrl, loadConfig } from "./config.ts";
import { RunnerConnection } from "./connection.ts";
import { createLogger } from "./log.ts";
import { detectSandbox } from "./sandbox.ts";
import { WorkspaceManager } from "./manager.ts";

function runnerVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { version?: string };
    return `edgepod-runner/${pkg.version ?? "0.0.0"}`;
  } catch {
    return "edgepod-runner/0.0.0";
  }
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      createLogger().error("invalid configuration", { problem: e.message });
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger({ level: config.logLevel, secrets: [config.token] });
  const version = runnerVersion();
  logger.info("starting", { version, workdir: config.workdir, capacity: config.capacity, graceMs: config.graceMs, node: process.version });

  const sandbox = detectSandbox({ preference: config.sandbox, workdir: config.workdir, extraBinds: config.sandboxBinds, logger });
  const connection = new RunnerConnection({
    url: connectUrl(config.url),
    token: config.token,
    version,
    capacity: config.capacity,
    graceMs: config.graceMs,
    logger,
  });
  const manager = await WorkspaceManager.open({
    workdir: config.workdir,
    capacity: config.capacity,
    sandbox,
    sink: connection,
    logger,
    gitProtocols: config.gitProtocols,
    prebuildsKept: config.prebuildsKept,
  });
  connection.start(manager);

  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) {
      logger.warn("second signal: exiting now", { signal: sig });
      process.exit(1);
    }
    stopping = true;
    logger.info("shutting down: stopping every workspace", { signal: sig });
    await manager.stopAll("runner shutting down");
    await connection.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((e) => {
  createLogger().error("fatal", { error: e });
  process.exit(1);
});
