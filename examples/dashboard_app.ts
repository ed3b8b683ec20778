/**
 * An app that mounts the GigQ dashboard under `/jobs`, beside its own
 * routes. With `GIGQ_DASHBOARD_TOKEN` set, the dashboard asks for it.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-write --allow-env examples/dashboard_app.ts
 * # open http://127.0.0.1:8000/jobs/
 * ```
 *
 * `PORT` (default 8000; 0 picks a free one) and `GIGQ_DB` (default
 * `gigq.db`) configure it. SIGINT or SIGTERM shuts it down.
 *
 * @module
 */
import { JobQueue } from "../mod.ts";
import { dashboard } from "../dashboard.ts";

const queue = new JobQueue(Deno.env.get("GIGQ_DB") ?? "gigq.db");
const jobs = dashboard(queue, { token: Deno.env.get("GIGQ_DASHBOARD_TOKEN"), basePath: "/jobs" });

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8000),
  onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
}, (req) => new URL(req.url).pathname.startsWith("/jobs") ? jobs(req) : new Response("my app"));

const shutdown = async () => {
  await server.shutdown();
  queue.close();
  console.log("stopped");
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
await server.finished;
Deno.removeSignalListener("SIGINT", shutdown);
Deno.removeSignalListener("SIGTERM", shutdown);
