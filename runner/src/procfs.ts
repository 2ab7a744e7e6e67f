/**
 * Reading Linux /proc: the process table (to find every process of a workspace, even
 * ones that left the process group), socket inodes of those processes and the TCP ports
 * in LISTEN state. Every read tolerates processes that vanish mid-scan.
 */
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcEntry {
  pid: number;
  ppid: number;
  pgid: number;
}

/** Every process visible in /proc, by pid. */
export function processTable(): Map<number, ProcEntry> {
  const table = new Map<number, ProcEntry>();
  let names: string[];
  try {
    names = fs.readdirSync("/proc");
  } catch {
    return table;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const entry = readStat(Number(name));
    if (entry) table.set(entry.pid, entry);
  }
  return table;
}

/** Parses /proc/<pid>/stat; the command name may contain spaces and parentheses. */
export function parseStat(text: string): ProcEntry | null {
  const close = text.lastIndexOf(")");
  const open = text.indexOf("(");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  // After ") ": state ppid pgrp session …
  const rest = text.slice(close + 2).split(" ");
  const ppid = Number(rest[1]);
  const pgid = Number(rest[2]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid) || !Number.isInteger(pgid)) return null;
  return { pid, ppid, pgid };
}

function readStat(pid: number): ProcEntry | null {
  try {
    return parseStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** `root` and all its descendants (by parent pid), given a process table. */
export function descendants(root: number, table: Map<number, ProcEntry>): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of table.values()) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const out = new Set<number>();
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    if (out.has(pid)) continue;
    if (table.has(pid)) out.add(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

/** Pids whose environment contains exactly `entry` (`NAME=value`). */
export function processesWithEnv(entry: string, table: Map<number, ProcEntry>): Set<number> {
  const out = new Set<number>();
  for (const pid of table.keys()) {
    if (pid === process.pid) continue;
    try {
      const env = fs.readFileSync(`/proc/${pid}/environ`, "utf8");
      if (env.split("\0").includes(entry)) out.add(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); it is dead for our purposes.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

export function signal(pids: Iterable<number>, sig: NodeJS.Signals): void {
  for (const pid of pids) {
    if (pid <= 1 || pid === process.pid) continue;
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

export function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  if (pgid <= 1 || pgid === process.pid) return;
  try {
    process.kill(-pgid, sig);
  } catch {
    // group empty
  }
}

/** Socket inodes held open by a process (from its /proc/<pid>/fd links). */
export function socketInodes(pid: number): string[] {
  const out: string[] = [];
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) out.push(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Parses /proc/net/tcp or tcp6: inode → local port, for sockets in LISTEN state (0A). */
export function parseListening(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const [, local, , state] = cols;
    if (state !== "0A") continue;
    const port = parseInt(local!.slice(local!.lastIndexOf(":") + 1), 16);
    const inode = cols[9]!;
    if (Number.isInteger(port) && port > 0 && inode !== "0") out.set(inode, port);
  }
  return out;
}

/** inode → port for every TCP socket listening in this network namespace. */
export function listeningSockets(): Map<string, number> {
  const out = new Map<string, number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      for (const [inode, port] of parseListening(fs.readFileSync(file, "utf8"))) out.set(inode, port);
    } catch {
      // no IPv6, or no /proc
    }
  }
  return out;
}

/** TCP ports on which any of `pids` listens, sorted. */
export function listeningPorts(pids: Iterable<number>): number[] {
  const listening = listeningSockets();
  if (listening.size === 0) return [];
  const ports = new Set<number>();
  for (const pid of pids) {
    for (const inode of socketInodes(pid)) {
      const port = listening.get(inode);
      if (port !== undefined) ports.add(port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** Plain processes may escape their process group: find them by their environment. */
export async function sweep(entry: string, graceMs: number): Promise<void> {
  let pids = processesWithEnv(entry, processTable());
  if (pids.size === 0) return;
  signal(pids, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && [...pids].some(isAlive)) await sleep(50);
  pids = new Set([...pids, ...processesWithEnv(entry, processTable())]);
  signal(pids, "SIGKILL");
}
