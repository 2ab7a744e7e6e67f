import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => ({
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
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
    // Request logs of passing tests are noise; a failing test shows its own.
    silent: "passed-only",
  },
}));
