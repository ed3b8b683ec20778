/**
 * Example tasks, used by the demo, the other examples and the CLI:
 *
 * ```sh
 * deno task gigq submit ./examples/tasks.ts#greet -p name=Ada
 * deno task worker --tasks ./examples/tasks.ts --once
 * ```
 *
 * @module
 */
import { task } from "../mod.ts";

/** Greets someone. */
export const greet = task("greet", (params: { name: string }) => `Hello, ${params.name}!`, {
  description: "Say hello",
});

/** Produces the numbers 1..n. */
export const source = task("source", (params: { n: number }) => {
  return Array.from({ length: params.n }, (_, i) => i + 1);
});

/** Transforms its parent's list: squares or doubles each number. */
export const branch = task("branch", (params: { op: "square" | "double" }, ctx) => {
  const [numbers] = Object.values(ctx.parentResults) as number[][];
  return numbers.map((n) => params.op === "square" ? n * n : n * 2);
});

/** Receives both branches' results and sums each list. */
export const merge = task("merge", (_params: Record<string, never>, ctx) => {
  const sums = Object.values(ctx.parentResults).map((list) =>
    (list as number[]).reduce((a, b) => a + b, 0)
  );
  return { sums, total: sums.reduce((a, b) => a + b, 0) };
});

/** Waits `ms` milliseconds, stopping early if its signal aborts (timeout or shutdown). */
export const sleep = task(
  "sleep",
  (params: { ms: number }, ctx) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => resolve(params.ms), params.ms);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      }, { once: true });
    }),
  { timeout: 60 },
);

/** Fails on its first attempt, succeeds on the next: shows retries. */
export const flaky = task("flaky", (_params: Record<string, never>, ctx) => {
  if (ctx.attempt === 1) throw new Error("first attempt fails on purpose");
  return `succeeded on attempt ${ctx.attempt}`;
}, { maxAttempts: 3, retryDelay: 0.2, backoff: "exponential" });

/** Every example task. */
export const tasks = [greet, source, branch, merge, sleep, flaky];
