/** Tasks shared by tests that run workers in other isolates or processes. */
import { NoRetryError, task } from "../mod.ts";

/** Returns its params' `n`. */
export const noop = task("noop", (p: { n?: number }) => p.n ?? null);

/** Adds one to its single parent's result (or starts at 1). */
export const increment = task("increment", (_p: unknown, ctx) => {
  const results = Object.values(ctx.parentResults) as number[];
  return (results[0] ?? 0) + 1;
});

/** Sums its parents' numeric results. */
export const sum = task(
  "sum",
  (_p: unknown, ctx) => (Object.values(ctx.parentResults) as number[]).reduce((a, b) => a + b, 0),
);

/** Resolves with `value` after `ms`, or rejects when `signal` aborts. */
function nap<T>(ms: number, value: T, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve(value), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });
}

/** Sleeps `ms` milliseconds (honours its signal), then returns `n`. */
export const sleep = task(
  "sleep",
  (p: { ms: number; n?: number }, ctx) => nap(p.ms, p.n ?? null, ctx.signal),
);

/**
 * Sleeps `first` ms on its first attempt and `then` ms on later ones, then
 * returns `n`: a first attempt that is still running however slow the
 * machine is, for tests that kill it.
 */
export const stall = task(
  "stall",
  (p: { first: number; then: number; n?: number }, ctx) =>
    nap(ctx.attempt === 1 ? p.first : p.then, p.n ?? null, ctx.signal),
);

/**
 * Holds its thread for 5 s without yielding, far past its 0.2 s timeout: only
 * the pool's termination of its Web Worker ends its attempt. Not an endless
 * loop: Deno 2.9 does not stop a Web Worker's running loop on terminate(), so
 * `while (true) {}` would hold a core for the rest of the test run.
 */
export const spin = task("spin", () => {
  const end = Date.now() + 5000;
  while (Date.now() < end) { /* ignore the signal, hold the thread */ }
}, { timeout: 0.2, maxAttempts: 1 });

/** Kills its isolate with an uncaught error thrown outside the handler. */
export const die = task("die", () => {
  setTimeout(() => {
    throw new Error("deliberate crash of the Web Worker");
  }, 0);
  return new Promise(() => {});
}, { maxAttempts: 1 });

/**
 * Ends its Web Worker's thread on its first attempt, the way a handler that
 * calls `Deno.exit(code)` (`how: "exit"`) or `self.close()` (`how: "close"`)
 * does; later attempts return `"survived"`.
 */
export const vanish = task("vanish", (p: { how: "exit" | "close"; code?: number }, ctx) => {
  if (ctx.attempt > 1) return "survived";
  if (p.how === "exit") Deno.exit(p.code ?? 3);
  (globalThis as unknown as { close(): void }).close();
  return new Promise(() => {}); // close() takes effect once this task returns
}, { maxAttempts: 2 });

/** Holds its thread for `p.ms` milliseconds without yielding (a CPU-bound handler). */
export const hog = task("hog", (p: { ms: number }) => {
  const end = Date.now() + p.ms;
  while (Date.now() < end) { /* busy */ }
  return p.ms;
});

/** Refuses retries: throws a NoRetryError, whatever attempts are left. */
export const refuse = task("refuse", (p: { why?: string }) => {
  throw new NoRetryError(p.why ?? "address bounced");
}, { maxAttempts: 5 });
/**
 * Waits 60 s whatever its signal says (a handler that ignores a cancel),
 * then returns `n`: only the pool's termination of its Web Worker ends it sooner.
 */
export const deaf = task(
  "deaf",
  (p: { n?: number }) => new Promise((resolve) => setTimeout(() => resolve(p.n ?? null), 60_000)),
  { timeout: 3600 },
);

/** Waits until its signal aborts, prints the reason's name, then returns it (a late result). */
export const awaitAbort = task("awaitAbort", (_p: unknown, ctx) =>
  new Promise((resolve) => {
    ctx.signal.addEventListener("abort", () => {
      const name = (ctx.signal.reason as Error)?.name;
      console.log(`aborted: ${name}`);
      resolve(name);
    });
  }), { timeout: 3600 });
