/**
 * The `schedules` command: list the cron schedules, add (or update) one,
 * remove one.
 *
 * @module
 */
import { Job, type MissedSlots, nextRunTimes, type ScheduleOptions, type Task } from "../../mod.ts";
import {
  OperationError,
  type Parsed,
  parseNumber,
  parseParams,
  parseQueueName,
  UsageError,
} from "./_args.ts";
import { type Command, type Context, flag, list, out, str, withQueue } from "./_command.ts";
import { formatTable, formatTime } from "./_format.ts";
import { importTask } from "./_modules.ts";

/** The options only `schedules add` takes. */
const ADD_OPTIONS = [
  "cron",
  "task",
  "params",
  "param",
  "timezone",
  "queue",
  "priority",
  "max-attempts",
  "timeout",
  "retry-delay",
  "backoff",
  "max-retry-delay",
  "description",
  "missed",
  "paused",
];

const MISSED: readonly MissedSlots[] = ["skip", "one", "all"];

/** The longest schedule name the library takes. */
const MAX_NAME = 200;

/** Refuses the options of `add` given to another action. */
function refuseAddOptions(p: Parsed, action: string): void {
  const given = ADD_OPTIONS.find((o) => p.values[o] !== undefined);
  if (given !== undefined) {
    throw new UsageError(
      `--${given} is an option of gigq schedules add, not of ${action} (usage: ${command.usage})`,
    );
  }
}

/** The NAME positional of add and remove, checked as the library would. */
function scheduleName(action: string, name: string | undefined): string {
  if (name === undefined) {
    throw new UsageError(`missing NAME: gigq schedules ${action} NAME (usage: ${command.usage})`);
  }
  if (
    name.trim() === "" || name.length > MAX_NAME || name.includes("\0") || !name.isWellFormed()
  ) {
    throw new UsageError(
      `NAME must be a schedule name of 1 to ${MAX_NAME} characters, not blank, without a NUL ` +
        `(\\u0000) or a lone surrogate, got ${
          name.length > MAX_NAME ? `a text of ${name.length} characters` : JSON.stringify(name)
        }`,
    );
  }
  return name;
}

/** The params: `--params JSON`, then each `-p KEY=VALUE` over it. */
function paramsOf(p: Parsed): unknown {
  const text = str(p, "params");
  let params: unknown = {};
  if (text !== undefined) {
    try {
      params = JSON.parse(text);
    } catch (error) {
      throw new UsageError(
        `--params must be JSON, got ${JSON.stringify(text)} (${(error as Error).message})`,
      );
    }
  }
  const pairs = list(p, "param");
  if (pairs.length === 0) return params;
  if (params === null || typeof params !== "object" || Array.isArray(params)) {
    throw new UsageError(`-p KEY=VALUE needs --params to be a JSON object, got ${text}`);
  }
  return { ...params, ...parseParams(pairs) };
}

async function add(ctx: Context, name: string): Promise<number> {
  const p = ctx.parsed;
  const cron = str(p, "cron");
  if (cron === undefined) throw new UsageError(`missing --cron (usage: ${command.usage})`);
  const target = str(p, "task");
  if (target === undefined || target.trim() === "") {
    throw new UsageError(`missing --task: a task name, or MODULE#EXPORT (usage: ${command.usage})`);
  }
  const timezone = str(p, "timezone") ?? "UTC";
  // The cron and time zone are checked before anything is opened, as the library checks them.
  try {
    await nextRunTimes(cron, { timezone, count: 1 });
  } catch (error) {
    if (!(error instanceof RangeError || error instanceof TypeError)) throw error;
    throw new UsageError(
      error.message.replace(/^Cannot read cron: (cron|timezone) /, (_, field) => `--${field} `),
    );
  }
  const number = (option: string) => {
    const text = str(p, option);
    return text === undefined ? undefined : parseNumber(`--${option}`, text);
  };
  const backoff = str(p, "backoff");
  if (backoff !== undefined && backoff !== "fixed" && backoff !== "exponential") {
    throw new UsageError(
      `--backoff must be "fixed" or "exponential", got ${JSON.stringify(backoff)}`,
    );
  }
  const missed = str(p, "missed");
  if (missed !== undefined && !(MISSED as readonly string[]).includes(missed)) {
    throw new UsageError(`--missed must be skip, one or all, got ${JSON.stringify(missed)}`);
  }
  const queueText = str(p, "queue");
  // A task from a module (MODULE#EXPORT) brings its defaults; a bare name is a task name.
  let task: Task | string = target;
  let module: string | undefined;
  if (target.includes("#")) {
    task = (await importTask(target, ctx.io.cwd())).task;
    module = target;
  }
  const options: ScheduleOptions = {
    name,
    cron,
    timezone,
    task,
    module,
    params: paramsOf(p),
    queue: queueText === undefined ? undefined : parseQueueName("--queue", queueText),
    priority: number("priority"),
    maxAttempts: number("max-attempts"),
    timeout: number("timeout"),
    retryDelay: number("retry-delay"),
    backoff,
    maxRetryDelay: number("max-retry-delay"),
    description: str(p, "description"),
    missed: missed as MissedSlots | undefined,
    // The command line says the whole schedule: without --paused it runs.
    paused: flag(p, "paused"),
  };
  // Job's checks, before the database is opened (schedule() makes the same one).
  const { cron: _c, timezone: _t, missed: _m, paused: _p, ...job } = options;
  new Job(job);
  const info = await withQueue(ctx, "create", (queue) => queue.schedule(options));
  out(
    ctx,
    `Schedule ${JSON.stringify(info.name)} saved: ${
      JSON.stringify(info.cron)
    } (${info.timezone}), ` +
      `task ${info.task}, queue ${info.queue}; ${
        info.paused ? "paused" : `next run ${formatTime(info.nextRunAt)}`
      }.`,
    info,
  );
  return 0;
}

async function remove(ctx: Context, name: string): Promise<number> {
  const removed = await withQueue(ctx, "write", (queue) => queue.unschedule(name));
  if (!removed) throw new OperationError(`no schedule named ${JSON.stringify(name)}`);
  out(ctx, `Schedule ${JSON.stringify(name)} removed.`, { name, removed: true });
  return 0;
}

async function show(ctx: Context): Promise<number> {
  const schedules = await withQueue(ctx, "read", (queue) => queue.schedules());
  const table = schedules.length === 0 ? "No schedules found." : formatTable(
    schedules.map((s) => [
      s.name,
      s.cron,
      s.timezone,
      s.task,
      s.queue,
      s.paused ? "paused" : formatTime(s.nextRunAt),
      formatTime(s.lastRunAt),
      s.missed,
    ]),
    ["Name", "Cron", "Timezone", "Task", "Queue", "Next run", "Last run", "Missed"],
  );
  out(ctx, table, schedules);
  return 0;
}

async function run(ctx: Context): Promise<number> {
  const [action, name] = ctx.parsed.positionals;
  switch (action) {
    case undefined:
      refuseAddOptions(ctx.parsed, "the list");
      return await show(ctx);
    case "add":
      return await add(ctx, scheduleName("add", name));
    case "remove":
      refuseAddOptions(ctx.parsed, "remove");
      return await remove(ctx, scheduleName("remove", name));
    default:
      throw new UsageError(
        `unknown action ${
          JSON.stringify(action)
        }: gigq schedules lists them; gigq schedules add NAME or remove NAME changes them`,
      );
  }
}

/** The `schedules` command. */
export const command: Command = {
  summary: "list the cron schedules; add (or update) or remove one",
  usage: "gigq schedules [add NAME --cron EXPR --task TASK [options] | remove NAME] [options]",
  details: `Without an action, lists the schedules: cron, time zone, task, queue, next and last
slot (local times). Any running worker whose tasks include a schedule's task fires its
slots, once each however many workers run.

gigq schedules add NAME --cron EXPR --task TASK [options]
  creates the schedule, or updates it (the same cron and time zone keep its next slot; a
  new one takes effect from its next slot after now):
  --cron EXPR            five fields (minute hour day-of-month month day-of-week), six
                         with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly
  --task TASK            a task name, or MODULE#EXPORT to import the task and take its
                         defaults (recorded as the jobs' module)
  --timezone TZ          the IANA time zone the cron is read in (default UTC)
  --params JSON          the jobs' params (default {})
  -p, --param KEY=VALUE  a param over --params (as gigq submit takes it; repeatable)
  --missed RULE          slots missed by more than 30 s (no worker ran): skip (none),
                         one (one job for them all; the default) or all (one each)
  --paused               stored paused: it fires nothing (add again without it to resume)
  --queue NAME, --priority N, --max-attempts N, --timeout SECONDS, --retry-delay SECONDS,
  --backoff KIND, --max-retry-delay SECONDS, --description TEXT
                         the jobs' options, as gigq submit takes them

gigq schedules remove NAME
  removes it (jobs it fired stay); exits 1 if there is none of that name.

Example: gigq schedules add nightly-report --cron "0 1 * * *" --timezone Europe/Berlin \\
           --task ./tasks.ts#report --params '{"kind":"sales"}'`,
  options: {
    cron: { type: "string" },
    task: { type: "string" },
    params: { type: "string" },
    param: { type: "string", short: "p", multiple: true },
    timezone: { type: "string" },
    queue: { type: "string" },
    priority: { type: "string" },
    "max-attempts": { type: "string" },
    timeout: { type: "string" },
    "retry-delay": { type: "string" },
    backoff: { type: "string" },
    "max-retry-delay": { type: "string" },
    description: { type: "string" },
    missed: { type: "string" },
    paused: { type: "boolean" },
  },
  positionals: ["[add|remove]", "[<name>]"],
  run,
};
