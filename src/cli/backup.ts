/**
 * The `backup` command: a consistent copy of a live queue file.
 *
 * Copying the file itself is not a backup: a copy of the database without
 * its `-wal` file loses every commit not yet checkpointed, and a copy taken
 * while a worker writes can be torn. SQLite writes the copy from one read
 * transaction instead (`VACUUM INTO` on the `ffi` driver, the online backup
 * on the `node` driver; see `Connection.backupTo`): a snapshot of
 * every commit made before it began, taken while workers keep working (in
 * WAL mode a reader blocks no writer).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { closeConnection, getConnection } from "../sqlite/registry.ts";
import { type DriverName, SqliteError } from "../sqlite/connection.ts";
import { OperationError, UsageError } from "./_args.ts";
import { checkDatabaseFile, NoDatabaseError, openForReading } from "./_database.ts";

/** What {@linkcode backup} wrote. */
export interface BackupResult {
  /** The queue that was copied. */
  db: string;
  /** The copy. */
  backup: string;
  /** The copy's size in bytes. */
  bytes: number;
}

/** Options for {@linkcode backup}. */
export interface BackupOptions {
  /** The driver that reads the queue. */
  driver: DriverName;
  /** Told when the queue is read read-only (see openForReading). */
  note: (text: string) => void;
}

/** Runs `fn` again while it fails because the database is locked (rarely: a WAL being recovered). */
async function retryBusyAsync(fn: () => Promise<void>): Promise<void> {
  const start = Date.now();
  for (let delay = 1;; delay = Math.min(delay * 2, 50)) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof SqliteError && error.busy) || Date.now() - start > 30_000) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function removeIfThere(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

function alreadyExists(dest: string): UsageError {
  return new UsageError(
    `${dest} already exists; give a path that does not (gigq backup never overwrites a file)`,
  );
}

/** The error for a copy SQLite could not write, naming the copy rather than the queue. */
function writeFailure(dest: string, error: unknown): unknown {
  if (!(error instanceof SqliteError)) return error;
  const reason = error.diskFull
    ? "the disk is full (SQLite: database or disk is full)"
    : (error.code & 0xff) === 14
    ? `SQLite cannot create a file in ${dirname(dest)} (is it read-only?)`
    : error.message;
  return new OperationError(`cannot write the backup to ${dest}: ${reason}; nothing was written`);
}

/**
 * Writes a consistent copy of the queue at `path` to `dest`, which must not
 * exist. The copy is written under a temporary name beside `dest`, synced,
 * then linked to `dest` (which fails rather than overwrite a file that
 * appeared meanwhile); on any failure nothing is left at `dest` and the
 * temporary file is removed.
 *
 * @example Back up a queue before an upgrade
 * ```ts ignore
 * const result = await backup("/srv/jobs.db", "/backups/jobs-2026-01-31.db", {
 *   driver: "node",
 *   note: console.error,
 * });
 * console.log(`${result.bytes} bytes`);
 * ```
 *
 * @param path the queue (an absolute path)
 * @param dest where the copy goes (an absolute path)
 * @param options the driver, and where notes go
 */
export async function backup(
  path: string,
  dest: string,
  options: BackupOptions,
): Promise<BackupResult> {
  if (path === ":memory:") throw new NoDatabaseError(path);
  if (await exists(dest)) throw alreadyExists(dest);
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
  await checkDatabaseFile(path, { mustExist: true, driver: options.driver });
  const queue = await openForReading(path, options.driver, options.note);
  const temp = join(dir, `.${basename(dest)}.${crypto.randomUUID()}.gigq-backup`);
  try {
    try {
      const conn = getConnection(queue.path, { driver: options.driver });
      await retryBusyAsync(() => conn.backupTo(temp));
    } catch (error) {
      throw writeFailure(dest, error);
    } finally {
      closeConnection(queue.path);
    }
    {
      // VACUUM INTO does not sync what it wrote: make the copy durable first.
      using file = await Deno.open(temp, { read: true });
      await file.sync();
    }
    try {
      await Deno.link(temp, dest); // never replaces a file that appeared meanwhile
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) throw alreadyExists(dest);
      // A file system without hard links: check again, then rename.
      if (await exists(dest)) throw alreadyExists(dest);
      await Deno.rename(temp, dest);
    }
  } finally {
    queue.close();
    for (const suffix of ["", "-journal", "-wal", "-shm"]) await removeIfThere(temp + suffix);
  }
  return { db: path, backup: dest, bytes: (await Deno.stat(dest)).size };
}
