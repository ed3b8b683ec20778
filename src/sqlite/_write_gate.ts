/**
 * The write gate: a lock in memory shared by the threads of one
 * {@linkcode WorkerPool}, taken around each write transaction so that they
 * queue for SQLite's write lock among themselves instead of colliding on it.
 *
 * Why: two threads that meet at `BEGIN IMMEDIATE` find the file locked, and
 * SQLite's busy handler then sleeps at least 1 ms (then 2, 5, ...) before it
 * looks again, while the other thread's transaction took a few hundred µs.
 * A pool of 2 Web Workers moved fewer no-op jobs than one Worker for that
 * alone. Waiting on the gate with `Atomics.wait` wakes the next thread the
 * moment the holder commits.
 *
 * The gate is only a courtesy among the pool's threads: SQLite's lock stays
 * what keeps writers apart, and everything else (other processes, the pool's
 * parent thread) still meets it with the busy handler. So a thread waits on
 * the gate for at most {@linkcode GATE_WAIT_MS}, then goes on without it: a
 * holder that was terminated mid-transaction (before the pool saw it end
 * and freed its gate) costs that long once, never a deadlock.
 *
 * @module
 */

/** How long a thread waits for the gate before it goes on to SQLite's own lock, in ms. */
export const GATE_WAIT_MS = 30;

/**
 * The gate this isolate takes: Int32 0 is 0 when free, else its holder's
 * token; Int32 1 counts the threads waiting (a holder leaving wakes one only
 * if there is one: a futex wake per transaction cost each thread 6% of its time).
 */
let gate: Int32Array<SharedArrayBuffer> | undefined;
/** This isolate's token (non-zero, unique in its pool). */
let token = 0;

/**
 * Makes this isolate take `memory`'s gate around its write transactions
 * from now on, under `me` (a non-zero number no other thread of the pool
 * uses).
 */
export function shareWriteGate(memory: SharedArrayBuffer, me: number): void {
  if (!Number.isInteger(me) || me === 0) {
    throw new RangeError(`write gate token must be a non-zero integer, got ${me}`);
  }
  gate = new Int32Array(memory, 0, 2);
  token = me;
}

/** Makes this isolate stop taking a gate (tests, after sharing one). */
export function stopSharingWriteGate(): void {
  gate = undefined;
  token = 0;
}

/** A new gate's memory, free. */
export function newWriteGate(): SharedArrayBuffer {
  return new SharedArrayBuffer(8);
}

/**
 * Takes the gate, waiting up to {@linkcode GATE_WAIT_MS} for its holder;
 * returns whether this isolate now holds it (false: no gate, or the wait
 * ran out). Blocks the thread while it waits: only Web Workers share a gate.
 */
export function enterWriteGate(): boolean {
  if (gate === undefined) return false;
  let held = Atomics.compareExchange(gate, 0, 0, token);
  if (held === 0) return true;
  const deadline = performance.now() + GATE_WAIT_MS;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.add(gate, 1, 1);
    Atomics.wait(gate, 0, held, left);
    Atomics.sub(gate, 1, 1);
    held = Atomics.compareExchange(gate, 0, 0, token);
    if (held === 0) return true;
  }
}

/** Frees the gate if this isolate holds it, waking one waiter. */
export function leaveWriteGate(): void {
  if (gate === undefined) return;
  if (Atomics.compareExchange(gate, 0, token, 0) === token && Atomics.load(gate, 1) > 0) {
    Atomics.notify(gate, 0, 1);
  }
}

/** Frees `memory`'s gate if the thread of token `holder` holds it (the pool, once that thread is gone). */
export function freeWriteGate(memory: SharedArrayBuffer, holder: number): void {
  const g = new Int32Array(memory, 0, 2);
  if (Atomics.compareExchange(g, 0, holder, 0) === holder) Atomics.notify(g, 0, 1);
}
