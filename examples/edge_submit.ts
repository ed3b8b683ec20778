/**
 * An edge app (Deno Deploy-style: no file to open) submits a job through a
 * GigQ dashboard's HTTP API and waits for its result. It needs only
 * `--allow-net`. Beside the database, run the dashboard and a worker:
 *
 * ```sh
 * deno task gigq dashboard --token "$GIGQ_DASHBOARD_TOKEN" &
 * deno task worker --tasks ./examples/tasks.ts &
 * deno run --allow-net examples/edge_submit.ts http://127.0.0.1:8080 "$GIGQ_DASHBOARD_TOKEN"
 * ```
 *
 * @module
 */
import { Job, RemoteQueue } from "../remote.ts";

const [url = "http://127.0.0.1:8080", token] = Deno.args;
const queue = new RemoteQueue(url, { token });
const id = await queue.submit(new Job({ task: "greet", params: { name: "Ada" } }));
console.log(`submitted ${id}`);

// A worker beside the database runs it: poll its status (at most 30 s).
const deadline = Date.now() + 30_000;
let job = await queue.getStatus(id);
while (job !== undefined && (job.status === "pending" || job.status === "running")) {
  if (Date.now() > deadline) throw new Error(`job ${id} is still ${job.status} after 30 s`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  job = await queue.getStatus(id);
}
console.log(`${job?.status}: ${JSON.stringify(await queue.getResult(id))}`);
