/** The `why` command: the library's {@linkcode why}, printed. */
import { why } from "../../mod.ts";
import { type Command, type Context, out, withQueue } from "./_command.ts";

async function run(ctx: Context): Promise<number> {
  const [id] = ctx.parsed.positionals;
  const answer = await withQueue(ctx, "read", (queue) => why(queue, id));
  out(ctx, answer.message, answer);
  return 0;
}

/** The `why` command. */
export const command: Command = {
  summary: "say in one line why a job is not running",
  usage: "gigq why <id> [options]",
  details: `Blocked by a parent, waiting for its start time (a delay or a retry's backoff), ready
but no worker has been seen lately, ready and waiting for a worker, running on a worker
(until its lease ends), or how it ended (completed, failed, timed out, cancelled by a user
or because a parent ended badly).`,
  options: {},
  positionals: ["<id>"],
  run,
};
