/** What every command file gives `main.ts`, and what they share. */
import type { DriverName, JobQueue } from "../../mod.ts";
import type { OptionSpecs, Parsed } from "./_args.ts";
import { openQueue, type QueueUse } from "./_database.ts";
import { toJsonText } from "./_format.ts";
import type { Io } from "./_io.ts";

/** What a command gets to work with. */
export interface Context {
  io: Io;
  parsed: Parsed;
  /** The database: an absolute path, `:memory:` or a `file:` URI. */
  path: string;
  driver: DriverName;
  json: boolean;
}

/** One command: its help, its options and what it does. */
export interface Command {
  summary: string;
  usage: string;
  details: string;
  options: OptionSpecs;
  /** The positional arguments it takes (exactly). */
  positionals: string[];
  /** Runs it; resolves to the exit code. */
  run(ctx: Context): Promise<number>;
}

/** The value of a string option, if given. */
export const str = (p: Parsed, name: string): string | undefined =>
  p.values[name] as string | undefined;
/** The values of a repeatable option, in order. */
export const list = (p: Parsed, name: string): string[] =>
  (p.values[name] as string[] | undefined) ?? [];
/** Whether a flag was given. */
export const flag = (p: Parsed, name: string): boolean => p.values[name] === true;

/** Prints `human`, or `json` as JSON with `--json`. */
export function out(ctx: Context, human: string, json: unknown): void {
  ctx.io.stdout(ctx.json ? toJsonText(json) : human.endsWith("\n") ? human : human + "\n");
}

/** Opens the queue in the context's file as `use` says (see openQueue), with notes on stderr. */
export function open(ctx: Context, use: QueueUse): Promise<JobQueue> {
  return openQueue(ctx.path, ctx.driver, use, (note) => ctx.io.stderr(`gigq: note: ${note}\n`));
}

/** Runs `fn` on the queue in the context's file, opened as `use` says, and closes it. */
export async function withQueue<T>(
  ctx: Context,
  use: QueueUse,
  fn: (queue: JobQueue) => Promise<T>,
): Promise<T> {
  const queue = await open(ctx, use);
  try {
    return await fn(queue);
  } finally {
    queue.close();
  }
}
