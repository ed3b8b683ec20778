/**
 * A consistent copy of a live queue file.
 *
 * Copying the file itself is not a backup: a copy of the database without
 * its `-wal` file loses every commit not yet checkpointed, and a copy taken
 * while a worker writes can be torn. SQLite writes the copy from one read
 * transaction instead (`VACUUM INTO` on the `ffi` driver, the online backup
 * on the `node` driver; see `Connection.backupTo`): a snapshot of every
 * commit made before it began, taken while workers keep working (in WAL mode
 * a reader blocks no writer).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { type Connection, isBusy, SqliteError } from "./connection.ts";
import { BUSY_RETRY_MS } from "./_busy.ts";

/** SQLite's primary result code for a file it cannot open (SQLITE_CANTOPEN). */
const SQLITE_CANTOPEN = 14;

const q = JSON.stringify;

/** Runs `fn` again while it fails because the database is locked (rarely: a WAL being recovered). */
async function retryBusyAsync(fn: () => Promise<void>): Promise<void> {
  const start = Date.now();
  for (let delay = 1;; delay = Math.min(delay * 2, 50)) {
    try {
      return await fn();
    } catch (error) {
      if (!isBusy(error) || Date.now() - start > BUSY_RETRY_MS) throw error;
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

function alreadyExists(source: string, dest: string): RangeError {
  return new RangeError(
    `Cannot back up ${q(source)} to ${q(dest)}: it already exists (a backup never overwrites a ` +
      `file)`,
  );
}

/** The error for a copy SQLite could not write, naming the copy rather than the queue. */
function writeFailure(dest: string, error: unknown): unknown {
  if (!(error instanceof SqliteError)) return error;
  const reason = error.diskFull
    ? "the disk is full (SQLite: database or disk is full)"
    : (error.code & 0xff) === SQLITE_CANTOPEN
    ? `SQLite cannot create a file in ${dirname(dest)} (is it read-only?)`
    : error.message;
  return new SqliteError(
    `Cannot write the backup to ${dest}: ${reason}; nothing was written`,
    error.code,
    { cause: error },
  );
}

/**
 * Writes a consistent copy of the database `conn` has open (named `source`
 * in errors) to `dest`, an absolute path that must not exist, in a directory
 * that must (a `RangeError` otherwise). The copy is written under a
 * temporary name beside `dest`, synced, then linked to `dest` (which fails
 * rather than overwrite a file that appeared meanwhile); on any failure
 * nothing is left at `dest` and the temporary file is removed. A copy SQLite
 * cannot write is a `SqliteError` that names `dest` and says why.
 */
export async function writeBackup(conn: Connection, source: string, dest: string): Promise<void> {
  if (await exists(dest)) throw alreadyExists(source, dest);
  const dir = dirname(dest);
  let isDir = false;
  try {
    isDir = (await Deno.stat(dir)).isDirectory;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (!isDir) {
    throw new RangeError(
      `Cannot back up ${q(source)} to ${q(dest)}: the directory ${q(dir)} does not exist`,
    );
  }
  const temp = join(dir, `.${basename(dest)}.${crypto.randomUUID()}.gigq-backup`);
  try {
    try {
      await retryBusyAsync(() => conn.backupTo(temp));
    } catch (error) {
      throw writeFailure(dest, error);
    }
    {
      // VACUUM INTO does not sync what it wrote: make the copy durable first.
      using file = await Deno.open(temp, { read: true });
      await file.sync();
    }
    try {
      await Deno.link(temp, dest); // never replaces a file that appeared meanwhile
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) throw alreadyExists(source, dest);
      // A file system without hard links: check again, then rename.
      if (await exists(dest)) throw alreadyExists(source, dest);
      await Deno.rename(temp, dest);
    }
  } finally {
    for (const suffix of ["", "-journal", "-wal", "-shm"]) await removeIfThere(temp + suffix);
  }
}
