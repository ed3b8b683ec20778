/**
 * The MCP server's tools: each a name, a description for the model, the
 * JSON Schema of its input, and what it does with the queue. They call the
 * public API the way the CLI's commands do (and share the CLI's module
 * resolution, its queue opening and its checks); none starts a worker.
 */
import { fileURLToPath } from "node:url";
import {
  type DriverName,
  Job,
  JobNotFoundError,
  type JobQueue,
  JobStatus,
  why,
  type WhyAnswer,
  Workflow,
} from "../../mod.ts";
import { parseQueueName, parseUniqueKey, UsageError } from "../cli/_args.ts";
import { cancelJob } from "../cli/cancel.ts";
import { dbLabel, openQueue, type QueueUse } from "../cli/_database.ts";
import { importTask, moduleUrl } from "../cli/_modules.ts";
import { requeueJob } from "../cli/requeue.ts";
import { openForSubmit } from "../cli/submit.ts";
import { type ObjectSchema, objectSchema, type ValueSchema } from "./_schema.ts";

/** Where the tools work: the database, and where module paths are resolved. */
export interface ToolContext {
  /** The database: an absolute path, `:memory:`, a `file:` URI or a PostgreSQL URL. */
  db: string;
  /** The SQLite driver. */
  driver: DriverName;
  /** The directory relative module paths are resolved against. */
  cwd: string;
  /** Receives notes (a queue read read-only, say). */
  log: (line: string) => void;
}

/** One tool. */
export interface Tool {
  /** Its name, `gigq_…`. */
  name: string;
  /** A title for people. */
  title: string;
  /** What it does, for the model. */
  description: string;
  /** Its input. */
  inputSchema: ObjectSchema;
  /** True if it changes nothing. */
  readOnly: boolean;
  /** True if it may end work in progress (cancel). */
  destructive?: boolean;
  /** True if calling it twice does what calling it once does (pause, resume). */
  idempotent?: boolean;
  /** Runs it on checked arguments; resolves to what it reports. */
  run(args: Record<string, unknown>, ctx: ToolContext): Promise<Record<string, unknown>>;
}

// ---------------------------------------------------------------------------
// shared fields

const ID: ValueSchema = {
  type: "string",
  minLength: 1,
  description: "The job's id (a UUID, as gigq_submit_job or gigq_list_jobs gave it).",
};

const QUEUE_NAME: ValueSchema = {
  type: "string",
  minLength: 1,
  description: 'The named queue, 1 to 128 characters (jobs go to "default" unless told).',
};

const TASK: ValueSchema = {
  type: "string",
  minLength: 1,
  description: "The task to run, as <module>#<export>: a module (a path relative to the " +
    "server's working directory, or a file:, https:, jsr: or npm: URL) and the name of a task " +
    "it exports (made by task()), for example ./tasks.ts#greet. The module is imported by this " +
    "server to find the task.",
};

const PARAMS: ValueSchema = {
  description: "The handler's params: any JSON value (default {}).",
};

/** The options a job takes, in tool inputs (the task's own are the defaults). */
const JOB_OPTIONS: Record<string, ValueSchema> = {
  name: { type: "string", minLength: 1, description: "The job's name (default: the task's)." },
  priority: {
    type: "integer",
    description: "Higher runs first, a 32-bit integer (default: the task's, else 0).",
  },
  maxAttempts: {
    type: "integer",
    minimum: 1,
    description: "Attempts before it ends failed (default: the task's, else 3).",
  },
  timeout: {
    type: "number",
    description: "Seconds an attempt may run (default: the task's, else 300).",
  },
  retryDelay: {
    type: "number",
    minimum: 0,
    description: "Seconds before a retry (default: the task's, else 0).",
  },
  backoff: {
    type: "string",
    enum: ["fixed", "exponential"],
    description: "fixed: every retry waits retryDelay; exponential: the wait doubles each " +
      "retry, with jitter, up to maxRetryDelay (default: the task's, else fixed).",
  },
  maxRetryDelay: {
    type: "number",
    minimum: 0,
    description: "The longest exponential wait, in seconds (default: the task's, else 86400).",
  },
  description: { type: "string", description: "Free text (default: the task's, else empty)." },
  queue: { ...QUEUE_NAME, description: "The named queue it waits in (default: the task's)." },
  delay: {
    type: "number",
    minimum: 0,
    maximum: 315_360_000,
    description: "Start no sooner than this many seconds from now (not with runAt).",
  },
  runAt: {
    type: "string",
    description: "Start no sooner than this ISO 8601 time, like 2026-01-31T09:00:00Z " +
      "(not with delay).",
  },
};

// ---------------------------------------------------------------------------
// helpers

/**
 * Runs `fn` on the queue at the context's database, opened for `use` (or
 * by `use` itself), and closes it: each call opens the queue anew, so a
 * database created or replaced meanwhile is seen as it is.
 */
async function withQueue<T>(
  ctx: ToolContext,
  use: QueueUse | (() => Promise<JobQueue>),
  fn: (queue: JobQueue) => Promise<T>,
): Promise<T> {
  const queue = typeof use === "function" ? await use() : await open(ctx, use);
  try {
    return await fn(queue);
  } finally {
    queue.close();
  }
}

/** Runs `fn`; an error it throws gets `context` in front of its message. */
async function within<T>(context: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof Error) error.message = `${context}${error.message}`;
    throw error;
  }
}

function open(ctx: ToolContext, use: QueueUse): Promise<JobQueue> {
  return openQueue(ctx.db, ctx.driver, use, (note) => ctx.log(`gigq mcp: note: ${note}`));
}

/** A word for a shell: quoted unless it is plainly safe. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The module of `target` (`<module>#<export>`) as a worker's `--tasks` takes it. */
function tasksArg(target: string, cwd: string): string {
  const url = moduleUrl(target.slice(0, target.lastIndexOf("#")), cwd);
  return url.startsWith("file:") ? fileURLToPath(url) : url;
}

/**
 * How to run this GigQ's command line: `jsr:@gigq/gigq@VERSION/cli` when it
 * came from JSR, the path of `src/cli/main.ts` in a checkout.
 */
function cliSpecifier(): string {
  const url = new URL("../cli/main.ts", import.meta.url).href;
  const jsr = url.match(/^https:\/\/jsr\.io\/(@[^/]+\/[^/]+)\/([^/]+)\/src\/cli\/main\.ts$/);
  if (jsr !== null) return `jsr:${jsr[1]}@${jsr[2]}/cli`;
  return url.startsWith("file:") ? fileURLToPath(url) : url;
}

/** The permissions of the `worker` task (add what the tasks themselves need). */
const WORKER_FLAGS = "--allow-read --allow-write --allow-env --allow-net --allow-sys=hostname";

/** The command that runs a worker for `modules` on the context's database. */
function workerCommand(ctx: ToolContext, modules: readonly string[]): string {
  const tasks = [...new Set(modules)].flatMap((m) => ["--tasks", shellWord(m)]);
  return [
    "deno run",
    WORKER_FLAGS,
    shellWord(cliSpecifier()),
    "--db",
    shellWord(dbLabel(ctx.db)),
    "worker",
    ...tasks,
  ].join(" ");
}

/**
 * What to tell the model about workers, from {@linkcode why}'s answer on a
 * job just submitted or requeued: jobs run only while a worker runs, and
 * this server starts none.
 */
function workerNote(answer: WhyAnswer, command: string): Record<string, unknown> {
  const report: Record<string, unknown> = {
    why: answer.message,
    reason: answer.reason,
    workerCommand: command,
  };
  if (answer.reason === "no-worker") {
    report.note = `No worker that can run it has been seen on this database lately, so it ` +
      `waits until one runs. This server never starts a worker: ask the user to run one, for ` +
      `example (with the permissions the tasks need added): ${command}`;
  }
  return report;
}

/** The job options among checked tool arguments (the task, params and dependencies left out). */
function jobInit(args: Record<string, unknown>): Record<string, unknown> {
  if (args.delay !== undefined && args.runAt !== undefined) {
    throw new UsageError(`give delay or runAt, not both`);
  }
  const { delay, runAt, queue, uniqueKey, concurrencyKey, ...rest } = args;
  delete rest.task;
  delete rest.params;
  delete rest.dependsOn;
  delete rest.id;
  return {
    ...rest,
    runAt: delay !== undefined ? Date.now() + (delay as number) * 1000 : runAt,
    queue: queue === undefined ? undefined : parseQueueName("queue", queue as string),
    uniqueKey: uniqueKey === undefined
      ? undefined
      : parseUniqueKey("uniqueKey", uniqueKey as string),
    concurrencyKey: concurrencyKey === undefined
      ? undefined
      : parseUniqueKey("concurrencyKey", concurrencyKey as string),
  };
}

/** A copy that JSON keeps as it is (an unlimited setting, Infinity, becomes null). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}

// ---------------------------------------------------------------------------
// the tools

const submitJob: Tool = {
  name: "gigq_submit_job",
  title: "Submit a job",
  description: "Submit a job for a task a module exports (<module>#<export>), with its params " +
    "and options. Returns the job's id and why it is not running yet. The job runs only when a " +
    "worker with that task runs on this database: this server never starts one.",
  inputSchema: objectSchema("A job to submit.", {
    task: TASK,
    params: PARAMS,
    ...JOB_OPTIONS,
    uniqueKey: {
      type: "string",
      description: "Submit it only if no pending or running job of its queue holds this key " +
        "(1 to 1000 characters); otherwise nothing is submitted and that job's id is returned.",
    },
    concurrencyKey: {
      type: "string",
      description: "Jobs sharing this key run at most the queue's key concurrency at a time " +
        "(1 to 1000 characters).",
    },
    dependsOn: {
      type: "array",
      items: ID,
      description: "Ids of jobs that must complete first; their results reach the handler.",
    },
  }, ["task"]),
  readOnly: false,
  async run(args, ctx) {
    const target = args.task as string;
    const init = jobInit(args);
    const dependencies = (args.dependsOn as string[] | undefined) ?? [];
    const { task } = await importTask(target, ctx.cwd);
    const job = new Job({
      ...init,
      task,
      params: args.params,
      dependencies,
      module: target,
    });
    return await withQueue(
      ctx,
      () => openForSubmit((use) => open(ctx, use), ctx.db, job.name, dependencies[0]),
      async (queue) => {
        const { id, inserted } = await queue.trySubmit(job);
        const answer = await why(queue, id);
        return {
          id,
          inserted,
          ...(inserted ? {} : {
            message: `Already queued: job ${id} holds unique key ${
              JSON.stringify(job.uniqueKey)
            } in queue ${JSON.stringify(job.queue)}; nothing was submitted`,
          }),
          status: answer.status,
          ...workerNote(answer, workerCommand(ctx, [tasksArg(target, ctx.cwd)])),
        };
      },
    );
  },
};

const getJobStatus: Tool = {
  name: "gigq_get_job_status",
  title: "Get a job's status",
  description: "Everything about one job: its status, params, result, error, attempts " +
    "(executions), dependencies, times (ISO 8601, UTC) and the worker running it.",
  inputSchema: objectSchema("The job to show.", { id: ID }, ["id"]),
  readOnly: true,
  async run(args, ctx) {
    const id = args.id as string;
    const job = await withQueue(ctx, "read", (queue) => queue.getStatus(id));
    if (job === undefined) throw new JobNotFoundError(id);
    return plain({ ...job });
  },
};

const getJobResult: Tool = {
  name: "gigq_get_job_result",
  title: "Get a job's result",
  description: "A job's result: its handler's return value once it has completed. For a job " +
    "that has not completed, result is null and message says its status (gigq_why says why).",
  inputSchema: objectSchema("The job whose result to get.", { id: ID }, ["id"]),
  readOnly: true,
  async run(args, ctx) {
    const id = args.id as string;
    // One read: the status and the result are of the same moment.
    const job = await withQueue(ctx, "read", (queue) => queue.getStatus(id));
    if (job === undefined) throw new JobNotFoundError(id);
    if (job.status === JobStatus.COMPLETED) {
      return plain({ id, status: job.status, result: job.result });
    }
    return {
      id,
      status: job.status,
      result: null,
      message: `No result: the job is ${job.status}, and only a completed job has one` +
        (job.error ? ` (its last error: ${job.error.split("\n", 1)[0]})` : ""),
    };
  },
};

const listJobs: Tool = {
  name: "gigq_list_jobs",
  title: "List jobs",
  description: "Jobs, newest first, optionally only those of one status or one named queue.",
  inputSchema: objectSchema("Which jobs to list.", {
    status: {
      type: "string",
      enum: Object.values(JobStatus),
      description: "Only jobs in this status (default: every status).",
    },
    queue: { ...QUEUE_NAME, description: "Only jobs of this named queue (default: every queue)." },
    limit: {
      type: "integer",
      minimum: 0,
      maximum: 1_000_000_000,
      description: "At most this many jobs (default 100).",
    },
  }),
  readOnly: true,
  async run(args, ctx) {
    const queueName = args.queue === undefined
      ? undefined
      : parseQueueName("queue", args.queue as string);
    const jobs = await withQueue(ctx, "read", (queue) =>
      queue.listJobs({
        status: args.status as JobStatus | undefined,
        queue: queueName,
        limit: (args.limit as number | undefined) ?? 100,
      }));
    return plain({ jobs, count: jobs.length });
  },
};

const queueStats: Tool = {
  name: "gigq_queue_stats",
  title: "Count jobs by status",
  description: "How many jobs are in each status (pending, running, completed, failed, " +
    "cancelled, timeout) and in all, of every queue or of one named queue.",
  inputSchema: objectSchema("Which jobs to count.", {
    queue: { ...QUEUE_NAME, description: "Only jobs of this named queue (default: every queue)." },
  }),
  readOnly: true,
  async run(args, ctx) {
    const name = args.queue === undefined
      ? undefined
      : parseQueueName("queue", args.queue as string);
    const stats = await withQueue(ctx, "read", (queue) => queue.stats({ queue: name }));
    const report: Record<string, unknown> = { stats: { ...stats } };
    if (name !== undefined) report.queue = name;
    if (stats.pending > 0 && stats.running === 0) {
      report.note = `${stats.pending} pending and none running. Pending jobs run only while a ` +
        `worker runs on this database (${
          workerCommand(ctx, ["MODULE"])
        }), and this server starts none; some may also wait for a ` +
        `start time, a parent job or a paused queue: gigq_why on a job says which.`;
    }
    return report;
  },
};

const cancel: Tool = {
  name: "gigq_cancel_job",
  title: "Cancel a job",
  description: "Cancel a pending or running job, and the pending jobs that depend on it. A " +
    "running job's worker aborts its handler. A job that has ended cannot be cancelled.",
  inputSchema: objectSchema("The job to cancel.", { id: ID }, ["id"]),
  readOnly: false,
  destructive: true,
  async run(args, ctx) {
    const id = args.id as string;
    await withQueue(ctx, "write", (queue) => cancelJob(queue, id));
    return { id, cancelled: true };
  },
};

const requeue: Tool = {
  name: "gigq_requeue_job",
  title: "Requeue a job",
  description: "Put a failed, timed-out or cancelled job back to pending, with its attempts " +
    "reset; the jobs its end had cancelled come back too. It runs when a worker runs.",
  inputSchema: objectSchema("The job to requeue.", { id: ID }, ["id"]),
  readOnly: false,
  async run(args, ctx) {
    const id = args.id as string;
    return await withQueue(ctx, "write", async (queue) => {
      await requeueJob(queue, id);
      const answer = await why(queue, id);
      const job = await queue.getStatus(id);
      const modules = job?.module?.includes("#") ? [tasksArg(job.module, ctx.cwd)] : ["MODULE"];
      return { id, requeued: true, ...workerNote(answer, workerCommand(ctx, modules)) };
    });
  },
};

/** One step of a workflow, as the tool takes it. */
const STEP: ValueSchema = objectSchema("One job of the workflow.", {
  id: {
    type: "string",
    minLength: 1,
    description: "The step's id within this workflow (other steps' dependsOn name it).",
  },
  task: TASK,
  params: PARAMS,
  ...JOB_OPTIONS,
  dependsOn: {
    type: "array",
    items: { type: "string", minLength: 1, description: "A step id, or an existing job's id." },
    description: "Steps of this workflow (by step id), or jobs already submitted (by job id), " +
      "that must complete first; their results reach the handler as ctx.parentResults.",
  },
}, ["id", "task"]);

/**
 * The steps in an order where each comes after the steps it depends on
 * (Kahn's algorithm, keeping the given order among ready steps); a cycle is
 * an error naming its steps.
 */
function stepOrder(steps: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const ids = new Set(steps.map((s) => s.id as string));
  const deps = (s: Record<string, unknown>) =>
    ((s.dependsOn as string[] | undefined) ?? []).filter((d) => ids.has(d));
  const placed = new Set<string>();
  const order: Record<string, unknown>[] = [];
  while (order.length < steps.length) {
    const ready = steps.filter((s) =>
      !placed.has(s.id as string) && deps(s).every((d) => placed.has(d))
    );
    if (ready.length === 0) {
      const left = steps.filter((s) => !placed.has(s.id as string)).map((s) => s.id as string);
      throw new RangeError(
        `the steps' dependsOn form a cycle, so none of these could ever run: ${
          left.map((id) => JSON.stringify(id)).join(", ")
        }`,
      );
    }
    for (const s of ready) {
      placed.add(s.id as string);
      order.push(s);
    }
  }
  return order;
}

const submitWorkflow: Tool = {
  name: "gigq_submit_workflow",
  title: "Submit a workflow",
  description: "Submit several jobs with dependencies between them, in one transaction (all " +
    "or none). Each step names a task (<module>#<export>), its params and options, and the " +
    "steps it depends on; a step runs once those have completed, and gets their results. If one " +
    "fails, times out or is cancelled, the steps that depend on it are cancelled. Returns each " +
    "step's job id. The jobs run only when a worker with their tasks runs: this server never " +
    "starts one.",
  inputSchema: objectSchema("A workflow: a name and its steps.", {
    name: { type: "string", minLength: 1, description: "The workflow's name." },
    steps: { type: "array", minItems: 1, items: STEP, description: "The jobs, by step id." },
  }, ["name", "steps"]),
  readOnly: false,
  async run(args, ctx) {
    const steps = args.steps as Record<string, unknown>[];
    const seen = new Set<string>();
    for (const [i, step] of steps.entries()) {
      const id = step.id as string;
      if (seen.has(id)) {
        throw new RangeError(`steps[${i}].id ${JSON.stringify(id)} is the id of an earlier step`);
      }
      seen.add(id);
      if (((step.dependsOn as string[] | undefined) ?? []).includes(id)) {
        throw new RangeError(`steps[${i}] (${JSON.stringify(id)}) depends on itself`);
      }
    }
    const order = stepOrder(steps);
    const workflow = new Workflow(args.name as string);
    const jobs = new Map<string, Job>();
    const external: string[] = [];
    const modules: string[] = [];
    for (const step of order) {
      const id = step.id as string;
      const context = `steps[${steps.indexOf(step)}] (${JSON.stringify(id)}): `;
      const target = step.task as string;
      const { task } = await within(context, () => importTask(target, ctx.cwd));
      modules.push(tasksArg(target, ctx.cwd));
      const dependencies = ((step.dependsOn as string[] | undefined) ?? []).map((d) => {
        const parent = jobs.get(d);
        if (parent !== undefined) return parent;
        external.push(d);
        return d;
      });
      const job = await within(
        context,
        () =>
          new Job({ ...jobInit(step), task, params: step.params, dependencies, module: target }),
      );
      jobs.set(id, workflow.addJob(job));
    }
    const ids = await withQueue(
      ctx,
      () => openForSubmit((use) => open(ctx, use), ctx.db, workflow.jobs[0].name, external[0]),
      (queue) => workflow.submitAll(queue),
    );
    return {
      workflow: workflow.name,
      jobs: order.map((s, i) => ({ step: s.id, id: ids[i], name: workflow.jobs[i].name })),
      workerCommand: workerCommand(ctx, modules),
      note: "The jobs run only when a worker with their tasks runs on this database; this " +
        "server never starts one (gigq_why on a job says why it waits).",
    };
  },
};

const whyTool: Tool = {
  name: "gigq_why",
  title: "Why is a job not running?",
  description: "One line on why a job is not running, or how it ended: blocked by a parent " +
    "job, waiting for its start time, its queue paused or at a limit, ready but no worker " +
    "seen lately, ready and waiting for a worker, running on a worker, or completed, failed, " +
    "timed out or cancelled (and by which parent). reason is the kind of answer.",
  inputSchema: objectSchema("The job to explain.", { id: ID }, ["id"]),
  readOnly: true,
  async run(args, ctx) {
    const answer = await withQueue(ctx, "read", (queue) => why(queue, args.id as string));
    return plain({ ...answer });
  },
};

const listQueues: Tool = {
  name: "gigq_list_queues",
  title: "List the named queues",
  description: "Every named queue that has jobs or was paused or configured: whether it is " +
    "paused, its jobs counted by status, its limits and how long it keeps ended jobs (null: " +
    "unlimited).",
  inputSchema: objectSchema("No arguments.", {}),
  readOnly: true,
  async run(_args, ctx) {
    const queues = await withQueue(ctx, "read", (queue) => queue.queues());
    return plain({ queues });
  },
};

const pause: Tool = {
  name: "gigq_pause_queue",
  title: "Pause a named queue",
  description: "Pause a named queue: no worker, in any process, claims its jobs until it is " +
    "resumed (running jobs finish). The pause is stored and lasts across restarts.",
  inputSchema: objectSchema("The queue to pause.", {
    queue: { ...QUEUE_NAME, description: "The named queue to pause." },
  }, ["queue"]),
  readOnly: false,
  idempotent: true,
  async run(args, ctx) {
    const name = parseQueueName("queue", args.queue as string);
    await withQueue(ctx, "write", (queue) => queue.pause(name));
    return { queue: name, paused: true };
  },
};

const resume: Tool = {
  name: "gigq_resume_queue",
  title: "Resume a paused queue",
  description: "Resume a paused named queue: workers claim its jobs again. Resuming a queue " +
    "that is not paused changes nothing.",
  inputSchema: objectSchema("The queue to resume.", {
    queue: { ...QUEUE_NAME, description: "The named queue to resume." },
  }, ["queue"]),
  readOnly: false,
  idempotent: true,
  async run(args, ctx) {
    const name = parseQueueName("queue", args.queue as string);
    await withQueue(ctx, "write", (queue) => queue.resume(name));
    return { queue: name, paused: false };
  },
};

/** Every tool, in the order a client lists them. */
export const TOOLS: readonly Tool[] = [
  submitJob,
  getJobStatus,
  getJobResult,
  listJobs,
  queueStats,
  cancel,
  requeue,
  submitWorkflow,
  whyTool,
  listQueues,
  pause,
  resume,
];
