import { DurableObject } from "cloudflare:workers";

/**
 * One per workspace: will own the workspace's lifecycle state machine, its timers (alarms)
 * and its live WebSocket subscribers. Declared now so the binding and its SQLite storage
 * migration exist from the first deploy; the lifecycle arrives with the workspaces issue.
 */
export class WorkspaceDO extends DurableObject<Env> {}
