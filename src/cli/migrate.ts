/**
 * The `migrate` command: brings a queue's schema up to this GigQ's, or with
 * `--print` shows the statements that would run, changing nothing.
 *
 * @module
 */
import { migrate } from "../../mod.ts";
import { type Command, type Context, flag, out } from "./_command.ts";
import { isDatabaseUrl, refuseDirectory } from "./_database.ts";

async function run(ctx: Context): Promise<number> {
  await refuseDirectory(ctx.path);
  const print = flag(ctx.parsed, "print");
  const report = await migrate(ctx.path, {
    dryRun: print,
    ...(isDatabaseUrl(ctx.path) ? {} : { driver: ctx.driver }),
  });
  if (print && !ctx.json) {
    ctx.io.stdout(
      report.sql === ""
        ? `-- ${report.database} is at schema version ${report.to}: nothing to run\n`
        : `-- ${report.database}: schema version ${report.from} to ${report.to}\n${report.sql}`,
    );
    return 0;
  }
  const human = report.from === report.to
    ? `${report.database} is at schema version ${report.to}; nothing to do.`
    : print
    ? `${report.database} would go from schema version ${report.from} to ${report.to}.`
    : report.from === 0
    ? `Created the queue in ${report.database} at schema version ${report.to}.`
    : `Migrated ${report.database} from schema version ${report.from} to ${report.to}.`;
  out(ctx, human, report);
  return 0;
}

/** The `migrate` command. */
export const command: Command = {
  summary: "create or upgrade the queue's schema (or print the SQL)",
  usage: "gigq migrate [--print]",
  details: `Brings the queue's tables up to this GigQ's schema version, creating them where
there are none — what every queue and worker also does when it opens, under the
same lock, so it is safe while workers start. For deployments that apply schema
changes as a step of their own. A queue written by a newer GigQ is refused.

  --print   print the statements that would run (and the versions), changing nothing

Example: gigq migrate --db postgres://app@db.internal/app?schema=jobs --print`,
  options: { print: { type: "boolean" } },
  positionals: [],
  run,
};
