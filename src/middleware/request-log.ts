import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

/**
 * One structured JSON line per request. The path is logged without its query string,
 * which may carry secrets (OAuth codes, invitation codes); no header is logged.
 */
export const requestLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  await next();
  console.log(
    JSON.stringify({
      msg: "request",
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      userId: c.get("principal")?.user.id ?? null,
      requestId: c.get("requestId"),
    }),
  );
};
