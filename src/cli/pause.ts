/** The `pause` command: no worker claims a named queue's jobs until it is resumed. */
import { parseQueueName } from "./_args.ts";
import { type Command, type Context, out, withQueue } from "./_command.ts";

async function run(ctx: Context): Promise<number> {
  const name = parseQueueName("<queue>", ctx.parsed.positionals[0]);
  await withQueue(ctx, "write", (queue) => queue.pause(name));
  out(
    ctx,
    `Queue ${JSON.stringify(name)} paused: no worker claims its jobs until it is resumed.`,
    { queue: name, paused: true },
  );
  return 0;
}

/** The `pause` command. */
export const command: Command = {
  summary: "pause a named queue: no worker claims its jobs until it is resumed",
  usage: "gigq pause <queue> [options]",
  details: `Workers in every process stop claiming the queue's jobs (jobs already running finish);
the pause is stored, so it lasts across restarts until gigq resume <queue>, and holds for
jobs submitted later. A queue without jobs may be paused. The database must exist: run
gigq migrate first to pause a queue before the first job is submitted.`,
  options: {},
  positionals: ["<queue>"],
  run,
};
