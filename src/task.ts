/**
 * {@linkcode task}: define a named handler that workers run for jobs.
 *
 * @module
 */
import type { JsonValue } from "./_json.ts";
import { knownKeys, text } from "./_validate.ts";
import { Job, JOB_OPTION_KEYS, type JobInit, type JobOptions, resolveJobOptions } from "./job.ts";
import { describe, quote } from "./job_status.ts";
import type { JobQueue } from "./queue.ts";

/** What a handler receives besides its params. */
export interface JobContext {
  /** The job's id. */
  readonly jobId: string;
  /** The job's name. */
  readonly name: string;
  /** Which attempt this is, from 1 to `maxAttempts`. */
  readonly attempt: number;
  /** The job's `maxAttempts`. */
  readonly maxAttempts: number;
  /**
   * Aborted when the attempt times out (the reason is a `JobTimeoutError`),
   * when the job is cancelled while it runs (a `JobCancelledError`), or when
   * the worker is forced to stop. Pass it to `fetch` and check it in loops.
   */
  readonly signal: AbortSignal;
  /**
   * Each dependency's result, keyed by its job id, in the order the
   * dependencies were given. Empty for a job without dependencies.
   */
  readonly parentResults: Readonly<Record<string, JsonValue>>;
  /**
   * Records the handler's progress on its job: a number (say 0 to 100) or
   * any JSON value, shown by `getStatus(id).progress`, `gigq status` and
   * `why`. Writes are throttled (at most four a second per job), and the
   * last value is always kept — it is written with the attempt's outcome.
   * A retry clears it. A value that is not JSON is a `TypeError`.
   *
   * @example
   * ```ts ignore
   * for (const [i, file] of files.entries()) {
   *   await upload(file);
   *   ctx.progress(Math.round((100 * (i + 1)) / files.length));
   * }
   * ```
   *
   * @param value the progress to record
   */
  progress(value: unknown): void;
}

/**
 * A task's function: params in, a JSON value (or a promise of one) out. A
 * result that is not JSON, nests more than 1,000 arrays or objects deep, has
 * a string or key that is not well-formed Unicode (a lone surrogate), or is
 * over the worker's `maxPayloadBytes`, fails its job at once (not retried),
 * with an error naming where.
 */
// deno-lint-ignore no-explicit-any
export type TaskHandler<P = any, R = unknown> = (params: P, ctx: JobContext) => R | Promise<R>;

/** Options for {@linkcode Task.submit} and {@linkcode Task.toJob}. */
export interface SubmitOptions extends JobOptions {
  /** A name other than the task's. */
  name?: string;
  /** Jobs or ids that must complete first. */
  dependencies?: readonly (string | Job)[];
  /** Not before this time. */
  runAt?: Date | string | number;
  /** A unique key (see {@linkcode JobInit.uniqueKey}). */
  uniqueKey?: string;
  /** A concurrency key (see {@linkcode JobInit.concurrencyKey}). */
  concurrencyKey?: string;
}

/**
 * A task made by {@linkcode task}: a name workers look up, a handler, and the
 * default options for its jobs.
 *
 * @example Submit a task's job
 * ```ts ignore
 * const id = await greet.submit(queue, { name: "Alice" });
 * ```
 */
// deno-lint-ignore no-explicit-any
export interface Task<P = any, R = unknown> {
  /** The name jobs store and workers look up. */
  readonly name: string;
  /** The function a worker calls. */
  readonly handler: TaskHandler<P, R>;
  /** Default options for this task's jobs. */
  readonly options: Readonly<Required<JobOptions>>;
  /** Builds a {@linkcode Job} for this task without submitting it. */
  toJob(params: P, options?: SubmitOptions): Job;
  /** Builds and submits a job; resolves to its id. */
  submit(queue: JobQueue, params: P, options?: SubmitOptions): Promise<string>;
}

/** The job options a task (and a schedule) gives its jobs. */
export const TASK_OPTION_KEYS = JOB_OPTION_KEYS;
const SUBMIT_OPTION_KEYS = [
  ...TASK_OPTION_KEYS,
  "name",
  "dependencies",
  "runAt",
  "uniqueKey",
  "concurrencyKey",
] as const;

/**
 * Defines a task. Workers run a job's task by looking its name up among the
 * tasks they were given, so every worker that may run it must import the same
 * definition (export it from a module).
 *
 * @example Define and submit a task
 * ```ts ignore
 * import { JobQueue, task, Worker } from "@gigq/gigq";
 *
 * export const greet = task(
 *   "greet",
 *   (params: { name: string }) => `Hello, ${params.name}!`,
 *   { maxAttempts: 3, timeout: 300, retryDelay: 0, priority: 0, description: "" },
 * );
 *
 * const queue = new JobQueue("jobs.db");
 * const id = await greet.submit(queue, { name: "Alice" });
 * await new Worker("jobs.db", { tasks: [greet] }).processOne();
 * console.log(await queue.getResult(id)); // "Hello, Alice!"
 * ```
 *
 * @param name the task's name: non-empty, unique among a worker's tasks
 * @param handler called with the job's params and a {@linkcode JobContext}
 * @param options defaults for this task's jobs
 */
// deno-lint-ignore no-explicit-any
export function task<P = any, R = unknown>(
  name: string,
  handler: TaskHandler<P, R>,
  options: JobOptions = {},
): Task<P, Awaited<R>> {
  const context = `Cannot define task ${typeof name === "string" ? quote(name) : ""}`
    .trimEnd();
  text(context, "name", name, { max: 1000, allowEmpty: false });
  if (typeof handler !== "function") {
    throw new TypeError(`${context}: handler must be a function, got ${describe(handler)}`);
  }
  knownKeys(context, options, TASK_OPTION_KEYS);
  const defaults = Object.freeze(resolveJobOptions(context, options));
  const def: Task<P, Awaited<R>> = {
    name,
    handler: handler as TaskHandler<P, Awaited<R>>,
    options: defaults,
    toJob(params: P, submitOptions: SubmitOptions = {}): Job {
      knownKeys(
        () => `Cannot create job for task ${quote(name)}`,
        submitOptions,
        SUBMIT_OPTION_KEYS,
      );
      return new Job({ ...submitOptions, task: def, params } as JobInit);
    },
    submit(queue: JobQueue, params: P, submitOptions?: SubmitOptions): Promise<string> {
      try {
        return queue.submit(def.toJob(params, submitOptions));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
  return Object.freeze(def);
}

/**
 * True when `value` is a task made by {@linkcode task}: how a tool that
 * imports a module finds the tasks among its exports (as `gigq worker
 * --tasks` does).
 *
 * @example Find the tasks a module exports
 * ```ts ignore
 * import { isTask } from "@gigq/gigq";
 *
 * const mod = await import("./tasks.ts");
 * const tasks = Object.values(mod).filter(isTask);
 * ```
 *
 * @param value anything
 */
export function isTask(value: unknown): value is Task {
  return typeof value === "object" && value !== null &&
    typeof (value as Task).name === "string" && typeof (value as Task).handler === "function" &&
    typeof (value as Task).options === "object";
}
