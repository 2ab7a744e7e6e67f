import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GitpodYmlError, parseGitpodYml, readGitpodYml, type GitpodConfig } from "../src/gitpod-yml.ts";
import { tmpDir } from "./helpers.ts";

const empty: GitpodConfig = { tasks: [], ports: [], image: null };

describe("parseGitpodYml", () => {
  const valid: [string, string, GitpodConfig][] = [
    ["an empty file", "", empty],
    ["only comments", "# nothing here\n", empty],
    [
      "tasks with every stage",
      `tasks:
  - name: web
    before: export A=1
    init: npm install
    command: npm run dev
  - command: echo second
`,
      { ...empty, tasks: [{ name: "web", before: "export A=1", init: "npm install", command: "npm run dev" }, { command: "echo second" }] },
    ],
    [
      "multi-line scripts and task env (scalars become strings)",
      `tasks:
  - init: |
      echo one
      echo two
    env:
      PORT: 3000
      DEBUG: true
      NAME: app
`,
      { ...empty, tasks: [{ init: "echo one\necho two\n", env: { PORT: "3000", DEBUG: "true", NAME: "app" } }] },
    ],
    [
      "ports: numbers, ranges and their settings",
      `ports:
  - port: 3000
    onOpen: open-preview
    visibility: public
    name: Web
  - port: 5900-5905
  - port: "8080"
`,
      {
        ...empty,
        ports: [
          { port: 3000, onOpen: "open-preview", visibility: "public", name: "Web" },
          { port: 5900, toPort: 5905 },
          { port: 8080 },
        ],
      },
    ],
    ["an image name", "image: gitpod/workspace-full\n", { ...empty, image: "gitpod/workspace-full" }],
    ["an image Dockerfile", "image:\n  file: .gitpod.Dockerfile\n", { ...empty, image: { file: ".gitpod.Dockerfile" } }],
    [
      "unknown keys are ignored",
      "vscode:\n  extensions: [a.b]\ngithub:\n  prebuilds: {}\ntasks:\n  - command: x\n    openMode: split-right\n",
      { ...empty, tasks: [{ command: "x" }] },
    ],
    ["null sections", "tasks:\nports:\n", empty],
  ];
  it.each(valid)("parses %s", (_name, text, expected) => {
    expect(parseGitpodYml(text)).toEqual(expected);
  });

  const invalid: [string, string, RegExp][] = [
    ["bad YAML", "tasks:\n  - command: [unclosed\n", /^invalid \.gitpod\.yml: not valid YAML: /],
    ["a list at the top", "- command: x\n", /the top level must be a mapping/],
    ["a scalar at the top", "just text", /the top level must be a mapping/],
    ["tasks not a list", "tasks: echo hi\n", /tasks: /],
    ["a stage that is not a string", "tasks:\n  - init: [a, b]\n", /tasks\[0\]\.init: /],
    ["a bad env name", "tasks:\n  - env:\n      'BAD-NAME': x\n", /tasks\[0\]\.env\.BAD-NAME: must be a valid environment variable name/],
    ["a port out of range", "ports:\n  - port: 70000\n", /ports\[0\]\.port/],
    ["a reversed port range", "ports:\n  - port: 3005-3000\n", /ports\[0\]\.port: 3005-3000 is not a valid port or range/],
    ["a port that is not a number", "ports:\n  - port: http\n", /ports\[0\]\.port/],
  ];
  it.each(invalid)("rejects %s with a clear error", (_name, text, message) => {
    expect(() => parseGitpodYml(text)).toThrowError(GitpodYmlError);
    expect(() => parseGitpodYml(text)).toThrowError(message);
  });
});

describe("readGitpodYml", () => {
  it("treats a missing file as no tasks", async () => {
    expect(await readGitpodYml(tmpDir())).toEqual(empty);
  });

  it("reads the file from the checkout", async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, ".gitpod.yml"), "tasks:\n  - command: echo hi\n");
    expect((await readGitpodYml(dir)).tasks).toEqual([{ command: "echo hi" }]);
  });
});
