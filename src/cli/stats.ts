/** The `stats` command: jobs counted by status. */
import { type Command, type Context, out, withQueue } from "./_command.ts";
import { formatTable } from "./_format.ts";

async function run(ctx: Context): Promise<number> {
  const counts = await withQueue(ctx, "read", (queue) => queue.stats());
  const rows = Object.entries(counts).map(([k, v]) => [k, String(v)]);
  out(ctx, formatTable(rows, ["Status", "Count"]), counts);
  return 0;
}

/** The `stats` command. */
export const command: Command = {
  summary: "count jobs by status",
  usage: "gigq stats [options]",
  details: "Prints one row per status and a total.",
  options: {},
  positionals: [],
  run,
};
