/**
 * The `gigq` command line: submit jobs, look at them, run workers.
 *
 * ```sh
 * deno task gigq submit ./examples/tasks.ts#greet -p name=Ada
 * deno task worker --tasks ./examples/tasks.ts --once
 * deno task gigq status <id> --show-result
 * deno task gigq list --json
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
import { DriverConflictError, JobNotFoundError, QueueClosedError } from "../errors.ts";
import { Job } from "../job.ts";
import { parseJobStatus } from "../job_status.ts";
import type { JobDetails } from "../job_info.ts";
import { JobQueue } from "../queue.ts";
import { closeConnection } from "../sqlite/registry.ts";
import { SchemaError } from "../sqlite/schema.ts";
import { type DriverName, DRIVERS, SqliteError } from "../sqlite/connection.ts";
import { diskFullMessage, readOnlyMessage } from "../sqlite/_file_errors.ts";
import {
  OperationError,
  type OptionSpecs,
  type Parsed,
  parseNumber,
  parseOptions,
  parseParams,
  UsageError,
} from "./_args.ts";
import { backup } from "./backup.ts";
import { checkDatabaseFile, NoDatabaseError, openForReading } from "./_database.ts";
import { firstLine, formatTable, formatTime, formatValue, toJsonText } from "./_format.ts";
import { type CliIo, type Io, resolveIo } from "./_io.ts";
import { importTask } from "./_modules.ts";
import { runWorkers } from "./_worker.ts";
import { why } from "../why.ts";

export type { CliIo, StopSignal } from "./_io.ts";
export { why } from "../why.ts";
export type { WhyAnswer, WhyOptions, WhyParent, WhyReason } from "../why.ts";

/** Options every command accepts. */
const GLOBAL: OptionSpecs = {
  db: { type: "string" },
  driver: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

const GLOBAL_HELP = `Options every command accepts:
  --db PATH        the database file (default: $GIGQ_DB, else gigq.db in the current
                   directory)
  --driver NAME    node or ffi (default: $GIGQ_DRIVER, else node); ffi needs --allow-ffi
  --json           print JSON for scripts instead of tables
  -h, --help       show this help`;

/** What a command gets to work with. */
interface Context {
  io: Io;
  parsed: Parsed;
  path: string;
  driver: DriverName;
  json: boolean;
}

interface Command {
  summary: string;
  usage: string;
  details: string;
  options: OptionSpecs;
  /** The positional arguments it takes (exactly). */
  positionals: string[];
  run(ctx: Context): Promise<number>;
}

const str = (p: Parsed, name: string) => p.values[name] as string | undefined;
const list = (p: Parsed, name: string) => (p.values[name] as string[] | undefined) ?? [];
const flag = (p: Parsed, name: string) => p.values[name] === true;

/**
 * Runs `fn` on the queue in the context's file. `mode` says what the command
 * does: `"create"` (submit) may create the file; `"write"` (cancel, requeue,
 * clear) and `"read"` (status, list, stats, why) need an existing queue and
 * leave a missing or empty file alone (see checkDatabaseFile); `"read"` also
 * reads a queue in a read-only directory where that is safe (see
 * openForReading).
 */
async function withQueue<T>(
  ctx: Context,
  mode: "create" | "write" | "read",
  fn: (queue: JobQueue) => Promise<T>,
): Promise<T> {
  await checkDatabaseFile(ctx.path, { mustExist: mode !== "create", driver: ctx.driver });
  const queue = mode === "read"
    ? await openForReading(ctx.path, ctx.driver, (note) => ctx.io.stderr(`gigq: note: ${note}\n`))
    : new JobQueue(ctx.path, { driver: ctx.driver });
  try {
    return await fn(queue);
  } finally {
    queue.close();
  }
}

function out(ctx: Context, human: string, json: unknown): void {
  ctx.io.stdout(ctx.json ? toJsonText(json) : human.endsWith("\n") ? human : human + "\n");
}

// ---------------------------------------------------------------------------
// submit

async function submit(ctx: Context): Promise<number> {
  const p = ctx.parsed;
  const [target] = p.positionals;
  const params = parseParams(list(p, "param"));
  const number = (name: string) => {
    const text = str(p, name);
    return text === undefined ? undefined : parseNumber(`--${name}`, text);
  };
  const priority = number("priority");
  const maxAttempts = number("max-attempts");
  const timeout = number("timeout");
  const retryDelay = number("retry-delay");
  const backoff = str(p, "backoff");
  if (backoff !== undefined && backoff !== "fixed" && backoff !== "exponential") {
    throw new UsageError(
      `--backoff must be "fixed" or "exponential", got ${JSON.stringify(backoff)}`,
    );
  }
  const delayText = str(p, "delay");
  const runAtText = str(p, "run-at");
  if (delayText !== undefined && runAtText !== undefined) {
    throw new UsageError("give --delay or --run-at, not both");
  }
  const delay = delayText === undefined ? undefined : parseNumber("--delay", delayText, {
    min: 0,
    max: 315_360_000,
    unit: "seconds",
  });
  if (runAtText !== undefined && !/^\d{4}-\d{2}-\d{2}/.test(runAtText)) {
    throw new UsageError(
      `--run-at must be an ISO 8601 time like 2026-01-31T09:00:00Z, got ${
        JSON.stringify(runAtText)
      }`,
    );
  }
  const dependencies = list(p, "depends-on");
  for (const id of dependencies) {
    if (id.trim() === "") throw new UsageError(`--depends-on needs a job id, got ""`);
  }
  const name = str(p, "name");
  if (name !== undefined && name.trim() === "") {
    throw new UsageError(`--name must not be empty`);
  }
  const { task } = await importTask(target, ctx.io.cwd());
  const job = new Job({
    task,
    name,
    params,
    priority,
    maxAttempts,
    timeout,
    retryDelay,
    backoff,
    description: str(p, "description"),
    dependencies,
    runAt: delay !== undefined ? Date.now() + delay * 1000 : runAtText,
    module: target,
  });
  if (dependencies.length > 0) {
    // Where there is no queue yet, no dependency can exist: say so before
    // creating a database for a submit that is bound to fail.
    try {
      await checkDatabaseFile(ctx.path, { mustExist: true, driver: ctx.driver });
    } catch (error) {
      if (!(error instanceof NoDatabaseError)) throw error;
      throw new JobNotFoundError(
        dependencies[0],
        `Cannot submit job ${JSON.stringify(job.name)}: its dependency ${
          JSON.stringify(dependencies[0])
        } does not exist (there is no GigQ database at ${ctx.path} yet)`,
      );
    }
  }
  const id = await withQueue(ctx, "create", (queue) => queue.submit(job));
  out(ctx, `Job submitted: ${id}`, { id });
  return 0;
}

// ---------------------------------------------------------------------------
// status

function statusText(job: JobDetails, p: Parsed): string {
  const lines = [
    `Job: ${job.name} (${job.id})`,
    `Task: ${job.task}${job.module ? ` (${job.module})` : ""}`,
    `Status: ${job.status}`,
    `Created: ${formatTime(job.createdAt)}`,
    `Updated: ${formatTime(job.updatedAt)}`,
    `Started: ${formatTime(job.startedAt)}`,
    `Completed: ${formatTime(job.completedAt)}`,
    `Attempts: ${job.attempts} / ${job.maxAttempts}`,
    `Priority: ${job.priority}`,
  ];
  if (job.status === "pending" && job.runAt > job.updatedAt) {
    lines.push(`Run at: ${formatTime(job.runAt)}`);
  }
  if (job.dependencies.length > 0) lines.push(`Depends on: ${job.dependencies.join(", ")}`);
  if (job.description) lines.push(`Description: ${job.description}`);
  if (job.workerId) lines.push(`Worker: ${job.workerId}`);
  if (job.leaseUntil) lines.push(`Lease until: ${formatTime(job.leaseUntil)}`);
  if (job.cancelledBy) lines.push(`Cancelled by: ${job.cancelledBy}`);
  if (job.error) lines.push(`Error: ${job.error}`);
  const entries = (value: unknown): string[] =>
    value !== null && typeof value === "object" && !Array.isArray(value) &&
      Object.keys(value).length > 0
      ? Object.entries(value).map(([k, v]) => `  ${k}: ${formatValue(v)}`)
      : [`  ${formatValue(value)}`];
  if (flag(p, "show-params")) {
    lines.push("", "Parameters:", ...entries(job.params));
  }
  if (flag(p, "show-result")) {
    if (job.status === "completed") lines.push("", "Result:", ...entries(job.result));
    else lines.push("", `Result: none (the job is ${job.status})`);
  }
  if (flag(p, "show-executions")) {
    if (job.executions.length === 0) {
      lines.push("", "Executions: none");
    } else {
      lines.push(
        "",
        "Executions:",
        formatTable(
          job.executions.map((e) => [
            String(e.run),
            String(e.attempt),
            e.workerId,
            formatTime(e.startedAt),
            formatTime(e.completedAt),
            e.status,
            firstLine(e.error ?? "", 60),
          ]),
          ["Run", "Attempt", "Worker", "Started", "Completed", "Status", "Error"],
        ),
      );
    }
  }
  return lines.join("\n");
}

async function status(ctx: Context): Promise<number> {
  const [id] = ctx.parsed.positionals;
  const job = await withQueue(ctx, "read", (queue) => queue.getStatus(id));
  if (job === undefined) throw new JobNotFoundError(id);
  out(ctx, statusText(job, ctx.parsed), job);
  return 0;
}

// ---------------------------------------------------------------------------
// list, stats

async function listCommand(ctx: Context): Promise<number> {
  const p = ctx.parsed;
  const statusText = str(p, "status");
  const status = statusText === undefined || statusText === ""
    ? undefined
    : parseJobStatus(statusText);
  const limitText = str(p, "limit");
  const limit = limitText === undefined
    ? 100
    : parseNumber("--limit", limitText, { min: 0, max: 1_000_000_000, integer: true });
  const jobs = await withQueue(ctx, "read", (queue) => queue.listJobs({ status, limit }));
  const table = jobs.length === 0 ? "No jobs found." : formatTable(
    jobs.map((j) => [
      j.id,
      j.name,
      j.status,
      String(j.priority),
      formatTime(j.createdAt),
      formatTime(j.updatedAt),
    ]),
    ["ID", "Name", "Status", "Priority", "Created", "Updated"],
  );
  out(ctx, table, jobs);
  return 0;
}

async function stats(ctx: Context): Promise<number> {
  const counts = await withQueue(ctx, "read", (queue) => queue.stats());
  const rows = Object.entries(counts).map(([k, v]) => [k, String(v)]);
  out(ctx, formatTable(rows, ["Status", "Count"]), counts);
  return 0;
}

// ---------------------------------------------------------------------------
// cancel, requeue, clear

async function cancel(ctx: Context): Promise<number> {
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

async function requeue(ctx: Context): Promise<number> {
  const [id] = ctx.parsed.positionals;
  await withQueue(ctx, "write", async (queue) => {
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
  });
  out(ctx, `Job ${id} requeued.`, { id, requeued: true });
  return 0;
}

async function clear(ctx: Context): Promise<number> {
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

// ---------------------------------------------------------------------------
// why, worker

async function whyCommand(ctx: Context): Promise<number> {
  const [id] = ctx.parsed.positionals;
  const answer = await withQueue(ctx, "read", async (queue) => {
    try {
      return await why(queue, id);
    } finally {
      closeConnection(queue.path); // why() reads through the registry's connection
    }
  });
  out(ctx, answer.message, answer);
  return 0;
}

async function worker(ctx: Context): Promise<number> {
  const p = ctx.parsed;
  const env = ctx.io.env;
  const modules = list(p, "tasks");
  const workersText = str(p, "workers");
  const workers = workersText === undefined
    ? 1
    : parseNumber("--workers", workersText, { min: 1, max: 1024, integer: true });
  const concurrencyText = str(p, "concurrency");
  const concurrency = concurrencyText === undefined
    ? undefined
    : parseNumber("--concurrency", concurrencyText);
  const pollText = str(p, "polling-interval");
  const pollEnv = env("GIGQ_POLLING_INTERVAL") || undefined;
  const pollRange = { min: 0, max: 86_400, minExclusive: true, unit: "seconds" };
  const pollInterval = pollText !== undefined
    ? parseNumber("--polling-interval", pollText, pollRange)
    : pollEnv !== undefined
    ? parseNumber("GIGQ_POLLING_INTERVAL", pollEnv, pollRange)
    : undefined;
  const leaseText = str(p, "lease");
  const lease = leaseText === undefined ? undefined : parseNumber("--lease", leaseText, {
    min: 0,
    max: 86_400,
    minExclusive: true,
    unit: "seconds",
  });
  const graceText = str(p, "grace");
  const grace = graceText === undefined
    ? undefined
    : parseNumber("--grace", graceText, { min: 0, max: 2_147_483, unit: "seconds" });
  const workerId = str(p, "worker-id") ?? (env("GIGQ_WORKER_ID") || undefined);
  if (workerId !== undefined && workerId.trim() === "") {
    throw new UsageError(`--worker-id must not be empty`);
  }
  if (modules.length === 0) {
    throw new UsageError(
      "worker needs --tasks MODULE (a module whose exported tasks it runs), for example " +
        "--tasks ./tasks.ts",
    );
  }
  const inProcess = flag(p, "in-process");
  if (workers > 1 && inProcess) {
    throw new UsageError(
      `--in-process runs one worker in this thread; it cannot be combined with --workers ${workers}`,
    );
  }
  if (workers > 1 && flag(p, "once")) {
    throw new UsageError(
      `--once runs one job in this process; it cannot be combined with --workers ${workers}`,
    );
  }
  await checkDatabaseFile(ctx.path, { mustExist: false, driver: ctx.driver });
  return await runWorkers({
    path: ctx.path,
    driver: ctx.driver,
    modules,
    workers,
    inProcess,
    lease,
    concurrency,
    pollInterval,
    workerId,
    grace,
    once: flag(p, "once"),
    json: ctx.json,
  }, ctx.io);
}

async function backupCommand(ctx: Context): Promise<number> {
  const [dest] = ctx.parsed.positionals;
  const result = await backup(ctx.path, resolve(ctx.io.cwd(), dest), {
    driver: ctx.driver,
    note: (note) => ctx.io.stderr(`gigq: note: ${note}\n`),
  });
  out(ctx, `Backed up ${result.db} to ${result.backup} (${result.bytes} bytes).`, result);
  return 0;
}

// ---------------------------------------------------------------------------
// the command table and help

const COMMANDS: Record<string, Command> = {
  submit: {
    summary: "submit a job for a task exported by a module",
    usage: "gigq submit <module>#<export> [options]",
    details: `Imports the module (paths are relative to the current directory), takes the export,
which must be a task made by task(), and submits a job for it. Prints the job id.

  --name NAME            the job's name (default: the task's name)
  -p, --param KEY=VALUE  a param; VALUE is JSON if it parses, else a string (a number
                         only if it prints back the same: 1.10 and 1e5 stay strings;
                         repeatable; a repeated KEY keeps the last value)
  --priority N           higher runs first (default: the task's, else 0)
  --max-attempts N       attempts before it fails (default: the task's, else 3)
  --timeout SECONDS      per attempt (default: the task's, else 300)
  --retry-delay SECONDS  before a retry (default: the task's, else 0)
  --backoff KIND         fixed (every retry waits --retry-delay) or exponential (the
                         delay doubles each retry, at most one day; default: the
                         task's, else fixed)
  --description TEXT     free text (default: the task's, else "")
  --depends-on ID        a job that must complete first (repeatable)
  --delay SECONDS        start no sooner than this many seconds from now
  --run-at TIME          start no sooner than this ISO 8601 time (not with --delay)

Example: gigq submit ./tasks.ts#greet -p name=Ada --priority 5`,
    options: {
      name: { type: "string" },
      param: { type: "string", short: "p", multiple: true },
      priority: { type: "string" },
      "max-attempts": { type: "string" },
      timeout: { type: "string" },
      "retry-delay": { type: "string" },
      backoff: { type: "string" },
      description: { type: "string" },
      "depends-on": { type: "string", multiple: true },
      delay: { type: "string" },
      "run-at": { type: "string" },
    },
    positionals: ["<module>#<export>"],
    run: submit,
  },
  status: {
    summary: "show one job",
    usage: "gigq status <id> [options]",
    details: `  --show-params      also print the job's params
  --show-result      also print its result (any value, including 0, false, "" and null)
  --show-executions  also print a table of its attempts

With --json, prints the whole job (params, result and attempts included).`,
    options: {
      "show-params": { type: "boolean" },
      "show-result": { type: "boolean" },
      "show-executions": { type: "boolean" },
    },
    positionals: ["<id>"],
    run: status,
  },
  list: {
    summary: "list jobs, newest first",
    usage: "gigq list [options]",
    details: `  --status STATUS  only jobs in this status: pending, running, completed, failed,
                   cancelled or timeout ("" means all)
  --limit N        at most N jobs (default 100)`,
    options: { status: { type: "string" }, limit: { type: "string" } },
    positionals: [],
    run: listCommand,
  },
  stats: {
    summary: "count jobs by status",
    usage: "gigq stats [options]",
    details: "Prints one row per status and a total.",
    options: {},
    positionals: [],
    run: stats,
  },
  cancel: {
    summary: "cancel a pending job (and the pending jobs that depend on it)",
    usage: "gigq cancel <id> [options]",
    details: "Exits 1 if the job is unknown or not pending.",
    options: {},
    positionals: ["<id>"],
    run: cancel,
  },
  requeue: {
    summary: "put a failed, timed-out or cancelled job back to pending",
    usage: "gigq requeue <id> [options]",
    details: `Resets its attempts and brings back the jobs its end had cancelled. Exits 1 if the job
is unknown, in another state, or depends on a job that itself failed (requeue that one first).`,
    options: {},
    positionals: ["<id>"],
    run: requeue,
  },
  clear: {
    summary: "delete completed and cancelled jobs",
    usage: "gigq clear [options]",
    details: `  --before DAYS  only jobs that ended more than DAYS days ago (0 to 36500, fractions
                 allowed; 0 means every job that has ended by now). Without it: all of them.

A finished job that a remaining job still depends on is kept.`,
    options: { before: { type: "string" } },
    positionals: [],
    run: clear,
  },
  worker: {
    summary: "run a worker",
    usage: "gigq worker --tasks MODULE [options]",
    details: `Runs the tasks exported by the --tasks modules until SIGINT or SIGTERM: the first
signal stops claiming and lets the jobs in flight finish (for at most --grace seconds,
then they are released back to pending), closes every connection and exits 0; a second
signal releases the jobs still running at once and exits 130 (SIGINT) or 143 (SIGTERM).
The handlers run in a Web Worker (a thread) supervised from this one, which renews the
jobs' leases, so a CPU-bound handler keeps its job; a handler that ignores its timeout
(by more than 5 s) or ends its thread is ended, and its attempt recorded. With
--workers N it runs a pool of N such Web Workers, each with its own connection.
On a terminal it shows one progress line; otherwise it writes log lines to stderr.

  --tasks MODULE            a module whose exported tasks this worker runs (repeatable)
  --once                    process at most one job, then exit
  --concurrency N           jobs run at once (default 1)
  --polling-interval SECS   idle wait between polls (default: $GIGQ_POLLING_INTERVAL, else 5)
  --worker-id ID            this worker's id (default: $GIGQ_WORKER_ID, else a random id);
                            with --workers N, the Web Workers are ID-0, ID-1, …
  --workers N               Web Workers running the handlers (default 1)
  --lease SECS              how long a claim lasts without renewal (default 30): a job whose
                            worker dies comes back after this long
  --in-process              run the handlers in this thread instead, unsupervised: lighter,
                            but a CPU-bound handler that holds the thread longer than the
                            lease stops its renewal, and its job may run twice
  --grace SECS              after a stop signal, how long jobs in flight may take
                            (default: until they finish or time out)

Example: gigq worker --tasks ./tasks.ts --concurrency 4`,
    options: {
      tasks: { type: "string", multiple: true },
      once: { type: "boolean" },
      concurrency: { type: "string" },
      "polling-interval": { type: "string" },
      "worker-id": { type: "string" },
      workers: { type: "string" },
      lease: { type: "string" },
      "in-process": { type: "boolean" },
      grace: { type: "string" },
    },
    positionals: [],
    run: worker,
  },
  why: {
    summary: "say in one line why a job is not running",
    usage: "gigq why <id> [options]",
    details: `Blocked by a parent, waiting for its start time (a delay or a retry's backoff), ready
but no worker has been seen lately, ready and waiting for a worker, running on a worker
(until its lease ends), or how it ended (completed, failed, timed out, cancelled by a user
or because a parent ended badly).`,
    options: {},
    positionals: ["<id>"],
    run: whyCommand,
  },
  backup: {
    summary: "write a consistent copy of the queue, safe while workers run",
    usage: "gigq backup <dest> [options]",
    details: `Copies the queue to <dest> from one SQLite read transaction (VACUUM INTO with the ffi
driver, SQLite's online backup with the node one), so the copy holds every job committed
before it began, while workers keep working. <dest> must not exist (a backup never
overwrites a file); on failure nothing is left there.
Never copy or move a live queue file instead: a copy without its -wal file loses commits,
and a worker keeps writing to a file that was moved.

Example: gigq backup /backups/jobs-2026-01-31.db --db jobs.db`,
    options: {},
    positionals: ["<dest>"],
    run: backupCommand,
  },
};

const NAMES = Object.keys(COMMANDS);

function topHelp(): string {
  const width = Math.max(...NAMES.map((n) => n.length)) + 2;
  return `gigq: a job queue in one SQLite file

Usage: gigq [--db PATH] <command> [options]

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

function messageOf(error: unknown, path: string | undefined): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return `permission denied: ${error.message}`;
  }
  if (error instanceof SqliteError && (error.readOnly || error.diskFull) && path !== undefined) {
    // The drivers' text names neither the file nor why (the ffi one names the SQL).
    const text = error.readOnly ? readOnlyMessage(path) : diskFullMessage(path);
    return text[0].toLowerCase() + text.slice(1);
  }
  const known = [
    UsageError,
    OperationError,
    TypeError,
    RangeError,
    JobNotFoundError,
    SchemaError,
    SqliteError,
    DriverConflictError,
    QueueClosedError,
  ];
  const text = known.some((k) => error instanceof k) || error.name === "Error"
    ? error.message
    : `${error.name}: ${error.message}`;
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ");
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
  let path: string | undefined;
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
    if (parsed.positionals.length < wanted) {
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
    path = given === ":memory:" || given.startsWith("file:")
      ? given
      : resolve(resolved.cwd(), given);
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
    resolved.stderr(`${where}: ${messageOf(error, path)}\n`);
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
