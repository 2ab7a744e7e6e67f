import type { Config, ProviderSettings } from "../../env";
import { bitbucket } from "./bitbucket";
import { github } from "./github";
import { gitlab } from "./gitlab";
import { google } from "./google";
import { oauthProvider } from "./oauth";
import { oidcProvider } from "./oidc";
import type { SignInProvider } from "./types";

export type { ExternalProfile, PendingAuthorization, ProviderTokens, SignInProvider } from "./types";

/** The configured provider with this id, or null when it is unknown or not configured. */
export function providerSettings(config: Config, id: string): ProviderSettings | null {
  return config.providers.find((p) => p.id === id) ?? null;
}

/**
 * A client for a configured provider. `redirectUri` is this deployment's callback URL for
 * it (null where no authorization is started, as for a token refresh).
 */
export function signInProvider(settings: ProviderSettings, redirectUri: string | null): SignInProvider {
  switch (settings.id) {
    case "github":
      return oauthProvider(github(settings.baseUrl), settings, redirectUri);
    case "gitlab":
      return oauthProvider(gitlab(settings.baseUrl), settings, redirectUri);
    case "bitbucket":
      return oauthProvider(bitbucket(), settings, redirectUri);
    case "google":
      return oauthProvider(google(), settings, redirectUri);
    case "oidc":
      return oidcProvider(settings, redirectUri);
  }
}

