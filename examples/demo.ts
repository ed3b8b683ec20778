/**
 * The quick-start demo: submits a small workflow (a source fanning out to two
 * branches and a merge that receives both branches' results) plus a few
 * independent jobs, runs a worker until every job has finished, and prints
 * each result and the final stats.
 *
 * ```sh
 * deno task demo                 # a fresh database in a temp directory
 * GIGQ_DB=demo.db deno task demo # or a file you choose
 * ```
 *
 * @module
 */
import { JobQueue, Worker, Workflow } from "../mod.ts";
import { branch, flaky, greet, merge, sleep, source, tasks } from "./tasks.ts";

const path = Deno.env.get("GIGQ_DB") ??
  `${await Deno.makeTempDir({ prefix: "gigq-demo-" })}/demo.db`;
console.log(`database: ${path}`);

const queue = new JobQueue(path);

const wf = new Workflow("fan-out and fan-in");
const numbers = wf.addTask(source, { params: { n: 5 } });
const squares = wf.addTask(branch, { params: { op: "square" }, dependsOn: [numbers] });
const doubles = wf.addTask(branch, { params: { op: "double" }, dependsOn: [numbers] });
const total = wf.addTask(merge, { dependsOn: [squares, doubles] });
await wf.submitAll(queue);

const independent = [
  await greet.submit(queue, { name: "Ada" }),
  await greet.submit(queue, { name: "Grace" }, { priority: 10 }),
  await sleep.submit(queue, { ms: 50 }),
  await flaky.submit(queue, {}),
];

const worker = new Worker(path, { tasks, concurrency: 4, pollInterval: 0.05 });
const running = worker.start();
while ((await queue.stats()).pending + (await queue.stats()).running > 0) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
worker.stop();
await running;

const label = new Map([
  [numbers.id, "source"],
  [squares.id, "branch (square)"],
  [doubles.id, "branch (double)"],
  [total.id, "merge"],
]);
for (const id of [...label.keys(), ...independent]) {
  const job = await queue.getStatus(id);
  console.log(
    `${(label.get(id) ?? job!.name).padEnd(16)} ${job!.status.padEnd(9)} attempts=${
      job!.attempts
    } ` +
      `result=${JSON.stringify(job!.result)}`,
  );
}
console.log("stats:", JSON.stringify(await queue.stats()));

worker.close();
queue.close();
