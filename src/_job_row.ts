/**
 * A job's row as both backends store it (the same snake_case columns, times
 * in epoch milliseconds) turned into the public {@linkcode JobInfo}.
 * Not part of the public API.
 *
 * @module
 */
import { fromJson } from "./_json.ts";
import type { Backoff } from "./job.ts";
import type { JobInfo } from "./job_info.ts";
import type { JobStatus } from "./job_status.ts";

/** Epoch milliseconds (a number or bigint) as an ISO 8601 string. */
export const iso = (ms: unknown): string => new Date(Number(ms)).toISOString();
/** {@linkcode iso}, keeping null. */
export const isoOrNull = (ms: unknown): string | null => ms === null ? null : iso(ms);

/** The report of the job in row `r` (with `cancelled_by_id`, the id of the job that cancelled it). */
export function toJobInfo(r: Readonly<Record<string, unknown>>): JobInfo {
  return {
    id: r.id as string,
    name: r.name as string,
    task: r.task as string,
    module: r.module as string | null,
    status: r.status as JobStatus,
    params: fromJson(r.params),
    dependencies: JSON.parse(r.dependencies as string),
    priority: Number(r.priority),
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    timeout: Number(r.timeout),
    retryDelay: Number(r.retry_delay),
    backoff: r.backoff as Backoff,
    description: r.description as string,
    result: r.status === "completed" ? fromJson(r.result) : null,
    error: r.error as string | null,
    // A completed job keeps the worker that completed it (its attempt's record).
    workerId: r.status === "running" ? r.worker_id as string : null,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    startedAt: isoOrNull(r.started_at),
    completedAt: isoOrNull(r.completed_at),
    runAt: iso(r.run_at),
    leaseUntil: isoOrNull(r.lease_until),
    cancelledBy: r.cancelled_by_id as string | null,
  };
}
