/**
 * A pool of Web Workers with signal handling. Each Web Worker imports
 * `./tasks.ts`, opens its own connection and runs a worker loop. The first
 * SIGINT or SIGTERM stops claiming and lets running jobs finish (up to
 * `--grace` seconds, then they are released back to pending); a second one
 * releases them at once. Either way every connection is closed and the
 * process exits 0.
 *
 * ```sh
 * GIGQ_DB=jobs.db deno run --allow-read --allow-write --allow-env examples/worker_pool.ts --workers 4 --concurrency 2
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { WorkerPool } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    workers: { type: "string", default: "2" },
    concurrency: { type: "string", default: "1" },
    grace: { type: "string", default: "30" },
  },
});

const pool = new WorkerPool(Deno.env.get("GIGQ_DB") ?? "gigq.db", {
  tasks: [new URL("./tasks.ts", import.meta.url)],
  workers: Number(values.workers),
  concurrency: Number(values.concurrency),
  logger: (level, message) => {
    if (level !== "debug") console.error(`${level}: ${message}`);
  },
});

let signals = 0;
const onSignal = (signal: Deno.Signal) => () => {
  signals++;
  if (signals === 1) {
    console.log(
      `${signal}: stopping; running jobs may take ${values.grace} s (signal again to hurry)`,
    );
    pool.stop({ grace: Number(values.grace) });
  } else {
    console.log(`${signal} again: releasing running jobs now`);
    pool.stop({ grace: 0 });
  }
};
const listeners = (["SIGINT", "SIGTERM"] as const).map((s) => [s, onSignal(s)] as const);
for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);

const done = pool.start();
await pool.ready;
console.log(`pool running: ${pool.workerIds.join(", ")}`);
await done;
for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
const c = pool.counts;
console.log(`stopped: ${c.processed} attempts, ${c.completed} completed, ${c.failed} failed`);
