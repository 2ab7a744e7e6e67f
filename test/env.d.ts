import type { D1Migration } from "@cloudflare/vitest-plugin";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      /** The issuer of the local OpenID Connect provider standing for organizations' identity providers. */
      TEST_SSO_ISSUER: string;
    }
  }
}
