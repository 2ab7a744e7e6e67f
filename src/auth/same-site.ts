import type { Context } from "hono";
import { readConfig, type AppEnv } from "../env";

/**
 * Did this request come from this site? By `Origin`, else `Sec-Fetch-Site`. Cookies ride
 * along on cross-site requests, so cookie-authenticated writes and WebSocket upgrades
 * must pass this; bearer tokens prove intent by themselves.
 */
export function isSameSite(c: Context<AppEnv>): boolean {
  const origin = c.req.header("origin");
  if (origin) return origin === (readConfig(c.env).publicOrigin ?? new URL(c.req.url).origin);
  return c.req.header("sec-fetch-site") === "same-origin";
}
