/**
 * Prebuild results. A prebuild's workspace directory, once its `init` is done and its
 * processes have ended, moves (a rename: no copy) into `<workdir>/.prebuilds/<key>/`, with
 * a manifest `<key>.json`. A workspace that starts from it gets a copy (`cp -a`, with
 * reflinks where the filesystem has them), so any number can start from one result.
 *
 * The store sits under the work directory, which every sandbox covers with an empty
 * tmpfs: workspaces never see it. It keeps the `keep` most recently used results; older
 * ones are deleted as new ones arrive.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "./log.ts";

export interface SnapshotManifest {
  key: string;
  /** The checkout's directory name inside the workspace directory. */
  repoName: string;
  /** The commit it was built from. */
  revision: string | null;
  savedAt: string;
  /** Last saved or restored: eviction removes the least recently used first. */
  usedAt: string;
  bytes: number;
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** `cp -a` (attributes, links as links, special files) of `from` to `to`. */
function copy(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("cp", ["-a", "--reflink=auto", from, to], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-2_000)));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`cp exited with ${code}: ${stderr.trim()}`))));
  });
}

/** Bytes under `dir` (files only; links are not followed). */
function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      try {
        total += fs.lstatSync(path.join(entry.parentPath, entry.name)).size;
      } catch {
        // gone meanwhile
      }
    }
  }
  return total;
}

export class Snapshots {
  readonly dir: string;
  readonly keep: number;
  readonly #log: Logger;

  constructor(dir: string, keep: number, logger: Logger) {
    this.dir = dir;
    this.keep = keep;
    this.#log = logger;
  }

  #manifestFile(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  #write(manifest: SnapshotManifest): void {
    const file = this.#manifestFile(manifest.key);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(manifest, null, 2) + "\n");
    fs.renameSync(`${file}.tmp`, file);
  }

  manifest(key: string): SnapshotManifest | null {
    if (!KEY.test(key)) return null;
    try {
      const manifest = JSON.parse(fs.readFileSync(this.#manifestFile(key), "utf8")) as SnapshotManifest;
      return fs.existsSync(path.join(this.dir, key)) ? manifest : null;
    } catch {
      return null;
    }
  }

  /** Moves `source` (a prebuild's workspace directory, at rest) into the store as `key`; returns its size. */
  async save(key: string, source: string, about: { repoName: string; revision: string | null }): Promise<number> {
    if (!KEY.test(key)) throw new Error(`invalid snapshot key ${JSON.stringify(key)}`);
    fs.mkdirSync(this.dir, { recursive: true });
    const target = path.join(this.dir, key);
    fs.rmSync(this.#manifestFile(key), { force: true });
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(source, target);
    const now = new Date().toISOString();
    const bytes = sizeOf(target);
    this.#write({ key, ...about, savedAt: now, usedAt: now, bytes });
    this.evict();
    return bytes;
  }

  /** Copies snapshot `key` into `target` (an empty directory); null when the store does not hold it. */
  async restore(key: string, target: string): Promise<SnapshotManifest | null> {
    const manifest = this.manifest(key);
    if (!manifest) return null;
    fs.mkdirSync(target, { recursive: true });
    // The contents (`<key>/.`; path.join would drop the `.` and copy the directory itself).
    await copy(`${path.join(this.dir, key)}/.`, target);
    manifest.usedAt = new Date().toISOString();
    this.#write(manifest);
    return manifest;
  }

  /** Every snapshot held, most recently used first. */
  list(): SnapshotManifest[] {
    if (!fs.existsSync(this.dir)) return [];
    return fs
      .readdirSync(this.dir)
      .filter((name) => name.endsWith(".json"))
      .flatMap((name) => this.manifest(name.slice(0, -".json".length)) ?? [])
      .sort((a, b) => b.usedAt.localeCompare(a.usedAt));
  }

  /** Deletes the least recently used snapshots beyond `keep`. */
  evict(): void {
    for (const old of this.list().slice(this.keep)) {
      fs.rmSync(this.#manifestFile(old.key), { force: true });
      fs.rmSync(path.join(this.dir, old.key), { recursive: true, force: true });
      this.#log.info("prebuild result evicted", { key: old.key });
    }
  }
}
