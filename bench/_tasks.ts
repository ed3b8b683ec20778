/**
 * The benchmark's task, in a module of its own so Web Workers (a pool) and
 * subprocesses can import it.
 *
 * @module
 */
import { task } from "../mod.ts";

/** Counts the handlers run in this isolate and reports when `target` is reached. */
export const counter = { n: 0, target: Infinity, reached: () => {} };

/** Resets the counter and resolves once `target` handlers have run in this isolate. */
export function countTo(target: number): Promise<void> {
  counter.n = 0;
  counter.target = target;
  return new Promise<void>((resolve) => counter.reached = resolve);
}

/** Does nothing, returns null. */
export const noop = task("noop", () => {
  if (++counter.n === counter.target) counter.reached();
  return null;
});

/** How long {@linkcode burn} keeps its thread busy, in ms. */
export const BURN_MS = 2;

/** Burns {@linkcode BURN_MS} of CPU in a busy loop (the work a pool of threads exists for). */
export const burn = task("burn", () => {
  const until = performance.now() + BURN_MS;
  while (performance.now() < until) {
    // busy: holds the thread as a CPU-bound handler does
  }
  if (++counter.n === counter.target) counter.reached();
  return null;
});
