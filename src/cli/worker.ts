/**
 * The `worker` command: runs a supervised Worker (a pool of one Web Worker),
 * a pool of N, or with `--in-process` a Worker in this thread, with a
 * progress line (on a terminal) or log lines, and signal handling.
 */
import {
  type DriverName,
  JobQueue,
  type LogLevel,
  type StopOptions,
  type Task,
  Worker,
  type WorkerCounts,
  WorkerPool,
} from "../../mod.ts";
import { parseNumber, parseQueueName, UsageError } from "./_args.ts";
import { type Command, type Context, flag, list, str } from "./_command.ts";
import { isDatabaseUrl, refuseDirectory } from "./_database.ts";
import { formatTime, toJsonText } from "./_format.ts";
import type { Io, StopSignal } from "./_io.ts";
import { importTasks, moduleUrl } from "./_modules.ts";

/** Signals closer than this to the first one are taken as its duplicate, in milliseconds. */
export const REPEAT_MS = 500;

/** What the `worker` command was asked to run. */
export interface WorkerPlan {
  /** The database file. */
  path: string;
  /** The SQLite driver (none for a PostgreSQL URL). */
  driver: DriverName | undefined;
  /** The `--tasks` modules, as typed. */
  modules: string[];
  /** `--workers`: how many Web Workers run the handlers (1 unless `--in-process`). */
  workers: number;
  /**
   * `--in-process`: run the handlers in this thread, unsupervised. Lighter,
   * but a CPU-bound handler that holds the thread longer than the lease stops
   * its lease renewal, so another worker may take its job while it runs.
   */
  inProcess: boolean;
  /** `--queue`: the named queues the workers claim from; undefined for every queue. */
  queues?: string[];
  /** `--lease`: seconds a claim lasts without renewal. */
  lease?: number;
  /** `--concurrency`. */
  concurrency?: number;
  /** `--polling-interval` (or GIGQ_POLLING_INTERVAL), in seconds. */
  pollInterval?: number;
  /** `--worker-id` (or GIGQ_WORKER_ID); a pool's Web Workers get `<id>-0`, `<id>-1`, … */
  workerId?: string;
  /** `--grace`: seconds jobs in flight may take after a stop signal. */
  grace?: number;
  /** `--no-prune`: leave ended jobs alone (no background pruning). */
  prune: boolean;
  /** `--prune-interval`, in seconds. */
  pruneInterval?: number;
  /** `--once`: process at most one job. */
  once: boolean;
  /** `--json`: a JSON summary on stdout at the end. */
  json: boolean;
  /** `--verbose`: debug lines too (one per completed attempt, among others). */
  verbose: boolean;
}

/**
 * The workers' log lines the command prints: info and above (a line per
 * failed or timed-out attempt among them), debug ones only with `--verbose`.
 */
function logTo(progress: Progress, plan: WorkerPlan): (level: LogLevel, message: string) => void {
  return (level, message) => {
    if (level !== "debug" || plan.verbose) progress.log(level, message);
  };
}

/**
 * Runs the workers the plan asks for; resolves to the exit code. By default
 * the handlers run in one Web Worker supervised from this thread (a pool of
 * one): this thread renews its leases, so a CPU-bound handler cannot lose its
 * job to another worker, and ends a handler that ignores its timeout.
 * `--workers N` runs a pool of N Web Workers, each importing the task modules
 * and opening its own connection; `--in-process` runs a Worker in this thread.
 */
export async function runWorkers(plan: WorkerPlan, io: Io): Promise<number> {
  // Import the modules here too, so a bad module is one line and exit 1 or 2
  // before any Web Worker starts.
  const tasks = await importTasks(plan.modules, io.cwd());
  const byName = new Map<string, Task>();
  for (const t of tasks) {
    if (byName.has(t.name)) {
      throw new RangeError(
        `Cannot create worker: two different tasks are named ${JSON.stringify(t.name)}; task ` +
          `names must be unique`,
      );
    }
    byName.set(t.name, t);
  }
  if (plan.inProcess) return await runOneWorker(plan, tasks, io);
  return await runPool(plan, io);
}

/** Jobs per second over the last few seconds, from samples of `processed`. */
class Rate {
  #samples: [number, number][] = [];

  add(at: number, processed: number): number {
    this.#samples.push([at, processed]);
    while (this.#samples.length > 2 && at - this.#samples[1][0] >= 5000) this.#samples.shift();
    const [t0, p0] = this.#samples[0];
    return at - t0 > 0 ? ((processed - p0) * 1000) / (at - t0) : 0;
  }
}

/** Log lines on a pipe; one updating status line (redrawn in place) on a terminal. */
class Progress {
  #io: Io;
  #counts: () => WorkerCounts = () => ({
    processed: 0,
    completed: 0,
    failed: 0,
    timedOut: 0,
    inFlight: 0,
    abandoned: 0,
  });
  #label = "worker";
  #timer: ReturnType<typeof setInterval> | undefined;
  #rate = new Rate();
  #line = "";

  constructor(io: Io) {
    this.#io = io;
  }

  /** Shows the counts of `label` from now on. */
  attach(label: string, counts: () => WorkerCounts): void {
    this.#label = label;
    this.#counts = counts;
  }

  start(): void {
    if (!this.#io.isTerminal || this.#timer !== undefined) return;
    this.#render();
    this.#timer = setInterval(() => this.#render(), 250);
  }

  #render(): void {
    const c = this.#counts();
    const rate = this.#rate.add(Date.now(), c.processed);
    const failed = c.failed + c.timedOut;
    this.#line = this.#fit(
      `${this.#label}: ${c.processed} processed, ${failed} failed, ` +
        `${rate.toFixed(1)} jobs/s, ${c.inFlight} in flight`,
    );
    this.#io.stderr(`\r\x1b[2K${this.#line}`);
  }

  /** The line, cut to the terminal's width so that redrawing it in place works. */
  #fit(line: string): string {
    let columns = 0;
    try {
      columns = Deno.consoleSize().columns;
    } catch {
      // not a real terminal (tests): no limit
    }
    return columns > 1 && line.length >= columns ? line.slice(0, columns - 2) + "…" : line;
  }

  log(level: LogLevel | "note", message: string): void {
    const text = `${formatTime(Date.now())} ${level} ${message}\n`;
    if (this.#timer === undefined) {
      this.#io.stderr(text);
    } else {
      this.#io.stderr(`\r\x1b[2K${text}${this.#line}`);
    }
  }

  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#io.stderr(`\r\x1b[2K`);
  }
}

const ZERO: WorkerCounts = {
  processed: 0,
  completed: 0,
  failed: 0,
  timedOut: 0,
  inFlight: 0,
  abandoned: 0,
};

/** What `--once` prints: its JSON summary, or one line. */
function reportOnce(
  plan: WorkerPlan,
  io: Io,
  workerId: string | undefined,
  processed: boolean,
  outcome: string | null,
): void {
  if (plan.json) {
    io.stdout(toJsonText({ workerId, processed, outcome }));
  } else {
    io.stdout(
      processed
        ? `Processed one job (${outcome === "timeout" ? "timed out" : outcome}).\n`
        : "No jobs available to process.\n",
    );
  }
}

function outcomeOf(before: WorkerCounts, after: WorkerCounts): string | null {
  if (after.completed > before.completed) return "completed";
  if (after.timedOut > before.timedOut) return "timeout";
  if (after.failed > before.failed) return "failed";
  return null;
}

async function runOneWorker(plan: WorkerPlan, tasks: Task[], io: Io): Promise<number> {
  const progress = new Progress(io);
  const worker = new Worker(plan.path, {
    tasks,
    driver: plan.driver,
    concurrency: plan.concurrency,
    pollInterval: plan.pollInterval,
    lease: plan.lease,
    workerId: plan.workerId,
    queues: plan.queues,
    prune: plan.prune,
    pruneInterval: plan.pruneInterval,
    logger: logTo(progress, plan),
  });
  progress.attach(`worker ${worker.id}`, () => worker.counts);
  const signals = stopOnSignals(io, progress, () => worker.counts.inFlight, (options) => {
    worker.stop(options);
  }, plan);
  const { forcedExit, unsubscribe } = signals;
  try {
    if (plan.once) {
      const before = worker.counts;
      const job = worker.processOne();
      job.catch(() => {}); // after a forced exit nobody awaits it
      const processed = await Promise.race([job, forcedExit.then(() => null)]);
      if (processed === null) return await forcedExit;
      reportOnce(plan, io, worker.id, processed, outcomeOf(before, worker.counts));
      return 0;
    }
    progress.start();
    await worker.start();
    const code = signals.code();
    progress.stop();
    const { processed, completed, failed, timedOut } = worker.counts;
    if (plan.json) {
      io.stdout(toJsonText({ workerId: worker.id, processed, completed, failed, timedOut }));
    } else {
      io.stdout(
        `Worker ${worker.id} stopped: ${processed} processed (${completed} completed, ` +
          `${failed} failed, ${timedOut} timed out).\n`,
      );
    }
    return code;
  } finally {
    progress.stop();
    unsubscribe();
    worker.close();
  }
}

/**
 * The worker command's signals. First SIGINT/SIGTERM: stop claiming and let
 * the jobs in flight finish (for at most `--grace` seconds, then release
 * them). A second one (not a duplicate within REPEAT_MS, which is how one
 * Ctrl-C under `deno task` arrives): release the jobs in flight at once, then
 * exit 130 (SIGINT) or 143 (SIGTERM). If even that does not finish within
 * ten seconds (a handler blocks the thread), exit anyway: leases bring the
 * jobs back.
 */
function stopOnSignals(
  io: Io,
  progress: Progress,
  inFlight: () => number | Promise<number>,
  stop: (options: StopOptions) => void,
  plan: WorkerPlan,
) {
  let first: number | undefined;
  let forcedCode: number | undefined;
  let resolveForced!: (code: number) => void;
  const forcedExit = new Promise<number>((resolve) => resolveForced = resolve);
  let hardExit: ReturnType<typeof setTimeout> | undefined;
  const onSignal = (signal: StopSignal) => () => {
    const now = Date.now();
    if (first === undefined) {
      first = now;
      const begin = (n: number) => {
        const after = n === 0 ? "" : ` after ${n} job${n === 1 ? "" : "s"} in flight`;
        const limit = plan.grace === undefined ? "" : ` (at most ${plan.grace} s)`;
        const again = n === 0 ? "exit at once" : "release them and exit";
        progress.log(
          "note",
          `${signal}: stopping${after}${limit}; send ${signal} again to ${again}`,
        );
        stop(plan.grace === undefined ? {} : { grace: plan.grace });
      };
      const n = inFlight();
      if (typeof n === "number") begin(n);
      else void n.then(begin, () => begin(0));
      return;
    }
    if (now - first < REPEAT_MS || forcedCode !== undefined) return;
    forcedCode = signal === "SIGINT" ? 130 : 143;
    progress.log("note", `${signal} again: releasing the jobs in flight and exiting`);
    resolveForced(forcedCode);
    if (plan.once && plan.inProcess) {
      // processOne in this thread cannot be interrupted: its job comes back
      // when its lease ends.
      progress.stop();
      io.exit(forcedCode);
      return;
    }
    stop({ grace: 0 });
    hardExit = setTimeout(() => {
      progress.log("note", "the jobs in flight did not stop within 10 s; exiting anyway");
      progress.stop();
      io.exit(forcedCode!);
    }, 10_000);
  };
  const offs = [
    io.onSignal("SIGINT", onSignal("SIGINT")),
    io.onSignal("SIGTERM", onSignal("SIGTERM")),
  ];
  return {
    forcedExit,
    /** 0, or 130/143 after a second signal. */
    code: () => forcedCode ?? 0,
    unsubscribe: () => {
      if (hardExit !== undefined) clearTimeout(hardExit);
      for (const off of offs) off();
    },
  };
}

/**
 * The pool's jobs in flight, as the database has them: a job claimed a
 * moment ago may not be in the pool's counts yet (its Web Worker reports
 * them by message).
 */
async function inFlightOf(pool: WorkerPool, plan: WorkerPlan): Promise<number> {
  const ids = new Set(pool.workerIds);
  const queue = new JobQueue(plan.path, { driver: plan.driver });
  try {
    const running = await queue.listJobs({ status: "running", limit: 1_000_000 });
    return Math.max(
      pool.counts.inFlight,
      running.filter((j) => j.workerId !== null && ids.has(j.workerId)).length,
    );
  } catch {
    return pool.counts.inFlight;
  } finally {
    queue.close();
  }
}

/** The supervised worker (`--workers 1`, the default) or a pool of N Web Workers. */
async function runPool(plan: WorkerPlan, io: Io): Promise<number> {
  const progress = new Progress(io);
  const single = plan.workers === 1;
  // A pool of one uses its id as is: the default is a worker's usual id.
  const id = plan.workerId ?? (single ? `worker-${crypto.randomUUID()}` : undefined);
  const pool = new WorkerPool(plan.path, {
    tasks: plan.modules.map((m) => moduleUrl(m, io.cwd())),
    workers: plan.workers,
    driver: plan.driver,
    concurrency: plan.concurrency,
    pollInterval: plan.pollInterval,
    lease: plan.lease,
    workerId: id,
    queues: plan.queues,
    prune: plan.prune,
    pruneInterval: plan.pruneInterval,
    logger: logTo(progress, plan),
  });
  progress.attach(single ? `worker ${id}` : `pool of ${plan.workers}`, () => pool.counts);
  const signals = stopOnSignals(io, progress, () => inFlightOf(pool, plan), (options) => {
    void pool.stop(options);
  }, plan);
  try {
    if (plan.once) {
      const processed = await pool.processOne();
      const forced = signals.code();
      if (forced !== 0) return forced;
      reportOnce(plan, io, id, processed, outcomeOf(ZERO, pool.counts));
      return 0;
    }
    progress.start();
    await pool.start();
    const code = signals.code();
    progress.stop();
    const { processed, completed, failed, timedOut } = pool.counts;
    if (plan.json) {
      io.stdout(
        toJsonText(
          single
            ? { workerId: id, processed, completed, failed, timedOut }
            : { workers: plan.workers, processed, completed, failed, timedOut },
        ),
      );
    } else {
      io.stdout(
        `${single ? `Worker ${id}` : `Pool of ${plan.workers}`} stopped: ${processed} processed ` +
          `(${completed} completed, ${failed} failed, ${timedOut} timed out).\n`,
      );
    }
    return code;
  } finally {
    progress.stop();
    signals.unsubscribe();
    await pool.close();
  }
}

async function run(ctx: Context): Promise<number> {
  const p = ctx.parsed;
  const env = ctx.io.env;
  const modules = list(p, "tasks");
  const queueNames = list(p, "queue").map((q) => parseQueueName("--queue", q));
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
  const pruneText = str(p, "prune-interval");
  const pruneInterval = pruneText === undefined
    ? undefined
    : parseNumber("--prune-interval", pruneText, { min: 1, max: 86_400, unit: "seconds" });
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
  await refuseDirectory(ctx.path);
  return await runWorkers({
    path: ctx.path,
    driver: isDatabaseUrl(ctx.path) ? undefined : ctx.driver,
    modules,
    queues: queueNames.length === 0 ? undefined : [...new Set(queueNames)],
    workers,
    inProcess,
    lease,
    concurrency,
    pollInterval,
    workerId,
    grace,
    prune: !flag(p, "no-prune"),
    pruneInterval,
    once: flag(p, "once"),
    json: ctx.json,
    verbose: flag(p, "verbose"),
  }, ctx.io);
}

/** The `worker` command. */
export const command: Command = {
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
On a terminal it shows one progress line; otherwise it writes log lines to stderr. Either
way it logs a line for each failed or timed-out attempt (the job, its attempt n/max,
whether it is retried, the error's first line); with --verbose, one for every attempt.

  --tasks MODULE            a module whose exported tasks this worker runs (repeatable)
  --queue NAME              a named queue to claim jobs from (repeatable; default: every
                            queue); a paused queue is skipped until it is resumed
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
  --no-prune                leave ended jobs alone (by default a worker deletes those past
                            their queue's retention: see gigq configure)
  --prune-interval SECS     seconds between two rounds of pruning (default 60)
  --verbose                 also log each completed (or released) attempt with its
                            duration, and other debug lines

Example: gigq worker --tasks ./tasks.ts --concurrency 4`,
  options: {
    tasks: { type: "string", multiple: true },
    queue: { type: "string", multiple: true },
    once: { type: "boolean" },
    concurrency: { type: "string" },
    "polling-interval": { type: "string" },
    "worker-id": { type: "string" },
    workers: { type: "string" },
    lease: { type: "string" },
    "in-process": { type: "boolean" },
    grace: { type: "string" },
    "no-prune": { type: "boolean" },
    "prune-interval": { type: "string" },
    verbose: { type: "boolean" },
  },
  positionals: [],
  run,
};
