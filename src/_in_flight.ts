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
}

/** How many operations are in flight now. */
export function operationsInFlight(): number {
  return count;
}
