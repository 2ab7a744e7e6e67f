import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { BadRequest } from "../lib/errors";

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * API writes take JSON only. Hono's validator silently treats a body of another type as
 * `{}`, which would let a form post pass as an empty PATCH; refuse it here instead.
 */
export const requireJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const hasBody = c.req.raw.body !== null && c.req.header("content-length") !== "0";
  if (hasBody && ["POST", "PUT", "PATCH"].includes(c.req.method)) {
    const mediaType = c.req.header("content-type")?.split(";")[0]?.trim() ?? "";
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      throw new BadRequest("The request body must be JSON.", [
        { path: "content-type", message: `Expected application/json, got ${mediaType || "nothing"}.` },
      ]);
    }
  }
  await next();
};
