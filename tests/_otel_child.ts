/**
 * The subprocess of tests/otel_test.ts, run with Deno's built-in
 * OpenTelemetry on (`OTEL_DENO=true`, OTLP/HTTP JSON to the test's
 * receiver): submits jobs inside a parent span, runs a Worker until they have
 * ended, waits until the receiver has a queue depth, then prints the job ids
 * and the parent span's ids as JSON.
 *
 * `deno run -A tests/_otel_child.ts TARGET DRIVER|- RECEIVER_URL`
 *
 * @module
 */
import { trace } from "npm:@opentelemetry/api@1";
import { Job, JobQueue, task, Worker } from "../mod.ts";

const [target, driverArg, receiver] = Deno.args;
const storage = driverArg === "-" ? {} : { driver: driverArg as "node" | "ffi" };
const tracer = trace.getTracer("gigq-test");

const ok = task("ok", (p: { n: number }) => {
  // The handler runs with its attempt's span active: this one is its child.
  tracer.startSpan("handler-work").end();
  return p.n * 2;
});
const bad = task("bad", () => {
  throw new Error("bad on purpose");
});
let flakyRuns = 0;
const flaky = task("flaky", () => {
  if (++flakyRuns === 1) throw new Error("first try fails");
  return "second try";
});

const queue = new JobQueue(target, storage);
const ids: Record<string, string> = {};
let parent = { traceId: "", spanId: "" };
await tracer.startActiveSpan("parent", async (span) => {
  parent = { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId };
  ids.ok = await ok.submit(queue, { n: 21 });
  ids.bad = await queue.submit(new Job({ task: "bad", params: {}, maxAttempts: 1 }));
  ids.flaky = await queue.submit(new Job({ task: "flaky", params: {}, maxAttempts: 2 }));
  const many = await queue.submitMany([ok.toJob({ n: 1 }), ok.toJob({ n: 2 })]);
  [ids.many1, ids.many2] = many;
  // A job no worker here runs: the queue depth of "waiting" stays 1.
  ids.waiting = await queue.submit(new Job({ task: "later", params: {}, queue: "waiting" }));
  span.end();
});
// Outside any span: its gigq.submit span is a root of its own.
ids.root = await ok.submit(queue, { n: 5 });
// Through a queue with telemetry off: no trace context stored, so its attempt has no link.
const plain = new JobQueue(target, { ...storage, telemetry: false });
ids.unlinked = await ok.submit(plain, { n: 6 });
plain.close();

const worker = new Worker(target, {
  ...storage,
  tasks: [ok, bad, flaky],
  pollInterval: 0.05,
  logger: () => {},
});
const loop = worker.start();
const ended = new Set(["completed", "failed"]);
const pause = () => new Promise((r) => setTimeout(r, 20));
for (const name of ["ok", "bad", "flaky", "many1", "many2", "root", "unlinked"]) {
  while (!ended.has((await queue.getStatus(ids[name]))?.status ?? "")) await pause();
}
// The depth gauge is read in the background: wait until an export carried it.
const deadline = Date.now() + 20_000;
while (!(await (await fetch(`${receiver}/seen`)).json()).includes("gigq.queue.depth")) {
  if (Date.now() > deadline) throw new Error("no gigq.queue.depth exported in 20 s");
  await pause();
}
worker.stop();
await loop;
worker.close();
queue.close();
console.log(JSON.stringify({ ids, parent }));
