/** Workspace and runner timings, from vars (see README "Configuration"). */
export interface WorkspaceConfig {
  startTimeoutMs: number;
  pendingTimeoutMs: number;
  stopTimeoutMs: number;
  maxLifetimeMs: number;
  runnerHeartbeatMs: number;
  /** How long a silent or disconnected runner may take to come back before its workspaces fail. */
  runnerLostGraceMs: number;
}

const seconds = (value: string | undefined, fallback: number) => {
  const n = Number(value);
  return (Number.isFinite(n) && n > 0 ? n : fallback) * 1000;
};

export function readWorkspaceConfig(env: Env): WorkspaceConfig {
  return {
    startTimeoutMs: seconds(env.WORKSPACE_START_TIMEOUT_SECONDS, 600),
    pendingTimeoutMs: seconds(env.WORKSPACE_PENDING_TIMEOUT_SECONDS, 3600),
    stopTimeoutMs: seconds(env.WORKSPACE_STOP_TIMEOUT_SECONDS, 120),
    maxLifetimeMs: seconds(env.WORKSPACE_MAX_LIFETIME_SECONDS, 36 * 3600),
    runnerHeartbeatMs: seconds(env.RUNNER_HEARTBEAT_SECONDS, 15),
    runnerLostGraceMs: seconds(env.RUNNER_LOST_GRACE_SECONDS, 120),
  };
}
