/**
 * `.gitpod.yml`: the tasks a workspace runs (name/before/init/command, plus per-task env),
 * the ports it declares and the image it asks for. Unknown keys are ignored, as Gitpod
 * does; a file that is not valid YAML or has wrongly typed fields is a clear error.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { parse, YAMLParseError } from "yaml";
import { z } from "zod";
import type { Task } from "../../protocol/runner.ts";

export const GITPOD_YML = ".gitpod.yml";

/** A task as the runner runs it: the protocol's task plus optional environment. */
export type RunnerTask = Task & { env?: Record<string, string> };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface PortConfig {
  port: number;
  /** Last port of a range (`3000-3005`). */
  toPort?: number;
  name?: string;
  description?: string;
  onOpen?: string;
  visibility?: string;
}

export interface GitpodConfig {
  tasks: RunnerTask[];
  ports: PortConfig[];
  /** Noted, not used: a pooled runner runs on its host's system. */
  image: string | { file: string; context?: string } | null;
}

export class GitpodYmlError extends Error {
  override name = "GitpodYmlError";
}

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));
const portNumber = z.number().int().min(1).max(65_535);

const FileSchema = z
  .object({
    tasks: z
      .array(
        z.object({
          name: z.string().max(200).optional(),
          before: z.string().max(100_000).optional(),
          init: z.string().max(100_000).optional(),
          command: z.string().max(100_000).optional(),
          env: z.record(z.string(), scalar).optional(),
        }),
      )
      .max(100)
      .nullish(),
    ports: z
      .array(
        z.object({
          port: z.union([
            portNumber,
            z.string().regex(/^\d+(-\d+)?$/, "must be a port or a range like 3000-3005"),
          ]),
          name: z.string().optional(),
          description: z.string().optional(),
          onOpen: z.string().optional(),
          visibility: z.string().optional(),
        }),
      )
      .max(1000)
      .nullish(),
    image: z.union([z.string(), z.object({ file: z.string(), context: z.string().optional() })]).nullish(),
  })
  .nullable();

export function parseGitpodYml(text: string): GitpodConfig {
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: true });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split("\n")[0] : String(e);
    throw new GitpodYmlError(`invalid ${GITPOD_YML}: not valid YAML: ${msg}`);
  }
  if (doc !== null && doc !== undefined && (typeof doc !== "object" || Array.isArray(doc))) {
    throw new GitpodYmlError(`invalid ${GITPOD_YML}: the top level must be a mapping`);
  }
  const parsed = FileSchema.safeParse(doc ?? null);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${formatPath(i.path)}: ${i.message}`);
    throw new GitpodYmlError(`invalid ${GITPOD_YML}: ${issues.join("; ")}`);
  }
  const file = parsed.data ?? {};
  const tasks: RunnerTask[] = (file.tasks ?? []).map((t, i) => {
    for (const name of Object.keys(t.env ?? {})) {
      if (!ENV_NAME.test(name)) throw new GitpodYmlError(`invalid ${GITPOD_YML}: tasks[${i}].env.${name}: must be a valid environment variable name`);
    }
    const task: RunnerTask = {};
    if (t.name !== undefined) task.name = t.name;
    if (t.before !== undefined) task.before = t.before;
    if (t.init !== undefined) task.init = t.init;
    if (t.command !== undefined) task.command = t.command;
    if (t.env !== undefined) task.env = t.env;
    return task;
  });
  const ports: PortConfig[] = [];
  for (const [i, p] of (file.ports ?? []).entries()) {
    const { port, ...rest } = p;
    const entry: PortConfig = { port: 0 };
    if (typeof port === "number") entry.port = port;
    else {
      const [from, to] = port.split("-").map(Number) as [number, number | undefined];
      if (!(from >= 1 && from <= 65_535) || (to !== undefined && !(to >= from && to <= 65_535))) {
        throw new GitpodYmlError(`invalid ${GITPOD_YML}: ports[${i}].port: ${port} is not a valid port or range`);
      }
      entry.port = from;
      if (to !== undefined && to !== from) entry.toPort = to;
    }
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (entry as unknown as Record<string, unknown>)[k] = v;
    ports.push(entry);
  }
  return { tasks, ports, image: file.image ?? null };
}

/** Reads `.gitpod.yml` from a checkout; an absent file means no tasks and no ports. */
export async function readGitpodYml(repoDir: string): Promise<GitpodConfig> {
  let text: string;
  try {
    text = await fs.readFile(path.join(repoDir, GITPOD_YML), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { tasks: [], ports: [], image: null };
    throw new GitpodYmlError(`cannot read ${GITPOD_YML}: ${(e as Error).message}`);
  }
  return parseGitpodYml(text);
}

function formatPath(p: PropertyKey[]): string {
  let out = "";
  for (const seg of p) out += typeof seg === "number" ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out || "(root)";
}
