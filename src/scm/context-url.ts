/**
 * Parses what users paste to open a workspace: a repository, a branch, a commit, a pull or
 * merge request, or a file, on GitHub, GitLab and Bitbucket (and self-hosted instances
 * named in config), plus plain git URLs on hosts the operator allows.
 *
 * Without calling the SCM's API a branch name cannot be told apart from a path in
 * `/blob/<ref>/<path>`; the first segment is taken as the ref there, while `/tree/<ref>`
 * takes all of the rest as the ref (so `feature/x` branches work in tree URLs).
 */

export type ScmProvider = "github" | "gitlab" | "bitbucket" | "git";

export interface RepositoryContext {
  provider: ScmProvider;
  host: string;
  /** `owner/repo`, or `group/subgroup/repo` on GitLab. */
  fullName: string;
  cloneUrl: string;
  /** Branch or tag, or a fetchable ref such as `refs/pull/7/head`. Null: the default branch. */
  ref: string | null;
  /** A commit to check out. */
  revision: string | null;
  pullRequest: number | null;
  /** A file to open. */
  path: string | null;
  /** The context in canonical form, as stored on the workspace. */
  normalizedUrl: string;
}

export interface ScmHosts {
  /** Extra hosts per provider (GitHub Enterprise, self-managed GitLab, Bitbucket Server). */
  github: readonly string[];
  gitlab: readonly string[];
  bitbucket: readonly string[];
  /** Hosts (host or host:port) from which plain `…/repo.git` URLs are accepted. */
  plainGit: readonly string[];
  /** Whether `file://` repositories (on the runner's machine) are accepted: development only. */
  allowFileUrls: boolean;
}

export const ACCEPTED_FORMS = [
  "https://github.com/<owner>/<repo>[/tree/<branch> | /blob/<branch>/<path> | /commit/<sha> | /pull/<n>]",
  "https://gitlab.com/<group>/<repo>[/-/tree/<branch> | /-/blob/<branch>/<path> | /-/commit/<sha> | /-/merge_requests/<n>]",
  "https://bitbucket.org/<owner>/<repo>[/src/<branch>[/<path>] | /branch/<branch> | /commits/<sha>]",
  "https://<allowed git host>/<path>.git",
];

export class ContextUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContextUrlError";
  }
}

const SHA = /^[0-9a-f]{7,40}$/i;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const NAME = /^[A-Za-z0-9_.-]+$/;

export function parseContextUrl(input: string, hosts: ScmHosts): RepositoryContext {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new ContextUrlError("Not a URL.");
  }
  if (url.protocol === "file:") return fileContext(url, hosts);
  // Cleartext http only to an allowed git server on this machine (local development).
  const localPlainGit = hosts.plainGit.includes(url.host) && LOOPBACK.has(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && localPlainGit)) {
    throw new ContextUrlError("Only https URLs are accepted.");
  }
  if (url.username || url.password) throw new ContextUrlError("URLs must not carry credentials.");
  const host = url.host.toLowerCase();
  const segments = url.pathname
    .split("/")
    .filter(Boolean)
    .map((s) => decodeURIComponent(s));
  if (host === "github.com" || hosts.github.includes(host)) return github(url, host, segments);
  if (host === "gitlab.com" || hosts.gitlab.includes(host)) return gitlab(url, host, segments);
  if (host === "bitbucket.org" || hosts.bitbucket.includes(host)) return bitbucket(url, host, segments);
  if (hosts.plainGit.includes(host) && url.pathname.endsWith(".git")) return plainGit(url, host);
  throw new ContextUrlError(`Unknown host ${host}.`);
}

function base(provider: ScmProvider, url: URL, host: string, fullName: string, extra: Partial<RepositoryContext>, normalizedUrl: string): RepositoryContext {
  return {
    provider,
    host,
    fullName,
    cloneUrl: `${url.protocol}//${host}/${fullName}.git`,
    ref: null,
    revision: null,
    pullRequest: null,
    path: null,
    ...extra,
    normalizedUrl,
  };
}

function repoName(owner: string | undefined, repo: string | undefined): [string, string] {
  const name = repo?.replace(/\.git$/, "");
  if (!owner || !name || !NAME.test(owner) || !NAME.test(name)) {
    throw new ContextUrlError("Expected /<owner>/<repository>.");
  }
  return [owner, name];
}

function sha(value: string | undefined): string {
  if (!value || !SHA.test(value)) throw new ContextUrlError("Expected a commit SHA.");
  return value.toLowerCase();
}

function number(value: string | undefined, what: string): number {
  const n = Number(value);
  if (!value || !Number.isSafeInteger(n) || n <= 0) throw new ContextUrlError(`Expected a ${what} number.`);
  return n;
}

function github(url: URL, host: string, s: string[]): RepositoryContext {
  const [owner, repo] = repoName(s[0], s[1]);
  const fullName = `${owner}/${repo}`;
  const root = `https://${host}/${fullName}`;
  const [kind, ...rest] = s.slice(2);
  switch (kind) {
    case undefined:
      return base("github", url, host, fullName, {}, root);
    case "tree":
      return base("github", url, host, fullName, { ref: ref(rest.join("/")) }, `${root}/tree/${rest.join("/")}`);
    case "blob": {
      const [branch, ...path] = rest;
      return base("github", url, host, fullName, { ref: ref(branch), path: filePath(path) }, `${root}/blob/${rest.join("/")}`);
    }
    case "commit": {
      const revision = sha(rest[0]);
      return base("github", url, host, fullName, { revision }, `${root}/commit/${revision}`);
    }
    case "pull": {
      const pullRequest = number(rest[0], "pull request");
      return base("github", url, host, fullName, { pullRequest, ref: `refs/pull/${pullRequest}/head` }, `${root}/pull/${pullRequest}`);
    }
    default:
      throw new ContextUrlError(`Unsupported GitHub URL form /${kind}.`);
  }
}

function gitlab(url: URL, host: string, s: string[]): RepositoryContext {
  // Groups nest: everything before `/-/` is the project path.
  const dash = s.indexOf("-");
  const project = dash === -1 ? s : s.slice(0, dash);
  if (project.length < 2 || !project.every((p) => NAME.test(p))) {
    throw new ContextUrlError("Expected /<group>/<project>.");
  }
  project[project.length - 1] = project.at(-1)!.replace(/\.git$/, "");
  const fullName = project.join("/");
  const root = `https://${host}/${fullName}`;
  if (dash === -1) return base("gitlab", url, host, fullName, {}, root);
  const [kind, ...rest] = s.slice(dash + 1);
  switch (kind) {
    case "tree":
      return base("gitlab", url, host, fullName, { ref: ref(rest.join("/")) }, `${root}/-/tree/${rest.join("/")}`);
    case "blob": {
      const [branch, ...path] = rest;
      return base("gitlab", url, host, fullName, { ref: ref(branch), path: filePath(path) }, `${root}/-/blob/${rest.join("/")}`);
    }
    case "commit": {
      const revision = sha(rest[0]);
      return base("gitlab", url, host, fullName, { revision }, `${root}/-/commit/${revision}`);
    }
    case "merge_requests": {
      const pullRequest = number(rest[0], "merge request");
      return base(
        "gitlab",
        url,
        host,
        fullName,
        { pullRequest, ref: `refs/merge-requests/${pullRequest}/head` },
        `${root}/-/merge_requests/${pullRequest}`,
      );
    }
    default:
      throw new ContextUrlError(`Unsupported GitLab URL form /-/${kind ?? ""}.`);
  }
}

function bitbucket(url: URL, host: string, s: string[]): RepositoryContext {
  const [owner, repo] = repoName(s[0], s[1]);
  const fullName = `${owner}/${repo}`;
  const root = `https://${host}/${fullName}`;
  const [kind, ...rest] = s.slice(2);
  switch (kind) {
    case undefined:
      return base("bitbucket", url, host, fullName, {}, root);
    case "src": {
      const [branch, ...path] = rest;
      if (!branch) return base("bitbucket", url, host, fullName, {}, root);
      const revision = SHA.test(branch) && branch.length === 40 ? branch.toLowerCase() : null;
      return base(
        "bitbucket",
        url,
        host,
        fullName,
        revision ? { revision, path: filePath(path) } : { ref: ref(branch), path: filePath(path) },
        `${root}/src/${rest.join("/")}`,
      );
    }
    case "branch":
      return base("bitbucket", url, host, fullName, { ref: ref(rest.join("/")) }, `${root}/branch/${rest.join("/")}`);
    case "commits": {
      const revision = sha(rest[0]);
      return base("bitbucket", url, host, fullName, { revision }, `${root}/commits/${revision}`);
    }
    case "pull-requests":
      // Bitbucket exposes no fetchable ref for pull requests; the source branch needs its API.
      throw new ContextUrlError("Bitbucket pull requests cannot be opened directly yet; open the source branch instead.");
    default:
      throw new ContextUrlError(`Unsupported Bitbucket URL form /${kind}.`);
  }
}

function plainGit(url: URL, host: string): RepositoryContext {
  const fullName = url.pathname.replace(/^\/+/, "").replace(/\.git$/, "");
  const cloneUrl = `${url.protocol}//${host}${url.pathname}`;
  return { ...base("git", url, host, fullName, {}, cloneUrl), cloneUrl };
}

function fileContext(url: URL, hosts: ScmHosts): RepositoryContext {
  if (!hosts.allowFileUrls) throw new ContextUrlError("file:// repositories are not allowed here.");
  const cloneUrl = `file://${url.pathname}`;
  const fullName = url.pathname.replace(/^\/+/, "").replace(/\.git$/, "");
  return { ...base("git", url, "localhost", fullName, {}, cloneUrl), cloneUrl };
}

function ref(value: string | undefined): string {
  if (!value || value.startsWith("-") || value.includes("..") || /[\s~^:?*[\\]/.test(value)) {
    throw new ContextUrlError("Expected a branch or tag name.");
  }
  return value;
}

function filePath(parts: string[]): string | null {
  if (parts.length === 0) return null;
  if (parts.some((p) => p === ".." || p === ".")) throw new ContextUrlError("Invalid file path.");
  return parts.join("/");
}
