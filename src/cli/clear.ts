/** The `clear` command: deletes completed and cancelled jobs. */
import { parseNumber } from "./_args.ts";
import { type Command, type Context, out, str, withQueue } from "./_command.ts";
import { formatTime } from "./_format.ts";

async function run(ctx: Context): Promise<number> {
  const text = str(ctx.parsed, "before");
  const days = text === undefined
    ? undefined
    : parseNumber("--before", text, { min: 0, max: 36_500, unit: "days" });
  const before = days === undefined ? undefined : new Date(Date.now() - days * 86_400_000);
  const cleared = await withQueue(ctx, "write", (queue) => queue.clearCompleted({ before }));
  out(
    ctx,
    `Cleared ${cleared} job${cleared === 1 ? "" : "s"} (completed or cancelled${
      before ? `, ended before ${formatTime(before)}` : ""
    }).`,
    { cleared, before: before?.toISOString() ?? null },
  );
  return 0;
}

/** The `clear` command. */
export const command: Command = {
  summary: "delete completed and cancelled jobs",
  usage: "gigq clear [options]",
  details: `  --before DAYS  only jobs that ended more than DAYS days ago (0 to 36500, fractions
                 allowed; 0 means every job that has ended by now). Without it: all of them.

A finished job that a remaining job still depends on is kept.`,
  options: { before: { type: "string" } },
  positionals: [],
  run,
};
