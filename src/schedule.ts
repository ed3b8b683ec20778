/**
 * Cron schedules: {@linkcode ScheduleOptions} (what `JobQueue.schedule`
 * takes), {@linkcode ScheduleInfo} (what `JobQueue.schedules` reports) and
 * {@linkcode nextRunTimes} (when an expression fires, without a queue).
 *
 * @module
 */
import type { JsonValue } from "./_json.ts";
import { checkCron, loadCron } from "./_schedule_plan.ts";
import { instant, integer, knownKeys } from "./_validate.ts";
import type { Backoff, JobOptions, TaskRef } from "./job.ts";
import { describe } from "./job_status.ts";

/**
 * What a schedule does with slots it missed, when its workers come back
 * after a downtime (or it is resumed after a pause). A slot counts as
 * missed when it is more than 30 seconds late (the grace); a slot less late
 * always fires, so a busy machine never drops one:
 * - `"skip"`: no job for the missed slots; the schedule goes on from the next one;
 * - `"one"`: one job for the whole missed window (not one per slot);
 * - `"all"`: one job per missed slot, at most 1,000 per pass (the rest in the
 *   next pass, at once).
 */
export type MissedSlots = "skip" | "one" | "all";

/**
 * What {@linkcode JobQueue.schedule} takes: a name, a cron expression, the
 * task and params of the jobs each slot fires, and their job options (as
 * `new Job({...})` takes them, checked the same way).
 */
export interface ScheduleOptions extends JobOptions {
  /**
   * The schedule's name (1 to 200 characters): scheduling the same name
   * again updates it. Its jobs are named after it.
   */
  name: string;
  /**
   * When it fires: five fields (`minute hour day-of-month month
   * day-of-week`), six with a seconds field first (`*\/10 * * * * *`), or
   * an alias (`@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`,
   * `@yearly`, `@annually`). Names (`MON`, `JAN`), ranges, lists, steps,
   * `L`, `W` and `#` work as in croner; `?` means `*`. With both a day of
   * month and a day of week, a day matching either fires (as in Vixie cron).
   */
  cron: string;
  /** The task each slot's job runs: a task object from `task()`, or a task name. */
  task: TaskRef | string;
  /**
   * The params of every job it fires (JSON, as a job's params).
   *
   * @default {{}}
   */
  params?: unknown;
  /**
   * The IANA time zone the expression is read in (`"Europe/Berlin"`). On
   * the days the clocks change, a slot whose wall time is skipped fires
   * once, moved forward by the skipped span (02:30 on a spring-forward
   * night fires at 03:30); a wall time that happens twice fires once, at
   * its first pass, unless the hour field is `*` (an hourly or finer
   * schedule fires once per real hour, in both passes).
   *
   * @default {"UTC"}
   */
  timezone?: string;
  /**
   * The concurrency key of every job it fires (as {@linkcode JobInit.concurrencyKey}).
   *
   * @default {none}
   */
  concurrencyKey?: string;
  /**
   * Where the task came from (as {@linkcode JobInit.module}): recorded on its jobs.
   *
   * @default {none}
   */
  module?: string;
  /**
   * What to do with slots missed while no worker of its task ran (see
   * {@linkcode MissedSlots}).
   *
   * @default {"one"}
   */
  missed?: MissedSlots;
  /**
   * Paused: it fires nothing until it is scheduled again with `paused:
   * false`; its slots meanwhile are missed ones (its `missed` rule decides).
   * Left out, an existing schedule keeps its state (so that an application
   * that schedules at every start does not resume what an operator paused).
   *
   * @default {false for a new schedule; as stored for an existing one}
   */
  paused?: boolean;
}

/** A schedule as {@linkcode JobQueue.schedules} reports it. Times are ISO 8601 strings (UTC). */
export interface ScheduleInfo {
  /** Its name (its jobs are named after it). */
  name: string;
  /** The cron expression. */
  cron: string;
  /** The IANA time zone it is read in. */
  timezone: string;
  /** The task its jobs run. */
  task: string;
  /** Where the task came from, if recorded. */
  module: string | null;
  /** The params of its jobs. */
  params: JsonValue;
  /** The named queue its jobs wait in. */
  queue: string;
  /** Its jobs' priority. */
  priority: number;
  /** How many times each job may run. */
  maxAttempts: number;
  /** Seconds each attempt may run. */
  timeout: number;
  /** Seconds before a retry. */
  retryDelay: number;
  /** How the retry delay grows. */
  backoff: Backoff;
  /** The longest exponential wait between attempts, in seconds. */
  maxRetryDelay: number;
  /** Its jobs' description. */
  description: string;
  /** What it does with missed slots. */
  missed: MissedSlots;
  /** Whether it is paused. */
  paused: boolean;
  /** The next slot not yet fired (a past one while paused or missed); `null`: no more slots. */
  nextRunAt: string | null;
  /** The last slot it fired, if any. */
  lastRunAt: string | null;
  /** When it was first scheduled. */
  createdAt: string;
  /** When it was last scheduled (changed). */
  updatedAt: string;
}

/** Options for {@linkcode nextRunTimes}. */
export interface NextRunOptions {
  /**
   * The IANA time zone the expression is read in.
   *
   * @default {"UTC"}
   */
  timezone?: string;
  /**
   * Slots after this time (a Date, an ISO 8601 string or epoch ms).
   *
   * @default {now}
   */
  after?: Date | string | number;
  /**
   * How many slots (1 to 1,000).
   *
   * @default {5}
   */
  count?: number;
}

/**
 * The next times a cron expression fires in a time zone, as a schedule with
 * it would (with the same rules on the days the clocks change), checked as
 * {@linkcode JobQueue.schedule} checks it: a bad expression or time zone is a
 * `RangeError` naming it and saying why. No queue is involved: this is how
 * to check an expression before scheduling it.
 *
 * @example When a 02:30 Berlin job runs around a spring-forward night
 * ```ts ignore
 * import { nextRunTimes } from "@gigq/gigq";
 *
 * const times = await nextRunTimes("30 2 * * *", {
 *   timezone: "Europe/Berlin",
 *   after: "2026-03-28T00:00:00Z",
 *   count: 3,
 * });
 * // 2026-03-28T01:30Z (02:30 CET), 2026-03-29T01:30Z (03:30 CEST: 02:30 was skipped),
 * // 2026-03-30T00:30Z (02:30 CEST)
 * ```
 *
 * @param cron the expression (see {@linkcode ScheduleOptions.cron})
 * @param options the time zone, from when, and how many
 */
export async function nextRunTimes(cron: string, options: NextRunOptions = {}): Promise<Date[]> {
  const context = "Cannot read cron";
  knownKeys(context, options ?? {}, ["timezone", "after", "count"]);
  const count = integer(context, "count", options.count ?? 5, 1, 1000);
  const after = options.after === undefined ? Date.now() : instant(context, "after", options.after);
  const timezone = options.timezone ?? "UTC";
  if (typeof cron !== "string") {
    throw new TypeError(`${context}: cron must be a string, got ${describe(cron)}`);
  }
  if (typeof timezone !== "string") {
    throw new TypeError(`${context}: timezone must be a string, got ${describe(timezone)}`);
  }
  await loadCron();
  const rule = checkCron(context, cron, timezone);
  const times: Date[] = [];
  for (let t = rule.next(after); t !== undefined && times.length < count; t = rule.next(t)) {
    times.push(new Date(t));
  }
  return times;
}
