/**
 * The one small interface every SQLite driver implements. Nothing outside
 * `src/sqlite/` touches a SQLite API directly.
 *
 * @module
 */

/** A value SQLite can bind or return. Booleans and `undefined` are not allowed. */
export type SqlValue = null | number | bigint | string | Uint8Array;

/** A row read as an object keyed by column name. */
export type SqlRow = Record<string, SqlValue>;

/**
 * The SQLite drivers GigQ ships:
 * - `"node"`: Deno's built-in `node:sqlite` (bundled SQLite, no `--allow-ffi`);
 * - `"ffi"`: the system SQLite library through `Deno.dlopen`.
 */
export type DriverName = "node" | "ffi";

/** The drivers, in the order they are documented. */
export const DRIVERS: readonly DriverName[] = ["node", "ffi"];

/** What `Statement.run` reports. */
export interface RunResult {
  /** Rows changed by the statement. */
  changes: number;
  /** The rowid of the last inserted row. */
  lastInsertRowid: number;
}

/**
 * A prepared statement, prepared once per connection and reused.
 *
 * @example Run a prepared statement
 * ```ts ignore
 * const stmt = conn.prepare("SELECT count(*) AS n FROM gigq_jobs WHERE status = ?");
 * const row = stmt.get("pending"); // { n: 3 }
 * ```
 */
export interface Statement {
  /** Executes the statement and reports the changes. */
  run(...params: SqlValue[]): RunResult;
  /** The first row as an object, or `undefined` when there is none. */
  get(...params: SqlValue[]): SqlRow | undefined;
  /** Every row as an object. */
  all(...params: SqlValue[]): SqlRow[];
  /** Every row as an array of column values (faster than objects on hot paths). */
  values(...params: SqlValue[]): SqlValue[][];
}

/** Settings applied when a connection opens. */
export interface OpenOptions {
  /**
   * `PRAGMA synchronous`. `"NORMAL"` in WAL mode never corrupts the file and
   * loses at most the last transactions on power loss; `"FULL"` syncs every commit.
   *
   * @default {"NORMAL"}
   */
  synchronous?: "NORMAL" | "FULL";
  /**
   * Milliseconds SQLite itself waits for a lock (`PRAGMA busy_timeout`). It blocks
   * the event loop while it waits, so GigQ keeps it short and retries busy
   * transactions asynchronously instead.
   *
   * @default {25}
   */
  busyTimeout?: number;
  /**
   * Called after `busy_timeout` is set and before anything can change the
   * file (WAL mode rewrites the header), so a caller can refuse a file it
   * must not touch. Throwing closes the connection and fails the open.
   */
  inspect?: (conn: Connection) => void;
}

/**
 * An open SQLite database. Obtain one from the connection registry
 * ({@linkcode getConnection}) rather than opening it directly.
 *
 * @example Use the registry's connection for the queue file
 * ```ts ignore
 * import { getConnection } from "@gigq/gigq";
 * const conn = getConnection("jobs.db");
 * const n = conn.prepare("SELECT count(*) AS n FROM gigq_jobs").get()?.n;
 * ```
 */
export interface Connection extends Disposable {
  /** The path the connection was opened with (absolute for files). */
  readonly path: string;
  /** Which driver opened it. */
  readonly driver: DriverName;
  /** The version of the SQLite library behind this connection. */
  readonly sqliteVersion: string;
  /** False once {@linkcode Connection.close} has run. */
  readonly isOpen: boolean;
  /** True while a transaction is open on this connection. */
  readonly inTransaction: boolean;
  /** Runs one or more statements without parameters. */
  exec(sql: string): void;
  /** Returns the connection's prepared statement for `sql`, preparing it on first use. */
  prepare(sql: string): Statement;
  /**
   * Runs `fn` inside a transaction (`BEGIN IMMEDIATE` for `"write"`, `BEGIN`
   * for `"read"`), commits, and returns its result; rolls back if it throws.
   * `fn` must be synchronous: a transaction is never held across an `await`.
   */
  transaction<T>(fn: () => T, mode?: "write" | "read"): T;
  /**
   * Writes a consistent copy of the database to `path`, a new file, from one
   * read transaction: it holds every commit made before the copy began, and
   * other connections keep writing meanwhile. The `ffi` driver uses
   * `VACUUM INTO`; the `node` driver uses SQLite's online backup (copying
   * every page in one step), because Deno's `node:sqlite` refuses the
   * attached database `VACUUM INTO` writes unless every permission is granted.
   *
   * @example Back up the queue file
   * ```ts ignore
   * await getConnection("jobs.db").backupTo("/backups/jobs.db");
   * ```
   */
  backupTo(path: string): Promise<void>;
  /** Finalizes every statement and closes the database. Safe to call twice. */
  close(): void;
}

/** SQLite's primary result codes that mean "another connection holds a lock". */
const BUSY_CODES = new Set([5, /* SQLITE_BUSY */ 6 /* SQLITE_LOCKED */]);

/** SQLite's primary result code for a write to a read-only database. */
const SQLITE_READONLY = 8;

/** SQLite's primary result code for a write that found the disk full. */
const SQLITE_FULL = 13;

/**
 * An error reported by SQLite. `code` is SQLite's extended result code; the
 * same failure is reported with the same class by every driver.
 *
 * @example Tell a lock timeout from other failures
 * ```ts ignore
 * try { conn.exec("BEGIN IMMEDIATE"); } catch (e) {
 *   if (e instanceof SqliteError && e.busy) console.log("database is locked");
 * }
 * ```
 */
export class SqliteError extends Error {
  /** SQLite's extended result code (for example 5 = SQLITE_BUSY, 517 = SQLITE_BUSY_SNAPSHOT). */
  readonly code: number;

  /**
   * Creates the error.
   *
   * @param message what SQLite said
   * @param code SQLite's extended result code
   * @param options the underlying error, if any
   */
  constructor(message: string, code: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "SqliteError";
    this.code = code;
  }

  /** True when the error means the database was locked by another connection. */
  get busy(): boolean {
    return BUSY_CODES.has(this.code & 0xff);
  }

  /**
   * True when the error means the file (or its directory) cannot be written
   * (SQLITE_READONLY).
   *
   * @example
   * ```ts ignore
   * try { await queue.submit(job); } catch (e) {
   *   if (e instanceof SqliteError && e.readOnly) console.log("the queue file is read-only");
   * }
   * ```
   */
  get readOnly(): boolean {
    return (this.code & 0xff) === SQLITE_READONLY;
  }

  /**
   * True when the error means a write found the disk full (SQLITE_FULL); the
   * transaction was rolled back.
   *
   * @example
   * ```ts ignore
   * try { await queue.submit(job); } catch (e) {
   *   if (e instanceof SqliteError && e.diskFull) console.log("no space left for the queue");
   * }
   * ```
   */
  get diskFull(): boolean {
    return (this.code & 0xff) === SQLITE_FULL;
  }
}

/** True when `error` is SQLite reporting a lock held elsewhere. */
export function isBusy(error: unknown): boolean {
  return error instanceof SqliteError && error.busy;
}

/** Checks open options, throwing a `RangeError` that names a bad value. */
export function checkOpenOptions(options: OpenOptions): void {
  const busy = options.busyTimeout ?? 25;
  const sync = options.synchronous ?? "NORMAL";
  if (typeof busy !== "number" || !Number.isInteger(busy) || busy < 0) {
    throw new RangeError(
      `Cannot open database: busyTimeout must be a whole number of milliseconds >= 0, got ${busy}`,
    );
  }
  if (sync !== "NORMAL" && sync !== "FULL") {
    throw new RangeError(
      `Cannot open database: synchronous must be "NORMAL" or "FULL", got ${JSON.stringify(sync)}`,
    );
  }
}

/**
 * Applies GigQ's pragmas to a just-opened connection: `busy_timeout`, then
 * `options.inspect`, then WAL, `synchronous` and `foreign_keys`. Every driver
 * calls this at the end of opening.
 */
export function applyPragmas(conn: Connection, options: OpenOptions): void {
  checkOpenOptions(options);
  // Opening can meet a lock the short timeout would not wait out: the first
  // reader after a crash recovers the WAL under an exclusive lock, and every
  // other opener gets SQLITE_BUSY meanwhile (seen when workers were SIGKILLed
  // and restarted). So wait longer while opening, once, then settle on the
  // configured timeout.
  conn.prepare(`PRAGMA busy_timeout = ${Math.max(options.busyTimeout ?? 25, OPEN_BUSY_MS)}`)
    .values();
  options.inspect?.(conn);
  const mode = conn.prepare("PRAGMA journal_mode = WAL").values()[0]?.[0];
  // An immutable file (a `file:` URI with immutable=1, for reading a queue in
  // a read-only directory) is read as it is, without a WAL.
  if (mode !== "wal" && mode !== "memory" && !isImmutableUri(conn.path)) {
    throw new SqliteError(
      `Cannot use ${JSON.stringify(conn.path)}: could not switch it to WAL mode (got ${
        JSON.stringify(mode)
      })`,
      1,
    );
  }
  conn.prepare(`PRAGMA synchronous = ${options.synchronous ?? "NORMAL"}`).values();
  conn.prepare("PRAGMA foreign_keys = ON").values();
  conn.prepare(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`).values();
  conn.prepare(`PRAGMA busy_timeout = ${options.busyTimeout ?? 25}`).values();
}

/** True for a `file:` URI that opens the database immutable (`immutable=1`). */
export function isImmutableUri(path: string): boolean {
  if (!path.startsWith("file:")) return false;
  const query = path.indexOf("?");
  if (query < 0) return false;
  const params = new URLSearchParams(path.slice(query + 1).split("#")[0]);
  return params.get("immutable") === "1";
}

/**
 * Bytes the WAL file is cut back to when it restarts (`PRAGMA
 * journal_size_limit`). Under steady writes from several processes the WAL
 * can grow to hundreds of MiB before a checkpoint catches up; without a limit
 * the file keeps that size for as long as any connection stays open. The WAL
 * normally stays near 4 MiB (SQLite checkpoints every 1,000 pages), so this
 * costs nothing until a burst.
 */
export const WAL_SIZE_LIMIT = 32 * 1024 * 1024;

/** How long opening a connection waits for a lock, in milliseconds. */
export const OPEN_BUSY_MS = 5_000;
