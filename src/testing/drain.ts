/**
 * {@linkcode drain}: runs every ready job of a queue to the end of its
 * attempt, with a worker of its own, and says what ran.
 *
 * @module
 */
import { specTarget } from "../_open_backend.ts";
import { queueInternals } from "../_queue_backend.ts";
import { integer, knownKeys } from "../_validate.ts";
import type { JobStatus } from "../job_status.ts";
import { describe } from "../job_status.ts";
import type { JobQueue } from "../queue.ts";
import type { Task } from "../task.ts";
import { type Logger, Worker } from "../worker.ts";

/** Options for {@linkcode drain}. */
export interface DrainOptions {
  /** The tasks to run; a job of another task is left alone (it is not claimed). */
  tasks: readonly Task[];
  /**
   * The named queues to run jobs from.
   *
   * @default {every queue}
   */
  queues?: readonly string[];
  /**
   * Most attempts to run before giving up with an error (a job that keeps
   * failing with no retry delay would otherwise never let `drain` end).
   *
   * @default {10000}
   */
  maxAttempts?: number;
  /**
   * Receives the worker's log lines.
   *
   * @default {warnings and errors to stderr}
   */
  logger?: Logger;
}

/** One attempt {@linkcode drain} ran. */
export interface DrainedAttempt {
  /** The job's id. */
  id: string;
  /** The job's name. */
  name: string;
  /** The named queue it was in. */
  queue: string;
  /** Which attempt of the job this was (1-based). */
  attempt: number;
  /**
   * How the attempt left the job: `completed`; `pending` (failed or timed
   * out, and retried later); `failed` or `timeout` (for good).
   */
  status: Extract<JobStatus, "completed" | "pending" | "failed" | "timeout">;
  /** The handler's result, when it completed. */
  result?: unknown;
  /** The error, when it failed or timed out. */
  error?: string;
}

const DRAIN_KEYS = ["tasks", "queues", "maxAttempts", "logger"] as const;

/**
 * Runs the ready jobs of `queue` (of these `tasks`), one attempt at a time,
 * until none is ready: a job whose dependencies complete meanwhile becomes
 * ready and runs too; a retry or delayed job waits for its time (move a
 * {@linkcode VirtualClock} on and drain again). Uses a worker of its own, on
 * the queue's database and clock, closed before it resolves. Resolves to the
 * attempts that ran, in the order they ended.
 *
 * A handler that waits on the queue's virtual clock (or for its timeout on
 * it) is not moved on by `drain`: advance the clock instead, with a worker.
 *
 * @example Test a pipeline's result
 * ```ts
 * import { JobQueue, task } from "@gigq/gigq";
 * import { drain } from "@gigq/gigq/testing";
 *
 * const double = task("double", (p: { n: number }) => p.n * 2);
 * const queue = new JobQueue(":memory:");
 * await double.submit(queue, { n: 21 });
 * const ran = await drain(queue, { tasks: [double] });
 * console.assert(ran.length === 1 && ran[0].status === "completed" && ran[0].result === 42);
 * queue.close();
 * ```
 *
 * @param queue the queue whose jobs to run
 * @param options the tasks, and which queues
 */
export async function drain(queue: JobQueue, options: DrainOptions): Promise<DrainedAttempt[]> {
  const context = "Cannot drain the queue";
  const lent = queueInternals(context, queue);
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `${context}: options must be an object with tasks, got ${describe(options)}`,
    );
  }
  knownKeys(context, options, DRAIN_KEYS);
  const limit = options.maxAttempts === undefined
    ? 10_000
    : integer(context, "maxAttempts", options.maxAttempts, 1, Number.MAX_SAFE_INTEGER);
  const { target, options: storage } = specTarget((await lent.backend()).spec);
  const worker = new Worker(target, {
    ...storage,
    tasks: options.tasks,
    ...(options.queues === undefined ? {} : { queues: options.queues }),
    clock: lent.clock,
    watch: false,
    prune: false,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const ran: DrainedAttempt[] = [];
  const base = (d: { id: string; name: string; queue: string; attempt: number }) => ({
    id: d.id,
    name: d.name,
    queue: d.queue,
    attempt: d.attempt,
  });
  worker.addEventListener("completed", (e) => {
    ran.push({ ...base(e.detail), status: "completed", result: e.detail.result });
  });
  worker.addEventListener("retry", (e) => {
    ran.push({ ...base(e.detail), status: "pending", error: e.detail.error });
  });
  worker.addEventListener("failed", (e) => {
    ran.push({ ...base(e.detail), status: "failed", error: e.detail.error });
  });
  worker.addEventListener("timeout", (e) => {
    ran.push({ ...base(e.detail), status: "timeout", error: e.detail.error });
  });
  try {
    for (let n = 0; await worker.processOne(); n++) {
      if (n + 1 >= limit) {
        throw new Error(
          `${context}: ${limit} attempts ran and jobs are still ready (a job retried at once, ` +
            `forever?); raise maxAttempts if that many are expected`,
        );
      }
    }
  } finally {
    worker.close();
  }
  return ran;
}
