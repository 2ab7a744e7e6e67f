import { describe, expect, it } from "vitest";
import { ContextUrlError, parseContextUrl, type ScmHosts } from "../src/scm/context-url";

const hosts: ScmHosts = {
  github: ["github.example.com"],
  gitlab: ["git.corp.example"],
  bitbucket: [],
  plainGit: ["127.0.0.1:9418", "git.internal"],
  allowFileUrls: false,
};

describe("context URLs that parse", () => {
  it.each([
    ["https://github.com/gitpod-io/gitpod", { provider: "github", fullName: "gitpod-io/gitpod", cloneUrl: "https://github.com/gitpod-io/gitpod.git", ref: null }],
    ["https://github.com/gitpod-io/gitpod.git", { fullName: "gitpod-io/gitpod", normalizedUrl: "https://github.com/gitpod-io/gitpod" }],
    ["https://github.com/gitpod-io/gitpod/", { fullName: "gitpod-io/gitpod" }],
    ["https://github.com/gitpod-io/gitpod/tree/main", { ref: "main", path: null }],
    ["https://github.com/gitpod-io/gitpod/tree/feature/new-ide", { ref: "feature/new-ide" }],
    ["https://github.com/gitpod-io/gitpod/blob/main/components/server/package.json", { ref: "main", path: "components/server/package.json" }],
    ["https://github.com/gitpod-io/gitpod/commit/8c6e9b2a1f0d4e3c5b7a9d1e2f3a4b5c6d7e8f90", { revision: "8c6e9b2a1f0d4e3c5b7a9d1e2f3a4b5c6d7e8f90", ref: null }],
    ["https://github.com/gitpod-io/gitpod/commit/8C6E9B2", { revision: "8c6e9b2" }],
    ["https://github.com/gitpod-io/gitpod/pull/18012", { pullRequest: 18012, ref: "refs/pull/18012/head" }],
    ["https://github.com/gitpod-io/gitpod/pull/18012/files", { pullRequest: 18012 }],
    ["https://github.com/gitpod-io/gitpod?tab=readme", { normalizedUrl: "https://github.com/gitpod-io/gitpod" }],
    ["https://github.example.com/team/app/tree/release-1.2", { provider: "github", host: "github.example.com", ref: "release-1.2", cloneUrl: "https://github.example.com/team/app.git" }],
    ["https://gitlab.com/gitlab-org/gitlab", { provider: "gitlab", fullName: "gitlab-org/gitlab", cloneUrl: "https://gitlab.com/gitlab-org/gitlab.git" }],
    ["https://gitlab.com/gitlab-org/cloud-native/gitlab-operator", { fullName: "gitlab-org/cloud-native/gitlab-operator" }],
    ["https://gitlab.com/gitlab-org/gitlab/-/tree/master", { ref: "master" }],
    ["https://gitlab.com/gitlab-org/gitlab/-/tree/feature/x/y", { ref: "feature/x/y" }],
    ["https://gitlab.com/gitlab-org/gitlab/-/blob/master/README.md", { ref: "master", path: "README.md" }],
    ["https://gitlab.com/gitlab-org/gitlab/-/commit/0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", { revision: "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567" }],
    ["https://gitlab.com/gitlab-org/gitlab/-/merge_requests/123456", { pullRequest: 123456, ref: "refs/merge-requests/123456/head" }],
    ["https://gitlab.com/gitlab-org/gitlab/-/merge_requests/123456/diffs", { pullRequest: 123456 }],
    ["https://git.corp.example/platform/tools/cli/-/tree/main", { provider: "gitlab", fullName: "platform/tools/cli", ref: "main" }],
    ["https://bitbucket.org/atlassian/python-bitbucket", { provider: "bitbucket", fullName: "atlassian/python-bitbucket", cloneUrl: "https://bitbucket.org/atlassian/python-bitbucket.git" }],
    ["https://bitbucket.org/atlassian/python-bitbucket/src/master/", { ref: "master", path: null }],
    ["https://bitbucket.org/atlassian/python-bitbucket/src/master/setup.py", { ref: "master", path: "setup.py" }],
    ["https://bitbucket.org/atlassian/python-bitbucket/src/8c6e9b2a1f0d4e3c5b7a9d1e2f3a4b5c6d7e8f90/setup.py", { revision: "8c6e9b2a1f0d4e3c5b7a9d1e2f3a4b5c6d7e8f90", ref: null }],
    ["https://bitbucket.org/atlassian/python-bitbucket/branch/feature/login", { ref: "feature/login" }],
    ["https://bitbucket.org/atlassian/python-bitbucket/commits/8c6e9b2a", { revision: "8c6e9b2a" }],
    ["http://127.0.0.1:9418/fixtures/hello.git", { provider: "git", cloneUrl: "http://127.0.0.1:9418/fixtures/hello.git", fullName: "fixtures/hello" }],
    ["https://git.internal/tools/build.git", { provider: "git", cloneUrl: "https://git.internal/tools/build.git" }],
  ])("%s", (url, expected) => {
    expect(parseContextUrl(url, hosts)).toMatchObject(expected);
  });

  it("accepts file:// repositories only when allowed", () => {
    expect(() => parseContextUrl("file:///tmp/repo", hosts)).toThrow(ContextUrlError);
    expect(parseContextUrl("file:///tmp/repo", { ...hosts, allowFileUrls: true })).toMatchObject({
      provider: "git",
      cloneUrl: "file:///tmp/repo",
    });
  });
});

describe("context URLs that do not", () => {
  it.each([
    ["", "Not a URL"],
    ["github.com/gitpod-io/gitpod", "Not a URL"],
    ["http://github.com/gitpod-io/gitpod", "https"],
    ["ftp://github.com/a/b", "https"],
    ["https://user:secret@github.com/a/b", "credentials"],
    ["https://example.com/a/b", "Unknown host"],
    ["https://github.com/gitpod-io", "owner"],
    ["https://github.com/gitpod-io/gitpod/issues/1", "Unsupported GitHub"],
    ["https://github.com/gitpod-io/gitpod/commit/not-a-sha", "SHA"],
    ["https://github.com/gitpod-io/gitpod/pull/abc", "pull request number"],
    ["https://github.com/gitpod-io/gitpod/pull/0", "pull request number"],
    ["https://github.com/gitpod-io/gitpod/tree/", "branch"],
    ["https://github.com/gitpod-io/gitpod/tree/--upload-pack=evil", "branch"],
    ["https://github.com/gitpod-io/gitpod/tree/a..b", "branch"],
    ["https://github.com/gitpod-io/gitpod/blob/main/../../etc/passwd", "Unsupported GitHub"],
    ["https://gitlab.com/gitlab-org", "group"],
    ["https://gitlab.com/gitlab-org/gitlab/-/issues/1", "Unsupported GitLab"],
    ["https://bitbucket.org/atlassian/python-bitbucket/pull-requests/5", "source branch"],
    ["https://git.internal/tools/build", "Unknown host"],
    ["http://git.internal/tools/build.git", "https"],
  ])("%j is refused (%s)", (url, message) => {
    expect(() => parseContextUrl(url, hosts)).toThrow(message);
  });
});
