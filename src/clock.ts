/**
 * Time as GigQ sees it. Everything that reads the time or waits goes through a
 * {@linkcode Clock}, so tests can move time instead of sleeping.
 *
 * @module
 */

/** An opaque handle returned by {@linkcode Clock.setTimeout}. */
export type TimerId = unknown;

/**
 * The source of time for a queue or worker.
 *
 * @example A clock that runs one hour ahead
 * ```ts
 * import { type Clock, systemClock } from "./clock.ts";
 * const ahead: Clock = { ...systemClock, now: () => Date.now() + 3_600_000 };
 * ```
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (UTC). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds of this clock's time. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a timer; unknown ids are ignored. */
  clearTimeout(id: TimerId): void;
}

/**
 * The real clock: `Date.now()` and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * const t = systemClock.now();
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};
