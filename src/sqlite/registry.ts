/**
 * The connection registry: one per isolate. Every `JobQueue` and `Worker` in
 * an isolate that names the same file (by any path, symlink or hard link)
 * shares one SQLite connection; each Web Worker has its own registry, so its
 * own connection (its own FFI handle with the `ffi` driver). Inside a Web
 * Worker the registry closes its connections before `self.close()` takes
 * effect, because Deno fires no event there.
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
import { basename, dirname, join, resolve } from "node:path";
import { DriverConflictError } from "../errors.ts";
import { runClosers } from "../_closers.ts";
import { checkDatabase } from "./schema.ts";
import type { Connection, DriverName } from "./connection.ts";
import { openConnection } from "./open.ts";

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
  /** The file's identity, its key in `entries` (see `fileKey`). */
  key: string;
  /** The environment variable telling other isolates this one has the file open. */
  marker: string | undefined;
}

/** This isolate's connections, by the identity of their file. */
const entries = new Map<string, Entry>();
/** The entry of each connection, for releaseConnection. */
const entryOf = new WeakMap<Connection, Entry>();
/** The identity each path that named an open connection was last found to have. */
const identityOf = new Map<string, string>();

/**
 * The absolute path a queue or worker reports as its `.path`: `jobs.db` and
 * `./jobs.db` give the same one. `:memory:` and `file:` URIs are kept as
 * given. Connections are shared by file identity, not by this path, so a
 * symlink and its target share one too.
 *
 * @example
 * ```ts ignore
 * console.log(resolveDbPath("jobs.db")); // e.g. "/home/me/app/jobs.db"
 * ```
 *
 * @param path the database file or `":memory:"`
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

function special(path: string): boolean {
  return path === ":memory:" || path.startsWith("file:");
}

function mayRead(path: string): boolean {
  try {
    // Asking first: a plain stat without the permission would prompt on a terminal.
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

interface Identity {
  /** `inode:<device>:<inode>` once the file exists; before, its real path. */
  key: string;
  /** When the file was created (ms since the epoch), if the system says. */
  born: number | undefined;
}

/**
 * What every name of the file at `abs` has in common: its device and inode
 * once it exists (so symlinks, hard links and symlinked directories agree),
 * before that the real path of its directory plus its name. One stat; `abs`
 * itself when the file cannot be looked at (no read permission).
 */
function fileKey(abs: string): Identity {
  if (special(abs) || !mayRead(abs)) return { key: abs, born: undefined };
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(abs);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return { key: abs, born: undefined };
    const dir = dirname(abs);
    try {
      return {
        key: mayRead(dir) ? join(Deno.realPathSync(dir), basename(abs)) : abs,
        born: undefined,
      };
    } catch {
      return { key: abs, born: undefined }; // no such directory: opening will say so
    }
  }
  const born = info.birthtime?.getTime();
  if (info.ino !== null) return { key: `inode:${info.dev}:${info.ino}`, born };
  try {
    return { key: Deno.realPathSync(abs), born };
  } catch {
    return { key: abs, born };
  }
}

// Across the Web Workers of a process, each isolate that has a file open
// records it in an environment variable of its own, GIGQ_DRIVER_<hash of the
// file's identity>_<isolate>, holding a Marker as JSON. Only the owner writes
// or removes it, so no update of a shared value can lose another's record.
interface Marker {
  pid: number;
  driver: DriverName;
  key: string;
  path: string;
  /** "opening" from before the open until it succeeded, then "open". */
  state: "opening" | "open";
  /** The file's creation time when it was opened, to tell a reused inode number. */
  born?: number;
}

const isolate = [...crypto.getRandomValues(new Uint8Array(6))]
  .map((b) => b.toString(16).padStart(2, "0")).join("");

function markerPrefix(key: string): string {
  // FNV-1a of the identity: environment variable names cannot hold arbitrary paths.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return `GIGQ_DRIVER_${h.toString(16).padStart(8, "0")}_`;
}

function mayUseEnv(): boolean {
  try {
    return Deno.permissions.querySync({ name: "env" }).state === "granted";
  } catch {
    return false;
  }
}

function readMarker(value: string): Marker | undefined {
  try {
    const m = JSON.parse(value);
    return typeof m === "object" && m !== null && typeof m.pid === "number" ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether any descriptor of this process is on the file `inode:<dev>:<ino>`
 * (Linux); true when that cannot be told.
 */
function heldByProcess(key: string): boolean {
  const [, dev, ino] = key.split(":");
  if (!mayRead("/proc/self/fd")) return true;
  try {
    for (const fd of Deno.readDirSync("/proc/self/fd")) {
      try {
        const info = Deno.statSync(`/proc/self/fd/${fd.name}`);
        if (String(info.dev) === dev && String(info.ino) === ino) return true;
      } catch {
        // closed meanwhile, or not a file
      }
    }
    return false;
  } catch {
    return true;
  }
}

/**
 * Whether another isolate's record still stands for a connection that is
 * open. A record left by a Web Worker that was terminated (no code ran to
 * remove it) is stale once nothing in the process holds the file, or when it
 * names another file (a deleted one whose inode number a new file reuses).
 */
function live(other: Marker, id: Identity, opened: boolean): boolean {
  if (other.state !== "open" || !id.key.startsWith("inode:")) return true;
  if (id.born !== undefined && other.born !== undefined && id.born !== other.born) return false;
  // Once this isolate has the file open itself, its own descriptors count.
  return opened || heldByProcess(id.key);
}

/**
 * Records that this isolate opens (`opened` false) or has opened the file
 * `id` with `driver`, then refuses if another isolate of this process has it
 * open with the other driver. Recording before looking means two isolates
 * that open the file at once see at least one of each other. Returns the
 * variable written, or undefined without `--allow-env` (the registry alone
 * then guards, within its isolate).
 */
function mark(id: Identity, path: string, driver: DriverName, opened: boolean): string | undefined {
  if (id.key === ":memory:" || !mayUseEnv()) return undefined;
  const prefix = markerPrefix(id.key);
  const own = prefix + isolate;
  const record: Marker = {
    pid: Deno.pid,
    driver,
    key: id.key,
    path,
    state: opened ? "open" : "opening",
    born: id.born,
  };
  let env: Record<string, string>;
  try {
    Deno.env.set(own, JSON.stringify(record));
  } catch {
    return undefined; // the permission was revoked meanwhile
  }
  try {
    env = Deno.env.toObject();
  } catch {
    return own;
  }
  for (const [name, value] of Object.entries(env)) {
    if (name === own || !name.startsWith(prefix)) continue;
    const other = readMarker(value);
    // A child process inherits the variables: only this process's count.
    if (other?.pid !== Deno.pid || other.key !== id.key || other.driver === driver) continue;
    if (!live(other, id, opened)) {
      Deno.env.delete(name);
      continue;
    }
    Deno.env.delete(own);
    throw new DriverConflictError(path, other.driver, driver, other.path);
  }
  return own;
}

function unmark(marker: string | undefined): void {
  if (marker === undefined) return;
  try {
    Deno.env.delete(marker);
  } catch {
    // the permission was revoked: the record stays, refusing the other driver
  }
}

/** Removes `entry` from the registry (its connection is closed by the caller). */
function forget(entry: Entry): void {
  if (entries.get(entry.key) === entry) entries.delete(entry.key);
  for (const [path, key] of identityOf) if (key === entry.key) identityOf.delete(path);
  unmark(entry.marker);
  entry.marker = undefined;
}

function open(
  path: string,
  options: ConnectionOptions,
  inspect: (conn: Connection) => void = checkDatabase,
): Entry {
  const abs = resolveDbPath(path);
  const driver = options.driver ?? "node";
  if (driver !== "node" && driver !== "ffi") {
    throw new RangeError(
      `Cannot open ${JSON.stringify(path)}: unknown driver ${
        JSON.stringify(driver)
      }; allowed: "node", "ffi"`,
    );
  }
  const id = fileKey(abs);
  const existing = entries.get(id.key);
  if (existing !== undefined) {
    if (existing.conn.isOpen) {
      if (existing.conn.driver !== driver) {
        throw new DriverConflictError(abs, existing.conn.driver, driver, existing.conn.path);
      }
      identityOf.set(abs, id.key);
      return existing;
    }
    forget(existing); // closed directly, not through the registry
  }
  // Refuse before opening: closing a connection of the other library would
  // drop the locks of the one already open.
  let marker = mark(id, abs, driver, false);
  let conn: Connection;
  try {
    conn = openConnection(abs, driver, {
      synchronous: options.synchronous,
      busyTimeout: options.busyTimeout,
      inspect,
    });
  } catch (error) {
    unmark(marker);
    throw error;
  }
  // A file this open created has an identity now; say it is open under it.
  const now = id.key.startsWith("inode:") || special(abs) ? id : fileKey(abs);
  try {
    const opened = mark(now, abs, driver, true);
    if (opened !== marker) unmark(marker);
    marker = opened;
  } catch (error) {
    // Another isolate opened the new file with the other driver meanwhile.
    unmark(marker);
    conn.close();
    throw error;
  }
  const entry: Entry = { conn, users: 0, pinned: false, key: now.key, marker };
  entries.set(now.key, entry);
  entryOf.set(conn, entry);
  identityOf.set(abs, now.key);
  return entry;
}

/**
 * This isolate's connection to the file at `path`, opening it on first use.
 * Every name of one file (relative or absolute, a symlink, a hard link, a
 * path through a symlinked directory) gives the same connection until it is
 * closed. Refuses, with a `DriverConflictError`, a driver other than the one
 * the file is already open with in this process.
 *
 * @example Run a query on the queue's own connection
 * ```ts ignore
 * import { getConnection } from "@gigq/gigq";
 * const conn = getConnection("jobs.db", { driver: "node" });
 * console.log(conn.prepare("SELECT count(*) AS n FROM gigq_jobs").get());
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

function entryFor(path: string): Entry | undefined {
  const abs = resolveDbPath(path);
  const entry = entries.get(fileKey(abs).key);
  if (entry !== undefined) return entry;
  // The file may have been deleted or replaced since: find it by the name it opened under.
  for (const e of entries.values()) if (e.conn.path === abs) return e;
  return undefined;
}

/**
 * Closes and forgets this isolate's connection to the file at `path` (under
 * any of its names). Queues and workers that used it reopen a fresh one on
 * their next operation. Returns whether a connection was open.
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
  const entry = entryFor(path);
  if (entry === undefined) return false;
  forget(entry);
  const wasOpen = entry.conn.isOpen;
  entry.conn.close();
  return wasOpen;
}

/**
 * Closes every connection this isolate's registry holds (and every
 * PostgreSQL client, whose sockets close soon after). Call it before a Web
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
  for (const entry of [...entries.values()]) {
    forget(entry);
    if (entry.conn.isOpen) closed++;
    entry.conn.close();
  }
  // And the PostgreSQL clients, when that backend was loaded.
  return closed + runClosers();
}

/** The number of open connections in this isolate's registry. */
export function openConnectionCount(): number {
  let n = 0;
  for (const entry of entries.values()) if (entry.conn.isOpen) n++;
  return n;
}

/**
 * Takes a counted reference to the connection for `path` (JobQueue, Worker).
 * `inspect` looks at a file this call opens before anything can change it
 * (see `OpenOptions.inspect`); a connection already open is not inspected.
 */
export function acquireConnection(
  path: string,
  options: ConnectionOptions = {},
  inspect: (conn: Connection) => void = checkDatabase,
): Connection {
  const entry = open(path, options, inspect);
  entry.users++;
  return entry.conn;
}

/**
 * Drops a reference taken with {@linkcode acquireConnection}; the connection
 * closes when nothing else in the isolate uses it.
 */
export function releaseConnection(conn: Connection): void {
  const entry = entryOf.get(conn);
  if (entry === undefined || entries.get(entry.key) !== entry) return;
  entry.users--;
  if (entry.users <= 0 && !entry.pinned) {
    forget(entry);
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
  const key = identityOf.get(path) ?? path;
  let set = commitListeners.get(key);
  if (set === undefined) commitListeners.set(key, set = new Set());
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0) commitListeners.delete(key);
  };
}

/** Tells this isolate's workers on `path` that new work was committed. */
export function notifyLocalCommit(path: string): void {
  const set = commitListeners.get(identityOf.get(path) ?? path);
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
