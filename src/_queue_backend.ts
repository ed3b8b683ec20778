/**
 * How library code that is not `JobQueue` itself (`why()`) reaches a
 * queue's backend and clock, without a public method: `JobQueue` registers
 * each instance here. Internal (not exported from `mod.ts`).
 *
 * @module
 */
import type { Backend, PreparedJob } from "./_backend.ts";
import type { Clock } from "./clock.ts";
import type { Job } from "./job.ts";
import { describe } from "./job_status.ts";

/** What a queue lends to library code. */
export interface QueueInternals {
  /** The backend, open (its schema made); a `QueueClosedError` once the queue is closed. */
  backend(): Promise<Backend>;
  /** The queue's clock, in epoch ms. */
  now(): number;
  /** The queue's clock itself (the testing kit's drain runs a worker on it). */
  clock: Clock;
  /** Jobs checked and serialized as the queue's submit does, parents first (throws as it would). */
  prepare(jobs: Iterable<Job>): PreparedJob[];
  /** Whether the queue traces its submits (OpenTelemetry). */
  telemetry: boolean;
}

const internals = new WeakMap<object, QueueInternals>();

/** Called by each new `JobQueue`. */
export function registerQueue(queue: object, lent: QueueInternals): void {
  internals.set(queue, lent);
}

/** What `queue` lends; a `TypeError` (naming `context`) for anything but a `JobQueue`. */
export function queueInternals(context: string, queue: unknown): QueueInternals {
  const lent = typeof queue === "object" && queue !== null ? internals.get(queue) : undefined;
  if (lent === undefined) {
    throw new TypeError(`${context}: expected a JobQueue, got ${describe(queue)}`);
  }
  return lent;
}
