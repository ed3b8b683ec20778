/**
 * Opening the queue a command works on, in the CLI's words: commands that
 * only read (or change existing jobs) never create a file, and never switch
 * an empty or foreign file to WAL mode (the library's `create: false`); the
 * ones that only read still read a queue in a read-only directory where that
 * is safe (its `readOnlyFallback`).
 */
import { type DriverName, JobQueue, NoQueueError, ReadOnlyQueueError } from "../../mod.ts";
import { OperationError } from "./_args.ts";

/** There is no GigQ queue at the path yet (missing, empty, or a file without GigQ's tables). */
export class NoDatabaseError extends OperationError {
  /**
   * @param path the database path
   * @param other the file is an SQLite database with other tables
   */
  constructor(path: string, other = false) {
    super(
      isDatabaseUrl(path)
        ? `no GigQ queue at ${dbLabel(path)} (submit a job or start a worker to create one, or ` +
          `run gigq migrate)`
        : other
        ? `no GigQ queue in ${path} (it is an SQLite database without GigQ's tables; submit a ` +
          `job or start a worker on it to add them beside its own)`
        : `no GigQ database at ${path} (submit a job or start a worker to create one)`,
    );
    this.name = "NoDatabaseError";
  }
}

/**
 * What a command does with the queue: `"create"` (submit, worker) may create
 * it; `"write"` (cancel, requeue, clear, pause, resume) and `"read"` (status,
 * list, stats, queues, why, backup) need one that exists; `"read"` also reads
 * one in a read-only directory, as it is on disk, where that is safe.
 */
export type QueueUse = "create" | "write" | "read";

/** True for a `postgres://` or `postgresql://` URL: a queue on a server, not a file. */
export function isDatabaseUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(db);
}

/** How messages name a database: a URL without its password. */
export function dbLabel(db: string): string {
  return isDatabaseUrl(db) ? db.replace(/^([^:]+:\/\/[^:@/]*):[^@/]*@/, "$1:…@") : db;
}

/** Refuses a directory given as the database, in the CLI's words. */
export async function refuseDirectory(path: string): Promise<void> {
  if (path === ":memory:" || path.startsWith("file:") || isDatabaseUrl(path)) return;
  try {
    if ((await Deno.stat(path)).isDirectory) {
      throw new OperationError(`${JSON.stringify(path)} is a directory, not a GigQ database`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** The library's errors for a missing or unreadable queue, as the CLI says them. */
function inCliWords(path: string, error: unknown): unknown {
  if (error instanceof NoQueueError) return new NoDatabaseError(path, error.reason === "foreign");
  if (isDatabaseUrl(path)) return error;
  if (!(error instanceof ReadOnlyQueueError)) return error;
  return new OperationError(
    error.reason === "wal"
      ? `cannot read ${path}: its directory is read-only, and ${path}-wal holds commits that ` +
        `SQLite can read only by creating ${path}-shm beside it (WAL mode needs a writable ` +
        `directory); make the directory writable, or run gigq as a user who can write to it`
      : `cannot read ${path}: its directory (or file system) is read-only, so SQLite cannot ` +
        `create the -wal and -shm files WAL mode needs; SQLite can read the file as it is ` +
        `(immutable), but Deno's node:sqlite opens it that way only with --allow-all: use ` +
        `--driver ffi (with --allow-ffi), or run with --allow-all`,
  );
}

/**
 * Opens the queue at `path` for `use`. A directory is refused; with `"write"`
 * or `"read"`, so is a path without a queue ({@linkcode NoDatabaseError}),
 * creating nothing; with `"read"`, a queue in a read-only directory is read
 * as it is on disk, and `note` is told.
 */
export async function openQueue(
  path: string,
  driver: DriverName,
  use: QueueUse,
  note: (text: string) => void,
): Promise<JobQueue> {
  await refuseDirectory(path);
  let queue: JobQueue;
  try {
    if (isDatabaseUrl(path)) {
      queue = new JobQueue(path, { create: use === "create" });
      // Opening waits for the server: a missing queue is found here, not by the command.
      await queue.listJobs({ limit: 1 }).catch((error) => {
        queue.close();
        throw error;
      });
      return queue;
    }
    queue = new JobQueue(path, {
      driver,
      create: use === "create",
      readOnlyFallback: use === "read",
    });
  } catch (error) {
    throw inCliWords(path, error);
  }
  if (queue.readOnly) {
    note(
      `reading ${path} read-only, as it is on disk: its directory (or file system) is ` +
        `read-only, so SQLite cannot create the -wal and -shm files it needs to open it normally`,
    );
  }
  return queue;
}
