/**
 * A web server whose handlers submit jobs over one reused connection: the
 * queue is created once, at startup, and every request uses it (the registry
 * would hand back the same connection anyway). A worker runs elsewhere:
 * `deno task worker --tasks ./examples/tasks.ts`.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-write --allow-env examples/web_server.ts
 * curl -X POST localhost:8000/greet -d '{"name":"Ada"}'   # → {"id":"…"}
 * curl localhost:8000/jobs/<id>                             # → the job's status
 * ```
 *
 * `PORT` (default 8000; 0 picks a free one) and `GIGQ_DB` (default
 * `gigq.db`) configure it. SIGINT or SIGTERM shuts it down and closes the
 * connection.
 *
 * @module
 */
import { JobQueue } from "../mod.ts";
import { greet } from "./tasks.ts";

const queue = new JobQueue(Deno.env.get("GIGQ_DB") ?? "gigq.db");

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

async function handle(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (request.method === "POST" && url.pathname === "/greet") {
    let body: { name?: unknown };
    try {
      body = await request.json();
    } catch {
      return json({ error: 'the body must be JSON, like {"name":"Ada"}' }, 400);
    }
    if (typeof body?.name !== "string" || body.name === "") {
      return json({ error: "name must be a non-empty string" }, 400);
    }
    const id = await greet.submit(queue, { name: body.name });
    return json({ id }, 202);
  }
  const match = url.pathname.match(/^\/jobs\/([^/]+)$/);
  if (request.method === "GET" && match) {
    const job = await queue.getStatus(decodeURIComponent(match[1]));
    if (job === undefined) return json({ error: "no such job" }, 404);
    return json({ id: job.id, status: job.status, result: job.result, error: job.error });
  }
  if (request.method === "GET" && url.pathname === "/stats") return json(await queue.stats());
  return json({ error: "not found" }, 404);
}

const server = Deno.serve({
  port: Number(Deno.env.get("PORT") ?? 8000),
  onListen: ({ port }) => console.log(`listening on http://localhost:${port}`),
}, handle);

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
