/**
 * A worker process for the schedule suite:
 *
 *   deno run -A tests/reliability/_schedule_worker.ts --db TARGET [--driver node|ffi] --id ID --log FILE
 *
 * Runs a Worker with the task `slot`, whose handler appends its job's slot
 * (the job's runAt) and id to FILE, one line each. Prints `ready` once its
 * loop runs; stops on SIGTERM, draining what it runs.
 */
import { parseArgs } from "node:util";
import { JobQueue, task, Worker } from "../../mod.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    db: { type: "string" },
    driver: { type: "string" },
    id: { type: "string" },
    log: { type: "string" },
  },
}).values;
const options = args.driver ? { driver: args.driver as "node" | "ffi" } : {};
const queue = new JobQueue(args.db!, options);

export const slot = task("slot", async (_p: unknown, ctx) => {
  const job = await queue.getStatus(ctx.jobId);
  // One short append per line (O_APPEND): the file of this process alone.
  await Deno.writeTextFile(args.log!, `${job!.runAt} ${ctx.jobId}\n`, { append: true });
  return job!.runAt;
});

const worker = new Worker(args.db!, {
  ...options,
  tasks: [slot],
  workerId: args.id,
  concurrency: 4,
  pollInterval: 1,
  logger: (level, message) => {
    if (level === "warn" || level === "error") console.error(`${level}: ${message}`);
  },
});
Deno.addSignalListener("SIGTERM", () => worker.stop());
const done = worker.start();
console.log("ready");
await done;
worker.close();
queue.close();
