import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

// Accept a caller's id only when it is short and plain, so it is safe to log and echo.
const SANE_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export const requestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  const incoming = c.req.header("x-request-id");
  const id = incoming && SANE_ID.test(incoming) ? incoming : crypto.randomUUID();
  c.set("requestId", id);
  await next();
  c.header("x-request-id", id);
};
