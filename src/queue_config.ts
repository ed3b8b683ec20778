/**
 * A named queue's settings: limits every worker obeys in its claim, and how
 * long ended jobs are kept. Stored in the queue's database by
 * `JobQueue.configureQueue`.
 *
 * @module
 */
import { describe } from "./job_status.ts";

/**
 * A rate limit: at most `max` job starts in any window of `perSeconds` seconds.
 *
 * @example 100 calls a minute
 * ```ts ignore
 * const rate: RateLimit = { max: 100, perSeconds: 60 };
 * await queue.configureQueue("api", { rateLimit: rate });
 * ```
 */
export interface RateLimit {
  /** Most job starts in any window (a whole number from 1 to 1,000,000). */
  max: number;
  /** The window, in seconds (more than 0, at most 86,400; millisecond precision). */
  perSeconds: number;
}

/**
 * What `JobQueue.configureQueue` changes: each field given is set (`null`
 * puts it back to its default: no limit, or the default retention); fields
 * left out keep what is stored.
 *
 * @example
 * ```ts ignore
 * const config: QueueConfig = { concurrency: 5, rateLimit: { max: 100, perSeconds: 60 } };
 * await queue.configureQueue("emails", config);
 * ```
 */
export interface QueueConfig {
  /** Most jobs of the queue running at once, across every worker and process. */
  concurrency?: number | null;
  /** Most running jobs per `concurrencyKey` in the queue (jobs without a key are not limited by it). */
  keyConcurrency?: number | null;
  /** At most `max` job starts in any window of `perSeconds`, across every worker. */
  rateLimit?: RateLimit | null;
  /**
   * Seconds a completed job is kept before workers prune it (`Infinity`:
   * forever). Default {@linkcode DEFAULT_KEEP_COMPLETED}.
   */
  keepCompleted?: number | null;
  /**
   * Seconds a failed, timed-out or cancelled job is kept before workers
   * prune it (`Infinity`: forever). Default {@linkcode DEFAULT_KEEP_FAILED}.
   */
  keepFailed?: number | null;
}

/**
 * A queue's stored settings, as `JobQueue.configureQueue` returns them and
 * `JobQueue.queues` lists them (`null`: no limit).
 *
 * @example
 * ```ts ignore
 * const settings: QueueSettings = await queue.configureQueue("emails", { concurrency: 5 });
 * console.log(settings.concurrency, settings.keepCompleted);
 * ```
 */
export interface QueueSettings {
  /** Most jobs running at once across every worker, or `null`. */
  concurrency: number | null;
  /** Most running jobs per concurrency key, or `null`. */
  keyConcurrency: number | null;
  /** The rate limit, or `null`. */
  rateLimit: RateLimit | null;
  /** Seconds completed jobs are kept (`Infinity`: forever). */
  keepCompleted: number;
  /** Seconds failed, timed-out and cancelled jobs are kept (`Infinity`: forever). */
  keepFailed: number;
}

/**
 * Seconds a completed job is kept when its queue does not say: 7 days.
 *
 * @example
 * ```ts ignore
 * const { keepCompleted } = await queue.configureQueue("emails", {});
 * console.log(keepCompleted === DEFAULT_KEEP_COMPLETED); // true, unless set
 * ```
 */
export const DEFAULT_KEEP_COMPLETED = 7 * 86_400;
/**
 * Seconds a failed, timed-out or cancelled job is kept when its queue does
 * not say: 30 days.
 *
 * @example
 * ```ts ignore
 * await queue.configureQueue("emails", { keepFailed: 2 * DEFAULT_KEEP_FAILED });
 * ```
 */
export const DEFAULT_KEEP_FAILED = 30 * 86_400;

/** The largest concurrency or rate `max`. */
const MAX_LIMIT = 1_000_000;
/** The longest rate window, in seconds. */
const MAX_RATE_WINDOW = 86_400;
/** The longest finite retention, in seconds (100 years). */
const MAX_KEEP = 100 * 365 * 86_400;

/**
 * The settings as stored, one column each (NULL: unset). Retention is in
 * seconds, -1 for forever; the rate window in milliseconds.
 */
export interface SettingsRow {
  concurrency: number | null;
  key_concurrency: number | null;
  rate_max: number | null;
  rate_per: number | null;
  keep_completed: number | null;
  keep_failed: number | null;
}

/** The settings of a queue nothing was stored for. */
export const NO_SETTINGS: Readonly<SettingsRow> = Object.freeze({
  concurrency: null,
  key_concurrency: null,
  rate_max: null,
  rate_per: null,
  keep_completed: null,
  keep_failed: null,
});

const FIELDS = ["concurrency", "keyConcurrency", "rateLimit", "keepCompleted", "keepFailed"];

function limit(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_LIMIT) {
    throw new (typeof value === "number" ? RangeError : TypeError)(
      `Cannot configure queue: ${field} must be a whole number from 1 to ${MAX_LIMIT} (or null ` +
        `for no limit), got ${describe(value)}`,
    );
  }
  return value;
}

function keep(field: string, value: unknown): number {
  if (value === Infinity) return -1;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_KEEP) {
    throw new (typeof value === "number" ? RangeError : TypeError)(
      `Cannot configure queue: ${field} must be a whole number of seconds from 0 to ${MAX_KEEP}, ` +
        `Infinity (keep forever) or null (the default), got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * The stored row after applying `config` to `row`: checks every field
 * before changing any (a `TypeError` or `RangeError` naming the bad one).
 */
export function applyConfig(row: Readonly<SettingsRow>, config: unknown): SettingsRow {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new TypeError(
      `Cannot configure queue: the settings must be an object with some of ${
        FIELDS.join(", ")
      }, got ${describe(config)}`,
    );
  }
  const c = config as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (!FIELDS.includes(key)) {
      throw new TypeError(
        `Cannot configure queue: unknown setting ${JSON.stringify(key)} (allowed: ${
          FIELDS.join(", ")
        })`,
      );
    }
  }
  const next: SettingsRow = { ...row };
  if (c.concurrency !== undefined) {
    next.concurrency = c.concurrency === null ? null : limit("concurrency", c.concurrency);
  }
  if (c.keyConcurrency !== undefined) {
    next.key_concurrency = c.keyConcurrency === null
      ? null
      : limit("keyConcurrency", c.keyConcurrency);
  }
  if (c.rateLimit !== undefined) {
    if (c.rateLimit === null) {
      next.rate_max = next.rate_per = null;
    } else {
      const r = c.rateLimit as Record<string, unknown>;
      if (typeof r !== "object" || Array.isArray(r)) {
        throw new TypeError(
          `Cannot configure queue: rateLimit must be { max, perSeconds } or null, got ${
            describe(c.rateLimit)
          }`,
        );
      }
      for (const key of Object.keys(r)) {
        if (key !== "max" && key !== "perSeconds") {
          throw new TypeError(
            `Cannot configure queue: unknown rateLimit field ${
              JSON.stringify(key)
            } (allowed: max, perSeconds)`,
          );
        }
      }
      next.rate_max = limit("rateLimit.max", r.max);
      const per = r.perSeconds;
      if (
        typeof per !== "number" || !Number.isFinite(per) || per < 0.001 || per > MAX_RATE_WINDOW
      ) {
        throw new (typeof per === "number" ? RangeError : TypeError)(
          `Cannot configure queue: rateLimit.perSeconds must be a number of seconds from 0.001 ` +
            `to ${MAX_RATE_WINDOW}, got ${describe(per)}`,
        );
      }
      next.rate_per = Math.round(per * 1000);
    }
  }
  if (c.keepCompleted !== undefined) {
    next.keep_completed = c.keepCompleted === null ? null : keep("keepCompleted", c.keepCompleted);
  }
  if (c.keepFailed !== undefined) {
    next.keep_failed = c.keepFailed === null ? null : keep("keepFailed", c.keepFailed);
  }
  return next;
}

function keptSeconds(stored: number | null, fallback: number): number {
  return stored === null ? fallback : stored < 0 ? Infinity : stored;
}

/** The public settings of a stored row. */
export function toSettings(row: Readonly<SettingsRow>): QueueSettings {
  return {
    concurrency: row.concurrency,
    keyConcurrency: row.key_concurrency,
    rateLimit: row.rate_max === null || row.rate_per === null
      ? null
      : { max: row.rate_max, perSeconds: row.rate_per / 1000 },
    keepCompleted: keptSeconds(row.keep_completed, DEFAULT_KEEP_COMPLETED),
    keepFailed: keptSeconds(row.keep_failed, DEFAULT_KEEP_FAILED),
  };
}

/** Whether a queue's claim is limited (concurrency, per-key concurrency or rate). */
export function isLimited(row: Readonly<SettingsRow>): boolean {
  return row.concurrency !== null || row.key_concurrency !== null || row.rate_max !== null;
}

/** A stored row's columns, in table order (as the backends' setSettings statements bind them). */
export function settingsValues(r: Readonly<SettingsRow>): (number | null)[] {
  return [
    r.concurrency,
    r.key_concurrency,
    r.rate_max,
    r.rate_per,
    r.keep_completed,
    r.keep_failed,
  ];
}

/** A row read from either backend (numbers may come as bigint strings from PostgreSQL). */
export function settingsRow(r: Record<string, unknown>): SettingsRow {
  const n = (v: unknown) => v === null || v === undefined ? null : Number(v);
  return {
    concurrency: n(r.concurrency),
    key_concurrency: n(r.key_concurrency),
    rate_max: n(r.rate_max),
    rate_per: n(r.rate_per),
    keep_completed: n(r.keep_completed),
    keep_failed: n(r.keep_failed),
  };
}
