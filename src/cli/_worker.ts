/** The `worker` command: runs a Worker with a progress line and signal handling. */
import type { DriverName } from "../sqlite/connection.ts";
import type { Task } from "../task.ts";
import { type LogLevel, Worker, type WorkerCounts } from "../worker.ts";
import { UsageError } from "./_args.ts";
import { formatTime, toJsonText } from "./_format.ts";
import type { Io, StopSignal } from "./_io.ts";
import { importTasks } from "./_modules.ts";

/** Signals closer than this to the first one are taken as its duplicate, in milliseconds. */
export const REPEAT_MS = 500;

/** What the `worker` command was asked to run. */
export interface WorkerPlan {
  /** The database file. */
  path: string;
  /** The SQLite driver. */
  driver: DriverName;
  /** The `--tasks` modules, as typed. */
  modules: string[];
  /** `--workers`: how many workers (each with its own isolate, once pools exist). */
  workers: number;
  /** `--concurrency`. */
  concurrency?: number;
  /** `--polling-interval` (or GIGQ_POLLING_INTERVAL), in seconds. */
  pollInterval?: number;
  /** `--worker-id` (or GIGQ_WORKER_ID). */
  workerId?: string;
  /** `--once`: process at most one job. */
  once: boolean;
  /** `--json`: a JSON summary on stdout at the end. */
  json: boolean;
}

/**
 * Runs the workers the plan asks for; resolves to the exit code. The one
 * place that decides how `--workers N` runs: today one worker in this
 * isolate; N > 1 needs the WorkerPool (one Web Worker per worker), which
 * will replace the refusal below.
 */
export async function runWorkers(plan: WorkerPlan, io: Io): Promise<number> {
  if (plan.workers > 1) {
    throw new UsageError(
      `--workers ${plan.workers}: the command line cannot run a pool of workers yet (pools ` +
        `arrive with the WorkerPool); use --workers 1, and --concurrency ${plan.workers} to run ` +
        `${plan.workers} jobs at once in one worker`,
    );
  }
  const tasks = await importTasks(plan.modules, io.cwd());
  return await runOneWorker(plan, tasks, io);
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
  });
  #label = "worker";
  #timer: ReturnType<typeof setInterval> | undefined;
  #rate = new Rate();
  #line = "";

  constructor(io: Io) {
    this.#io = io;
  }

  /** Shows `worker`'s counts from now on. */
  attach(worker: Worker): void {
    this.#label = `worker ${worker.id}`;
    this.#counts = () => worker.counts;
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
    workerId: plan.workerId,
    logger: (level, message) => {
      if (level !== "debug") progress.log(level, message);
    },
  });
  progress.attach(worker);

  // First signal: stop claiming, let the jobs in flight finish, exit 0.
  // Second signal: exit at once; the jobs in flight come back when their lease ends.
  // One Ctrl-C under `deno task` arrives twice (the terminal signals the whole
  // process group and deno task forwards its copy), so a repeat within
  // REPEAT_MS of the first counts as the same signal.
  let first: number | undefined;
  let forced!: (code: number) => void;
  const forcedExit = new Promise<number>((resolve) => forced = resolve);
  const onSignal = (signal: StopSignal) => () => {
    const now = Date.now();
    if (first === undefined) {
      first = now;
      const n = worker.counts.inFlight;
      const after = n === 0 ? "" : ` after ${n} job${n === 1 ? "" : "s"} in flight`;
      progress.log("note", `${signal}: stopping${after}; send ${signal} again to exit at once`);
      worker.stop();
      return;
    }
    if (now - first < REPEAT_MS) return;
    const code = signal === "SIGINT" ? 130 : 143;
    progress.log(
      "note",
      `${signal} again: exiting now; unfinished jobs return when their lease ends`,
    );
    progress.stop();
    forced(code);
    io.exit(code);
  };
  const unsubscribe = [
    io.onSignal("SIGINT", onSignal("SIGINT")),
    io.onSignal("SIGTERM", onSignal("SIGTERM")),
  ];
  try {
    if (plan.once) {
      const before = worker.counts;
      const job = worker.processOne();
      job.catch(() => {}); // after a forced exit nobody awaits it
      const processed = await Promise.race([job, forcedExit.then(() => null)]);
      if (processed === null) return await forcedExit;
      const outcome = outcomeOf(before, worker.counts);
      if (plan.json) {
        io.stdout(toJsonText({ workerId: worker.id, processed, outcome }));
      } else {
        io.stdout(
          processed
            ? `Processed one job (${outcome === "timeout" ? "timed out" : outcome}).\n`
            : "No jobs available to process.\n",
        );
      }
      return 0;
    }
    progress.start();
    const loop = worker.start().then(() => 0);
    loop.catch(() => {}); // after a forced exit nobody awaits it
    const code = await Promise.race([loop, forcedExit]);
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
    for (const off of unsubscribe) off();
    worker.close();
  }
}
