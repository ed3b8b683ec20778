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
}

/** Counts per status, from `JobQueue.stats`. */
export interface QueueStats {
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
  /** All jobs. */
  total: number;
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
