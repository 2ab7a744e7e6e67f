import { Webhooks } from "@octokit/webhooks";
import { constantTimeEqualStrings, hmacSha256Hex } from "../lib/crypto";
import type { WebhookProvider } from "../prebuilds/messages";
import type { HeaderOf } from "./webhook-payloads";

/**
 * Is a delivery from the SCM that holds the project's webhook secret?
 * - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, checked by @octokit/webhooks;
 * - GitLab: `X-Gitlab-Token: <the secret>` (GitLab does not sign), compared in constant time;
 * - Bitbucket Cloud: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`, compared in constant time.
 */
export type Verdict = "valid" | "missing" | "invalid";

export const SIGNATURE_HEADER: Record<WebhookProvider, string> = {
  github: "x-hub-signature-256",
  gitlab: "x-gitlab-token",
  bitbucket: "x-hub-signature",
};

export async function verifyDelivery(provider: WebhookProvider, secret: string, body: string, header: HeaderOf): Promise<Verdict> {
  const presented = header(SIGNATURE_HEADER[provider]);
  if (!presented) return "missing";
  switch (provider) {
    case "github":
      try {
        return (await new Webhooks({ secret }).verify(body, presented)) ? "valid" : "invalid";
      } catch {
        // A malformed signature (not hex, empty body) makes the library throw.
        return "invalid";
      }
    case "gitlab":
      return constantTimeEqualStrings(presented, secret) ? "valid" : "invalid";
    case "bitbucket":
      return constantTimeEqualStrings(presented.toLowerCase(), `sha256=${hmacSha256Hex(secret, body)}`) ? "valid" : "invalid";
  }
}
