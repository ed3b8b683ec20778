/**
 * The few domain errors GigQ throws. Bad arguments are `TypeError` or
 * `RangeError` with the bad value in the message; these classes are for
 * everything else, one class per failure.
 *
 * @module
 */

import { quote } from "./job_status.ts";

/**
 * No job has the given id.
 *
 * @example Handle an unknown id
 * ```ts ignore
 * try { await queue.getResult("nope"); } catch (e) {
 *   if (e instanceof JobNotFoundError) console.log(`no job ${e.jobId}`);
 * }
 * ```
 */
export class JobNotFoundError extends Error {
  /** The id that matched no job. */
  readonly jobId: string;

  /**
   * Creates the error for `jobId`.
   *
   * @param jobId the id that matched no job
   * @param message overrides the default message
   */
  constructor(jobId: string, message?: string) {
    super(message ?? `Job ${quote(jobId)} not found`);
    this.name = "JobNotFoundError";
    this.jobId = jobId;
  }
}

/**
 * The queue or worker was used after `close()`.
 *
 * @example
 * ```ts ignore
 * queue.close();
 * await queue.stats(); // throws QueueClosedError
 * ```
 */
export class QueueClosedError extends Error {
  /** The database path of the closed queue. */
  readonly path: string;

  /**
   * Creates the error for the closed queue or worker of `path`.
   *
   * @param path the database path
   * @param what "queue" or "worker"
   */
  constructor(path: string, what = "queue") {
    super(`Cannot use the ${what} for ${JSON.stringify(path)}: it has been closed`);
    this.name = "QueueClosedError";
    this.path = path;
  }
}

/**
 * Why {@linkcode NoQueueError} found no queue: `"missing"`, nothing is at the
 * path (on PostgreSQL: no GigQ tables in the schema); `"empty"`, a database
 * without any table (an empty file, say);
 * `"foreign"`, a database with tables of its own but none of GigQ's.
 */
export type NoQueueReason = "missing" | "empty" | "foreign";

/**
 * There is no queue where a {@linkcode JobQueue} opened with
 * `create: false` looked, and nothing was created or changed there.
 *
 * @example Look at a queue only if there is one
 * ```ts ignore
 * try {
 *   using queue = new JobQueue("jobs.db", { create: false });
 *   console.log(await queue.stats());
 * } catch (e) {
 *   if (!(e instanceof NoQueueError)) throw e;
 *   console.log(`no queue yet (${e.reason})`);
 * }
 * ```
 */
export class NoQueueError extends Error {
  /** Where the queue was looked for. */
  readonly path: string;
  /** What is there instead. */
  readonly reason: NoQueueReason;

  /**
   * Creates the error.
   *
   * @param path where the queue was looked for
   * @param reason what is there instead
   */
  constructor(path: string, reason: NoQueueReason) {
    const what = reason === "missing"
      ? (/^postgres(?:ql)?:\/\//i.test(path)
        ? "the schema holds no GigQ queue"
        : "the file does not exist")
      : reason === "empty"
      ? "the database holds no tables"
      : "the database holds other tables, not GigQ's";
    super(`Cannot open the queue in ${JSON.stringify(path)}: ${what} (and create is false)`);
    this.name = "NoQueueError";
    this.path = path;
    this.reason = reason;
  }
}

/**
 * Why {@linkcode ReadOnlyQueueError} could not read a queue: `"wal"`, its
 * write-ahead log holds commits that can be read only by creating a file
 * beside it; `"permissions"`, the driver can read the file as it is only with
 * more permissions (Deno's `node:sqlite` needs `--allow-all`).
 */
export type ReadOnlyQueueReason = "wal" | "permissions";

/**
 * A queue opened with `create: false` sits in a read-only directory (or file
 * system) and cannot be read there: see
 * {@linkcode JobQueueOptions.readOnlyFallback}. Nothing was created.
 *
 * @example Say what to do about it
 * ```ts ignore
 * try {
 *   new JobQueue("/mnt/ro/jobs.db", { create: false, readOnlyFallback: true });
 * } catch (e) {
 *   if (e instanceof ReadOnlyQueueError && e.reason === "permissions") {
 *     console.log('use driver: "ffi", or grant every permission');
 *   }
 * }
 * ```
 */
export class ReadOnlyQueueError extends Error {
  /** The queue's path. */
  readonly path: string;
  /** Why it cannot be read. */
  readonly reason: ReadOnlyQueueReason;

  /**
   * Creates the error.
   *
   * @param path the queue's path
   * @param reason why it cannot be read
   * @param message what happened and what to do, naming the path
   */
  constructor(path: string, reason: ReadOnlyQueueReason, message: string) {
    super(message);
    this.name = "ReadOnlyQueueError";
    this.path = path;
    this.reason = reason;
  }
}

/**
 * A database file was opened with one SQLite driver while the same process
 * already had it open with the other, under this name or another (a symlink,
 * a hard link, a symlinked directory). Two SQLite copies in one process on
 * one file release each other's POSIX locks and can silently lose commits.
 *
 * @example
 * ```ts ignore
 * getConnection("jobs.db", { driver: "node" });
 * getConnection("jobs.db", { driver: "ffi" }); // throws DriverConflictError
 * ```
 */
export class DriverConflictError extends Error {
  /** The database path that was refused. */
  readonly path: string;
  /** The path the file is already open under (the same as `path` if it was opened by that name). */
  readonly openPath: string;

  /**
   * Creates the error for `path`.
   *
   * @param path the database path
   * @param open the driver already using the file
   * @param requested the driver that was refused
   * @param openPath the name the file is open under, when not `path`
   */
  constructor(path: string, open: string, requested: string, openPath: string = path) {
    const as = openPath === path ? "it" : `the same file, as ${JSON.stringify(openPath)},`;
    super(
      `Cannot open ${JSON.stringify(path)} with the "${requested}" driver: this process already ` +
        `has ${as} open with the "${open}" driver, and two SQLite libraries on one file in one ` +
        `process can lose commits; use the "${open}" driver here too`,
    );
    this.name = "DriverConflictError";
    this.path = path;
    this.openPath = openPath;
  }
}

/**
 * The reason a job's `ctx.signal` is aborted with when the job runs past its
 * timeout.
 *
 * @example Tell a timeout from other aborts inside a handler
 * ```ts ignore
 * ctx.signal.addEventListener("abort", () => {
 *   if (ctx.signal.reason instanceof JobTimeoutError) console.log("out of time");
 * });
 * ```
 */
export class JobTimeoutError extends Error {
  /** The job that timed out. */
  readonly jobId: string;
  /** Its timeout, in seconds. */
  readonly timeout: number;

  /**
   * Creates the abort reason for a job's timeout.
   *
   * @param jobId the job that timed out
   * @param timeout its timeout in seconds
   */
  constructor(jobId: string, timeout: number) {
    super(`Job timed out after ${timeout} seconds`);
    this.name = "JobTimeoutError";
    this.jobId = jobId;
    this.timeout = timeout;
  }
}

/**
 * The reason `ctx.signal` aborts with when the running job is cancelled
 * (`queue.cancel(id)`, `cancelMany`): the job has already ended
 * `cancelled`, and whatever the handler returns or throws now is ignored.
 *
 * @example Tell a cancellation from a timeout in a handler
 * ```ts ignore
 * ctx.signal.addEventListener("abort", () => {
 *   if (ctx.signal.reason instanceof JobCancelledError) console.log("cancelled by a user");
 * });
 * ```
 */
export class JobCancelledError extends Error {
  /** The job that was cancelled. */
  readonly jobId: string;

  /**
   * Creates the abort reason for a cancelled running job.
   *
   * @param jobId the job that was cancelled
   */
  constructor(jobId: string) {
    super(`Job ${jobId} was cancelled while it ran`);
    this.name = "JobCancelledError";
    this.jobId = jobId;
  }
}

/**
 * {@linkcode JobQueue.waitFor} gave up: the job had not ended within the
 * wait's timeout (it still runs or waits; nothing was changed).
 *
 * @example
 * ```ts ignore
 * try { await queue.waitFor(id, { timeout: 5 }); } catch (e) {
 *   if (e instanceof WaitTimeoutError) console.log(`still ${e.status} after ${e.timeout} s`);
 * }
 * ```
 */
export class WaitTimeoutError extends Error {
  /** The job waited for. */
  readonly jobId: string;
  /** Its status when the wait gave up. */
  readonly status: string;
  /** How long the wait was, in seconds. */
  readonly timeout: number;

  /**
   * Creates the error of a wait that timed out.
   *
   * @param jobId the job waited for
   * @param status its status when the wait gave up
   * @param timeout the wait, in seconds
   */
  constructor(jobId: string, status: string, timeout: number) {
    super(
      `Gave up waiting for job ${jobId} after ${timeout} seconds: it is still ${status} ` +
        `(the wait's timeout; the job itself is unchanged)`,
    );
    this.name = "WaitTimeoutError";
    this.jobId = jobId;
    this.status = status;
    this.timeout = timeout;
  }
}

/**
 * The database is not one GigQ can use: written by a newer GigQ, or its
 * upgrade would break it.
 *
 * @example Tell an old GigQ from a broken file
 * ```ts ignore
 * try { await queue.stats(); } catch (e) {
 *   if (e instanceof SchemaError) console.log(`cannot use ${e.path}: ${e.message}`);
 * }
 * ```
 */
export class SchemaError extends Error {
  /** The database: a file's path, or a PostgreSQL URL (without its password). */
  readonly path: string;

  /**
   * Creates the error for `path`.
   *
   * @param path the database path or URL
   * @param message what is wrong
   */
  constructor(path: string, message: string) {
    super(message);
    this.name = "SchemaError";
    this.path = path;
  }
}

/**
 * The mark {@linkcode NoRetryError} leaves on its prototype: a registered
 * symbol, so that a copy of GigQ loaded from another URL (a task module that
 * imports the package while the worker runs from a checkout) still knows it.
 */
const NO_RETRY: unique symbol = Symbol.for("gigq.noRetry") as never;

/**
 * Thrown by a handler to end its job `failed` at once, whatever attempts are
 * left: for a failure that another attempt would only repeat (a bounced
 * e-mail address, a deleted account, a malformed request the remote side
 * rejected). Any other error is retried while attempts are left. Subclasses
 * count too. The job's error is `NoRetryError: <message>` (or the subclass's
 * name), its dependents are cancelled as for any failure, and `requeue` runs
 * it again as for any failed job.
 *
 * Named for what it does to the job rather than for a judgement of the
 * failure: whether a failure is "permanent" is the handler's call; this class
 * is how it says "do not try again".
 *
 * @example Do not retry a bounced address
 * ```ts ignore
 * import { NoRetryError, task } from "@gigq/gigq";
 *
 * export const mail = task("mail", async (p: { to: string }) => {
 *   const r = await fetch("https://mail.example/send", { method: "POST", body: p.to });
 *   if (r.status === 422) throw new NoRetryError(`address ${p.to} bounced`);
 *   if (!r.ok) throw new Error(`mail service answered ${r.status}`); // retried
 * }, { maxAttempts: 5, retryDelay: 60, backoff: "exponential" });
 * ```
 */
export class NoRetryError extends Error {
  /**
   * Creates the error.
   *
   * @param message why the job cannot succeed
   * @param options `cause`: the error behind it
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NoRetryError";
  }
}
Object.defineProperty(NoRetryError.prototype, NO_RETRY, { value: true });

/**
 * Whether a handler threw a {@linkcode NoRetryError} (or a subclass), of
 * this copy of GigQ or another. Internal.
 */
export function isNoRetry(error: unknown): boolean {
  return error instanceof NoRetryError ||
    (typeof error === "object" && error !== null &&
      (error as { [NO_RETRY]?: unknown })[NO_RETRY] === true);
}
