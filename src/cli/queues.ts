/** The `queues` command: every named queue, whether it is paused, and its jobs by status. */
import { type Command, type Context, out, withQueue } from "./_command.ts";
import { formatTable } from "./_format.ts";

async function run(ctx: Context): Promise<number> {
  const queues = await withQueue(ctx, "read", (queue) => queue.queues());
  const table = queues.length === 0 ? "No queues found." : formatTable(
    queues.map((q) => [
      q.name,
      q.paused ? "yes" : "no",
      ...[q.pending, q.running, q.completed, q.failed, q.cancelled, q.timeout].map(String),
    ]),
    ["Queue", "Paused", "Pending", "Running", "Completed", "Failed", "Cancelled", "Timeout"],
  );
  out(ctx, table, queues);
  return 0;
}

/** The `queues` command. */
export const command: Command = {
  summary: "list the named queues: paused or not, and their jobs by status",
  usage: "gigq queues [options]",
  details: `Every queue that has jobs or was paused, by name, with its jobs counted by status.
A paused queue's jobs are claimed by no worker until gigq resume <queue>.`,
  options: {},
  positionals: [],
  run,
};
