import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { HTTPException } from "hono/http-exception";
import { describeDbError } from "../db/errors";
import type { AppEnv } from "../env";
import { ApiError, BadRequest } from "../lib/errors";

function respond(c: Context<AppEnv>, error: ApiError) {
  return c.json(
    {
      error: {
        code: error.code,
        message: error.message,
        requestId: c.get("requestId"),
        ...(error.fields ? { fields: error.fields } : {}),
      },
    },
    error.status,
  );
}

/** Maps every thrown error to the one error shape; unknown errors leak nothing. */
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof ApiError) return respond(c, err);
  if (err instanceof HTTPException && err.status === 400) {
    // Hono's JSON validator throws this for a body that does not parse.
    return respond(c, new BadRequest("The request body is not valid JSON.", [{ path: "body", message: err.message }]));
  }
  if (err instanceof HTTPException && err.status < 500) {
    return respond(c, new ApiError(err.status as 400, "http_error", err.message));
  }
  console.error(
    JSON.stringify({
      msg: "unhandled error",
      requestId: c.get("requestId"),
      error:
        err instanceof DrizzleQueryError
          ? describeDbError(err)
          : err instanceof Error
            ? { name: err.name, message: err.message, stack: err.stack }
            : String(err),
    }),
  );
  return respond(c, new ApiError(500, "internal_error", "Something went wrong on our side."));
};

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  respond(c, new ApiError(404, "not_found", `No route for ${c.req.method} ${c.req.path}.`));
