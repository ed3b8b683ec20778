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
import { queueInternals } from "./src/_queue_backend.ts";
import { loadTelemetry } from "./src/_telemetry.ts";
import { knownKeys } from "./src/_validate.ts";
import type { Job } from "./src/job.ts";
import { describe } from "./src/job_status.ts";
import type { JobQueue } from "./src/queue.ts";

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

/**
 * A transaction of the npm `postgres` client (version 3): the `tx` that
 * `sql.begin(async (tx) => …)` hands its function. Only its `unsafe` method
 * is used, so any client of that package will do (its column transforms do
 * not apply to GigQ's statements).
 */
export interface PostgresTransaction {
  /** Runs one statement with parameters in the transaction. */
  unsafe(
    query: string,
    parameters?: unknown[],
    options?: { prepare?: boolean },
  ): PromiseLike<unknown>;
}

async function submitIn(
  context: string,
  tx: PostgresTransaction,
  queue: JobQueue,
  jobs: Iterable<Job>,
): Promise<string[]> {
  const lent = queueInternals(context, queue);
  if (typeof (tx as { unsafe?: unknown })?.unsafe !== "function") {
    throw new TypeError(
      `${context}: expected a transaction of the npm postgres client (the tx of ` +
        `sql.begin(async (tx) => …)), got ${describe(tx)}`,
    );
  }
  const backend = await lent.backend();
  if (backend.spec.kind !== "postgres") {
    throw new TypeError(
      `${context}: the queue is the SQLite file ${backend.spec.path}; use queue.transaction() ` +
        `there (a PostgreSQL transaction cannot hold its jobs)`,
    );
  }
  if (jobs === null || typeof (jobs as Iterable<Job>)?.[Symbol.iterator] !== "function") {
    throw new TypeError(`${context}: expected an iterable of jobs, got ${describe(jobs)}`);
  }
  const list = [...jobs];
  const insert = async (traceContext: string | undefined) => {
    const prepared = lent.prepare(list);
    if (prepared.length === 0) return [];
    await backend.insertJobsIn!({ tx, jobs: prepared, now: lent.now(), traceContext });
    return list.map((j) => j.id);
  };
  if (!lent.telemetry || list.length === 0) return await insert(undefined);
  return await (await loadTelemetry()).submit(list, insert);
}

/**
 * Submits a job inside the application's own PostgreSQL transaction, so
 * the job and the application's rows commit together, or neither: a
 * rollback leaves no job behind, and workers wake only once it commits.
 * The transaction must be on the queue's database (its schema made: the
 * queue makes it on first use); resolves to the job's id.
 *
 * @example Save an order and the job that e-mails its receipt, atomically
 * ```ts ignore
 * import postgresClient from "npm:postgres@3";
 * import { JobQueue } from "@gigq/gigq";
 * import { submitInTransaction } from "@gigq/gigq/postgres";
 *
 * const url = "postgres://app@db.internal/app";
 * const sql = postgresClient(url);
 * const queue = new JobQueue(`${url}?schema=gigq`);
 * const jobId = await sql.begin(async (tx) => {
 *   await tx`INSERT INTO orders (id, total) VALUES (42, 99.5)`;
 *   return await submitInTransaction(tx, queue, sendReceipt.toJob({ order: 42 }));
 * });
 * ```
 *
 * @param tx the open transaction (`sql.begin`'s `tx`)
 * @param queue a queue on a PostgreSQL URL of the same database
 * @param job the job to submit
 */
export async function submitInTransaction(
  tx: PostgresTransaction,
  queue: JobQueue,
  job: Job,
): Promise<string> {
  const context = "Cannot submit in a transaction";
  if (job === null || typeof job !== "object" || Symbol.iterator in job) {
    throw new TypeError(`${context}: expected a Job, got ${describe(job)}`);
  }
  return (await submitIn(context, tx, queue, [job]))[0];
}

/**
 * Submits jobs inside the application's own PostgreSQL transaction (see
 * {@linkcode submitInTransaction}); they may depend on each other, in any
 * order, and on jobs already submitted. Resolves to their ids in the order
 * given.
 *
 * @example A workflow that exists only if the signup commits
 * ```ts ignore
 * await sql.begin(async (tx) => {
 *   await tx`INSERT INTO users (email) VALUES (${email})`;
 *   await submitManyInTransaction(tx, queue, new Workflow("signup").add(welcome).jobs);
 * });
 * ```
 *
 * @param tx the open transaction (`sql.begin`'s `tx`)
 * @param queue a queue on a PostgreSQL URL of the same database
 * @param jobs the jobs to submit
 */
export async function submitManyInTransaction(
  tx: PostgresTransaction,
  queue: JobQueue,
  jobs: Iterable<Job>,
): Promise<string[]> {
  return await submitIn("Cannot submit in a transaction", tx, queue, jobs);
}
