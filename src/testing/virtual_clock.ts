/**
 * {@linkcode VirtualClock}: a {@linkcode Clock} that tests move by hand, so
 * retries, delays, timeouts, lease expiries and schedules that are hours
 * away happen at once.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { noneInFlight, operationsInFlight } from "../_in_flight.ts";
import type { Clock, TimerId } from "../clock.ts";

/** Most timers one `advance` fires before it gives up (a timer that re-arms itself at once). */
const MAX_FIRES = 1_000_000;

/** Event loop turns (of immediates) in one round of settling. */
const TURNS = 10;

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Timer {
  at: number;
  fn: () => void;
}

/**
 * A clock that stands still until {@linkcode VirtualClock.advance} moves
 * it. Hand the same one to a `JobQueue` and its `Worker` (the `clock`
 * option): `advance(3600)` then runs, in time order and without sleeping,
 * everything the worker would have done in that hour: delayed jobs and
 * retries coming due, handlers timing out (their `ctx.signal` aborts),
 * leases expiring, cron slots firing. Each step waits until the worker has
 * nothing more to do at that moment: its database operations (on
 * PostgreSQL, their round trips too) and what their results set off. A
 * handler waiting on real I/O (a `fetch`, a real timer) is not waited for:
 * in tests, wait on the clock instead (see {@linkcode VirtualClock.sleep}).
 *
 * @example A delayed job runs once its time comes
 * ```ts
 * import { JobQueue, task, Worker } from "@gigq/gigq";
 * import { VirtualClock } from "@gigq/gigq/testing";
 *
 * const clock = new VirtualClock();
 * const ping = task("ping", () => "pong");
 * const queue = new JobQueue(":memory:", { clock });
 * const worker = new Worker(":memory:", { tasks: [ping], clock });
 * const id = await ping.submit(queue, {}, { runAt: clock.now() + 3_600_000 });
 * const running = worker.start();
 * await clock.advance(3599);
 * console.assert((await queue.getStatus(id))?.status === "pending");
 * await clock.advance(1);
 * console.assert((await queue.getStatus(id))?.status === "completed");
 * worker.stop();
 * await running;
 * worker.close();
 * queue.close();
 * ```
 */
export class VirtualClock implements Clock {
  #now: number;
  #timers = new Map<number, Timer>();
  #next = 1;
  /** Grows with every timer set or cleared: settling waits until it stops. */
  #changes = 0;
  #advancing = false;

  /**
   * A clock at `start`.
   *
   * @param start where time starts: a `Date`, epoch milliseconds or an ISO
   *   8601 string
   * @default {the real time now}
   */
  constructor(start: Date | number | string = Date.now()) {
    const ms = start instanceof Date
      ? start.getTime()
      : typeof start === "string"
      ? Date.parse(start)
      : start;
    if (typeof ms !== "number" || !Number.isFinite(ms)) {
      throw new TypeError(
        `Cannot create VirtualClock: start must be a Date, epoch milliseconds or an ISO 8601 ` +
          `string, got ${typeof start === "string" ? JSON.stringify(start) : String(start)}`,
      );
    }
    this.#now = ms;
  }

  /**
   * The clock's time, in milliseconds since the Unix epoch.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "@gigq/gigq/testing";
   * const clock = new VirtualClock("2026-01-01T00:00:00Z");
   * console.assert(clock.now() === Date.UTC(2026, 0, 1));
   * ```
   */
  now(): number {
    return this.#now;
  }

  /**
   * Calls `fn` once the clock has moved `ms` milliseconds on (through
   * {@linkcode VirtualClock.advance}).
   *
   * @example
   * ```ts
   * import { VirtualClock } from "@gigq/gigq/testing";
   * const clock = new VirtualClock();
   * let fired = false;
   * clock.setTimeout(() => fired = true, 1000);
   * await clock.advance(1);
   * console.assert(fired);
   * ```
   *
   * @param fn what to call
   * @param ms after how long, in milliseconds of this clock
   */
  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, Number.isFinite(ms) ? ms : 0), fn });
    this.#changes++;
    return id;
  }

  /**
   * Cancels a timer set with {@linkcode VirtualClock.setTimeout}; unknown ids
   * are ignored.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "@gigq/gigq/testing";
   * const clock = new VirtualClock();
   * clock.clearTimeout(clock.setTimeout(() => {}, 10));
   * console.assert(clock.pendingTimers === 0);
   * ```
   *
   * @param id what `setTimeout` returned
   */
  clearTimeout(id: TimerId): void {
    if (this.#timers.delete(id as number)) this.#changes++;
  }

  /**
   * How many timers are set and not yet fired.
   *
   * @example
   * ```ts
   * import { VirtualClock } from "@gigq/gigq/testing";
   * console.assert(new VirtualClock().pendingTimers === 0);
   * ```
   */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Moves time `seconds` on. Fires the timers due on the way, earliest
   * first, each at its own time, and after each waits until what it set
   * off is done (the worker claimed, ran and recorded what came due, and
   * waits again); then waits the same way at the end. `advance(0)` only
   * lets what is due now happen. Resolves once all of that is over.
   *
   * @example Retries an hour away, in a moment
   * ```ts
   * import { VirtualClock } from "@gigq/gigq/testing";
   * const clock = new VirtualClock();
   * const fired: number[] = [];
   * for (const s of [60, 600, 3600]) clock.setTimeout(() => fired.push(clock.now()), s * 1000);
   * const start = clock.now();
   * await clock.advance(3600);
   * console.assert(fired.map((t) => (t - start) / 1000).join() === "60,600,3600");
   * ```
   *
   * @param seconds how far to move (a finite number, at least 0; fractions allowed)
   */
  async advance(seconds: number): Promise<void> {
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
      throw new RangeError(
        `Cannot advance the clock: seconds must be a finite number of at least 0, got ${
          typeof seconds === "string" ? JSON.stringify(seconds) : String(seconds)
        }`,
      );
    }
    if (this.#advancing) {
      throw new Error(
        "Cannot advance the clock: it is already being advanced (await the advance under way; " +
          "do not call advance from a handler or a timer)",
      );
    }
    this.#advancing = true;
    try {
      const target = this.#now + seconds * 1000;
      // And one real timer turn between two settlings: a worker starting yields to one
      // before its first claim (once its own turn is set, it comes before this one).
      await this.#settle();
      await new Promise((resolve) => setTimeout(resolve, 0));
      await this.#settle();
      for (let fired = 0;; fired++) {
        const due = this.#firstDue(target);
        if (due === undefined) break;
        if (fired >= MAX_FIRES) {
          throw new Error(
            `Cannot advance the clock: ${MAX_FIRES} timers fired without reaching ` +
              `${new Date(target).toISOString()} (a timer that sets itself again at once?)`,
          );
        }
        this.#timers.delete(due[0]);
        this.#changes++;
        this.#now = Math.max(this.#now, due[1].at);
        due[1].fn();
        await this.#settle();
      }
      this.#now = Math.max(this.#now, target);
      await this.#settle();
    } finally {
      this.#advancing = false;
    }
  }

  /**
   * Resolves after `seconds` of this clock (once `advance` has moved it that
   * far), or rejects with `signal`'s reason when it aborts first: a wait a
   * handler under test can use instead of a real timer.
   *
   * @example A handler that waits on the clock
   * ```ts
   * import { VirtualClock } from "@gigq/gigq/testing";
   * const clock = new VirtualClock();
   * let done = false;
   * const wait = clock.sleep(30).then(() => done = true);
   * await clock.advance(30);
   * await wait;
   * console.assert(done);
   * ```
   *
   * @param seconds how long to wait (at least 0)
   * @param signal aborts the wait
   */
  sleep(seconds: number, signal?: AbortSignal): Promise<void> {
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
      return Promise.reject(
        new RangeError(
          `Cannot sleep: seconds must be a finite number of at least 0, got ${String(seconds)}`,
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.clearTimeout(id);
        reject(signal!.reason);
      };
      const id = this.setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, seconds * 1000);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** The earliest timer due by `target` (the first set, among equals). */
  #firstDue(target: number): [number, Timer] | undefined {
    let first: [number, Timer] | undefined;
    for (const entry of this.#timers) {
      if (entry[1].at <= target && (first === undefined || entry[1].at < first[1].at)) {
        first = entry;
      }
    }
    return first;
  }

  /**
   * Lets what is under way finish: turns of the event loop until two rounds
   * in a row set or clear no timer and no database operation is in flight
   * (waiting for those without polling, then one real timer turn).
   */
  async #settle(): Promise<void> {
    for (let quiet = 0; quiet < 2;) {
      const before = this.#changes;
      for (let i = 0; i < TURNS; i++) await immediate();
      if (operationsInFlight() > 0) {
        // A server's answers come as I/O; what follows one may wait a real timer turn
        // (a worker yields to one after opening).
        await noneInFlight();
        await new Promise((resolve) => setTimeout(resolve, 0));
        quiet = 0;
        continue;
      }
      quiet = this.#changes === before ? quiet + 1 : 0;
    }
  }
}
