/**
 * GigQ on PostgreSQL: the same `JobQueue`, `Worker` and `WorkerPool`, given
 * a `postgres://` (or `postgresql://`) URL instead of a file. This module
 * only builds that URL from options; the backend and its npm client
 * (`postgres`) load when the first queue on a URL opens, so a program that
 * uses SQLite only never downloads them.
 *
 * Each queue lives in one schema of the database (`gigq` unless told),
 * created with its tables on first use. Deno needs `--allow-net` for the
 * server and `--allow-env` (the client reads the `PG…` variables).
 *
 * @example A queue and a worker on PostgreSQL
 * ```ts ignore
 * import { JobQueue, task, Worker } from "@gigq/gigq";
 * import { postgres } from "@gigq/gigq/postgres";
 *
 * const greet = task("greet", (p: { name: string }) => `Hello, ${p.name}!`);
 * const db = postgres("postgres://app@db.internal:5432/app", { schema: "jobs", max: 4 });
 * const queue = new JobQueue(db);
 * await greet.submit(queue, { name: "Ada" });
 * const worker = new Worker(db, { tasks: [greet] });
 * await worker.processOne();
 * worker.close();
 * queue.close();
 * ```
 *
 * @module
 */
import { backendSpec, isPostgresUrl, specTarget } from "./src/_open_backend.ts";
import { knownKeys } from "./src/_validate.ts";
import { describe } from "./src/job_status.ts";

/** Options for {@linkcode postgres}. */
export interface PostgresOptions {
  /**
   * The schema that holds the queue's tables: a lower-case name of
   * letters, digits and `_`. Two schemas in one database are two queues.
   *
   * @default {"gigq", or the URL's ?schema=}
   */
  schema?: string;
  /**
   * The most connections each isolate's client opens to the server (each
   * Web Worker of a pool has its own client).
   *
   * @default {10, or the URL's ?max=}
   */
  max?: number;
}

/**
 * The URL of the queue in `options.schema` of the PostgreSQL database at
 * `url`, for `new JobQueue(…)`, `new Worker(…)` and `new WorkerPool(…)` (and
 * the CLI's `--db`). The options replace the URL's own `?schema=` and
 * `?max=`; every other parameter goes to the client as given. A bad URL or
 * option is refused at once, naming it.
 *
 * @example
 * ```ts ignore
 * const db = postgres("postgresql://worker:secret@10.0.0.5/app", { schema: "mail" });
 * // "postgresql://worker:secret@10.0.0.5/app?schema=mail"
 * ```
 *
 * @param url a `postgres://` or `postgresql://` connection URL
 * @param options the schema and the connection limit
 */
export function postgres(url: string, options: PostgresOptions = {}): string {
  const context = "Cannot make a PostgreSQL queue URL";
  if (!isPostgresUrl(url)) {
    const given: unknown = url;
    throw new TypeError(
      `${context}: expected a postgres:// or postgresql:// URL, got ${
        typeof given === "string"
          ? JSON.stringify(given.replace(/:[^:@/]*@/, ":…@"))
          : describe(given)
      }`,
    );
  }
  knownKeys(context, options ?? {}, ["schema", "max"]);
  const q = url.indexOf("?");
  const params = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
  if (options.schema !== undefined) {
    if (typeof options.schema !== "string") {
      throw new TypeError(`${context}: schema must be a string, got ${describe(options.schema)}`);
    }
    params.set("schema", options.schema);
  }
  if (options.max !== undefined) {
    if (typeof options.max !== "number") {
      throw new TypeError(`${context}: max must be a number, got ${describe(options.max)}`);
    }
    params.set("max", String(options.max));
  }
  const rest = params.toString();
  const base = q < 0 ? url : url.slice(0, q);
  return specTarget(backendSpec(rest === "" ? base : `${base}?${rest}`)).target;
}
