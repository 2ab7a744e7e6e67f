import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Two projects: the Worker's suites run inside workerd; the runner's run in Node.
export default defineConfig(async () => ({
  test: {
    // Request logs of passing tests are noise; a failing test shows its own.
    silent: "passed-only",
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                DEV_LOGIN: "true",
                BOOTSTRAP_ADMIN_EMAIL: "root@example.com",
                // The same SQL files `wrangler d1 migrations apply` runs, applied by test/setup.ts.
                TEST_MIGRATIONS: await readD1Migrations("./migrations"),
              },
            },
          }),
        ],
        test: { name: "worker", include: ["test/**/*.test.ts"], setupFiles: ["./test/setup.ts"] },
      },
      {
        // Real processes, git and sandboxes: slower than unit tests, and machines are small.
        test: { name: "runner", include: ["runner/test/**/*.test.ts"], environment: "node", testTimeout: 60_000, hookTimeout: 60_000 },
      },
    ],
  },
}));
