import type { ContentfulStatusCode } from "hono/utils/http-status";

export interface FieldError {
  path: string;
  message: string;
}

/**
 * The one kind of error the API returns. Services and routes throw these; the error
 * middleware turns them into `{"error": {code, message, requestId, fields?}}`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly fields?: FieldError[],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export class BadRequest extends ApiError {
  constructor(message: string, fields?: FieldError[], code = "invalid_request") {
    super(400, code, message, fields);
  }
}

export class Unauthorized extends ApiError {
  constructor(message = "Authentication required.", code = "unauthenticated") {
    super(401, code, message);
  }
}

export class Forbidden extends ApiError {
  constructor(message = "You are not allowed to do this.", code = "forbidden") {
    super(403, code, message);
  }
}

export class NotFound extends ApiError {
  constructor(what = "Resource") {
    super(404, "not_found", `${what} not found.`);
  }
}

export class Conflict extends ApiError {
  constructor(message: string, code = "conflict") {
    super(409, code, message);
  }
}

export class LimitExceeded extends ApiError {
  constructor(message: string) {
    super(422, "limit_exceeded", message);
  }
}

/** An upstream service (a sign-in provider, say) failed or answered nonsense. */
export class BadGateway extends ApiError {
  constructor(message: string, code = "upstream_error") {
    super(502, code, message);
  }
}
