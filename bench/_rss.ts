/**
 * Run as a subprocess by the benchmark, so that only a worker's own memory is
 * measured: runs one Worker (concurrency 8) over the queue file given until
 * `n` jobs have run, then prints the process's peak resident set (VmHWM in
 * `/proc/self/status`) as JSON. With `n` = 0 it only opens the queue, for
 * Deno's own baseline. (getrusage's `ru_maxrss` would not do: Linux carries
 * it over from the parent across fork and exec. And Deno lets a script read
 * `/proc/self/status` only with `--allow-all`.)
 *
 * ```sh
 * deno run --allow-all bench/_rss.ts <path> <node|ffi> <n>
 * ```
 *
 * @module
 */
import { JobQueue, Worker } from "../mod.ts";
import { countTo, noop } from "./_tasks.ts";

/** A field of /proc/self/status, in KiB. */
function statusKiB(field: string): number {
  const line = Deno.readTextFileSync("/proc/self/status").split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.match(/(\d+)/)?.[1] ?? NaN);
}

const [path, driver, count] = Deno.args;
const n = Number(count);
const t = performance.now();
if (n === 0) {
  const queue = new JobQueue(path, { driver: driver as "node" | "ffi" });
  await queue.stats();
  queue.close();
} else {
  const worker = new Worker(path, {
    tasks: [noop],
    driver: driver as "node" | "ffi",
    concurrency: 8,
    logger: () => {},
  });
  const all = countTo(n);
  const done = worker.start();
  await all;
  worker.stop();
  await done;
  worker.close();
}
console.log(JSON.stringify({
  hwmKiB: statusKiB("VmHWM"),
  seconds: (performance.now() - t) / 1000,
}));
