/**
 * The `cancel` command: a pending or running job (and the pending jobs that
 * depend on it), or (the bulk form) every one that matches filters.
 */
import { type CancelManyFilter, JobNotFoundError, type JobQueue } from "../../mod.ts";
import { OperationError } from "./_args.ts";
import { BULK_OPTIONS, bulkFilters } from "./_bulk.ts";
import { type Command, type Context, out, withQueue } from "./_command.ts";

/**
 * Cancels job `id` in `queue`; an unknown job, or one that has ended, is an
 * error that says so (and what can be cancelled).
 */
export async function cancelJob(queue: JobQueue, id: string): Promise<void> {
  if (await queue.cancel(id)) return;
  const job = await queue.getStatus(id);
  if (job === undefined) throw new JobNotFoundError(id);
  throw new OperationError(
    `cannot cancel job ${id}: it is ${job.status}, and only pending or running jobs can be ` +
      `cancelled`,
  );
}

async function run(ctx: Context): Promise<number> {
  const filters = bulkFilters(ctx, "cancel");
  if (filters !== undefined) {
    const count = await withQueue(
      ctx,
      "write",
      (queue) => queue.cancelMany(filters as CancelManyFilter),
    );
    out(ctx, `${count} job${count === 1 ? "" : "s"} cancelled.`, { count });
    return 0;
  }
  const [id] = ctx.parsed.positionals;
  await withQueue(ctx, "write", (queue) => cancelJob(queue, id));
  out(ctx, `Job ${id} cancelled.`, { id, cancelled: true });
  return 0;
}

/** The `cancel` command. */
export const command: Command = {
  summary: "cancel a pending or running job (or many: --queue, --name, --status)",
  usage: "gigq cancel <id> [options]  |  gigq cancel --queue Q [--name N] [--status S]",
  details: `Cancels the job and the pending jobs that depend on it. A running job ends cancelled at
once; its worker aborts the handler within about a second. Exits 1 if the job is unknown or has
ended.

Without an id, cancels every job that matches the filters (at least one) and prints how many
(--json: {"count": N}):
  --status STATUS  pending or running (default: both)
  --queue NAME     only jobs of this queue
  --name NAME      only jobs of this name`,
  options: BULK_OPTIONS,
  positionals: ["[<id>]"],
  run,
};
