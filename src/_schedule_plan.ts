/**
 * The backend-agnostic reasoning of schedules: checking what
 * `JobQueue.schedule` is given (before anything is stored), what an update
 * keeps, which slots a fire takes under the missed-slot rule, and the jobs
 * it inserts. The cron code (and with it the npm package croner) is loaded
 * on first use, by a name Deno cannot follow before it runs.
 *
 * Internal (not exported from `mod.ts`).
 *
 * @module
 */
import type { PreparedJob, ScheduleRecord } from "./_backend.ts";
import { fromJson, toJson } from "./_json.ts";
import { knownKeys, oneOf, text } from "./_validate.ts";
import type { CronRule } from "./_cron.ts";
import { Job, type JobInit } from "./job.ts";
import { describe, quote } from "./job_status.ts";
import { TASK_OPTION_KEYS } from "./task.ts";
import type { MissedSlots, ScheduleInfo, ScheduleOptions } from "./schedule.ts";

/**
 * The cron module, imported by a name Deno cannot follow before it runs: a
 * literal `import("…")` of it (or of croner) would be resolved with the
 * program, and download croner for every user of the package.
 */
const CRON_MODULE = new URL("./_cron.ts", import.meta.url).href;

let cron: typeof import("./_cron.ts") | undefined;
let loading: Promise<void> | undefined;

/**
 * Loads the cron code (once per isolate). A failed load (croner not yet
 * downloaded, and no network) is tried again next time.
 */
export function loadCron(): Promise<void> {
  if (cron !== undefined) return Promise.resolve();
  return loading ??= (import(CRON_MODULE) as Promise<typeof import("./_cron.ts")>).then(
    (mod) => {
      cron = mod;
    },
    (error) => {
      loading = undefined;
      throw new Error(
        `Cannot read cron expressions: the npm package croner@10 did not load: ${
          (error as Error)?.message ?? error
        }`,
        { cause: error },
      );
    },
  );
}

const rules = new Map<string, CronRule>();

/**
 * `expression` read in `timezone` (cron loaded first); a `RangeError` that
 * starts with `context` and names the bad value.
 */
export function checkCron(context: string, expression: string, timezone: string): CronRule {
  if (cron === undefined) throw new Error("Cannot read a cron expression before loadCron()");
  const key = `${expression}\u0000${timezone}`;
  let rule = rules.get(key);
  if (rule !== undefined) return rule;
  try {
    rule = cron.CronRule.parse(expression, timezone);
  } catch (error) {
    if (!(error instanceof cron.CronError)) throw error;
    throw new RangeError(`${context}: ${error.message}`);
  }
  if (rules.size >= 1000) rules.clear();
  rules.set(key, rule);
  return rule;
}

/** The allowed {@linkcode MissedSlots} values. */
export const MISSED_SLOTS: readonly MissedSlots[] = ["skip", "one", "all"];
/** How late a slot may fire and count as on time (not missed), in ms: 30 s. */
export const GRACE_MS = 30_000;
/** Most missed slots a schedule with `missed: "all"` fires in one pass. */
export const MAX_CATCH_UP = 1000;

/** The job options a schedule gives its jobs (as `new Job` takes them). */
const JOB_OPTION_KEYS = [...TASK_OPTION_KEYS, "concurrencyKey"] as const;

const SCHEDULE_KEYS = [
  "name",
  "cron",
  "task",
  "params",
  "timezone",
  "module",
  "missed",
  "paused",
  ...JOB_OPTION_KEYS,
] as const;

/** A schedule checked and serialized, ready to be merged with what is stored. */
export interface PreparedSchedule {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  module: string | null;
  /** JSON text. */
  params: string;
  /** JSON text of the job options. */
  options: string;
  missed: MissedSlots;
  /** undefined: keep the stored state (false for a new schedule). */
  paused: boolean | undefined;
  rule: CronRule;
}

/**
 * Checks what `JobQueue.schedule` was given, as far as it can without the
 * queue: name, cron and time zone, and the job it describes (built as a
 * {@linkcode Job}, so a bad option is refused with Job's own message).
 * Throws a `TypeError` or `RangeError`; loads the cron code first.
 */
export async function prepareSchedule(
  options: ScheduleOptions,
  maxPayload: number,
): Promise<PreparedSchedule> {
  let context = "Cannot schedule";
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `${context}: expected an object with name, cron and task, got ${describe(options)}`,
    );
  }
  knownKeys(context, options, SCHEDULE_KEYS);
  const name = text(context, "name", options.name, { max: 200, allowEmpty: false });
  context = `Cannot schedule ${quote(name)}`;
  if (typeof options.cron !== "string") {
    throw new TypeError(
      `${context}: cron must be a cron expression (a string such as "0 1 * * *"), got ${
        describe(options.cron)
      }`,
    );
  }
  const timezone = options.timezone ?? "UTC";
  if (typeof timezone !== "string") {
    throw new TypeError(
      `${context}: timezone must be an IANA time zone name (a string such as ` +
        `"Europe/Berlin"), got ${describe(timezone)}`,
    );
  }
  const missed = oneOf(context, "missed", options.missed ?? "one", MISSED_SLOTS);
  if (options.paused !== undefined && typeof options.paused !== "boolean") {
    throw new TypeError(
      `${context}: paused must be true or false, got ${describe(options.paused)}`,
    );
  }
  const init: Record<string, unknown> = { task: options.task, name, params: options.params };
  if (options.module !== undefined) init.module = options.module;
  for (const key of JOB_OPTION_KEYS) {
    const value = (options as unknown as Record<string, unknown>)[key];
    if (value !== undefined) init[key] = value;
  }
  // Job checks the task, module and every option, in its own words.
  const job = new Job(init as unknown as JobInit);
  const params = toJson(job.params, "params", context, maxPayload);
  const jobOptions: Record<string, unknown> = {};
  for (const key of JOB_OPTION_KEYS) {
    const value = (job as unknown as Record<string, unknown>)[key];
    if (value !== undefined) jobOptions[key] = value;
  }
  await loadCron();
  const rule = checkCron(context, options.cron, timezone);
  return {
    name,
    cron: options.cron,
    timezone,
    task: job.task,
    module: job.module ?? null,
    params,
    options: JSON.stringify(jobOptions),
    missed,
    paused: options.paused,
    rule,
  };
}

/**
 * The row to store for `p`, given the stored one (if any), at `now`. An
 * update that keeps cron and time zone keeps next_run_at (scheduling at
 * every start neither skips nor repeats a slot); one that changes them
 * takes effect from the first new slot after now (or after the last slot
 * fired, if that is later). `paused` left out keeps the stored state.
 */
export function mergeSchedule(
  p: PreparedSchedule,
  stored: ScheduleRecord | undefined,
  now: number,
): ScheduleRecord {
  const same = stored !== undefined && stored.cron === p.cron && stored.timezone === p.timezone;
  const from = Math.max(now, stored?.last_run_at ?? -Infinity);
  return {
    name: p.name,
    cron: p.cron,
    timezone: p.timezone,
    task: p.task,
    module: p.module,
    params: p.params,
    options: p.options,
    missed: p.missed,
    paused: p.paused ?? stored?.paused ?? false,
    next_run_at: same ? stored.next_run_at : p.rule.next(from) ?? null,
    last_run_at: stored?.last_run_at ?? null,
    created_at: stored?.created_at ?? now,
    updated_at: stored === undefined ? now : Math.max(now, stored.updated_at + 1),
  };
}

/** The slots a fire of `s` at `now` takes, and where the schedule goes on. */
export interface FirePlan {
  slots: number[];
  nextRunAt: number | null;
  lastRunAt: number | null;
}

/**
 * Which slots of `s` fire at `now`, if any is due: every slot at most
 * {@linkcode GRACE_MS} late; of the earlier (missed) ones, none (`skip`),
 * the first alone for the whole window (`one`) or each, up to
 * {@linkcode MAX_CATCH_UP} (`all`: the rest are due at once, for the next
 * pass). Undefined when nothing is due (paused, or another fire went first).
 */
export function planFire(s: ScheduleRecord, now: number): FirePlan | undefined {
  if (s.paused || s.next_run_at === null || s.next_run_at > now) return undefined;
  if (cron === undefined) throw new Error("Cannot plan a fire before loadCron()");
  const rule = checkCron(`Cannot fire schedule ${quote(s.name)}`, s.cron, s.timezone);
  const onTime = now - GRACE_MS;
  const slots: number[] = [];
  let cursor: number | undefined = s.next_run_at;
  if (cursor < onTime) {
    if (s.missed === "all") {
      while (cursor !== undefined && cursor < onTime && slots.length < MAX_CATCH_UP) {
        slots.push(cursor);
        cursor = rule.next(cursor);
      }
      if (cursor !== undefined && cursor < onTime) {
        return { slots, nextRunAt: cursor, lastRunAt: slots.at(-1)! };
      }
    } else {
      if (s.missed === "one") slots.push(cursor);
      // The first slot on time: the rest of the window is covered (or skipped).
      cursor = rule.next(onTime - 1);
    }
  }
  while (cursor !== undefined && cursor <= now && slots.length < MAX_CATCH_UP + 64) {
    slots.push(cursor);
    cursor = rule.next(cursor);
  }
  return {
    slots,
    nextRunAt: cursor ?? null,
    lastRunAt: slots.length > 0 ? slots.at(-1)! : s.last_run_at,
  };
}

/** The job of each slot: the schedule's task, params and options, not before its slot. */
export function slotJobs(s: ScheduleRecord, slots: readonly number[]): PreparedJob[] {
  const options = JSON.parse(s.options) as Record<string, unknown>;
  const params = fromJson(s.params);
  return slots.map((slot) => ({
    job: new Job({
      ...options,
      task: s.task,
      name: s.name,
      params,
      module: s.module ?? undefined,
      runAt: slot,
    } as JobInit),
    params: s.params,
  }));
}

/** A stored schedule as the public report. */
export function toScheduleInfo(s: ScheduleRecord): ScheduleInfo {
  const o = JSON.parse(s.options) as Record<string, unknown>;
  const iso = (ms: number | null) => ms === null ? null : new Date(ms).toISOString();
  return {
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    task: s.task,
    module: s.module,
    params: fromJson(s.params),
    queue: (o.queue as string | undefined) ?? "default",
    priority: (o.priority as number | undefined) ?? 0,
    maxAttempts: (o.maxAttempts as number | undefined) ?? 3,
    timeout: (o.timeout as number | undefined) ?? 300,
    retryDelay: (o.retryDelay as number | undefined) ?? 0,
    backoff: (o.backoff as ScheduleInfo["backoff"] | undefined) ?? "fixed",
    maxRetryDelay: (o.maxRetryDelay as number | undefined) ?? 86_400,
    description: (o.description as string | undefined) ?? "",
    missed: s.missed as MissedSlots,
    paused: s.paused,
    nextRunAt: iso(s.next_run_at),
    lastRunAt: iso(s.last_run_at),
    createdAt: new Date(s.created_at).toISOString(),
    updatedAt: new Date(s.updated_at).toISOString(),
  };
}
