/** The `submit` command: a job for a task a module exports. */
import { Job, JobNotFoundError, type JobQueue, type SubmitResult } from "../../mod.ts";
import { parseNumber, parseParams, parseQueueName, parseUniqueKey, UsageError } from "./_args.ts";
import { type Command, type Context, list, open, out, str } from "./_command.ts";
import { dbLabel, NoDatabaseError, type QueueUse } from "./_database.ts";
import { importTask } from "./_modules.ts";

/**
 * Opens the queue at `path` for a submit, with `open`: creating it if
 * missing, unless the job (named `name`) depends on `dependency`, an
 * existing job: where there is no queue, no such job exists, and that is
 * said rather than a database created for a submit bound to fail.
 */
export async function openForSubmit(
  open: (use: QueueUse) => Promise<JobQueue>,
  path: string,
  name: string,
  dependency: string | undefined,
): Promise<JobQueue> {
  if (dependency === undefined) return await open("create");
  try {
    return await open("write");
  } catch (error) {
    if (!(error instanceof NoDatabaseError)) throw error;
    throw new JobNotFoundError(
      dependency,
      `Cannot submit job ${JSON.stringify(name)}: its dependency ${
        JSON.stringify(dependency)
      } does not exist (there is no GigQ database at ${dbLabel(path)} yet)`,
    );
  }
}

async function run(ctx: Context): Promise<number> {
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
  const maxRetryDelay = number("max-retry-delay");
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
  const queueText = str(p, "queue");
  const queueName = queueText === undefined ? undefined : parseQueueName("--queue", queueText);
  const keyText = str(p, "unique-key");
  const uniqueKey = keyText === undefined ? undefined : parseUniqueKey("--unique-key", keyText);
  const concurrencyText = str(p, "concurrency-key");
  const concurrencyKey = concurrencyText === undefined
    ? undefined
    : parseUniqueKey("--concurrency-key", concurrencyText);
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
    maxRetryDelay,
    description: str(p, "description"),
    dependencies,
    runAt: delay !== undefined ? Date.now() + delay * 1000 : runAtText,
    module: target,
    queue: queueName,
    uniqueKey,
    concurrencyKey,
  });
  const queue = await openForSubmit(
    (use) => open(ctx, use),
    ctx.path,
    job.name,
    dependencies[0],
  );
  let result: SubmitResult;
  try {
    result = await queue.trySubmit(job);
  } finally {
    queue.close();
  }
  const { id, inserted } = result;
  out(
    ctx,
    inserted
      ? `Job submitted: ${id}`
      : `Already queued: ${id} holds unique key ${JSON.stringify(job.uniqueKey)} in queue ${
        JSON.stringify(job.queue)
      }; nothing was submitted`,
    { id, inserted },
  );
  return 0;
}

/** The `submit` command. */
export const command: Command = {
  summary: "submit a job for a task exported by a module",
  usage: "gigq submit <module>#<export> [options]",
  details: `Imports the module (paths are relative to the current directory), takes the export,
which must be a task made by task(), and submits a job for it. Prints the job id.
With --unique-key, a pending or running job of the same queue that holds the key
means nothing is submitted: it prints that job's id instead (and exits 0 all the same).

  --name NAME            the job's name (default: the task's name)
  -p, --param KEY=VALUE  a param; VALUE is JSON if it parses, else a string (a number
                         only if it prints back the same: 1.10 and 1e5 stay strings;
                         repeatable; a repeated KEY keeps the last value)
  --priority N           higher runs first (default: the task's, else 0)
  --max-attempts N       attempts before it fails (default: the task's, else 3)
  --timeout SECONDS      per attempt (default: the task's, else 300)
  --retry-delay SECONDS  before a retry (default: the task's, else 0)
  --backoff KIND         fixed (every retry waits --retry-delay) or exponential (the
                         delay doubles each retry, with jitter, up to --max-retry-delay;
                         default: the task's, else fixed)
  --max-retry-delay SECONDS
                         the longest exponential wait (default: the task's, else 86400)
  --description TEXT     free text (default: the task's, else "")
  --queue NAME           the named queue it waits in (default: the task's, else default)
  --unique-key KEY       submit it only if no pending or running job of its queue
                         holds KEY (1 to 1000 characters)
  --concurrency-key KEY  jobs sharing KEY run at most the queue's --key-concurrency at
                         a time (see gigq configure; 1 to 1000 characters)
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
    "max-retry-delay": { type: "string" },
    backoff: { type: "string" },
    description: { type: "string" },
    queue: { type: "string" },
    "unique-key": { type: "string" },
    "concurrency-key": { type: "string" },
    "depends-on": { type: "string", multiple: true },
    delay: { type: "string" },
    "run-at": { type: "string" },
  },
  positionals: ["<module>#<export>"],
  run,
};
