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
