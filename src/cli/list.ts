/** The `list` command: jobs, newest first. */
import { parseJobStatus } from "../../mod.ts";
import { parseNumber, parseQueueName } from "./_args.ts";
import { type Command, type Context, out, str, withQueue } from "./_command.ts";
import { formatTable, formatTime } from "./_format.ts";

async function run(ctx: Context): Promise<number> {
  const p = ctx.parsed;
  const statusText = str(p, "status");
  const status = statusText === undefined || statusText === ""
    ? undefined
    : parseJobStatus(statusText);
  const limitText = str(p, "limit");
  const limit = limitText === undefined
    ? 100
    : parseNumber("--limit", limitText, { min: 0, max: 1_000_000_000, integer: true });
  const queueText = str(p, "queue");
  const queueName = queueText === undefined ? undefined : parseQueueName("--queue", queueText);
  const jobs = await withQueue(
    ctx,
    "read",
    (queue) => queue.listJobs({ status, limit, queue: queueName }),
  );
  const table = jobs.length === 0 ? "No jobs found." : formatTable(
    jobs.map((j) => [
      j.id,
      j.name,
      j.queue,
      j.status,
      String(j.priority),
      formatTime(j.createdAt),
      formatTime(j.updatedAt),
    ]),
    ["ID", "Name", "Queue", "Status", "Priority", "Created", "Updated"],
  );
  out(ctx, table, jobs);
  return 0;
}

/** The `list` command. */
export const command: Command = {
  summary: "list jobs, newest first",
  usage: "gigq list [options]",
  details: `  --status STATUS  only jobs in this status: pending, running, completed, failed,
                   cancelled or timeout ("" means all)
  --queue NAME     only jobs of this named queue
  --limit N        at most N jobs (default 100)`,
  options: { status: { type: "string" }, queue: { type: "string" }, limit: { type: "string" } },
  positionals: [],
  run,
};
