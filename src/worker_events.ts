/**
 * The lifecycle events a {@linkcode Worker} and a {@linkcode WorkerPool}
 * dispatch, their details, and how listeners are called (a listener that
 * throws is logged, never breaks the worker loop).
 *
 * @module
 */
import type { JsonValue } from "./_json.ts";

/**
 * What every lifecycle event says of its job's attempt.
 *
 * @example Read a detail
 * ```ts ignore
 * worker.addEventListener("claimed", (e) => {
 *   const { id, name, queue, attempt, maxAttempts, workerId } = e.detail;
 *   console.log(`${workerId} runs ${name} (${id}) in ${queue}, attempt ${attempt}/${maxAttempts}`);
 * });
 * ```
 */
export interface JobEventDetail {
  /** The job's id. */
  id: string;
  /** The job's name. */
  name: string;
  /** The queue the job is in (`"default"` unless it names one). */
  queue: string;
  /** Which attempt (1-based, since submit or the last requeue). */
  attempt: number;
  /** The job's `maxAttempts`. */
  maxAttempts: number;
  /** The worker that ran it (in a pool: the Web Worker's worker id). */
  workerId: string;
}

/**
 * The detail of a `"completed"` event.
 *
 * @example
 * ```ts ignore
 * worker.addEventListener("completed", (e) => console.log(e.detail.id, e.detail.result));
 * ```
 */
export interface CompletedEventDetail extends JobEventDetail {
  /** What the handler returned, as stored (JSON; `null` for `undefined`). */
  result: JsonValue;
}

/**
 * The detail of a `"failed"` or `"timeout"` event: the attempt ended its job
 * for good with that status.
 *
 * @example Alert when a job fails for good
 * ```ts ignore
 * worker.addEventListener("failed", (e) => {
 *   const { id, attempt, maxAttempts, error } = e.detail;
 *   const why = attempt < maxAttempts ? "not retried" : "no attempts left";
 *   console.error(`job ${id} failed (${why}): ${error}`);
 * });
 * ```
 */
export interface FailedEventDetail extends JobEventDetail {
  /** The job's error message (`Name: message`; for a timeout, what timed out). */
  error: string;
}

/**
 * The detail of a `"retry"` event: the attempt failed or timed out and the
 * job goes back to pending for another attempt.
 *
 * @example Count timeouts that will be retried
 * ```ts ignore
 * let retriedTimeouts = 0;
 * worker.addEventListener("retry", (e) => { if (e.detail.timedOut) retriedTimeouts++; });
 * ```
 */
export interface RetryEventDetail extends JobEventDetail {
  /** The attempt's error message. */
  error: string;
  /** True if the attempt timed out, false if it failed. */
  timedOut: boolean;
}

/**
 * The events of a {@linkcode Worker} or {@linkcode WorkerPool}, by type:
 *
 * - `"claimed"`: the worker claimed the job and is about to run its handler;
 * - `"completed"`: the handler returned, and its result is recorded;
 * - `"retry"`: the attempt failed or timed out (`detail.timedOut`) and the
 *   job will run again (attempts are left, and the failure was not
 *   {@linkcode NoRetryError} or a bad result);
 * - `"failed"`: the attempt failed and ended the job `failed` for good (no
 *   attempt left, or not retried: then `attempt < maxAttempts`);
 * - `"timeout"`: the attempt timed out and ended the job `timeout` for good.
 *
 * Each attempt that ends gives exactly one of `"completed"`, `"retry"`,
 * `"failed"` and `"timeout"`, dispatched once its outcome is written to the
 * queue (a listener that reads the job sees it), after its `"claimed"`. An
 * attempt released unfinished by `stop({ grace })` or `close()` gives none.
 * (An event says what this worker decided and wrote: should its lease have
 * lapsed meanwhile, say while a handler blocked its event loop, the queue
 * ignores its late outcome and the event tells of an attempt that did not count.)
 * A pool also dispatches `"retry"`, `"failed"` or `"timeout"` for the attempts
 * of a Web Worker it had to terminate or lost.
 *
 * @example Listen with typed details
 * ```ts ignore
 * import { Worker, type WorkerEventMap } from "@gigq/gigq";
 *
 * const worker = new Worker("jobs.db", { tasks: [greet] });
 * const onDone = (e: WorkerEventMap["completed"]) => console.log(e.detail.result);
 * worker.addEventListener("completed", onDone);
 * worker.addEventListener("retry", (e) => console.log(`retrying ${e.detail.id}: ${e.detail.error}`));
 * ```
 */
export interface WorkerEventMap {
  /** A job was claimed and its handler is about to run. */
  claimed: CustomEvent<JobEventDetail>;
  /** A job completed. */
  completed: CustomEvent<CompletedEventDetail>;
  /** A job failed for good. */
  failed: CustomEvent<FailedEventDetail>;
  /** An attempt failed or timed out, and the job will be retried. */
  retry: CustomEvent<RetryEventDetail>;
  /** A job timed out for good. */
  timeout: CustomEvent<FailedEventDetail>;
}

/**
 * The type of a {@linkcode WorkerEventMap} event.
 *
 * @example
 * ```ts ignore
 * const types: WorkerEventType[] = ["completed", "failed"];
 * ```
 */
export type WorkerEventType = keyof WorkerEventMap;

/** A listener as `addEventListener` takes it. */
type AnyListener = EventListenerOrEventListenerObject;

/**
 * The listeners of one worker or pool: each is called through a wrapper that
 * catches what it throws (or the promise it returns rejects with) and
 * reports it, so that nothing a listener does reaches the worker loop or
 * becomes an uncaught error (EventTarget itself would report a throw to
 * `globalThis`, where an unhandled error ends the process). Internal.
 */
export class Listeners {
  /** One wrapper per listener, shared by its types, so that remove finds it. */
  #wrappers = new WeakMap<object, EventListener>();
  /** Types that ever had a listener: no detail is built for the others. */
  #listened = new Set<string>();
  #target: EventTarget;
  #report: (message: string) => void;
  #onNewType: ((type: string) => void) | undefined;

  /**
   * @param target what listeners are called on (`this` of a function listener)
   * @param report logs a listener's failure
   * @param onNewType called the first time a type gets a listener
   */
  constructor(
    target: EventTarget,
    report: (message: string) => void,
    onNewType?: (type: string) => void,
  ) {
    this.#target = target;
    this.#report = report;
    this.#onNewType = onNewType;
  }

  /** True once any listener was added. */
  get any(): boolean {
    return this.#listened.size > 0;
  }

  /** The types that ever had a listener. */
  get types(): string[] {
    return [...this.#listened];
  }

  /** Whether `type` ever had a listener (conservative: a removed one still counts). */
  listens(type: string): boolean {
    return this.#listened.has(type);
  }

  /** The wrapper to register for `listener` (null stays null). */
  wrap(type: string, listener: AnyListener | null): EventListener | null {
    if (listener === null || listener === undefined) return null;
    if (!this.#listened.has(type)) {
      this.#listened.add(type);
      this.#onNewType?.(type);
    }
    let wrapper = this.#wrappers.get(listener);
    if (wrapper === undefined) {
      const target = this.#target;
      const failed = (event: Event, error: unknown) => {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        this.#report(`a "${event.type}" event listener threw: ${message}`);
      };
      wrapper = (event: Event) => {
        try {
          const value: unknown = typeof listener === "function"
            ? listener.call(target, event)
            : listener.handleEvent(event);
          if (value !== null && typeof (value as Promise<unknown>)?.then === "function") {
            (value as Promise<unknown>).then(undefined, (error) => failed(event, error));
          }
        } catch (error) {
          failed(event, error);
        }
      };
      this.#wrappers.set(listener, wrapper);
    }
    return wrapper;
  }

  /** The wrapper registered for `listener`, if any (for remove). */
  unwrap(listener: AnyListener | null): AnyListener | null {
    if (listener === null || listener === undefined) return null;
    return this.#wrappers.get(listener) ?? listener;
  }

  /** Dispatches a `CustomEvent` of `type` with `detail` on the target; never throws. */
  emit(type: string, detail: unknown): void {
    try {
      this.#target.dispatchEvent(new CustomEvent(type, { detail }));
    } catch (error) {
      this.#report(`could not dispatch a "${type}" event: ${(error as Error)?.message ?? error}`);
    }
  }
}
