import { createApp } from "./app";
import { database } from "./db/client";
import { handleQueue } from "./queues";
import { failStuckPrebuilds, forgetOldDeliveries } from "./prebuilds/housekeeping";
import { deleteExpiredSessions } from "./services/users";
import { readWorkspaceConfig } from "./workspaces/config";

export { RunnerDO } from "../durable-objects/runner";
export { WorkspaceDO } from "../durable-objects/workspace";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: handleQueue,
  async scheduled(_controller, env, _ctx) {
    const db = database(env.DB);
    const removed = await deleteExpiredSessions(db);
    const deliveriesForgotten = await forgetOldDeliveries(db);
    // A queued prebuild's own alarm fails it after the pending timeout; an hour more is the margin.
    const stuckPrebuildsFailed = await failStuckPrebuilds(db, readWorkspaceConfig(env).pendingTimeoutMs + 3600_000);
    console.log(JSON.stringify({ msg: "housekeeping", expiredSessionsRemoved: removed, deliveriesForgotten, stuckPrebuildsFailed }));
  },
} satisfies ExportedHandler<Env>;
