/**
 * A schedule's row, and a slot record's, as both backends store them (the
 * same snake_case columns, times in epoch milliseconds; SQLite's `paused`
 * 0 or 1, PostgreSQL's a boolean), read into the records the seam passes.
 * Not part of the public API.
 *
 * @module
 */
import type { ScheduleRecord, ScheduleRunRecord } from "./_backend.ts";

/** The columns of a {@linkcode ScheduleRecord}, in the order the statements bind them. */
export const SCHEDULE_COLUMNS: readonly (keyof ScheduleRecord)[] = [
  "name",
  "cron",
  "timezone",
  "task",
  "module",
  "params",
  "options",
  "missed",
  "paused",
  "next_run_at",
  "last_run_at",
  "created_at",
  "updated_at",
];

const numOrNull = (v: unknown): number | null => v === null || v === undefined ? null : Number(v);

/** A schedule's row as read from either backend. */
export function toScheduleRecord(r: Readonly<Record<string, unknown>>): ScheduleRecord {
  return {
    name: String(r.name),
    cron: String(r.cron),
    timezone: String(r.timezone),
    task: String(r.task),
    module: r.module === null || r.module === undefined ? null : String(r.module),
    params: String(r.params),
    options: String(r.options),
    missed: String(r.missed),
    paused: r.paused === true || r.paused === 1 || r.paused === 1n,
    next_run_at: numOrNull(r.next_run_at),
    last_run_at: numOrNull(r.last_run_at),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
  };
}

/** A slot record's row as read from either backend. */
export function toScheduleRunRecord(r: Readonly<Record<string, unknown>>): ScheduleRunRecord {
  return {
    schedule: String(r.schedule),
    slot: Number(r.slot),
    job_id: String(r.job_id),
    fired_at: Number(r.fired_at),
  };
}
