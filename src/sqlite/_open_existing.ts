/**
 * Opening a queue that must already exist (`create: false`), for commands
 * that only read it or change its jobs: nothing is created, and an empty or
 * foreign file is never switched to WAL mode (which rewrites its header).
 * In a read-only directory, a queue can be read as it is on disk
 * (`readOnlyFallback`).
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { NoQueueError, ReadOnlyQueueError } from "../errors.ts";
import { type Connection, SqliteError } from "./connection.ts";
import { isReadOnlyDirectory } from "./_file_errors.ts";
import { acquireConnection, type ConnectionOptions, releaseConnection } from "./registry.ts";
import { readVersion } from "./schema.ts";
import { SQL } from "./_sql.ts";

/** SQLite's primary result code for a file it cannot open (SQLITE_CANTOPEN). */
const SQLITE_CANTOPEN = 14;

const q = JSON.stringify;

/** The size of the file at `path`, or undefined when there is none. */
function sizeOf(path: string): number | undefined {
  try {
    return Deno.statSync(path).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * True when every permission is granted (`--allow-all`): only then does
 * Deno's `node:sqlite` take a `file:` URI as one (otherwise it reads it as a
 * relative path, or refuses it as one the permissions do not cover).
 */
function allGranted(): boolean {
  const names = ["read", "write", "net", "env", "sys", "run", "ffi", "import"] as const;
  return names.every((name) => Deno.permissions.querySync({ name }).state === "granted");
}

/**
 * Refuses, with a {@linkcode NoQueueError} for `path`, a database without
 * GigQ's tables (and, as every open does, one written by a newer GigQ).
 */
function requireQueue(path: string, conn: Connection): void {
  if (readVersion(conn) > 0) return;
  const tables = Number(conn.prepare(SQL.tableCount).values()[0]?.[0] ?? 0);
  throw new NoQueueError(path, tables > 0 ? "foreign" : "empty");
}

/** Takes the registry's connection to `target`, refusing a database without a queue. */
function acquireQueue(path: string, target: string, options: ConnectionOptions): Connection {
  let inspected = false;
  const conn = acquireConnection(target, options, (c) => {
    inspected = true;
    requireQueue(path, c);
  });
  if (!inspected) {
    // Already open in this isolate (perhaps by getConnection, without a queue).
    try {
      requireQueue(path, conn);
    } catch (error) {
      releaseConnection(conn);
      throw error;
    }
  }
  return conn;
}

/** A connection to a queue that exists, and whether it reads the file as it is. */
export interface ExistingQueue {
  conn: Connection;
  /** The file is read through an immutable URI (its directory is read-only). */
  readOnly: boolean;
}

/**
 * Takes the registry's connection to the queue at `path`, which must exist:
 * a missing file, an empty one or a database without GigQ's tables is a
 * {@linkcode NoQueueError}, and nothing is created or changed.
 *
 * Where the directory (or file system) is read-only, SQLite cannot create
 * the `-wal` and `-shm` files WAL mode needs. With `readOnlyFallback`, when
 * there is no WAL or an empty one, every commit is in the database file
 * itself and no process can be writing to it (a writer would have created
 * the WAL), so the file is read as it is, through an `immutable=1` URI. A
 * WAL that holds commits cannot be read without its `-shm` file: that is a
 * {@linkcode ReadOnlyQueueError} (an immutable read would silently miss
 * those commits). So is the `node` driver without every permission, where
 * Deno's `node:sqlite` takes no URI.
 */
export function acquireExisting(
  path: string,
  options: ConnectionOptions,
  readOnlyFallback: boolean,
): ExistingQueue {
  const special = path === ":memory:" || path.startsWith("file:");
  if (!special) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw new NoQueueError(path, "missing");
      throw error;
    }
    if (info.isDirectory) {
      throw new SqliteError(
        `Cannot open ${q(path)}: it is a directory, not a database file`,
        SQLITE_CANTOPEN,
      );
    }
  }
  try {
    return { conn: acquireQueue(path, path, options), readOnly: false };
  } catch (error) {
    if (special || !isReadOnlyDirectory(path, error)) throw error;
    if ((sizeOf(`${path}-wal`) ?? 0) > 0) {
      throw new ReadOnlyQueueError(
        path,
        "wal",
        `Cannot read ${q(path)}: its directory is read-only, and ${q(`${path}-wal`)} holds ` +
          `commits that SQLite can read only by creating ${q(`${path}-shm`)} beside it (WAL ` +
          `mode needs a writable directory); make the directory writable, or open it as a user ` +
          `who can write to it`,
      );
    }
    if (!readOnlyFallback) throw error;
    if ((options.driver ?? "node") === "node" && !allGranted()) {
      throw new ReadOnlyQueueError(
        path,
        "permissions",
        `Cannot read ${q(path)}: its directory (or file system) is read-only, so SQLite cannot ` +
          `create the -wal and -shm files WAL mode needs; SQLite can read the file as it is ` +
          `(immutable), but Deno's node:sqlite opens it that way only when every permission is ` +
          `granted (--allow-all): use the "ffi" driver (with --allow-ffi), or grant every ` +
          `permission`,
      );
    }
    const uri = `${pathToFileURL(path).href}?immutable=1`;
    return { conn: acquireQueue(path, uri, options), readOnly: true };
  }
}
