/** The `resume` command: a paused named queue's jobs are claimed again. */
import { parseQueueName } from "./_args.ts";
import { type Command, type Context, out, withQueue } from "./_command.ts";

async function run(ctx: Context): Promise<number> {
  const name = parseQueueName("<queue>", ctx.parsed.positionals[0]);
  await withQueue(ctx, "write", (queue) => queue.resume(name));
  out(ctx, `Queue ${JSON.stringify(name)} resumed.`, { queue: name, paused: false });
  return 0;
}

/** The `resume` command. */
export const command: Command = {
  summary: "resume a paused queue: workers claim its jobs again",
  usage: "gigq resume <queue> [options]",
  details: `Resuming a queue that is not paused changes nothing (and exits 0).`,
  options: {},
  positionals: ["<queue>"],
  run,
};
