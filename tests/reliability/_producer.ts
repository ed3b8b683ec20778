/**
 * A producer process: a plain script that submits jobs, as an application
 * beside a queue would.
 *
 *   deno run --allow-read --allow-write tests/reliability/_producer.ts --db PATH [options]
 *
 * With `--seconds S` it submits `noop` jobs for S seconds, yielding to the
 * event loop between submits: seven in ten alone, the rest in batches of 2 to
 * 20 through submitMany. With `--count N` it submits N jobs one by one and
 * stops. Then it prints every id it was given (one per line) and a JSON
 * line `{"summary": {...}}` with the count, the errors it caught and the worst
 * and 99th-percentile stall of its event loop (the lateness of a 10 ms
 * interval timer). An error
 * is counted and printed to stderr as one line (`error: ...`); a failure to
 * start at all is one line on stderr and exit 1.
 */
import { setImmediate } from "node:timers";
import { parseArgs } from "node:util";
import { Job, JobQueue } from "../../mod.ts";
import { Random } from "./_common.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    db: { type: "string" },
    seconds: { type: "string" },
    count: { type: "string" },
    driver: { type: "string", default: "node" },
    seed: { type: "string", default: "1" },
  },
}).values;

const oneLine = (e: unknown) =>
  (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).replace(/\s*\n\s*/g, " ");

let queue: JobQueue;
try {
  queue = new JobQueue(args.db!, { driver: args.driver as "node" | "ffi" });
  await queue.stats(); // opens the file and checks the schema
} catch (error) {
  console.error(`producer: ${oneLine(error)}`);
  Deno.exit(1);
}

const rnd = new Random(Number(args.seed));
const stalls: number[] = [];
let last = performance.now();
const meter = setInterval(() => {
  const now = performance.now();
  stalls.push(Math.max(0, now - last - 10));
  last = now;
}, 10);

/** Printed at the end: a write to a full pipe would block and count as a stall. */
const given: string[] = [];
let submitted = 0;
let errors = 0;
let calls = 0;
let slowestCall = 0;
const deadline = args.seconds === undefined ? Infinity : Date.now() + Number(args.seconds) * 1000;
const limit = args.count === undefined ? Infinity : Number(args.count);
let n = 0;
while (Date.now() < deadline && submitted < limit) {
  const size = limit !== Infinity || rnd.chance(0.7) ? 1 : rnd.int(2, 20);
  const jobs = Array.from({ length: size }, () => new Job({ task: "noop", params: { n: n++ } }));
  const t0 = performance.now();
  try {
    const ids = size === 1 ? [await queue.submit(jobs[0])] : await queue.submitMany(jobs);
    submitted += ids.length;
    given.push(...ids);
  } catch (error) {
    errors++;
    console.error(`error: ${oneLine(error)}`);
  }
  calls++;
  slowestCall = Math.max(slowestCall, performance.now() - t0);
  await new Promise((r) => setImmediate(r));
}
clearInterval(meter);
queue.close();
if (given.length > 0) console.log(given.join("\n"));
console.log(JSON.stringify({
  summary: {
    submitted,
    errors,
    calls,
    worstStallMs: Math.round(Math.max(0, ...stalls)),
    p99StallMs: Math.round(stalls.sort((a, b) => a - b)[Math.floor(stalls.length * 0.99)] ?? 0),
    slowestCallMs: Math.round(slowestCall),
  },
}));
