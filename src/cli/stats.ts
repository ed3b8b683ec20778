/** The `stats` command: jobs counted by status, of every queue or of one. */
import { parseQueueName } from "./_args.ts";
import { type Command, type Context, out, str, withQueue } from "./_command.ts";
import { formatTable } from "./_format.ts";

async function run(ctx: Context): Promise<number> {
  const text = str(ctx.parsed, "queue");
  const name = text === undefined ? undefined : parseQueueName("--queue", text);
  const counts = await withQueue(ctx, "read", (queue) => queue.stats({ queue: name }));
  const rows = Object.entries(counts).map(([k, v]) => [k, String(v)]);
  out(ctx, formatTable(rows, ["Status", "Count"]), counts);
  return 0;
}

/** The `stats` command. */
export const command: Command = {
  summary: "count jobs by status",
  usage: "gigq stats [options]",
  details: `Prints one row per status and a total.

  --queue NAME  only the jobs of this named queue (see gigq queues for every queue)`,
  options: { queue: { type: "string" } },
  positionals: [],
  run,
};
