/**
 * {@linkcode why}: one line that says why a job is not running (or how it
 * ended), the reasoning behind `gigq why <id>`.
 *
 * @module
 */
import type { Backend } from "./_backend.ts";
import { queueInternals } from "./_queue_backend.ts";
import { JobNotFoundError } from "./errors.ts";
import type { JobDetails } from "./job_info.ts";
import type { JobStatus } from "./job_status.ts";
import type { JobQueue } from "./queue.ts";

const two = (n: number) => String(n).padStart(2, "0");

/** A time as `YYYY-MM-DD HH:MM:SS` in the local time zone; `-` for none. */
function formatTime(value: string | number | null): string {
  if (value === null || value === "") return "-";
  const d = new Date(value);
  if (isNaN(d.getTime())) return String(value);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A whole number of seconds, or one decimal below ten: `3.5 s`, `42 s`. */
function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${s < 10 ? Math.round(s * 10) / 10 : Math.round(s)} s`;
}

/** The first line of a text, shortened to `max` characters. */
function firstLine(text: string, max: number): string {
  const line = text.split("\n", 1)[0];
  return line.length > max ? line.slice(0, max - 1) + "…" : line;
}

/**
 * The kinds of answer {@linkcode why} gives:
 * - `blocked`: pending until a parent (dependency) completes;
 * - `paused`: pending in a paused queue (see `JobQueue.pause`);
 * - `waiting`: pending until its start time (a delay, or a retry's backoff);
 * - `limited`: pending and due, but its queue is at a limit (`configureQueue`):
 *   its concurrency, its concurrency key's, or its rate (`until`: when the
 *   rate lets the next job start);
 * - `ready`: pending and claimable, and a worker was seen recently;
 * - `no-worker`: pending and claimable, but no worker has been seen lately;
 * - `running`: claimed by a worker (its lease may have expired);
 * - `completed`, `failed`, `timeout`: how it ended;
 * - `cancelled-by-parent`: cancelled because a job it depends on ended badly;
 * - `cancelled`: cancelled by a user.
 */
export type WhyReason =
  | "blocked"
  | "paused"
  | "limited"
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

/** The schedule slot a job was fired for (see `JobQueue.schedule`). */
export interface WhySchedule {
  /** The schedule's name. */
  name: string;
  /** The slot the job was fired for (ISO 8601, UTC). */
  slot: string;
  /** When it was fired (ISO 8601, UTC): later than the slot when missed slots were caught up. */
  firedAt: string;
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
  /** The schedule slot that fired the job, if a schedule did (the message says so too). */
  schedule: WhySchedule | null;
}

/** Options for {@linkcode why}. */
export interface WhyOptions {
  /**
   * The time to reason at (tests pin it).
   *
   * @default {the queue's clock}
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

/** When the job's worker last showed a sign of life: its last record, or claiming the job. */
async function workerSeen(backend: Backend, job: JobDetails, now: number): Promise<number | null> {
  const facts = await backend.workerFacts({ workerId: job.workerId!, liveSince: now, now });
  const claimed = job.startedAt === null ? null : Date.parse(job.startedAt);
  if (facts.seenAt === undefined) return claimed;
  return claimed === null ? facts.seenAt : Math.max(facts.seenAt, claimed);
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
 * or how it ended. Reads the job and its parents as
 * {@linkcode JobQueue.getStatus} does, and when the workers last showed a
 * sign of life (every running worker records one at least every third of
 * its lease) from the queue's storage, and the schedule slot that fired it,
 * if a schedule did; writes nothing. Throws
 * {@linkcode JobNotFoundError} for an unknown id, a `RangeError` for a bad
 * option.
 *
 * @example Ask why a job has not run yet
 * ```ts ignore
 * import { JobQueue, why } from "@gigq/gigq";
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
  const lent = queueInternals("Cannot explain job", queue);
  const now = options.now === undefined ? lent.now() : Number(options.now);
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
  const backend = await lent.backend();
  const fired = await backend.scheduleRunOf({ jobId: job.id });
  const schedule = fired === undefined ? null : {
    name: fired.schedule,
    slot: new Date(fired.slot).toISOString(),
    firedAt: new Date(fired.fired_at).toISOString(),
  };
  const from = fired === undefined ? "" : `; fired by schedule ${JSON.stringify(fired.schedule)} ` +
    `for its slot at ${formatTime(fired.slot)}${
      fired.fired_at - fired.slot > 30_000 ? ` (late, at ${formatTime(fired.fired_at)})` : ""
    }`;
  const answer = (reason: WhyReason, message: string, extra: Partial<WhyAnswer> = {}) => ({
    id: job.id,
    name: job.name,
    status: job.status,
    reason,
    message: message + from,
    parent: null,
    until: null,
    workerId: null,
    lastWorkerSeen: null,
    schedule,
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
          // Ended with attempts left: a NoRetryError, or a failure that would repeat.
          job.attempts < job.maxAttempts
            ? `${job.attempts} of ${job.maxAttempts} attempts, not retried`
            : plural(job.attempts, "attempt")}${job.error ? `: ${firstLine(job.error, 200)}` : ""}`,
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
      return await running(backend, job, now, lease * 1000, answer);
    case "pending":
      return await pending(queue, backend, job, now, staleAfter, answer);
  }
}

type Answer = (reason: WhyReason, message: string, extra?: Partial<WhyAnswer>) => WhyAnswer;

async function running(
  backend: Backend,
  job: JobDetails,
  now: number,
  leaseMs: number,
  answer: Answer,
): Promise<WhyAnswer> {
  const worker = job.workerId ?? "an unknown worker";
  const seen = job.workerId === null ? null : await workerSeen(backend, job, now);
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
  const progress = job.progress === null ? "" : `, progress ${JSON.stringify(job.progress)}`;
  return answer(
    "running",
    `running on worker ${worker} (lease until ${formatTime(job.leaseUntil)}${progress})`,
    extra,
  );
}

/** The limit of its queue a ready job waits behind, if one is full. */
async function limited(
  backend: Backend,
  job: JobDetails,
  now: number,
): Promise<{ message: string; until: string | null } | undefined> {
  const state = await backend.limitState({ queue: job.queue, key: job.concurrencyKey, now });
  const s = state.settings;
  const q = JSON.stringify(job.queue);
  if (s.concurrency !== null && state.running >= s.concurrency) {
    return {
      message: `pending: ready, but queue ${q} is at its concurrency limit of ${s.concurrency} ` +
        `(${state.running} of its jobs running)`,
      until: null,
    };
  }
  if (
    s.key_concurrency !== null && job.concurrencyKey !== null &&
    state.keyRunning >= s.key_concurrency
  ) {
    return {
      message: `pending: ready, but concurrency key ${
        JSON.stringify(job.concurrencyKey)
      } is at its limit in queue ${q} (${state.keyRunning} running, at most ${s.key_concurrency})`,
      until: null,
    };
  }
  if (s.rate_max !== null && s.rate_per !== null && state.starts.length >= s.rate_max) {
    const at = state.starts[state.starts.length - s.rate_max] + s.rate_per;
    return {
      message: `pending: ready, but queue ${q} is at its rate limit of ${
        plural(s.rate_max, "start")
      } per ${formatSeconds(s.rate_per)}; the next may start at ${formatTime(at)}`,
      until: new Date(at).toISOString(),
    };
  }
  return undefined;
}

async function pending(
  queue: JobQueue,
  backend: Backend,
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
  if (await backend.isPaused({ queue: job.queue })) {
    return answer(
      "paused",
      `paused: queue ${JSON.stringify(job.queue)} is paused (no worker claims its jobs until ` +
        `it is resumed)`,
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
  const limit = await limited(backend, job, now);
  if (limit !== undefined) return answer("limited", limit.message, { until: limit.until });
  const facts = await backend.workerFacts({ liveSince: now - staleAfter * 1000, now });
  const seen = facts.lastSeen ?? null;
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
  const live = facts.liveTasks;
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
