/**
 * The `"ffi"` driver: the system SQLite library called through `Deno.dlopen`.
 * Needs `--allow-ffi` (plus read/write access to the database file). The library
 * is loaded lazily, once per isolate, on the first open: importing this module
 * needs no permission at all.
 *
 * @module
 */
import {
  applyPragmas,
  checkOpenOptions,
  type Connection,
  type OpenOptions,
  type RunResult,
  SqliteError,
  type SqlRow,
  type SqlValue,
  type Statement,
} from "./connection.ts";
import { explainOpenError } from "./_file_errors.ts";
import { runTransaction, type TransactionStatements } from "./_transaction.ts";

/** Every SQLite function the driver calls, declared in one place. */
const SYMBOLS = {
  sqlite3_open_v2: { parameters: ["buffer", "buffer", "i32", "pointer"], result: "i32" },
  sqlite3_close_v2: { parameters: ["pointer"], result: "i32" },
  sqlite3_extended_result_codes: { parameters: ["pointer", "i32"], result: "i32" },
  sqlite3_errmsg: { parameters: ["pointer"], result: "pointer" },
  sqlite3_errstr: { parameters: ["i32"], result: "pointer" },
  sqlite3_extended_errcode: { parameters: ["pointer"], result: "i32" },
  sqlite3_exec: {
    parameters: ["pointer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  sqlite3_prepare_v2: {
    parameters: ["pointer", "buffer", "i32", "buffer", "pointer"],
    result: "i32",
  },
  sqlite3_next_stmt: { parameters: ["pointer", "pointer"], result: "pointer" },
  sqlite3_step: { parameters: ["pointer"], result: "i32" },
  sqlite3_reset: { parameters: ["pointer"], result: "i32" },
  sqlite3_clear_bindings: { parameters: ["pointer"], result: "i32" },
  sqlite3_finalize: { parameters: ["pointer"], result: "i32" },
  sqlite3_bind_parameter_count: { parameters: ["pointer"], result: "i32" },
  sqlite3_bind_null: { parameters: ["pointer", "i32"], result: "i32" },
  // For numbers in 32-bit range: Deno's fast call path takes a bigint for an
  // i64 parameter and falls back to a slow call (~10x) when given a number.
  sqlite3_bind_int: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  sqlite3_bind_int64: { parameters: ["pointer", "i32", "i64"], result: "i32" },
  sqlite3_bind_double: { parameters: ["pointer", "i32", "f64"], result: "i32" },
  // The last parameter is the destructor; -1 is SQLITE_TRANSIENT (SQLite copies the bytes).
  sqlite3_bind_text: { parameters: ["pointer", "i32", "buffer", "i32", "isize"], result: "i32" },
  sqlite3_bind_blob: { parameters: ["pointer", "i32", "buffer", "i32", "isize"], result: "i32" },
  sqlite3_column_count: { parameters: ["pointer"], result: "i32" },
  sqlite3_column_name: { parameters: ["pointer", "i32"], result: "pointer" },
  sqlite3_column_type: { parameters: ["pointer", "i32"], result: "i32" },
  sqlite3_column_int64: { parameters: ["pointer", "i32"], result: "i64" },
  sqlite3_column_double: { parameters: ["pointer", "i32"], result: "f64" },
  sqlite3_column_text: { parameters: ["pointer", "i32"], result: "pointer" },
  sqlite3_column_blob: { parameters: ["pointer", "i32"], result: "pointer" },
  sqlite3_column_bytes: { parameters: ["pointer", "i32"], result: "i32" },
  sqlite3_changes: { parameters: ["pointer"], result: "i32" },
  sqlite3_last_insert_rowid: { parameters: ["pointer"], result: "i64" },
  sqlite3_libversion: { parameters: [], result: "pointer" },
  sqlite3_get_autocommit: { parameters: ["pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const SQLITE_OK = 0;
const SQLITE_MISUSE = 21;
const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const SQLITE_INTEGER = 1;
const SQLITE_FLOAT = 2;
const SQLITE_TEXT = 3;
const SQLITE_BLOB = 4;
const SQLITE_OPEN_READWRITE = 0x2;
const SQLITE_OPEN_CREATE = 0x4;
/** Takes a `file:` name as a URI (`?immutable=1`), whatever the library's build defaults. */
const SQLITE_OPEN_URI = 0x40;
/**
 * Serialized mode: SQLite takes the connection's mutex in every call. One
 * isolate is one thread, so NOMUTEX would do for normal use, but
 * {@linkcode closeHandle} closes a connection from another thread (the one of
 * a terminated Web Worker, which may still be finishing a call when
 * `terminate()` returns); the mutex makes a close that overlaps an in-flight
 * call wait for it instead of freeing memory under it. An uncontended mutex
 * costs nanoseconds per call (no difference beyond noise in our benchmark).
 */
const SQLITE_OPEN_FULLMUTEX = 0x10000;
/** SQLITE_TRANSIENT: SQLite copies bound text and blobs, so our buffers can be reused. */
const TRANSIENT = -1n;
const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;
const TWO_POW_53 = 2 ** 53;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Pointer out-parameter (sqlite3** / sqlite3_stmt**), reused by every call. */
const outPointer = new BigUint64Array(1);
/**
 * Reused buffer for bound strings. Never empty: Deno passes a zero-length
 * `Uint8Array` as a NULL pointer, which SQLite would bind as NULL, not ''.
 */
let textBuffer = new Uint8Array(4096);
/** Reused buffer for reading non-ASCII text. */
let readBuffer = new Uint8Array(4096);
/** A non-NULL pointer for binding a zero-length blob (a zero-length view of a real buffer). */
const EMPTY_BYTES = new Uint8Array(8).subarray(0, 0);

let sym: Symbols;
let loadedPath: string | undefined;

/** The library names to try, in order. */
function candidates(): { paths: string[]; fromEnv: boolean } {
  const env = Deno.permissions.querySync({ name: "env", variable: "GIGQ_SQLITE_PATH" });
  if (env.state === "granted") {
    const path = Deno.env.get("GIGQ_SQLITE_PATH");
    // An explicit choice is honoured or fails loudly; no silent fallback.
    if (path) return { paths: [path], fromEnv: true };
  }
  switch (Deno.build.os) {
    case "darwin":
      return {
        paths: [
          "/opt/homebrew/opt/sqlite/lib/libsqlite3.dylib",
          "/usr/local/opt/sqlite/lib/libsqlite3.dylib",
          "libsqlite3.dylib",
          "/usr/lib/libsqlite3.dylib",
        ],
        fromEnv: false,
      };
    case "windows":
      return { paths: ["sqlite3.dll", "winsqlite3.dll"], fromEnv: false };
    default:
      return { paths: ["libsqlite3.so.0", "libsqlite3.so"], fromEnv: false };
  }
}

function installHint(): string {
  switch (Deno.build.os) {
    case "darwin":
      return "brew install sqlite";
    case "windows":
      return "put sqlite3.dll on the PATH";
    default:
      return "apt-get install libsqlite3-0";
  }
}

/** A library file name the user may recognise, for this system. */
function exampleName(): string {
  switch (Deno.build.os) {
    case "darwin":
      return "libsqlite3.dylib";
    case "windows":
      return "sqlite3.dll";
    default:
      return "libsqlite3.so.0";
  }
}

/**
 * Why `Deno.dlopen(path)` failed, without what the caller already says: Deno
 * wraps the loader's text ("Could not open library: Could not open library:
 * PATH: reason"), which would repeat the path and the failure.
 */
function loadReason(path: string, error: unknown): string {
  let text = error instanceof Error ? error.message : String(error);
  const at = text.lastIndexOf(`${path}: `);
  if (at >= 0) text = text.slice(at + path.length + 2);
  while (text.startsWith("Could not open library: ")) {
    text = text.slice("Could not open library: ".length);
  }
  return text.trim();
}

/** Loads the SQLite library once per isolate and returns its functions. */
function load(): Symbols {
  if (loadedPath !== undefined) return sym;
  const { paths, fromEnv } = candidates();
  const failures: { path: string; reason: string }[] = [];
  for (const path of paths) {
    try {
      sym = Deno.dlopen(path, SYMBOLS).symbols;
      loadedPath = path;
      return sym;
    } catch (error) {
      if (
        error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ) {
        throw new Error(
          `Cannot load SQLite: the "ffi" driver needs --allow-ffi, got no FFI permission ` +
            `for ${JSON.stringify(path)} ` +
            `(run with --allow-ffi, or use the "node" driver, which needs none)`,
          { cause: error },
        );
      }
      failures.push({ path, reason: loadReason(path, error) });
    }
  }
  if (fromEnv) {
    const [{ path, reason }] = failures;
    throw new Error(
      `Cannot load SQLite from GIGQ_SQLITE_PATH=${JSON.stringify(path)}: ${reason} ` +
        `(point GIGQ_SQLITE_PATH at a SQLite library such as ${exampleName()}, or unset it ` +
        `to search the usual places)`,
    );
  }
  // One reason shared by every name is said once.
  const reasons = new Set(failures.map((f) => f.reason));
  const tried = reasons.size === 1
    ? `${failures.map((f) => f.path).join(", ")}: ${[...reasons][0]}`
    : failures.map((f) => `${f.path} (${f.reason})`).join(", ");
  throw new Error(
    `Cannot load SQLite: no SQLite library found; tried ${tried} ` +
      `(install SQLite, e.g. ${installHint()}, or set GIGQ_SQLITE_PATH to the library's path)`,
  );
}

/**
 * Returns the path of the SQLite library the `"ffi"` driver uses in this
 * isolate (as it was passed to `Deno.dlopen`), loading the library if needed.
 * The `GIGQ_SQLITE_PATH` environment variable, when set and readable, chooses
 * the library; otherwise the usual system locations are tried.
 *
 * @returns the library path, e.g. `"libsqlite3.so.0"`
 * @throws {Error} when no library loads, or without `--allow-ffi`
 *
 * @example Report which SQLite is used
 * ```ts ignore
 * import { sqliteLibraryPath } from "./ffi_driver.ts";
 * console.log(`SQLite: ${sqliteLibraryPath()}`);
 * ```
 */
export function sqliteLibraryPath(): string {
  load();
  return loadedPath!;
}

/**
 * Closes a connection from its raw `sqlite3*` value, as read from
 * {@linkcode FfiConnection.handle} in another isolate of this process. It
 * exists to release the handle of a terminated Web Worker: terminating a
 * worker runs no cleanup, so its connection would keep the database, `-wal`
 * and `-shm` files open (and its locks held) until the process exits. The
 * statements the worker left behind are finalized first, otherwise
 * `sqlite3_close_v2` would only mark the connection as a zombie.
 *
 * Call it only once the worker is terminated, once per handle, and only while
 * this isolate has the library loaded (call {@linkcode sqliteLibraryPath}
 * before starting the worker): the library is shared process-wide through
 * `dlopen`, so the pointer stays valid as long as the library stays mapped.
 *
 * @param handle the `sqlite3*` pointer value of a connection nobody uses anymore
 * @throws {RangeError} when `handle` is not a non-zero pointer value
 * @throws {SqliteError} when SQLite refuses to close it
 *
 * @example Release the connection of a terminated worker
 * ```ts ignore
 * import { closeHandle, sqliteLibraryPath } from "./ffi_driver.ts";
 * sqliteLibraryPath(); // keep the library mapped in this isolate
 * const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
 * const handle: bigint = await new Promise((ok) => worker.onmessage = (e) => ok(e.data));
 * worker.terminate();
 * closeHandle(handle);
 * ```
 */
export function closeHandle(handle: bigint, claim?: Int32Array<SharedArrayBuffer>): void {
  if (typeof handle !== "bigint" || handle <= 0n || handle >= 2n ** 64n) {
    throw new RangeError(
      `Cannot close a SQLite handle: expected a non-zero sqlite3* pointer value as a bigint, got ${
        typeof handle === "bigint" ? `${handle}n` : String(handle)
      }`,
    );
  }
  // The thread that opened it may have closed it itself (see shareClose).
  if (claim !== undefined && Atomics.compareExchange(claim, 0, 0, 1) !== 0) return;
  const s = load();
  const db = Deno.UnsafePointer.create(handle);
  for (let st = s.sqlite3_next_stmt(db, null); st !== null; st = s.sqlite3_next_stmt(db, null)) {
    s.sqlite3_finalize(st);
  }
  const rc = s.sqlite3_close_v2(db);
  if (rc !== SQLITE_OK) {
    throw new SqliteError(`Cannot close SQLite handle ${handle}n: ${errstr(rc)}`, rc);
  }
}

/**
 * Handles this isolate shares the closing of with another thread (a Web
 * Worker's parent, which closes the handle if the Web Worker ends without
 * doing so): whichever side first flips its claim from 0 to 1 closes it,
 * and the other leaves it alone — a handle is never closed twice.
 */
const closeClaims = new Map<bigint, Int32Array<SharedArrayBuffer>>();

/** Shares the closing of `handle` (open in this isolate) through `claim` (see closeClaims). */
export function shareClose(handle: bigint, claim: Int32Array<SharedArrayBuffer>): void {
  closeClaims.set(handle, claim);
}

/** Whether this isolate may close `handle`: it is not shared, or this isolate won its claim. */
function mayClose(handle: bigint): boolean {
  const claim = closeClaims.get(handle);
  if (claim === undefined) return true;
  closeClaims.delete(handle);
  return Atomics.compareExchange(claim, 0, 0, 1) === 0;
}

function cstring(p: Deno.PointerValue): string {
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

function errstr(code: number): string {
  return cstring(sym.sqlite3_errstr(code));
}

/** SQLite's current error on `db` as a {@linkcode SqliteError}. */
function lastError(db: Deno.PointerValue, context: string): SqliteError {
  return new SqliteError(
    `${context}: ${cstring(sym.sqlite3_errmsg(db))}`,
    sym.sqlite3_extended_errcode(db),
  );
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") {
    const name = (value as object).constructor?.name;
    return name ? `object (${name})` : "object";
  }
  return typeof value;
}

function quote(sql: string): string {
  return JSON.stringify(sql.length > 80 ? `${sql.slice(0, 80)}…` : sql);
}

/** Reads a TEXT cell. */
function readText(st: Deno.PointerValue, i: number): string {
  const p = sym.sqlite3_column_text(st, i);
  const n = sym.sqlite3_column_bytes(st, i);
  if (n === 0 || p === null) return "";
  // Fast path: getCString stops at the first NUL byte and yields at most one
  // UTF-16 unit per byte, so a result of exactly n units is the whole value.
  const s = Deno.UnsafePointerView.getCString(p);
  if (s.length === n) return s;
  if (n > readBuffer.length) readBuffer = new Uint8Array(2 ** Math.ceil(Math.log2(n)));
  const bytes = readBuffer.subarray(0, n);
  Deno.UnsafePointerView.copyInto(p, bytes);
  return decoder.decode(bytes);
}

/** Reads the cell at column `i` of the current row. */
function readCell(st: Deno.PointerValue, i: number): SqlValue {
  switch (sym.sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: {
      // Converting int64 to double is exact below 2^53, and avoids allocating
      // the BigInt that Deno returns for every i64 result.
      const d = sym.sqlite3_column_double(st, i);
      // At or beyond 2^53 in magnitude it is not a safe integer: return it exactly.
      return d > -TWO_POW_53 && d < TWO_POW_53 ? d : sym.sqlite3_column_int64(st, i);
    }
    case SQLITE_FLOAT:
      return sym.sqlite3_column_double(st, i);
    case SQLITE_TEXT:
      return readText(st, i);
    case SQLITE_BLOB: {
      const p = sym.sqlite3_column_blob(st, i);
      const n = sym.sqlite3_column_bytes(st, i);
      const out = new Uint8Array(n);
      if (n > 0 && p !== null) Deno.UnsafePointerView.copyInto(p, out);
      return out;
    }
    default:
      return null;
  }
}

/** The open database shared by a connection and its statements. */
interface Db {
  ptr: Deno.PointerValue;
  path: string;
}

class FfiStatement implements Statement {
  #db: Db;
  #sql: string;
  #st: Deno.PointerValue;
  #params: number;
  #names: string[] | undefined;

  constructor(db: Db, sql: string) {
    this.#db = db;
    this.#sql = sql;
    const bytes = encoder.encode(sql);
    const rc = sym.sqlite3_prepare_v2(db.ptr, bytes, bytes.length, outPointer, null);
    if (rc !== SQLITE_OK) throw lastError(db.ptr, `Cannot prepare ${quote(sql)}`);
    this.#st = Deno.UnsafePointer.create(outPointer[0]);
    if (this.#st === null) {
      throw new SqliteError(
        `Cannot prepare ${quote(sql)}: the SQL holds no statement, got only whitespace or comments`,
        SQLITE_MISUSE,
      );
    }
    this.#params = sym.sqlite3_bind_parameter_count(this.#st);
  }

  /** Frees the statement; later calls throw. Called by the connection's close. */
  finalize(): void {
    const st = this.#st;
    if (st === null) return;
    this.#st = null;
    sym.sqlite3_finalize(st);
  }

  run(...params: SqlValue[]): RunResult {
    const st = this.#start(params);
    let rc = sym.sqlite3_step(st);
    while (rc === SQLITE_ROW) rc = sym.sqlite3_step(st);
    if (rc !== SQLITE_DONE) this.#fail(st);
    const db = this.#db.ptr;
    const result = {
      changes: sym.sqlite3_changes(db),
      lastInsertRowid: Number(sym.sqlite3_last_insert_rowid(db)),
    };
    this.#finish(st);
    return result;
  }

  get(...params: SqlValue[]): SqlRow | undefined {
    const st = this.#start(params);
    const rc = sym.sqlite3_step(st);
    let row: SqlRow | undefined;
    if (rc === SQLITE_ROW) row = this.#object(st, this.#columns(st));
    else if (rc !== SQLITE_DONE) this.#fail(st);
    this.#finish(st);
    return row;
  }

  all(...params: SqlValue[]): SqlRow[] {
    const st = this.#start(params);
    const rows: SqlRow[] = [];
    let rc = sym.sqlite3_step(st);
    if (rc === SQLITE_ROW) {
      const names = this.#columns(st);
      do {
        rows.push(this.#object(st, names));
        rc = sym.sqlite3_step(st);
      } while (rc === SQLITE_ROW);
    }
    if (rc !== SQLITE_DONE) this.#fail(st);
    this.#finish(st);
    return rows;
  }

  values(...params: SqlValue[]): SqlValue[][] {
    const st = this.#start(params);
    const rows: SqlValue[][] = [];
    let rc = sym.sqlite3_step(st);
    if (rc === SQLITE_ROW) {
      const n = this.#columns(st).length;
      do {
        const row: SqlValue[] = new Array(n);
        for (let i = 0; i < n; i++) row[i] = readCell(st, i);
        rows.push(row);
        rc = sym.sqlite3_step(st);
      } while (rc === SQLITE_ROW);
    }
    if (rc !== SQLITE_DONE) this.#fail(st);
    this.#finish(st);
    return rows;
  }

  #object(st: Deno.PointerValue, names: string[]): SqlRow {
    // Null prototype, like node:sqlite: a column named "__proto__" stays a column.
    const row: SqlRow = Object.create(null);
    for (let i = 0; i < names.length; i++) row[names[i]] = readCell(st, i);
    return row;
  }

  /**
   * Column names, read once and re-read only if the column count changes
   * (SQLite re-prepares a statement after a schema change).
   */
  #columns(st: Deno.PointerValue): string[] {
    const n = sym.sqlite3_column_count(st);
    let names = this.#names;
    if (names === undefined || names.length !== n) {
      names = new Array(n);
      for (let i = 0; i < n; i++) names[i] = cstring(sym.sqlite3_column_name(st, i));
      this.#names = names;
    }
    return names;
  }

  /** Checks the statement is usable and binds `params`. */
  #start(params: SqlValue[]): Deno.PointerValue {
    const st = this.#st;
    if (st === null) {
      throw new SqliteError(
        `Cannot run ${quote(this.#sql)} on ${
          JSON.stringify(this.#db.path)
        }: the connection is closed`,
        SQLITE_MISUSE,
      );
    }
    const n = params.length;
    if (n !== this.#params) {
      throw new RangeError(
        `Cannot run ${quote(this.#sql)}: expected ${this.#params} parameter${
          this.#params === 1 ? "" : "s"
        }, got ${n}`,
      );
    }
    for (let i = 0; i < n; i++) {
      const value = params[i];
      let rc: number;
      if (typeof value === "number") {
        rc = (value | 0) === value
          ? sym.sqlite3_bind_int(st, i + 1, value | 0) // "| 0": Deno rejects -0 for i32
          : Number.isSafeInteger(value)
          ? sym.sqlite3_bind_int64(st, i + 1, BigInt(value))
          : sym.sqlite3_bind_double(st, i + 1, value);
      } else if (typeof value === "string") {
        rc = bindText(st, i + 1, value);
      } else if (value === null) {
        rc = sym.sqlite3_bind_null(st, i + 1);
      } else if (typeof value === "bigint") {
        if (value < MIN_INT64 || value > MAX_INT64) {
          this.#finish(st);
          // Deno would silently wrap it to 64 bits.
          throw new RangeError(
            `Cannot bind parameter ${i + 1} of ${quote(this.#sql)}: ` +
              `a bigint must fit in 64 bits, got ${value}n`,
          );
        }
        rc = sym.sqlite3_bind_int64(st, i + 1, value);
      } else if (value instanceof Uint8Array) {
        rc = value.byteLength === 0
          ? sym.sqlite3_bind_blob(st, i + 1, EMPTY_BYTES, 0, TRANSIENT)
          : sym.sqlite3_bind_blob(st, i + 1, value, value.byteLength, TRANSIENT);
      } else {
        this.#finish(st);
        throw new TypeError(
          `Cannot bind parameter ${i + 1} of ${quote(this.#sql)}: ` +
            `expected null, number, bigint, string or Uint8Array, got ${describe(value)}`,
        );
      }
      if (rc !== SQLITE_OK) this.#fail(st, `Cannot bind parameter ${i + 1} of ${quote(this.#sql)}`);
    }
    return st;
  }

  /** Resets the statement so it can run again, and drops the bound values. */
  #finish(st: Deno.PointerValue): void {
    sym.sqlite3_reset(st);
    if (this.#params !== 0) sym.sqlite3_clear_bindings(st);
  }

  /** Throws SQLite's error for the failed call, after resetting the statement. */
  #fail(st: Deno.PointerValue, context = `Cannot run ${quote(this.#sql)}`): never {
    const error = lastError(this.#db.ptr, context);
    this.#finish(st);
    throw error;
  }
}

function bindText(st: Deno.PointerValue, index: number, value: string): number {
  const length = value.length;
  // Short ASCII strings (statuses, queue names, ids) are copied by hand:
  // encodeInto costs more than the whole FFI call for them.
  if (length <= 64) {
    const buffer = textBuffer;
    let i = 0;
    for (; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) break;
      buffer[i] = c;
    }
    if (i === length) return sym.sqlite3_bind_text(st, index, buffer, length, TRANSIENT);
  }
  // UTF-8 needs at most 3 bytes per UTF-16 unit.
  if (length * 3 > textBuffer.length) {
    if (length > 1 << 16) {
      const bytes = encoder.encode(value);
      // A non-empty string never encodes to zero bytes, so this is not NULL.
      return sym.sqlite3_bind_text(st, index, bytes, bytes.length, TRANSIENT);
    }
    textBuffer = new Uint8Array(2 ** Math.ceil(Math.log2(length * 3)));
  }
  const { written } = encoder.encodeInto(value, textBuffer);
  return sym.sqlite3_bind_text(st, index, textBuffer, written, TRANSIENT);
}

/**
 * A connection through the system SQLite library (`Deno.dlopen`). Needs
 * `--allow-ffi` and read/write access to the database file. Most code should
 * use `openConnection(path, "ffi")` or the registry rather than this class.
 *
 * @example Open a queue file with the ffi driver
 * ```ts ignore
 * import { FfiConnection } from "./ffi_driver.ts";
 * using conn = new FfiConnection("jobs.db", { synchronous: "FULL" });
 * conn.exec("CREATE TABLE IF NOT EXISTS t (x INTEGER)");
 * conn.transaction(() => conn.prepare("INSERT INTO t VALUES (?)").run(1));
 * console.log(conn.prepare("SELECT count(*) AS n FROM t").get()?.n);
 * ```
 */
export class FfiConnection implements Connection {
  /** The path the connection was opened with. */
  readonly path: string;
  /** Always `"ffi"`. */
  readonly driver = "ffi" as const;
  /** The version of the loaded SQLite library, e.g. `"3.40.1"`. */
  readonly sqliteVersion: string;
  #db: Db;
  #cache = new Map<string, FfiStatement>();
  #tx: TransactionStatements;
  #inTransaction = false;

  /**
   * Opens `path` and applies GigQ's pragmas.
   *
   * @param path a file path or `":memory:"`
   * @param options pragmas to apply
   * @throws {RangeError} for bad options, before anything is opened
   * @throws {SqliteError} when SQLite cannot open the file or it is not a database
   * @throws {Error} when the SQLite library cannot be loaded
   */
  constructor(path: string, options: OpenOptions = {}) {
    checkOpenOptions(options);
    this.path = path;
    const s = load();
    const flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX |
      (path.startsWith("file:") ? SQLITE_OPEN_URI : 0);
    const rc = s.sqlite3_open_v2(encoder.encode(`${path}\0`), outPointer, flags, null);
    const ptr = Deno.UnsafePointer.create(outPointer[0]);
    const context = `Cannot open ${JSON.stringify(path)}`;
    if (rc !== SQLITE_OK || ptr === null) {
      // sqlite3_open_v2 allocates a handle even when it fails (unless out of memory).
      const error = ptr === null
        ? new SqliteError(`${context}: ${errstr(rc)}`, rc)
        : lastError(ptr, context);
      s.sqlite3_close_v2(ptr);
      throw explainOpenError(path, error);
    }
    s.sqlite3_extended_result_codes(ptr, 1);
    this.#db = { ptr, path };
    this.sqliteVersion = cstring(s.sqlite3_libversion());
    try {
      applyPragmas(this, options);
      this.#tx = {
        beginWrite: this.prepare("BEGIN IMMEDIATE"),
        beginRead: this.prepare("BEGIN"),
        commit: this.prepare("COMMIT"),
        rollback: this.prepare("ROLLBACK"),
      };
    } catch (error) {
      this.close();
      throw explainOpenError(
        path,
        error instanceof SqliteError && !error.message.includes(path)
          ? new SqliteError(`${context}: ${error.message}`, error.code, { cause: error })
          : error,
      );
    }
  }

  /** False once {@linkcode FfiConnection.close} has run. */
  get isOpen(): boolean {
    return this.#db.ptr !== null;
  }

  /**
   * True while a transaction is open: one run by
   * {@linkcode FfiConnection.transaction}, or one begun with plain SQL.
   */
  get inTransaction(): boolean {
    const ptr = this.#db.ptr;
    return this.#inTransaction || (ptr !== null && sym.sqlite3_get_autocommit(ptr) === 0);
  }

  /**
   * The raw `sqlite3*` pointer value. It exists to release the handle of a
   * terminated Web Worker: a worker posts it to its parent, which passes it to
   * {@linkcode closeHandle} after `worker.terminate()`. Do not use it otherwise.
   *
   * @example Hand the handle to the parent thread (in a worker)
   * ```ts ignore
   * const conn = new FfiConnection("jobs.db");
   * self.postMessage({ handle: conn.handle });
   * ```
   */
  get handle(): bigint {
    return Deno.UnsafePointer.value(this.#open());
  }

  #open(): Deno.PointerObject {
    const ptr = this.#db.ptr;
    if (ptr === null) {
      throw new SqliteError(
        `Cannot use ${JSON.stringify(this.path)}: the connection is closed`,
        SQLITE_MISUSE,
      );
    }
    return ptr;
  }

  /**
   * Runs one or more `;`-separated statements without parameters.
   *
   * @param sql the statements
   * @throws {SqliteError} when a statement fails; the ones before it have run
   */
  exec(sql: string): void {
    const ptr = this.#open();
    const rc = sym.sqlite3_exec(ptr, encoder.encode(`${sql}\0`), null, null, null);
    if (rc !== SQLITE_OK) throw lastError(ptr, `Cannot exec ${quote(sql)}`);
  }

  /**
   * Returns the connection's prepared statement for `sql`, preparing it on
   * first use. Only the first statement of `sql` is prepared.
   *
   * @param sql one SQL statement, with `?` placeholders
   * @throws {SqliteError} when SQLite cannot prepare it
   */
  prepare(sql: string): Statement {
    let stmt = this.#cache.get(sql);
    if (stmt === undefined) {
      this.#open();
      stmt = new FfiStatement(this.#db, sql);
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }

  /**
   * Runs `fn` inside a transaction and returns its result; rolls back if it throws.
   *
   * @param fn a synchronous function
   * @param mode `"write"` for `BEGIN IMMEDIATE`, `"read"` for `BEGIN`
   * @throws {Error} when a transaction is already open on this connection
   */
  transaction<T>(fn: () => T, mode: "write" | "read" = "write"): T {
    if (this.#inTransaction) {
      throw new Error("Cannot begin a transaction: one is already open on this connection");
    }
    this.#open();
    this.#inTransaction = true;
    try {
      return runTransaction(this.#tx, mode, fn);
    } finally {
      this.#inTransaction = false;
    }
  }

  /**
   * Writes a consistent copy of the database to the new file `path` with
   * `VACUUM INTO` (one read transaction; other connections keep writing).
   */
  backupTo(path: string): Promise<void> {
    try {
      this.prepare("VACUUM INTO ?1").run(path);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Finalizes every statement and closes the database. Safe to call twice. */
  close(): void {
    const ptr = this.#db.ptr;
    if (ptr === null) return;
    if (!mayClose(BigInt(Deno.UnsafePointer.value(ptr)))) {
      // The other side closes it (statements and all): touch nothing.
      this.#cache.clear();
      this.#db.ptr = null;
      return;
    }
    for (const stmt of this.#cache.values()) stmt.finalize();
    this.#cache.clear();
    this.#db.ptr = null;
    const rc = sym.sqlite3_close_v2(ptr);
    if (rc !== SQLITE_OK) {
      throw new SqliteError(`Cannot close ${JSON.stringify(this.path)}: ${errstr(rc)}`, rc);
    }
  }

  /** Closes the connection (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
