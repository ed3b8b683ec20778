/**
 * {@linkcode why}: one line that says why a job is not running (or how it
 * ended), for `gigq why <id>`.
 *
 * @module
 */
import { SQL } from "../sqlite/_sql.ts";
import { JobNotFoundError } from "../errors.ts";
import type { JobStatus } from "../job_status.ts";
import type { JobDetails } from "../job_info.ts";
import type { JobQueue } from "../queue.ts";
import { getConnection } from "../sqlite/registry.ts";
import { firstLine, formatSeconds, formatTime } from "./_format.ts";

/**
 * The kinds of answer {@linkcode why} gives:
 * - `blocked`: pending until a parent (dependency) completes;
 * - `waiting`: pending until its start time (a delay, or a retry's backoff);
 * - `ready`: pending and claimable, and a worker was seen recently;
 * - `no-worker`: pending and claimable, but no worker has been seen lately;
 * - `running`: claimed by a worker (its lease may have expired);
 * - `completed`, `failed`, `timeout`: how it ended;
 * - `cancelled-by-parent`: cancelled because a job it depends on ended badly;
 * - `cancelled`: cancelled by a user.
 */
export type WhyReason =
  | "blocked"
  | "waiting"
  | "ready"
  | "no-worker"
  | "running"
  | "completed"
  | "failed"
  | "timeout"
  | "cancelled-by-parent"
  | "cancelled";

/** A job that {@linkcode WhyAnswer} names as the cause. */
export interface WhyParent {
  /** Its id. */
  id: string;
  /** Its name, or `null` if it no longer exists. */
  name: string | null;
  /** Its status, or `"missing"` if it no longer exists. */
  status: JobStatus | "missing";
}

/** What {@linkcode why} found. Times are ISO 8601 strings (UTC). */
export interface WhyAnswer {
  /** The job's id. */
  id: string;
  /** The job's name. */
  name: string;
  /** The job's status. */
  status: JobStatus;
  /** The kind of answer. */
  reason: WhyReason;
  /** The answer as one line for people (local times). */
  message: string;
  /** The parent that blocks it (`blocked`) or whose end cancelled it (`cancelled-by-parent`). */
  parent: WhyParent | null;
  /** `waiting`: when it may start; `running`: when its lease ends. */
  until: string | null;
  /** `running`: the worker running it. */
  workerId: string | null;
  /**
   * `ready`, `no-worker`: when any worker last showed a sign of life (`null`:
   * never); `running`: when the job's worker did (its claim of the job counts).
   */
  lastWorkerSeen: string | null;
}

/** Options for {@linkcode why}. */
export interface WhyOptions {
  /**
   * The time to reason at (tests pin it).
   *
   * @default {the current time}
   */
  now?: Date | number;
  /**
   * Seconds without a sign of life after which the workers count as gone.
   * A running worker records one at least every third of its lease (10 s by default).
   *
   * @default {60}
   */
  staleAfter?: number;
  /**
   * Seconds of the lease the workers renew (their `lease` option). A worker
   * records a sign of life at least every third of it, so a running job's
   * worker silent for longer is probably gone.
   *
   * @default {30}
   */
  lease?: number;
}

/**
 * When worker ?1 last showed a sign of life. Kept here rather than in
 * src/_sql.ts only while another change to that file is under way.
 */

const ENDED: Record<string, string> = {
  failed: "failed",
  timeout: "timed out",
  cancelled: "was cancelled",
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

async function parentOf(queue: JobQueue, id: string): Promise<WhyParent> {
  const job = await queue.getStatus(id);
  return job === undefined
    ? { id, name: null, status: "missing" }
    : { id, name: job.name, status: job.status };
}

function describeParent(p: WhyParent): string {
  return p.name === null ? `${p.id} (no longer exists)` : `${p.id} (${JSON.stringify(p.name)})`;
}

function toMs(value: unknown): number | null {
  return typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : null;
}

function lastWorkerSeen(queue: JobQueue): number | null {
  const conn = getConnection(queue.path, { driver: queue.driver });
  return toMs(conn.prepare(SQL.lastWorkerSeen).values()[0]?.[0]);
}

/** When worker `id` last showed a sign of life: its last record, or claiming `job`. */
function workerSeen(queue: JobQueue, id: string, job: JobDetails): number | null {
  const conn = getConnection(queue.path, { driver: queue.driver });
  const seen = toMs(conn.prepare(SQL.workerSeenAt).values(id)[0]?.[0]);
  const claimed = job.startedAt === null ? null : Date.parse(job.startedAt);
  if (seen === null) return claimed;
  return claimed === null ? seen : Math.max(seen, claimed);
}

/** A duration for people: seconds up to two minutes, then minutes, then hours. */
function ago(ms: number): string {
  if (ms < 120_000) return formatSeconds(ms);
  if (ms < 120 * 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

/**
 * Explains, in one line, why the job `id` is not running: blocked by a
 * parent, waiting for its start time (a delay or a retry's backoff), ready
 * but without a live worker, or ready and waiting for one; or where it runs,
 * or how it ended. Uses {@linkcode JobQueue.getStatus} on the job and its
 * parents, and reads when a worker was last seen from the `workers` table
 * (through the registry's connection to the file). Throws
 * {@linkcode JobNotFoundError} for an unknown id.
 *
 * @example Ask why a job has not run yet
 * ```ts ignore
 * import { JobQueue } from "@gigq/gigq";
 * import { why } from "@gigq/gigq/cli";
 *
 * const queue = new JobQueue("jobs.db");
 * const answer = await why(queue, id);
 * console.log(answer.reason, answer.message);
 * // blocked pending: blocked by parent 0197… ("build"), which is running
 * ```
 *
 * @param queue the queue holding the job
 * @param id the job's id
 * @param options the time to reason at, and when workers count as gone
 */
export async function why(
  queue: JobQueue,
  id: string,
  options: WhyOptions = {},
): Promise<WhyAnswer> {
  const now = options.now === undefined ? Date.now() : Number(options.now);
  if (!Number.isFinite(now)) {
    throw new RangeError(`Cannot explain job: now must be a valid time, got ${options.now}`);
  }
  const staleAfter = options.staleAfter ?? 60;
  if (typeof staleAfter !== "number" || !(staleAfter > 0)) {
    throw new RangeError(
      `Cannot explain job: staleAfter must be a number of seconds > 0, got ${staleAfter}`,
    );
  }
  const lease = options.lease ?? 30;
  if (typeof lease !== "number" || !(lease > 0) || !Number.isFinite(lease)) {
    throw new RangeError(`Cannot explain job: lease must be a number of seconds > 0, got ${lease}`);
  }
  const job = await queue.getStatus(id);
  if (job === undefined) throw new JobNotFoundError(id);
  const answer = (reason: WhyReason, message: string, extra: Partial<WhyAnswer> = {}) => ({
    id: job.id,
    name: job.name,
    status: job.status,
    reason,
    message,
    parent: null,
    until: null,
    workerId: null,
    lastWorkerSeen: null,
    ...extra,
  });
  switch (job.status) {
    case "completed":
      return answer("completed", `completed at ${formatTime(job.completedAt)}`);
    case "failed":
    case "timeout":
      return answer(
        job.status,
        `${job.status === "failed" ? "failed" : "timed out"} after ${
          plural(job.attempts, "attempt")
        }${job.error ? `: ${firstLine(job.error, 200)}` : ""}`,
      );
    case "cancelled": {
      if (job.cancelledBy === null) {
        return answer("cancelled", `cancelled by a user at ${formatTime(job.completedAt)}`);
      }
      const parent = await parentOf(queue, job.cancelledBy);
      return answer(
        "cancelled-by-parent",
        `cancelled because parent ${describeParent(parent)} ${ENDED[parent.status] ?? "ended"}`,
        { parent },
      );
    }
    case "running":
      return running(job, now, lease * 1000, queue, answer);
    case "pending":
      return await pending(queue, job, now, staleAfter, answer);
  }
}

type Answer = (reason: WhyReason, message: string, extra?: Partial<WhyAnswer>) => WhyAnswer;

function running(
  job: JobDetails,
  now: number,
  leaseMs: number,
  queue: JobQueue,
  answer: Answer,
): WhyAnswer {
  const worker = job.workerId ?? "an unknown worker";
  const seen = job.workerId === null ? null : workerSeen(queue, job.workerId, job);
  const extra = {
    workerId: job.workerId,
    until: job.leaseUntil,
    lastWorkerSeen: seen === null ? null : new Date(seen).toISOString(),
  };
  if (job.leaseUntil !== null && Date.parse(job.leaseUntil) < now) {
    return answer(
      "running",
      `running on worker ${worker}, but its lease expired at ${formatTime(job.leaseUntil)}: ` +
        `that worker seems gone, and the next worker to poll takes the job back`,
      extra,
    );
  }
  if (seen !== null && now - seen > leaseMs) {
    return answer(
      "running",
      `running on worker ${worker}, but worker ${worker} was last seen ${
        ago(now - seen)
      } ago, longer than its lease (${formatSeconds(leaseMs)}): it is probably gone; the job ` +
        `comes back when its lease expires at ${formatTime(job.leaseUntil)}`,
      extra,
    );
  }
  return answer(
    "running",
    `running on worker ${worker} (lease until ${formatTime(job.leaseUntil)})`,
    extra,
  );
}

async function pending(
  queue: JobQueue,
  job: JobDetails,
  now: number,
  staleAfter: number,
  answer: Answer,
): Promise<WhyAnswer> {
  const unfinished: WhyParent[] = [];
  for (const dep of job.dependencies) {
    const parent = await parentOf(queue, dep);
    if (parent.status !== "completed") unfinished.push(parent);
  }
  if (unfinished.length > 0) {
    const [parent] = unfinished;
    const more = unfinished.length > 1
      ? ` (and ${plural(unfinished.length - 1, "more unfinished parent")})`
      : "";
    return answer(
      "blocked",
      `pending: blocked by parent ${describeParent(parent)}, which is ${parent.status}${more}`,
      { parent },
    );
  }
  if (Date.parse(job.runAt) > now) {
    const retry = job.attempts > 0 && job.error !== null;
    return answer(
      "waiting",
      `pending: waiting until ${formatTime(job.runAt)} ${
        retry
          ? `to retry (attempt ${job.attempts} of ${job.maxAttempts} failed: ${
            firstLine(job.error ?? "", 200)
          })`
          : "(delayed start)"
      }`,
      { until: job.runAt },
    );
  }
  const seen = lastWorkerSeen(queue);
  const lastWorkerSeenIso = seen === null ? null : new Date(seen).toISOString();
  if (seen === null) {
    return answer("no-worker", "pending: ready, but no worker has ever run on this database", {
      lastWorkerSeen: null,
    });
  }
  const idle = Math.max(0, now - seen);
  if (idle > staleAfter * 1000) {
    return answer(
      "no-worker",
      `pending: ready, but no worker has been seen for ${formatSeconds(idle)} (last at ${
        formatTime(seen)
      })`,
      { lastWorkerSeen: lastWorkerSeenIso },
    );
  }
  // A worker claims only the tasks it knows: is one of the live ones able to run this?
  const conn = getConnection(queue.path, { driver: queue.driver });
  const live = conn.prepare(SQL.liveWorkerTasks).values(now - staleAfter * 1000).map((r) => {
    try {
      const tasks = JSON.parse(String(r[0]));
      return Array.isArray(tasks) ? tasks.map(String) : [];
    } catch {
      return [];
    }
  });
  if (live.length > 0 && !live.some((tasks) => tasks.includes(job.task))) {
    const known = [...new Set(live.flat())].sort().map((t) => JSON.stringify(t)).join(", ");
    return answer(
      "no-worker",
      `pending: ready, but none of the ${live.length} live worker${
        live.length === 1 ? "" : "s"
      } runs task ${JSON.stringify(job.task)} (they run: ${known || "no tasks"}); start a ` +
        `worker with that task`,
      { lastWorkerSeen: lastWorkerSeenIso },
    );
  }
  return answer(
    "ready",
    `pending: ready and waiting for a free worker (one was seen ${formatSeconds(idle)} ago)`,
    { lastWorkerSeen: lastWorkerSeenIso },
  );
}
