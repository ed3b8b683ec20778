/** Helpers shared by the reliability suites and their full-size drivers. */
import { DatabaseSync } from "node:sqlite";

/** The repository root, without a trailing slash. */
export const REPO: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** Whether a suite's `--db` names a PostgreSQL database rather than a SQLite file. */
export function isPostgres(target: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(target);
}

/**
 * A PostgreSQL queue URL split into the client's URL (GigQ's `schema` and
 * `max` taken out) and the schema (default `gigq`), for direct checks.
 */
export function postgresTarget(target: string): { url: string; schema: string } {
  const q = target.indexOf("?");
  if (q < 0) return { url: target, schema: "gigq" };
  const params = new URLSearchParams(target.slice(q + 1));
  const schema = params.get("schema") ?? "gigq";
  params.delete("schema");
  params.delete("max");
  const rest = params.toString();
  return { url: rest === "" ? target.slice(0, q) : `${target.slice(0, q)}?${rest}`, schema };
}

/** `url` (a PostgreSQL URL without a schema) with `?schema=name` added. */
export function withSchema(url: string, schema: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}schema=${schema}`;
}

/** A fresh schema name for one run of a suite. */
export function freshSchema(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** A script next to this file, as a path. */
export function script(name: string): string {
  return new URL(`./${name}`, import.meta.url).pathname;
}

/**
 * A seeded pseudo-random generator (mulberry32): the same seed gives the same
 * sequence, so a failure reproduces.
 */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The seed from `variable` if set (so a failure reproduces), else a fresh one. */
export function seedFrom(variable: string): number {
  let text: string | undefined;
  try {
    text = Deno.env.get(variable);
  } catch {
    text = undefined;
  }
  if (text !== undefined && text !== "") {
    const seed = Number(text);
    if (!Number.isSafeInteger(seed)) throw new Error(`${variable} must be an integer, got ${text}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens the file with node:sqlite directly (not through GigQ) for checks. */
export function inspect<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA busy_timeout = 10000");
    return fn(db);
  } finally {
    db.close();
  }
}

/** One value from a query. */
export function scalar(db: DatabaseSync, sql: string, ...params: (string | number)[]): unknown {
  const row = db.prepare(sql).get(...params) as Record<string, unknown> | undefined;
  return row === undefined ? undefined : Object.values(row)[0];
}

/** `PRAGMA integrity_check`, joined: "ok" for a sound file. */
export function integrity(db: DatabaseSync): string {
  return db.prepare("PRAGMA integrity_check").all().map((r) => String(Object.values(r)[0]))
    .join("; ");
}

/** A child process whose stdout and stderr are collected as text while it runs. */
export interface Child {
  readonly process: Deno.ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when stdout has printed a line matching `pattern` (rejects if it exits first). */
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
  /** Resolves with the exit status once both streams are drained. */
  readonly done: Promise<Deno.CommandStatus>;
}

/** Children still running, so a stopped driver does not leave workers behind. */
const live = new Set<Deno.ChildProcess>();

/**
 * For the full-size scripts: on SIGINT or SIGTERM, kill every child still
 * running, remove `dir`, then exit (130 or 143).
 */
export function killChildrenOnSignal(dir: string): void {
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(sig, () => {
      for (const child of live) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // nothing to remove
      }
      Deno.exit(code);
    });
  }
}

/** Starts `deno <args>` with stdin closed and both streams collected. */
export function spawnDeno(args: string[], env: Record<string, string> = {}): Child {
  return spawnCommand(Deno.execPath(), args, env);
}

/**
 * Starts `command <args>` with stdin closed and both streams collected (as
 * `ip netns exec NS deno ...`, which becomes the deno process itself).
 */
export function spawnCommand(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Child {
  const process = new Deno.Command(command, {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(process);
  process.status.then(() => live.delete(process));
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      add(text);
      for (const w of [...waiters]) w();
    }
  };
  const streams = Promise.all([
    pump(process.stdout, (t) => out += t),
    pump(process.stderr, (t) => err += t),
  ]);
  let exited = false;
  const done = (async () => {
    const status = await process.status;
    await streams;
    exited = true;
    for (const w of [...waiters]) w();
    return status;
  })();
  return {
    process,
    stdout: () => out,
    stderr: () => err,
    done,
    waitFor(pattern, ms = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`no line matching ${pattern} within ${ms} ms; stderr: ${err.slice(-500)}`),
          );
        }, ms);
        const check = () => {
          if (pattern.test(out)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          } else if (exited) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`the process exited before printing ${pattern}; stderr: ${err}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Sends `signal` if the process still runs. */
export function signal(child: Child, sig: Deno.Signal): boolean {
  try {
    child.process.kill(sig);
    return true;
  } catch {
    return false; // already exited
  }
}

/** Waits for a child to exit; kills it (and fails) if it takes longer than `ms`. */
export async function exited(child: Child, ms: number, what: string): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<"hang">((r) => timer = setTimeout(() => r("hang"), ms));
  const result = await Promise.race([child.done, limit]);
  clearTimeout(timer);
  if (result === "hang") {
    signal(child, "SIGKILL");
    await child.done;
    throw new Error(`${what} did not exit within ${ms} ms; stderr: ${child.stderr().slice(-2000)}`);
  }
  return result;
}

/** Lines of `text` that report a locked or busy database. */
export function busyLines(text: string): string[] {
  return text.split("\n").filter((l) => /locked|busy/i.test(l));
}

/** Mebibytes, one decimal. */
export const mib = (bytes: number): string => (bytes / 1_048_576).toFixed(1);
