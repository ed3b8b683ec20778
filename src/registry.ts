/**
 * The connection registry: one per isolate. Every `JobQueue` and `Worker` in
 * an isolate that names the same file shares one SQLite connection; each Web
 * Worker has its own registry, so its own connection (its own FFI handle with
 * the `ffi` driver). Inside a Web Worker the registry closes its connections
 * before `self.close()` takes effect, because Deno fires no event there.
 *
 * @example Share one connection and close it
 * ```ts ignore
 * import { closeConnections, getConnection } from "@gigq/gigq";
 * const a = getConnection("jobs.db");
 * const b = getConnection("./jobs.db");
 * console.log(a === b); // true: one connection per file per isolate
 * closeConnections();
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { DriverConflictError } from "./errors.ts";
import { checkDatabase } from "./schema.ts";
import type { Connection, DriverName, OpenOptions } from "./sqlite/connection.ts";
import { openConnection } from "./sqlite/open.ts";

/** Options for {@linkcode getConnection}. */
export interface ConnectionOptions {
  /**
   * Which SQLite driver opens the file. A process uses one driver per file.
   *
   * @default {"node"}
   */
  driver?: DriverName;
  /**
   * `PRAGMA synchronous` in WAL mode.
   *
   * @default {"NORMAL"}
   */
  synchronous?: "NORMAL" | "FULL";
  /**
   * Milliseconds SQLite blocks waiting for a lock before GigQ's own
   * (non-blocking) retry takes over.
   *
   * @default {25}
   */
  busyTimeout?: number;
}

interface Entry {
  conn: Connection;
  users: number;
  pinned: boolean;
}

const entries = new Map<string, Entry>();

/**
 * The key a path is registered under: absolute, so `jobs.db` and `./jobs.db`
 * share a connection. `:memory:` and `file:` URIs are kept as given.
 */
export function resolveDbPath(path: string): string {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(
      `Cannot open database: path must be a non-empty string, got ${
        typeof path === "string" ? '""' : typeof path
      }`,
    );
  }
  if (path === ":memory:" || path.startsWith("file:")) return path;
  return resolve(path);
}

function processMarker(key: string): string | undefined {
  // FNV-1a of the path: environment variable names cannot hold arbitrary paths.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  const name = `GIGQ_DRIVER_${h.toString(16).padStart(8, "0")}`;
  try {
    return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted"
      ? name
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a second driver on one file in this process. Within an isolate the
 * registry knows; across the Web Workers of a process, a process-wide
 * environment variable records the driver when `--allow-env` permits it.
 * Returns a function that records the driver once the file has opened.
 */
function claimDriver(key: string, driver: DriverName): () => void {
  const existing = entries.get(key);
  if (existing !== undefined && existing.conn.driver !== driver) {
    throw new DriverConflictError(key, existing.conn.driver, driver);
  }
  if (key === ":memory:") return () => {};
  const marker = processMarker(key);
  if (marker === undefined) return () => {};
  const [pid, other] = (Deno.env.get(marker) ?? "").split(":");
  if (pid === String(Deno.pid) && other !== undefined && other !== driver) {
    throw new DriverConflictError(key, other, driver);
  }
  return () => Deno.env.set(marker, `${Deno.pid}:${driver}`);
}

function open(path: string, options: ConnectionOptions): Entry {
  const key = resolveDbPath(path);
  const driver = options.driver ?? "node";
  if (driver !== "node" && driver !== "ffi") {
    throw new RangeError(
      `Cannot open ${JSON.stringify(path)}: unknown driver ${
        JSON.stringify(driver)
      }; allowed: "node", "ffi"`,
    );
  }
  const record = claimDriver(key, driver);
  let entry = entries.get(key);
  if (entry === undefined || !entry.conn.isOpen) {
    const openOptions: OpenOptions = {
      synchronous: options.synchronous,
      busyTimeout: options.busyTimeout,
      inspect: checkDatabase,
    };
    entry = { conn: openConnection(key, driver, openOptions), users: 0, pinned: false };
    entries.set(key, entry);
    record();
  }
  return entry;
}

/**
 * This isolate's connection to `path`, opening it on first use. The same path
 * (however written) always gives the same connection until it is closed.
 * Refuses, with a `DriverConflictError`, a driver other than the one the file
 * is already open with in this process.
 *
 * @example Run a query on the queue's own connection
 * ```ts ignore
 * import { getConnection } from "@gigq/gigq";
 * const conn = getConnection("jobs.db", { driver: "node" });
 * console.log(conn.prepare("SELECT count(*) AS n FROM jobs").get());
 * ```
 *
 * @param path the database file (created if missing) or `":memory:"`
 * @param options driver and pragmas; only the first open of a file applies them
 */
export function getConnection(path: string, options: ConnectionOptions = {}): Connection {
  const entry = open(path, options);
  entry.pinned = true;
  return entry.conn;
}

/**
 * Closes and forgets this isolate's connection to `path`. Queues and workers
 * that used it reopen a fresh one on their next operation. Returns whether a
 * connection was open.
 *
 * @example
 * ```ts ignore
 * import { closeConnection } from "@gigq/gigq";
 * closeConnection("jobs.db");
 * ```
 *
 * @param path the database file
 */
export function closeConnection(path: string): boolean {
  const key = resolveDbPath(path);
  const entry = entries.get(key);
  if (entry === undefined) return false;
  entries.delete(key);
  const wasOpen = entry.conn.isOpen;
  entry.conn.close();
  return wasOpen;
}

/**
 * Closes every connection this isolate's registry holds. Call it before a Web
 * Worker ends (GigQ also does this itself when the worker calls
 * `self.close()`), or at the end of a script.
 *
 * @example
 * ```ts ignore
 * import { closeConnections } from "@gigq/gigq";
 * globalThis.addEventListener("unload", () => closeConnections());
 * ```
 */
export function closeConnections(): number {
  let closed = 0;
  for (const [key, entry] of entries) {
    entries.delete(key);
    if (entry.conn.isOpen) closed++;
    entry.conn.close();
  }
  return closed;
}

/** The number of open connections in this isolate's registry. */
export function openConnectionCount(): number {
  let n = 0;
  for (const entry of entries.values()) if (entry.conn.isOpen) n++;
  return n;
}

/** Takes a counted reference to the connection for `path` (JobQueue, Worker). */
export function acquireConnection(path: string, options: ConnectionOptions = {}): Connection {
  const entry = open(path, options);
  entry.users++;
  return entry.conn;
}

/**
 * Drops a reference taken with {@linkcode acquireConnection}; the connection
 * closes when nothing else in the isolate uses it.
 */
export function releaseConnection(conn: Connection): void {
  const entry = entries.get(conn.path);
  if (entry === undefined || entry.conn !== conn) return;
  entry.users--;
  if (entry.users <= 0 && !entry.pinned) {
    entries.delete(conn.path);
    conn.close();
  }
}

const commitListeners = new Map<string, Set<() => void>>();

/**
 * Calls `listener` whenever a queue in this isolate commits new work to
 * `path` (another connection's commits are seen through the file instead).
 * Returns the function that unsubscribes.
 */
export function onLocalCommit(path: string, listener: () => void): () => void {
  let set = commitListeners.get(path);
  if (set === undefined) commitListeners.set(path, set = new Set());
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0) commitListeners.delete(path);
  };
}

/** Tells this isolate's workers on `path` that new work was committed. */
export function notifyLocalCommit(path: string): void {
  const set = commitListeners.get(path);
  if (set === undefined) return;
  for (const listener of set) listener();
}

// Inside a Web Worker, close this isolate's connections before self.close()
// takes effect: Deno runs no code and fires no event after it.
declare const WorkerGlobalScope: (abstract new () => unknown) | undefined;
if (typeof WorkerGlobalScope !== "undefined" && globalThis instanceof WorkerGlobalScope) {
  const scope = globalThis as unknown as { close: () => void };
  const close = scope.close.bind(scope);
  scope.close = () => {
    try {
      closeConnections();
    } finally {
      close();
    }
  };
}
