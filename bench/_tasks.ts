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
