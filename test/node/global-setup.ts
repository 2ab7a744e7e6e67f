import type { TestProject } from "vitest/node";
import { startFakeProviders } from "./fake-providers.ts";
import { startOidcProvider } from "./oidc-provider.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Issuer URL of the local OpenID Connect provider. */
    oidcIssuer: string;
    /** Base URL of the local fake GitHub/GitLab/Bitbucket/Google server. */
    fakeProviders: string;
    /** Issuer URL of the local OpenID Connect provider standing for organizations' identity providers. */
    ssoIssuer: string;
  }
}

/** Starts the local providers the sign-in tests talk to, in Node, before any test file. */
export default async function setup(project: TestProject) {
  const [oidc, sso, fakes] = await Promise.all([
    startOidcProvider("instance"),
    startOidcProvider("organizations"),
    startFakeProviders(),
  ]);
  project.provide("oidcIssuer", oidc.issuer);
  project.provide("ssoIssuer", sso.issuer);
  project.provide("fakeProviders", fakes.url);
  return async () => {
    await Promise.all([oidc.close(), sso.close(), fakes.close()]);
  };
}
