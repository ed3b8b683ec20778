/**
 * A job's row as both backends store it (the same snake_case columns, times
 * in epoch milliseconds) turned into the public {@linkcode JobInfo}.
 * Not part of the public API.
 *
 * @module
 */
import type { AttemptRecord, EdgeRecord, JobRecord } from "./_backend.ts";
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
    queue: r.queue as string,
    uniqueKey: (r.unique_key ?? null) as string | null,
    concurrencyKey: (r.concurrency_key ?? null) as string | null,
    progress: r.progress === null || r.progress === undefined ? null : fromJson(r.progress),
    maxRetryDelay: Number(r.max_retry_delay),
  };
}

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => v === null || v === undefined ? null : Number(v);
const textOrNull = (v: unknown): string | null => v === null || v === undefined ? null : String(v);

/** A job's row as read from either backend, as a {@linkcode JobRecord} (for copying). */
export function toJobRecord(r: Readonly<Record<string, unknown>>): JobRecord {
  return {
    seq: num(r.seq),
    id: String(r.id),
    name: String(r.name),
    task: String(r.task),
    module: textOrNull(r.module),
    params: String(r.params),
    priority: num(r.priority),
    max_attempts: num(r.max_attempts),
    timeout: num(r.timeout),
    retry_delay: num(r.retry_delay),
    backoff: String(r.backoff),
    description: String(r.description),
    dependencies: String(r.dependencies),
    status: r.status as JobStatus,
    attempts: num(r.attempts),
    runs: num(r.runs),
    run_at: num(r.run_at),
    // PostgreSQL's boolean, SQLite's 0/1.
    scheduled: r.scheduled === true || Number(r.scheduled) === 1 ? 1 : 0,
    parents_left: num(r.parents_left),
    children: num(r.children),
    result: textOrNull(r.result),
    error: textOrNull(r.error),
    worker_id: textOrNull(r.worker_id),
    lease_until: numOrNull(r.lease_until),
    cancelled_by: numOrNull(r.cancelled_by),
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
    started_at: numOrNull(r.started_at),
    completed_at: numOrNull(r.completed_at),
    lease_owner: textOrNull(r.lease_owner),
    queue: String(r.queue),
    unique_key: textOrNull(r.unique_key),
    concurrency_key: textOrNull(r.concurrency_key),
    progress: textOrNull(r.progress),
    max_retry_delay: num(r.max_retry_delay),
    trace_context: textOrNull(r.trace_context),
  };
}

/** An attempt's row as read from either backend, as an {@linkcode AttemptRecord}. */
export function toAttemptRecord(r: Readonly<Record<string, unknown>>): AttemptRecord {
  return {
    job: num(r.job),
    run: num(r.run),
    attempt: num(r.attempt),
    worker_id: String(r.worker_id),
    status: String(r.status),
    started_at: num(r.started_at),
    completed_at: num(r.completed_at),
    error: textOrNull(r.error),
  };
}

/** An edge's row as read from either backend, as an {@linkcode EdgeRecord}. */
export function toEdgeRecord(r: Readonly<Record<string, unknown>>): EdgeRecord {
  return { parent: num(r.parent), child: num(r.child), position: num(r.position) };
}

/** The columns of a {@linkcode JobRecord}, in table order (for the importers' statements). */
export const JOB_RECORD_COLUMNS: readonly (keyof JobRecord)[] = [
  "seq",
  "id",
  "name",
  "task",
  "module",
  "params",
  "priority",
  "max_attempts",
  "timeout",
  "retry_delay",
  "backoff",
  "description",
  "dependencies",
  "status",
  "attempts",
  "runs",
  "run_at",
  "scheduled",
  "parents_left",
  "children",
  "result",
  "error",
  "worker_id",
  "lease_until",
  "cancelled_by",
  "created_at",
  "updated_at",
  "started_at",
  "completed_at",
  "lease_owner",
  "queue",
  "unique_key",
  "progress",
  "max_retry_delay",
  "concurrency_key",
  "trace_context",
];

/** The refusal of an import into a storage that holds `count` jobs. */
export function notEmptyMessage(label: string, count: number): string {
  return `Cannot copy into ${label}: it already holds ${count} job${
    count === 1 ? "" : "s"
  }; nothing was written (copy into an empty queue, or use force to add the jobs beside them)`;
}

/** The refusal of an import whose job ids the target already has. */
export function collisionMessage(label: string, ids: readonly string[], total: number): string {
  return `Cannot copy into ${label}: it already holds ${total} of the jobs to copy (id ${
    ids.slice(0, 3).join(", ")
  }${
    total > 3 ? ", …" : ""
  }); nothing was written (force adds jobs beside others, never over a job with the same id)`;
}
