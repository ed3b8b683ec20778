/**
 * The `requeue` command: a failed, timed-out or cancelled job back to
 * pending, or (the bulk form) every one that matches filters.
 */
import { JobNotFoundError, type JobQueue, type RequeueManyFilter } from "../../mod.ts";
import { OperationError } from "./_args.ts";
import { BULK_OPTIONS, bulkFilters } from "./_bulk.ts";
import { type Command, type Context, out, withQueue } from "./_command.ts";

/**
 * Requeues job `id` in `queue`; an unknown job, one in another state, or one
 * whose dependency itself failed is an error that says so (and what to do).
 */
export async function requeueJob(queue: JobQueue, id: string): Promise<void> {
  if (await queue.requeue(id)) return;
  const job = await queue.getStatus(id);
  if (job === undefined) throw new JobNotFoundError(id);
  if (!["failed", "timeout", "cancelled"].includes(job.status)) {
    throw new OperationError(
      `cannot requeue job ${id}: it is ${job.status}, and only failed, timed-out or ` +
        `cancelled jobs can be requeued`,
    );
  }
  for (const dep of job.dependencies) {
    const parent = await queue.getStatus(dep);
    if (parent !== undefined && ["failed", "timeout", "cancelled"].includes(parent.status)) {
      throw new OperationError(
        `cannot requeue job ${id}: its dependency ${dep} (${
          JSON.stringify(parent.name)
        }) is ${parent.status}; requeue that one first`,
      );
    }
  }
  throw new OperationError(`cannot requeue job ${id}: it changed meanwhile; try again`);
}

async function run(ctx: Context): Promise<number> {
  const filters = bulkFilters(ctx, "requeue");
  if (filters !== undefined) {
    const count = await withQueue(
      ctx,
      "write",
      (queue) => queue.requeueMany(filters as RequeueManyFilter),
    );
    out(ctx, `${count} job${count === 1 ? "" : "s"} requeued.`, { count });
    return 0;
  }
  const [id] = ctx.parsed.positionals;
  await withQueue(ctx, "write", (queue) => requeueJob(queue, id));
  out(ctx, `Job ${id} requeued.`, { id, requeued: true });
  return 0;
}

/** The `requeue` command. */
export const command: Command = {
  summary:
    "put a failed, timed-out or cancelled job (or many: --status, --queue, --name) back to pending",
  usage: "gigq requeue <id> [options]  |  gigq requeue --status S [--queue Q] [--name N]",
  details: `Resets its attempts and brings back the jobs its end had cancelled. Exits 1 if the job
is unknown, in another state, or depends on a job that itself failed (requeue that one first).

Without an id, requeues every job that matches the filters (at least one) and prints how many
(--json: {"count": N}); jobs waiting on a failed dependency, or whose unique key another job
holds, are skipped:
  --status STATUS  failed, timeout or cancelled (default: failed and timeout)
  --queue NAME     only jobs of this queue
  --name NAME      only jobs of this name`,
  options: BULK_OPTIONS,
  positionals: ["[<id>]"],
  run,
};
