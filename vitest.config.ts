import { randomBytes } from "node:crypto";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { CLIENTS } from "./test/fixtures.ts";
import { outboundService } from "./test/node/outbound.ts";

// Two projects: the Worker's suites run inside workerd; the runner's run in Node.
export default defineConfig(async () => {
  // The same SQL files `wrangler d1 migrations apply` runs, applied by test/setup.ts.
  const migrations = await readD1Migrations("./migrations");
  return {
    test: {
      // Request logs of passing tests are noise; a failing test shows its own.
      silent: "passed-only" as const,
      projects: [
        {
          plugins: [
            // Options are resolved after the global setup has started the local providers.
            cloudflareTest(({ inject }) => ({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  DEV_LOGIN: "true",
                  BOOTSTRAP_ADMIN_EMAIL: "root@example.com",
                  TEST_MIGRATIONS: migrations,
                  SEALING_KEY: randomBytes(32).toString("base64"),
                  GITHUB_CLIENT_ID: CLIENTS.github.id,
                  GITHUB_CLIENT_SECRET: CLIENTS.github.secret,
                  GITLAB_CLIENT_ID: CLIENTS.gitlab.id,
                  GITLAB_CLIENT_SECRET: CLIENTS.gitlab.secret,
                  BITBUCKET_CLIENT_ID: CLIENTS.bitbucket.id,
                  BITBUCKET_CLIENT_SECRET: CLIENTS.bitbucket.secret,
                  GOOGLE_CLIENT_ID: CLIENTS.google.id,
                  GOOGLE_CLIENT_SECRET: CLIENTS.google.secret,
                  OIDC_ISSUER: inject("oidcIssuer"),
                  OIDC_CLIENT_ID: CLIENTS.oidc.id,
                  OIDC_CLIENT_SECRET: CLIENTS.oidc.secret,
                  // Tests only: the issuer organizations configure for their single sign-on.
                  TEST_SSO_ISSUER: inject("ssoIssuer"),
                },
                outboundService: outboundService({
                  fakeProviders: inject("fakeProviders"),
                  oidcIssuer: inject("oidcIssuer"),
                  ssoIssuer: inject("ssoIssuer"),
                }),
              },
            })),
          ],
          test: {
            name: "worker",
            include: ["test/**/*.test.ts"],
            globalSetup: ["./test/node/global-setup.ts"],
            setupFiles: ["./test/setup.ts"],
          },
        },
        {
          // Real processes, git and sandboxes: slower than unit tests, and machines are small.
          test: { name: "runner", include: ["runner/test/**/*.test.ts"], environment: "node", testTimeout: 60_000, hookTimeout: 60_000 },
        },
        {
          // The Worker under `wrangler dev` and the real runner, together.
          test: { name: "e2e", include: ["e2e/**/*.test.ts"], environment: "node", testTimeout: 120_000, hookTimeout: 120_000 },
        },
      ],
    },
  };
});
