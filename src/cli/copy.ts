/**
 * The `copy` command: a whole queue moved between SQLite files and
 * PostgreSQL schemas, by the library's {@linkcode copyQueue}.
 *
 * @module
 */
import { resolve } from "node:path";
import { copyQueue, type JobQueue } from "../../mod.ts";
import { UsageError } from "./_args.ts";
import { type Command, type Context, flag, out, str } from "./_command.ts";
import { isDatabaseUrl, openQueue } from "./_database.ts";

/** A PostgreSQL queue URL. */
/** Any other URL scheme (a `file:` URI is a SQLite file). */
const OTHER_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** `text` with a URL's password left out, for messages. */
function shown(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*):[^@/?#]*@/i, "$1:…@");
}

/** Where one side of the copy is: a PostgreSQL URL, or an absolute SQLite path. */
function side(ctx: Context, name: "from" | "to"): { url: string } | { path: string } {
  const given = str(ctx.parsed, name);
  if (given === undefined || given === "") {
    throw new UsageError(
      `missing --${name}: give the queue to copy ${name} (a SQLite file or a postgres:// URL; ` +
        `usage: ${command.usage})`,
    );
  }
  if (isDatabaseUrl(given)) return { url: given };
  const scheme = OTHER_SCHEME.exec(given)?.[1];
  if (scheme !== undefined && scheme.toLowerCase() !== "file") {
    throw new UsageError(
      `--${name} must be a SQLite file or a postgres:// (postgresql://) URL, got ` +
        `${JSON.stringify(shown(given))} (unknown scheme ${JSON.stringify(scheme)})`,
    );
  }
  if (given === ":memory:" || given.startsWith("file:")) {
    throw new UsageError(
      `--${name} must be a SQLite file or a postgres:// URL, got ${JSON.stringify(given)} ` +
        `(a copy ${name === "from" ? "from" : "into"} a private in-memory or URI database ` +
        `would be empty or lost)`,
    );
  }
  return { path: resolve(ctx.io.cwd(), given) };
}

/** The same file, under any name (a symlink, `..`)? */
function sameFile(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return Deno.realPathSync(a) === Deno.realPathSync(b);
  } catch {
    return false;
  }
}

async function run(ctx: Context): Promise<number> {
  if (ctx.parsed.values.db !== undefined) {
    throw new UsageError(
      `gigq copy takes --from and --to, not --db (usage: ${command.usage})`,
    );
  }
  const from = side(ctx, "from");
  const to = side(ctx, "to");
  if ("path" in from && "path" in to && sameFile(from.path, to.path)) {
    throw new UsageError(
      `--from and --to are the same queue (${from.path}); give another target`,
    );
  }
  const note = (text: string) => ctx.io.stderr(`gigq: note: ${text}\n`);
  // A source with no queue (a mistyped file or ?schema=) is refused, creating nothing.
  const source = await openQueue("url" in from ? from.url : from.path, ctx.driver, "read", note);
  let target: JobQueue | undefined;
  try {
    target = await openQueue("url" in to ? to.url : to.path, ctx.driver, "create", note);
    const report = await copyQueue(source, target, { force: flag(ctx.parsed, "force") });
    const result = { from: source.path, to: target.path, ...report };
    const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
    if (report.abandoned > 0) {
      note(
        `${plural(report.abandoned, "job was", "jobs were")} running in ${result.from}: stop ` +
          `the workers there if they still run, or ${
            report.abandoned === 1 ? "it" : "they"
          } may run twice (there, and again from ${result.to})`,
      );
    }
    out(
      ctx,
      `Copied ${plural(report.jobs, "job", "jobs")}, ${
        plural(report.edges, "dependency edge", "dependency edges")
      }${report.schedules === 0 ? " and" : ","} ${plural(report.attempts, "attempt", "attempts")}${
        report.schedules === 0 ? "" : ` and ${plural(report.schedules, "schedule", "schedules")}`
      } from ${result.from} to ${result.to}` +
        (report.abandoned === 0
          ? "."
          : `; ${plural(report.abandoned, "running job", "running jobs")} had ${
            report.abandoned === 1 ? "its" : "their"
          } attempt recorded as abandoned.`),
      result,
    );
    return 0;
  } finally {
    target?.close();
    source.close();
  }
}

/** The `copy` command. */
export const command: Command = {
  summary: "copy a whole queue into another file or PostgreSQL schema",
  usage: "gigq copy --from SRC --to DST [--force] [options]",
  details: `  --from SRC   the queue to copy: a SQLite file, or a postgres:// URL (?schema=NAME,
               default gigq); it is read, never changed
  --to DST     the queue to copy into: a SQLite file (created if missing) or a
               postgres:// URL (the schema is created if missing)
  --force      copy into a queue that already holds jobs: the copies come after them
               (never over one: a job id the target already holds refuses the copy)

Copies every job with its id, status, attempts, params, result, error, times and place
in the submit order, its dependency edges and its recorded attempts, and every schedule
(with its next slot and the slots it fired); the workers table is not copied. The target
is written in one transaction: all of it, or nothing. Without --force a target that
holds jobs is refused, writing nothing; a schedule name the target has always is.
Stop the source's workers first: a job running there is copied with its attempt
recorded as abandoned (timed out), then pending after its retry delay (or timed out, if
that was its last attempt). PostgreSQL needs --allow-net and --allow-env.

Example: gigq copy --from jobs.db --to postgres://app@db.internal:5432/app?schema=gigq`,
  options: {
    from: { type: "string" },
    to: { type: "string" },
    force: { type: "boolean" },
  },
  positionals: [],
  run,
};
