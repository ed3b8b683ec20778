/**
 * The `backup` command: a consistent copy of a live queue file, written by
 * the library's {@linkcode JobQueue.backup} (see there why copying the file
 * is not a backup).
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { type JobQueue, SqliteError } from "../../mod.ts";
import { OperationError, UsageError } from "./_args.ts";
import { type Command, type Context, out, withQueue } from "./_command.ts";
import { NoDatabaseError } from "./_database.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Refuses a `dest` that exists, or whose directory does not, before the queue is opened. */
async function checkDest(dest: string): Promise<void> {
  if (await exists(dest)) {
    throw new UsageError(
      `${dest} already exists; give a path that does not (gigq backup never overwrites a file)`,
    );
  }
  const dir = dirname(dest);
  let isDir = false;
  try {
    isDir = (await Deno.stat(dir)).isDirectory;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (!isDir) {
    throw new UsageError(`cannot write the backup to ${dest}: the directory ${dir} does not exist`);
  }
}

/** Writes the copy; a copy SQLite could not write is said the CLI's way (the library names `dest`). */
async function write(queue: JobQueue, dest: string): Promise<void> {
  try {
    await queue.backup(dest);
  } catch (error) {
    if (!(error instanceof SqliteError)) throw error;
    throw new OperationError(error.message[0].toLowerCase() + error.message.slice(1));
  }
}

async function run(ctx: Context): Promise<number> {
  const dest = resolve(ctx.io.cwd(), ctx.parsed.positionals[0]);
  if (ctx.path === ":memory:") throw new NoDatabaseError(ctx.path);
  await checkDest(dest);
  await withQueue(ctx, "read", (queue) => write(queue, dest));
  const result = { db: ctx.path, backup: dest, bytes: (await Deno.stat(dest)).size };
  out(ctx, `Backed up ${result.db} to ${result.backup} (${result.bytes} bytes).`, result);
  return 0;
}

/** The `backup` command. */
export const command: Command = {
  summary: "write a consistent copy of the queue, safe while workers run",
  usage: "gigq backup <dest> [options]",
  details: `Copies the queue to <dest> from one SQLite read transaction (VACUUM INTO with the ffi
driver, SQLite's online backup with the node one), so the copy holds every job committed
before it began, while workers keep working. <dest> must not exist (a backup never
overwrites a file); on failure nothing is left there.
Never copy or move a live queue file instead: a copy without its -wal file loses commits,
and a worker keeps writing to a file that was moved.

Example: gigq backup /backups/jobs-2026-01-31.db --db jobs.db`,
  options: {},
  positionals: ["<dest>"],
  run,
};
