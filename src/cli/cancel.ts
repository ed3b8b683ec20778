/** The `cancel` command: a pending job (and the pending jobs that depend on it). */
import { JobNotFoundError } from "../../mod.ts";
import { OperationError } from "./_args.ts";
import { type Command, type Context, out, withQueue } from "./_command.ts";

async function run(ctx: Context): Promise<number> {
  const [id] = ctx.parsed.positionals;
  await withQueue(ctx, "write", async (queue) => {
    if (await queue.cancel(id)) return;
    const job = await queue.getStatus(id);
    if (job === undefined) throw new JobNotFoundError(id);
    throw new OperationError(
      `cannot cancel job ${id}: it is ${job.status}, and only pending jobs can be cancelled`,
    );
  });
  out(ctx, `Job ${id} cancelled.`, { id, cancelled: true });
  return 0;
}

/** The `cancel` command. */
export const command: Command = {
  summary: "cancel a pending job (and the pending jobs that depend on it)",
  usage: "gigq cancel <id> [options]",
  details: "Exits 1 if the job is unknown or not pending.",
  options: {},
  positionals: ["<id>"],
  run,
};
