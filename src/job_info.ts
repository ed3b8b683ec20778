/**
 * The reports GigQ gives about jobs: {@linkcode JobInfo} (one job),
 * {@linkcode JobDetails} (a job with its attempts), {@linkcode ExecutionInfo}
 * (one attempt) and {@linkcode QueueStats} (counts by status). Storage
 * backends, the CLI and other faces return these without importing the queue.
 *
 * @module
 */
import type { JsonValue } from "./_json.ts";
import { JOB_STATUSES, type JobStatus } from "./job_status.ts";
import { NO_SETTINGS, type QueueSettings, type SettingsRow, toSettings } from "./queue_config.ts";

/** A job as `JobQueue.listJobs` shows it. Times are ISO 8601 strings (UTC). */
export interface JobInfo {
  /** The job's id. */
  id: string;
  /** Its name. */
  name: string;
  /** The task a worker runs for it. */
  task: string;
  /** Where the task came from, if recorded (for example `./tasks.ts#greet`). */
  module: string | null;
  /** Where it is in its life. */
  status: JobStatus;
  /** The handler's params. */
  params: JsonValue;
  /** Ids of the jobs it waits for, in order. */
  dependencies: string[];
  /** Higher runs first. */
  priority: number;
  /** Attempts since submit or the last requeue. */
  attempts: number;
  /** How many attempts it may make. */
  maxAttempts: number;
  /** Seconds an attempt may run. */
  timeout: number;
  /** Seconds before a retry. */
  retryDelay: number;
  /** How the retry delay grows. */
  backoff: "fixed" | "exponential";
  /** Free text. */
  description: string;
  /** The handler's return value when completed; `null` otherwise. */
  result: JsonValue;
  /** The last error, if any. */
  error: string | null;
  /** The worker running it, while running. */
  workerId: string | null;
  /** When it was submitted. */
  createdAt: string;
  /** When it last changed. */
  updatedAt: string;
  /** When its latest attempt started. */
  startedAt: string | null;
  /** When it ended (completed, failed, timeout or cancelled). */
  completedAt: string | null;
  /** It is not started before this time. */
  runAt: string;
  /** While running: the worker must renew its claim before this time. */
  leaseUntil: string | null;
  /** The job whose failure or cancellation cancelled this one, if that is why it is cancelled. */
  cancelledBy: string | null;
  /** The named queue it waits in. */
  queue: string;
  /** Its unique key, if it was given one (held while it is pending or running). */
  uniqueKey: string | null;
  /** Its concurrency key, if it was given one (see `JobInit.concurrencyKey`). */
  concurrencyKey: string | null;
  /** What its handler last reported with `ctx.progress()` (cleared on retry); `null` if nothing. */
  progress: JsonValue;
  /** The cap on its exponential backoff, in seconds. */
  maxRetryDelay: number;
}

/** One attempt of a job. */
export interface ExecutionInfo {
  /** 1 to `maxAttempts`, counted since submit or the last requeue. */
  attempt: number;
  /** Every attempt the job has ever made, numbered from 1 (unaffected by requeue). */
  run: number;
  /** `running`, `completed`, `failed` or `timeout`. */
  status: JobStatus;
  /** The worker that ran it. */
  workerId: string;
  /** When it started. */
  startedAt: string;
  /** When it ended; `null` while running. */
  completedAt: string | null;
  /** Why it failed (with a stack trace when there is one). */
  error: string | null;
}

/** A job with its attempts, from `JobQueue.getStatus`. */
export interface JobDetails extends JobInfo {
  /** One entry per attempt, oldest first. */
  executions: ExecutionInfo[];
  /** The ids of the jobs that depend on this one, in the order they were submitted. */
  children: string[];
}

/**
 * How many jobs matched, from `JobQueue.countJobs`: counting stops past its
 * `cap`.
 *
 * @example
 * ```ts ignore
 * const { count, exact }: JobCount = await queue.countJobs({ status: "failed" });
 * console.log(exact ? `${count} failed` : `more than ${count} failed`);
 * ```
 */
export interface JobCount {
  /** The jobs that matched, or the cap when there were more. */
  count: number;
  /** False when more jobs than the cap matched (`count` is then the cap). */
  exact: boolean;
}

/**
 * A worker as the workers table records it, from `JobQueue.workers`. Times
 * are ISO 8601 strings (UTC).
 *
 * @example
 * ```ts ignore
 * for (const w of await queue.workers()) {
 *   console.log(w.id, w.host, w.pid, `${w.running.length}/${w.concurrency}`, w.lastSeenAt);
 * }
 * ```
 */
export interface WorkerInfo {
  /** Its worker id (what a running job's `workerId` says). */
  id: string;
  /** The host it runs on (`unknown` without the permission to read the host name). */
  host: string;
  /** Its process id. */
  pid: number;
  /** The task names it runs. */
  tasks: string[];
  /** The queues it claims from; `null`: every queue. */
  queues: string[] | null;
  /** How many jobs it runs at once. */
  concurrency: number;
  /** When it started (or last registered again, after a reconnect). */
  startedAt: string;
  /** Its last sign of life (a claim, a lease renewal, its start or its stop). */
  lastSeenAt: string;
  /** When it stopped; `null` if it has not (a worker that died stays `null`: see `lastSeenAt`). */
  stoppedAt: string | null;
  /** The ids of the jobs running now under its id, in the order they were submitted. */
  running: string[];
}

/**
 * The jobs that ended in one minute, from `JobQueue.activity` (counted by
 * when they ended, as they stand now).
 *
 * @example
 * ```ts ignore
 * for (const m of await queue.activity({ minutes: 10 })) {
 *   console.log(m.minute, m.completed, m.failed);
 * }
 * ```
 */
export interface ActivityMinute {
  /** The minute's start, an ISO 8601 string (UTC). */
  minute: string;
  /** Jobs that completed in it. */
  completed: number;
  /** Jobs that failed or timed out in it (on their last attempt). */
  failed: number;
}

/**
 * How many jobs are in each status: the counts of {@linkcode QueueStats}
 * and {@linkcode QueueInfo}.
 *
 * @example
 * ```ts ignore
 * const { pending, running }: StatusCounts = await queue.stats();
 * ```
 */
export interface StatusCounts {
  /** Waiting to run. */
  pending: number;
  /** Running now. */
  running: number;
  /** Finished successfully. */
  completed: number;
  /** Failed on their last attempt. */
  failed: number;
  /** Cancelled. */
  cancelled: number;
  /** Timed out on their last attempt. */
  timeout: number;
}

/** Counts per status, from `JobQueue.stats`. */
export interface QueueStats extends StatusCounts {
  /** All jobs. */
  total: number;
}

/** One named queue, from `JobQueue.queues`: its state and its jobs by status. */
export interface QueueInfo extends StatusCounts {
  /** The queue's name. */
  name: string;
  /** Whether it is paused (its jobs are not claimed until it is resumed). */
  paused: boolean;
  /** Its limits and retention, as `configureQueue` stored them (or the defaults). */
  settings: QueueSettings;
}

/**
 * Every queue that has jobs or a stored state (a paused queue without jobs
 * is listed), by name, from rows of (queue, status, count) and of (name,
 * paused, stored settings).
 */
export function queueInfos(
  counts: Iterable<readonly [string, string, number]>,
  states: Iterable<readonly [string, boolean, SettingsRow]>,
): QueueInfo[] {
  const byName = new Map<string, QueueInfo>();
  const info = (name: string): QueueInfo => {
    let q = byName.get(name);
    if (q === undefined) {
      q = {
        name,
        paused: false,
        settings: toSettings(NO_SETTINGS),
        pending: 0,
        running: 0,
        completed: 0,
        failed: 0,
        cancelled: 0,
        timeout: 0,
      };
      byName.set(name, q);
    }
    return q;
  };
  for (const [name, paused, row] of states) {
    const q = info(name);
    q.paused = paused;
    q.settings = toSettings(row);
  }
  for (const [name, status, n] of counts) {
    const q = info(name);
    if (status in q && status !== "name" && status !== "paused" && status !== "settings") {
      (q as unknown as Record<string, number>)[status] += n;
    }
  }
  return [...byName.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** The stats report from a count per status (a status without a count has none). */
export function queueStats(counts: ReadonlyMap<string, number>): QueueStats {
  const stats = {} as QueueStats;
  let total = 0;
  for (const status of JOB_STATUSES) {
    stats[status] = counts.get(status) ?? 0;
    total += stats[status];
  }
  stats.total = total;
  return stats;
}

/**
 * The report of each row of the workers table (snake_case columns, times
 * in epoch ms, `tasks` and `queues` JSON), with the running jobs as
 * (worker id, job id) pairs in seq order; by last sign of life, latest
 * first (then by id).
 */
export function workerInfos(
  rows: Iterable<Readonly<Record<string, unknown>>>,
  running: Iterable<readonly [string, string]>,
): WorkerInfo[] {
  const jobsOf = new Map<string, string[]>();
  for (const [worker, job] of running) {
    const list = jobsOf.get(worker);
    if (list === undefined) jobsOf.set(worker, [job]);
    else list.push(job);
  }
  const iso = (ms: unknown) => new Date(Number(ms)).toISOString();
  const names = (text: unknown): string[] => {
    try {
      const value = JSON.parse(String(text));
      return Array.isArray(value) ? value.map(String) : [];
    } catch {
      return [];
    }
  };
  return [...rows]
    .map((r) => ({
      id: String(r.id),
      host: String(r.host),
      pid: Number(r.pid),
      tasks: names(r.tasks),
      queues: r.queues === null || r.queues === undefined ? null : names(r.queues),
      concurrency: Number(r.concurrency),
      startedAt: iso(r.started_at),
      lastSeenAt: iso(r.seen_at),
      stoppedAt: r.stopped_at === null || r.stopped_at === undefined ? null : iso(r.stopped_at),
      running: jobsOf.get(String(r.id)) ?? [],
      seen: Number(r.seen_at),
    }))
    .sort((a, b) => b.seen - a.seen || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map(({ seen: _, ...info }) => info);
}

/**
 * One entry per minute from `since` (a minute's start, epoch ms) for
 * `minutes` minutes, oldest first, from the counts of the minutes that have
 * some (zeros elsewhere).
 */
export function activityMinutes(
  since: number,
  minutes: number,
  rows: Iterable<{ minute: number; completed: number; failed: number }>,
): ActivityMinute[] {
  const byMinute = new Map<number, { completed: number; failed: number }>();
  for (const r of rows) byMinute.set(r.minute, r);
  return Array.from({ length: minutes }, (_, i) => {
    const at = since + i * 60_000;
    const r = byMinute.get(at);
    return {
      minute: new Date(at).toISOString(),
      completed: r?.completed ?? 0,
      failed: r?.failed ?? 0,
    };
  });
}
