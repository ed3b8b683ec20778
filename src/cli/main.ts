/**
 * The `gigq` command line: submit jobs, look at them, run workers.
 *
 * ```sh
 * deno task gigq submit ./examples/tasks.ts#greet -p name=Ada
 * deno task worker --tasks ./examples/tasks.ts --once
 * deno task gigq status <id> --show-result
 * deno task gigq list --json
 * deno task gigq schedules add nightly --cron "0 1 * * *" --task ./examples/tasks.ts#greet
 * ```
 *
 * A thin layer over the public API: {@linkcode main} takes the arguments
 * and an optional {@linkcode CliIo} (so tests capture the output and send
 * signals) and resolves to the exit code: 0 done, 1 the operation failed
 * (unknown job, nothing to cancel, no database), 2 a bad command line.
 *
 * @example Run the CLI from a script
 * ```ts ignore
 * import { main } from "@gigq/gigq/cli";
 * const code = await main(["--db", "jobs.db", "stats", "--json"]);
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { DriverName } from "../../mod.ts";
import { type OptionSpecs, parseOptions, UsageError } from "./_args.ts";
import { type Command, flag, str } from "./_command.ts";
import { isDatabaseUrl } from "./_database.ts";
import { type CliIo, resolveIo } from "./_io.ts";
import { messageOf } from "./_message.ts";
import { command as backup } from "./backup.ts";
import { command as cancel } from "./cancel.ts";
import { command as clear } from "./clear.ts";
import { command as configure } from "./configure.ts";
import { command as copy } from "./copy.ts";
import { command as dashboard } from "./dashboard.ts";
import { command as list } from "./list.ts";
import { command as mcp } from "./mcp.ts";
import { command as migrate } from "./migrate.ts";
import { command as pause } from "./pause.ts";
import { command as queues } from "./queues.ts";
import { command as requeue } from "./requeue.ts";
import { command as resume } from "./resume.ts";
import { command as schedules } from "./schedules.ts";
import { command as stats } from "./stats.ts";
import { command as status } from "./status.ts";
import { command as submit } from "./submit.ts";
import { command as why } from "./why.ts";
import { command as worker } from "./worker.ts";

export type { CliIo, StopSignal } from "./_io.ts";

/** Options every command accepts. */
const GLOBAL: OptionSpecs = {
  db: { type: "string" },
  driver: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

const GLOBAL_HELP = `Options every command accepts:
  --db PATH|URL    the database file, or a postgres:// URL (?schema=NAME, default gigq)
                   (default: $GIGQ_DB, else gigq.db in the current directory)
  --driver NAME    node or ffi (default: $GIGQ_DRIVER, else node); ffi needs --allow-ffi
  --json           print JSON for scripts instead of tables
  -h, --help       show this help`;

/** The commands, in the order help lists them. */
const COMMANDS: Record<string, Command> = {
  submit,
  status,
  list,
  stats,
  queues,
  configure,
  pause,
  resume,
  schedules,
  cancel,
  requeue,
  clear,
  worker,
  dashboard,
  why,
  mcp,
  backup,
  copy,
  migrate,
};

const NAMES = Object.keys(COMMANDS);

function topHelp(): string {
  const width = Math.max(...NAMES.map((n) => n.length)) + 2;
  return `gigq: a job queue in one SQLite file or a PostgreSQL database

Usage: gigq [--db PATH|URL] <command> [options]

Commands:
${NAMES.map((n) => `  ${n.padEnd(width)}${COMMANDS[n].summary}`).join("\n")}

${GLOBAL_HELP}

Environment: GIGQ_DB, GIGQ_DRIVER, GIGQ_WORKER_ID, GIGQ_POLLING_INTERVAL.
Exit codes: 0 done, 1 the operation failed, 2 a bad command line.
Run "gigq <command> --help" for a command's options.
`;
}

function commandHelp(name: string): string {
  const c = COMMANDS[name];
  return `gigq ${name}: ${c.summary}

Usage: ${c.usage}

${c.details}

${GLOBAL_HELP}
`;
}

// ---------------------------------------------------------------------------
// main

/**
 * Splits off the command: the first positional argument. Only global options
 * may come before it (`--db PATH` is accepted before or after the command).
 */
function findCommand(args: string[]): { name: string | undefined; rest: string[] } {
  const { tokens } = parseArgs({
    args,
    options: GLOBAL,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const first = tokens.find((t): t is Extract<typeof t, { kind: "positional" }> =>
    t.kind === "positional"
  );
  const end = first?.index ?? args.length;
  // Check what precedes the command against the global options.
  parseOptions(args.slice(0, end), GLOBAL, "gigq");
  if (first === undefined) return { name: undefined, rest: args };
  return { name: first.value, rest: [...args.slice(0, end), ...args.slice(end + 1)] };
}

/** Every driver, by name (a new DriverName fails to compile here until it is added). */
const DRIVER_NAMES: Record<DriverName, true> = { node: true, ffi: true };
const DRIVERS = Object.keys(DRIVER_NAMES) as DriverName[];

function driverFrom(value: string | undefined, source: string): DriverName {
  const driver = value ?? "node";
  if (!(DRIVERS as readonly string[]).includes(driver)) {
    throw new UsageError(
      `${source} must be one of ${DRIVERS.join(", ")}, got ${JSON.stringify(driver)}`,
    );
  }
  return driver as DriverName;
}

function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof TypeError || error instanceof RangeError) {
    return 2;
  }
  return 1;
}

/**
 * Runs the `gigq` command line with `args` (without the program name) and
 * resolves to the exit code: 0 done, 1 the operation failed (unknown job,
 * a job that cannot be cancelled, no database at the path, a database error),
 * 2 a bad command line (unknown command or option, a missing or bad value).
 * Errors are one line on stderr; nothing is thrown.
 *
 * @example Capture a command's output
 * ```ts ignore
 * import { main } from "@gigq/gigq/cli";
 *
 * let text = "";
 * const code = await main(["--db", "jobs.db", "list", "--json"], {
 *   stdout: (t) => text += t,
 * });
 * const jobs = JSON.parse(text);
 * ```
 *
 * @param args the command line, for example `["submit", "./tasks.ts#greet", "-p", "name=Ada"]`
 * @param io where output goes, and the environment, signals and directory to use
 */
export async function main(args: string[], io: CliIo = {}): Promise<number> {
  const resolved = resolveIo(io);
  let where = "gigq";
  try {
    const { name, rest } = findCommand(args);
    if (name === undefined) {
      if (flagGiven(args, "help")) {
        resolved.stdout(topHelp());
        return 0;
      }
      throw new UsageError(
        `missing command; one of: ${NAMES.join(", ")} (see gigq --help)`,
      );
    }
    if (!Object.hasOwn(COMMANDS, name)) {
      throw new UsageError(
        `unknown command ${JSON.stringify(name)}; commands are: ${NAMES.join(", ")}`,
      );
    }
    where = `gigq ${name}`;
    const command = COMMANDS[name];
    const parsed = parseOptions(rest, { ...GLOBAL, ...command.options }, where);
    if (flag(parsed, "help")) {
      resolved.stdout(commandHelp(name));
      return 0;
    }
    const wanted = command.positionals.length;
    // "[<id>]" is optional: the command checks what it got.
    const required = command.positionals.filter((p) => !p.startsWith("[")).length;
    if (parsed.positionals.length < required) {
      throw new UsageError(
        `missing ${command.positionals[parsed.positionals.length]} (usage: ${command.usage})`,
      );
    }
    if (parsed.positionals.length > wanted) {
      throw new UsageError(
        `unexpected argument ${
          JSON.stringify(parsed.positionals[wanted])
        } (usage: ${command.usage})`,
      );
    }
    const envDb = resolved.env("GIGQ_DB") || undefined;
    const given = str(parsed, "db") ?? envDb ?? "gigq.db";
    if (given === "") throw new UsageError(`--db must not be empty`);
    const path = given === ":memory:" || given.startsWith("file:") || isDatabaseUrl(given)
      ? given
      : resolve(resolved.cwd(), given);
    if (isDatabaseUrl(path) && str(parsed, "driver") !== undefined) {
      throw new UsageError(
        `--driver applies to SQLite files only, not to the PostgreSQL URL given in --db`,
      );
    }
    const driver = str(parsed, "driver") !== undefined
      ? driverFrom(str(parsed, "driver"), "--driver")
      : driverFrom(resolved.env("GIGQ_DRIVER") || undefined, "GIGQ_DRIVER");
    return await command.run({
      io: resolved,
      parsed,
      path,
      driver,
      json: flag(parsed, "json"),
    });
  } catch (error) {
    resolved.stderr(`${where}: ${messageOf(error)}\n`);
    return exitCodeOf(error);
  }
}

/** True if `--name` (or its short form) appears before `--`. */
function flagGiven(args: string[], name: string): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === `--${name}` || (GLOBAL[name].short && arg === `-${GLOBAL[name].short}`)) {
      return true;
    }
  }
  return false;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
