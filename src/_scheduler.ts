/**
 * {@linkcode Scheduler}: how a running Worker fires the due slots of the
 * schedules of its tasks. There is no leader: every worker of a schedule's
 * task tries, and the backend's fire (a compare-and-set of the schedule's
 * next slot, in the transaction that inserts the slot's record and its job)
 * lets exactly one of them fire each slot.
 *
 * Internal (not exported from `mod.ts`).
 *
 * @module
 */
import type { Backend, ScheduleRecord } from "./_backend.ts";
import { errorText } from "./_error_text.ts";
import { inFlight } from "./_in_flight.ts";
import { loadCron, planFire, slotJobs } from "./_schedule_plan.ts";
import type { Clock, TimerId } from "./clock.ts";

/** How soon to look again after a fire lost to another worker that may not have committed yet. */
const LOST_RETRY_MS = 50;

const listeners = new Map<string, Set<() => void>>();

/**
 * Tells this isolate's schedulers of queue `label` (a queue's `.path`) that
 * its schedules changed.
 */
export function scheduleChanged(label: string): void {
  for (const listener of listeners.get(label) ?? []) listener();
}

function onScheduleChange(label: string, listener: () => void): () => void {
  let set = listeners.get(label);
  if (set === undefined) listeners.set(label, set = new Set());
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0) listeners.delete(label);
  };
}

/** What a scheduler needs of its worker. */
export interface SchedulerOptions {
  /** The worker's backend, open. */
  backend: () => Promise<Backend>;
  clock: Clock;
  /** The worker's task names: it fires the schedules of these. */
  tasks: readonly string[];
  /** The queue's `.path`, for this isolate's change notices. */
  label: string;
  /**
   * How often to read the schedules again (another process may have added
   * or changed one), in ms: the worker's poll interval. A change made in
   * this isolate is read at once.
   */
  refreshMs: number;
  /** Writes a line to the worker's log. */
  log: (level: "debug" | "warn" | "error", message: string) => void;
}

/**
 * Fires due schedule slots for one worker while it runs: a timer (on the
 * worker's clock) for the earliest next slot of its tasks' schedules, or
 * for the next read of them, whichever is sooner. Never throws: a failed
 * read or fire is logged and tried again, backing off up to the refresh
 * interval; the worker's claims go on meanwhile.
 */
export class Scheduler {
  readonly #o: SchedulerOptions;
  #timer: TimerId | undefined;
  #stopped = true;
  /** A pass is under way; another was asked for meanwhile. */
  #state: "idle" | "busy" | "again" = "idle";
  #failures = 0;
  #unsubscribe: (() => void) | undefined;

  constructor(options: SchedulerOptions) {
    this.#o = options;
  }

  /** Starts firing (a worker without tasks has nothing to fire). */
  start(): void {
    if (!this.#stopped || this.#o.tasks.length === 0) return;
    this.#stopped = false;
    this.#unsubscribe = onScheduleChange(this.#o.label, () => this.#kick());
    this.#kick();
  }

  /** Stops firing; a pass under way writes what it began, and arms nothing. Safe to call twice. */
  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Runs a pass now (after the one under way, if any). */
  #kick(): void {
    if (this.#stopped) return;
    if (this.#state !== "idle") {
      this.#state = "again";
      return;
    }
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#state = "busy";
    // Counted as in flight: tests that move the clock wait for it, as for a backend's work.
    void inFlight(this.#passes());
  }

  async #passes(): Promise<void> {
    let wait: number;
    for (;;) {
      wait = await this.#pass();
      if (this.#state !== "again" || this.#stopped) break;
      this.#state = "busy";
    }
    this.#state = "idle";
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#kick();
    }, Math.max(0, wait));
  }

  /** Reads the schedules, fires the due ones; resolves to how long to wait for the next pass. */
  async #pass(): Promise<number> {
    const { clock } = this.#o;
    let backend: Backend;
    let rows: ScheduleRecord[];
    try {
      backend = await this.#o.backend();
      rows = await backend.listSchedules({ tasks: this.#o.tasks, now: clock.now() });
    } catch (error) {
      return this.#failed("could not read the schedules", error);
    }
    let wake = clock.now() + this.#o.refreshMs;
    let failed = false;
    for (const row of rows) {
      if (this.#stopped) break;
      if (row.paused || row.next_run_at === null) continue;
      let next: number | null = row.next_run_at;
      if (next <= clock.now()) {
        try {
          next = await this.#fire(backend, row);
        } catch (error) {
          // One schedule that cannot fire holds up no other.
          wake = Math.min(
            wake,
            clock.now() + this.#failed(
              `could not fire schedule ${JSON.stringify(row.name)}`,
              error,
            ),
          );
          failed = true;
          continue;
        }
      }
      if (next !== null) wake = Math.min(wake, next);
    }
    if (!failed) this.#failures = 0;
    return wake - clock.now();
  }

  /** Logs a failure; resolves to how long to wait before trying again (backing off). */
  #failed(what: string, error: unknown): number {
    this.#failures++;
    const wait = Math.min(this.#o.refreshMs, 100 * 2 ** Math.min(this.#failures, 10));
    // A pass that was under way when its worker stopped (and closed) has nothing to report.
    if (!this.#stopped) {
      this.#o.log("error", `${what}: ${errorText(error).message}; retrying in ${wait} ms`);
    }
    return wait;
  }

  /**
   * Fires the due slots of `row`; resolves to when to look at it again: its
   * next slot, or soon when another worker fired it first.
   */
  async #fire(backend: Backend, row: ScheduleRecord): Promise<number | null> {
    await loadCron();
    const now = this.#o.clock.now();
    const plan = planFire(row, now);
    if (plan === undefined) return row.next_run_at;
    const ids = await backend.fireSchedule({
      name: row.name,
      expected: { nextRunAt: row.next_run_at!, updatedAt: row.updated_at },
      runs: slotJobs(row, plan.slots).map((job, i) => ({ slot: plan.slots[i], job })),
      nextRunAt: plan.nextRunAt,
      lastRunAt: plan.lastRunAt,
      now,
    });
    if (ids === undefined) return now + LOST_RETRY_MS;
    if (ids.length > 0) {
      backend.notifyLocalCommit();
      this.#o.log(
        "debug",
        `schedule ${JSON.stringify(row.name)} fired ${
          ids.length === 1 ? `job ${ids[0]}` : `${ids.length} jobs (${ids[0]} …)`
        } for ${new Date(plan.slots[0]).toISOString()}${
          plan.slots.length > 1 ? ` … ${new Date(plan.slots.at(-1)!).toISOString()}` : ""
        }`,
      );
    }
    return plan.nextRunAt;
  }
}
