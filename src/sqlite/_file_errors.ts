/**
 * What GigQ says when SQLite cannot write or open a database file. SQLite's
 * own text ("attempt to write a readonly database", "database or disk is
 * full", "unable to open database file") names neither the file nor what to
 * do about it; a process with several queues needs both.
 *
 * @module
 */
import { SqliteError } from "./connection.ts";

/** SQLite's primary result code for a file it cannot open (SQLITE_CANTOPEN). */
const SQLITE_CANTOPEN = 14;

const q = JSON.stringify;

/** The message for a write to a read-only database (SQLITE_READONLY). */
export function readOnlyMessage(path: string): string {
  return `Cannot write to ${q(path)}: the file (or its directory) is read-only ` +
    `(SQLite: attempt to write a readonly database); SQLite's WAL mode writes the database ` +
    `and creates ${q(`${path}-wal`)} and ${q(`${path}-shm`)} beside it, so the file and ` +
    `its directory must both be writable`;
}

/** The message for a write that found the disk full (SQLITE_FULL). */
export function diskFullMessage(path: string): string {
  return `Cannot write to ${q(path)}: the disk is full (SQLite: database or disk is full); ` +
    `the write was rolled back: free some space and try again`;
}

function exists(path: string): boolean | undefined {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    return undefined; // no permission to look (the ffi driver needs no --allow-read)
  }
}

/**
 * True when `error`, thrown while opening `path`, is SQLite failing to
 * create the `-shm` file beside a database that exists: its directory (or
 * its file system) is read-only.
 */
export function isReadOnlyDirectory(path: string, error: unknown): boolean {
  if (!(error instanceof SqliteError) || (error.code & 0xff) !== SQLITE_CANTOPEN) return false;
  if (path === ":memory:" || path.startsWith("file:")) return false;
  return exists(path) === true && exists(`${path}-shm`) === false;
}

/**
 * The error to throw for `error`, thrown while opening `path`: a read-only
 * directory is said in words; anything else is returned as it is.
 */
export function explainOpenError(path: string, error: unknown): unknown {
  if (!isReadOnlyDirectory(path, error)) return error;
  return new SqliteError(
    `Cannot open ${q(path)}: its directory is read-only, or on a read-only file system ` +
      `(SQLite: unable to open database file); SQLite's WAL mode creates ${q(`${path}-wal`)} ` +
      `and ${q(`${path}-shm`)} beside the database, so the directory must be writable`,
    (error as SqliteError).code,
    { cause: error },
  );
}
