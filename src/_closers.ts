/**
 * What the public `closeConnections()` closes besides SQLite's registry: a
 * backend loaded on demand (PostgreSQL) adds its own closer here when it
 * loads, so the SQLite registry calls it without importing that backend.
 * Closing a network client finishes later: {@linkcode closing} resolves once
 * every close begun so far has finished (tests, and a Web Worker before its
 * thread ends, wait for it).
 *
 * @module
 */

/** Closes what one backend holds in this isolate; returns how many connections it closed. */
export type Closer = () => number;

const closers = new Set<Closer>();
const pending = new Set<Promise<unknown>>();

/** Adds a backend's closer (once; adding the same function again changes nothing). */
export function addCloser(closer: Closer): void {
  closers.add(closer);
}

/** Runs every closer; returns how many connections they closed. */
export function runClosers(): number {
  let closed = 0;
  for (const closer of closers) closed += closer();
  return closed;
}

/** Records a close that finishes later (its failure is not this caller's to report). */
export function trackClosing(done: Promise<unknown>): void {
  const p = done.catch(() => {}).finally(() => pending.delete(p));
  pending.add(p);
}

/** Resolves once every close begun so far has finished. */
export async function closing(): Promise<void> {
  while (pending.size > 0) await Promise.all([...pending]);
}
