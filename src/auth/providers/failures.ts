import { BadGateway, BadRequest, Forbidden } from "../../lib/errors";

/**
 * The errors a sign-in can end in, shared by every provider so the same failure reads the
 * same whichever provider it came from.
 */

/** The provider refused (the user cancelled, or an admin policy said no). */
export const accessDenied = () =>
  new Forbidden("The sign-in provider did not grant access.", "access_denied");

/** The provider's redirect back is malformed (no code, or an `iss` of another issuer). */
export const invalidCallback = (message: string) =>
  new BadRequest("The sign-in callback is invalid; start again.", [{ path: "query", message }], "invalid_callback");

/** The code was bad, expired or already used (a replayed callback, say). */
export const invalidGrant = () =>
  new BadRequest(
    "The authorization code is invalid, expired or already used; sign in again.",
    [{ path: "code", message: "Refused by the provider." }],
    "invalid_grant",
  );

/**
 * The provider failed or answered something unexpected. Logged with what happened (never
 * tokens, codes or response bodies), answered as 502.
 */
export function upstreamFailure(provider: string, step: string, detail: Record<string, unknown> = {}): BadGateway {
  console.error(JSON.stringify({ msg: "sign-in provider failure", provider, step, ...detail }));
  return new BadGateway(`The ${provider} sign-in provider failed (${step}); try again later.`, "provider_error");
}
