/**
 * How many operations of backends loaded on open (PostgreSQL) are waiting
 * for their server in this isolate. Tests that move an injected clock wait
 * for this to reach zero, as they let a SQLite operation finish by yielding
 * a few turns: a network round trip can take longer than those turns.
 *
 * @module
 */

let count = 0;

/** Counts `work` as in flight until it settles; returns it. */
export function inFlight<T>(work: Promise<T>): Promise<T> {
  count++;
  work.then(done, done);
  return work;
}

function done(): void {
  count--;
  if (count === 0 && waiters.length > 0) { for (const wake of waiters.splice(0)) wake(); }
}

const waiters: (() => void)[] = [];

/** Resolves once no operation is in flight (at once if none is). */
export function noneInFlight(): Promise<void> {
  if (count === 0) return Promise.resolve();
  return new Promise((resolve) => waiters.push(resolve));
}

/** How many operations are in flight now. */
export function operationsInFlight(): number {
  return count;
}
