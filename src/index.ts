import { createApp } from "./app";
import { database } from "./db/client";
import { handleQueue } from "./queues";
import { deleteExpiredSessions } from "./services/users";

export { RunnerDO } from "../durable-objects/runner";
export { WorkspaceDO } from "../durable-objects/workspace";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: handleQueue,
  async scheduled(_controller, env) {
    const removed = await deleteExpiredSessions(database(env.DB));
    console.log(JSON.stringify({ msg: "housekeeping", expiredSessionsRemoved: removed }));
  },
} satisfies ExportedHandler<Env>;
