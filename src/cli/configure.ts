/** The `configure` command: a queue's limits and retention, stored for every worker. */
import {
  DEFAULT_KEEP_COMPLETED,
  DEFAULT_KEEP_FAILED,
  type QueueConfig,
  type QueueSettings,
} from "../../mod.ts";
import { parseNumber, parseQueueName, UsageError } from "./_args.ts";
import { type Command, type Context, out, str, withQueue } from "./_command.ts";
import { describeSettings } from "./queues.ts";

/** A limit: a whole number, or `none` for no limit. */
function limit(name: string, text: string): number | null {
  if (text === "none") return null;
  return parseNumber(name, text, { min: 1, max: 1_000_000, integer: true });
}

/** A retention: seconds, `forever`, or `default`. */
function keep(name: string, text: string): number | null {
  if (text === "forever") return Infinity;
  if (text === "default") return null;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new UsageError(
      `${name} must be a whole number of seconds, "forever" or "default", got ${
        JSON.stringify(text)
      }`,
    );
  }
  return value;
}

/** A rate: `MAX/SECONDS` (100/60: 100 starts a minute), or `none`. */
function rate(text: string): QueueConfig["rateLimit"] {
  if (text === "none") return null;
  const m = /^\s*(\d+)\s*\/\s*([0-9.]+)\s*$/.exec(text);
  if (m === null) {
    throw new UsageError(
      `--rate must be MAX/SECONDS (for example 100/60: at most 100 starts in any 60 s) or ` +
        `"none", got ${JSON.stringify(text)}`,
    );
  }
  return {
    max: limit("--rate's MAX", m[1])!,
    perSeconds: parseNumber("--rate's SECONDS", m[2], {
      min: 0.001,
      max: 86_400,
      unit: "seconds",
    }),
  };
}

async function run(ctx: Context): Promise<number> {
  const p = ctx.parsed;
  const name = parseQueueName("<queue>", p.positionals[0]);
  const config: QueueConfig = {};
  const given = (option: string) => str(p, option);
  let text: string | undefined;
  if ((text = given("concurrency")) !== undefined) {
    config.concurrency = limit("--concurrency", text);
  }
  if ((text = given("key-concurrency")) !== undefined) {
    config.keyConcurrency = limit("--key-concurrency", text);
  }
  if ((text = given("rate")) !== undefined) config.rateLimit = rate(text);
  if ((text = given("keep-completed")) !== undefined) {
    config.keepCompleted = keep("--keep-completed", text);
  }
  if ((text = given("keep-failed")) !== undefined) config.keepFailed = keep("--keep-failed", text);
  // With nothing to change, the settings are shown as they are (and nothing is written).
  const settings: QueueSettings = Object.keys(config).length === 0
    ? await withQueue(
      ctx,
      "read",
      async (queue) =>
        (await queue.queues()).find((q) => q.name === name)?.settings ?? {
          concurrency: null,
          keyConcurrency: null,
          rateLimit: null,
          keepCompleted: DEFAULT_KEEP_COMPLETED,
          keepFailed: DEFAULT_KEEP_FAILED,
        },
    )
    : await withQueue(ctx, "write", (queue) => queue.configureQueue(name, config));
  out(
    ctx,
    `Queue ${JSON.stringify(name)}: ${describeSettings(settings)}.`,
    { queue: name, settings },
  );
  return 0;
}

/** The `configure` command. */
export const command: Command = {
  summary: "set a queue's limits and retention (stored: every worker obeys them)",
  usage: "gigq configure <queue> [options]",
  details: `Stores the queue's settings in the database; every worker in every process obeys
them in its claim. Options not given keep what is stored; with none, the settings are shown.

Options:
  --concurrency N|none      at most N of the queue's jobs run at once, across all workers
  --key-concurrency N|none  at most N running jobs per concurrency key
  --rate MAX/SECONDS|none   at most MAX job starts in any SECONDS (100/60: 100 a minute)
  --keep-completed S|forever|default
                            seconds a completed job is kept before workers prune it
                            (default: 604800, 7 days)
  --keep-failed S|forever|default
                            the same for failed, timed-out and cancelled jobs
                            (default: 2592000, 30 days)

Example: gigq configure emails --concurrency 5 --rate 100/60`,
  options: {
    concurrency: { type: "string" },
    "key-concurrency": { type: "string" },
    rate: { type: "string" },
    "keep-completed": { type: "string" },
    "keep-failed": { type: "string" },
  },
  positionals: ["<queue>"],
  run,
};
