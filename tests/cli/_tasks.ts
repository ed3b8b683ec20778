/** Tasks the CLI tests submit and run (`--tasks tests/cli/_tasks.ts`). */
import { task } from "../../mod.ts";

/** Returns its params. */
export const echo = task("echo", (p: unknown) => p);

/** Returns `p.value`, which may be falsy (0, false, "", null). */
export const value = task("value", (p: { value: unknown }) => p.value);

/** Always throws. */
export const boom = task("boom", () => {
  throw new Error("kaboom");
}, { maxAttempts: 1, description: "fails on purpose" });

/** Waits `p.ms` milliseconds (stopping early if its signal aborts), then returns it. */
export const slow = task(
  "slow",
  (p: { ms: number }, ctx) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => resolve(p.ms), p.ms);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      }, { once: true });
    }),
);

/** Not a task: the CLI refuses to submit it. */
export const notATask = 42;

/** Says where its handler runs: `"web worker"` or `"main thread"`. */
export const where = task(
  "where",
  () => "WorkerGlobalScope" in globalThis ? "web worker" : "main thread",
);

/**
 * Appends a line to `p.log`, then holds the thread for `p.ms` milliseconds
 * without yielding (a CPU-bound handler): a Worker in the same thread cannot
 * renew its lease meanwhile.
 */
export const burn = task("burn", (p: { log: string; ms: number }) => {
  Deno.writeTextFileSync(p.log, `start ${Date.now()}\n`, { append: true });
  const end = Date.now() + p.ms;
  while (Date.now() < end) { /* busy */ }
  return p.ms;
}, { maxAttempts: 3 });

/** Returns its params; its jobs wait in the named queue "emails" unless told otherwise. */
export const mail = task("mail", (p: unknown) => p, { queue: "emails" });
