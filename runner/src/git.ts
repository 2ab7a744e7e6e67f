/**
 * Getting a repository into a workspace directory, as cheaply as the server allows:
 * - tip of a branch/tag (or the default branch): `git clone --depth 1 [--branch ref]`;
 * - an exact revision: `git init` + `git fetch --depth 1 origin <sha>` + checkout;
 * - a server that refuses either (dumb HTTP, protocol v0 without allow*SHA1InWant):
 *   a full clone, then checkout.
 * Git runs through a caller-given function, so the runner runs it inside the sandbox.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { redactUrl } from "./log.ts";

export interface Repository {
  cloneUrl: string;
  ref: string | null;
  revision: string | null;
}

export interface GitResult {
  code: number | null;
  /** stdout and stderr, interleaved, possibly truncated to the tail. */
  output: string;
}

/** Runs `git <args>` with the given working directory. */
export type GitRun = (args: string[], cwd: string) => Promise<GitResult>;

export class GitError extends Error {
  override name = "GitError";
}

export interface CloneResult {
  /** The history is truncated (a shallow clone/fetch worked). */
  shallow: boolean;
  /** How it was obtained, for logs and tests. */
  method: "shallow-clone" | "shallow-fetch" | "full-clone";
}

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

export function validateRepository(repo: Repository): string | null {
  const bad = (s: string) => s.startsWith("-") || /[\x00-\x1f\x7f]/.test(s);
  if (!repo.cloneUrl || bad(repo.cloneUrl)) return "invalid clone URL";
  if (repo.ref !== null) {
    const ref = normaliseRef(repo.ref);
    if (!ref || bad(ref) || /[\s~^:?*[\\]|\.\.|@\{|\/$|\.lock$|^\//.test(ref)) return `invalid ref ${JSON.stringify(repo.ref)}`;
  }
  if (repo.revision !== null && (!/^[0-9a-f]{4,64}$/i.test(repo.revision))) return `invalid revision ${JSON.stringify(repo.revision)}`;
  return null;
}

/** `refs/heads/main` → `main`; `git clone --branch` wants the short name. */
export function normaliseRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, "");
}

/** Clones `repo` into `dir` (which must not exist yet; its parent must). */
export async function cloneRepository(repo: Repository, dir: string, git: GitRun): Promise<CloneResult> {
  const invalid = validateRepository(repo);
  if (invalid) throw new GitError(invalid);
  const parent = path.dirname(dir);
  const ref = repo.ref === null ? null : normaliseRef(repo.ref);
  const url = repo.cloneUrl;

  if (ref !== null && isSpecialRef(ref)) return fetchRef(url, ref, repo.revision, dir, parent, git);

  if (repo.revision === null) {
    const shallow = await git(["clone", "--depth", "1", ...(ref ? ["--branch", ref] : []), "--", url, dir], parent);
    if (shallow.code === 0) return { shallow: true, method: "shallow-clone" };
    await fs.rm(dir, { recursive: true, force: true });
    const full = await git(["clone", ...(ref ? ["--branch", ref] : []), "--", url, dir], parent);
    if (full.code !== 0) throw new GitError(`git clone of ${redactUrl(url)} failed: ${lastError(full.output)}`);
    return { shallow: false, method: "full-clone" };
  }

  const rev = repo.revision;
  const checkout = ref ? ["checkout", "-q", "-B", ref, rev] : ["checkout", "-q", "--detach", rev];
  if (FULL_SHA.test(rev)) {
    const steps: string[][] = [
      ["init", "-q", dir],
      ["-C", dir, "remote", "add", "origin", "--", url],
      ["-C", dir, "fetch", "-q", "--depth", "1", "origin", rev],
    ];
    let ok = true;
    for (const step of steps) {
      const r = await git(step, parent);
      if (r.code !== 0) {
        ok = false;
        break;
      }
    }
    if (ok) {
      const r = await git(["-C", dir, ...checkout], parent);
      if (r.code !== 0) throw new GitError(`git checkout of ${rev} failed: ${lastError(r.output)}`);
      return { shallow: true, method: "shallow-fetch" };
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
  const full = await git(["clone", "--no-checkout", "--", url, dir], parent);
  if (full.code !== 0) throw new GitError(`git clone of ${redactUrl(url)} failed: ${lastError(full.output)}`);
  const r = await git(["-C", dir, ...checkout], parent);
  if (r.code !== 0) throw new GitError(`revision ${rev} not found in ${redactUrl(url)}: ${lastError(r.output)}`);
  return { shallow: false, method: "full-clone" };
}

/** Pull and merge request heads (`refs/pull/7/head`, `refs/merge-requests/7/head`) are not branches. */
const isSpecialRef = (ref: string) => ref.startsWith("refs/");

/**
 * Fetches a non-branch ref (a pull request's head) shallowly and checks it out detached. With
 * a revision (a prebuild of one commit of the pull request), that commit is checked out: the
 * ref may have moved on since, so it is fetched by itself when the ref's tip is another.
 */
async function fetchRef(url: string, ref: string, revision: string | null, dir: string, parent: string, git: GitRun): Promise<CloneResult> {
  const steps: string[][] = [
    ["init", "-q", dir],
    ["-C", dir, "remote", "add", "origin", "--", url],
    ["-C", dir, "fetch", "-q", "--depth", "1", "origin", ref],
  ];
  for (const step of steps) {
    const r = await git(step, parent);
    if (r.code !== 0) throw new GitError(`fetching ${ref} from ${redactUrl(url)} failed: ${lastError(r.output)}`);
  }
  if (revision !== null && (await git(["-C", dir, "checkout", "-q", "--detach", revision], parent)).code === 0) {
    return { shallow: true, method: "shallow-fetch" };
  }
  if (revision !== null) {
    const fetched = await git(["-C", dir, "fetch", "-q", "--depth", "1", "origin", revision], parent);
    const r = fetched.code === 0 ? await git(["-C", dir, "checkout", "-q", "--detach", revision], parent) : fetched;
    if (r.code !== 0) throw new GitError(`revision ${revision} of ${ref} not found in ${redactUrl(url)}: ${lastError(r.output)}`);
    return { shallow: true, method: "shallow-fetch" };
  }
  const r = await git(["-C", dir, "checkout", "-q", "--detach", "FETCH_HEAD"], parent);
  if (r.code !== 0) throw new GitError(`fetching ${ref} from ${redactUrl(url)} failed: ${lastError(r.output)}`);
  return { shallow: true, method: "shallow-fetch" };
}

/** The most telling line of git's output (the first `fatal:`), credentials removed. */
export function lastError(output: string): string {
  const lines = output.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const fatal = lines.find((l) => /^(fatal|error):/.test(l)) ?? lines.pop() ?? "unknown error";
  return fatal.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, "$1***@").slice(0, 500);
}
