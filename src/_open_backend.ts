/**
 * Where a queue lives, from what the user gave: the one core file that knows
 * which backends exist (and so imports their folders).
 *
 * @module
 */
import type { Backend, BackendSpec, OpenMode } from "./_backend.ts";
import { releaseSqliteToken, SqliteBackend } from "./sqlite/backend.ts";
import { closeConnections, resolveDbPath } from "./sqlite/registry.ts";

/** The SQLite error classes the core passes on (a Web Worker's errors, rebuilt in its parent). */
export { SqliteError } from "./sqlite/connection.ts";
export { SchemaError } from "./sqlite/schema.ts";

/** The SQLite types the core's public options and transactions name. */
export type { Connection, DriverName } from "./sqlite/connection.ts";
export type { ConnectionOptions } from "./sqlite/registry.ts";

/** What JobQueue, Worker and WorkerPool take besides the path. */
export interface StorageOptions {
  driver?: "node" | "ffi";
  synchronous?: "NORMAL" | "FULL";
  busyTimeout?: number;
}

/** The spec of the queue at `path` (a database file, `:memory:` or a `file:` URI). */
export function backendSpec(path: string, options: StorageOptions = {}): BackendSpec {
  return {
    kind: "sqlite",
    path: resolveDbPath(path),
    driver: options.driver ?? "node",
    synchronous: options.synchronous,
    busyTimeout: options.busyTimeout,
  };
}

/** Opens the backend a spec describes (in this isolate), creating what is missing unless `mode` says not to. */
export function openBackend(spec: BackendSpec, mode?: OpenMode): Backend {
  return new SqliteBackend(spec, mode);
}

/** Frees, from a Web Worker's parent, what a terminated Web Worker's backend left open. */
export function releaseBackendToken(spec: BackendSpec, token: string): void {
  if (spec.kind === "sqlite") releaseSqliteToken(token);
}

/** Closes every backend connection this isolate holds (a Web Worker, before it ends). */
export function closeAllBackends(): void {
  closeConnections();
}
