/** The `queues` command: every named queue, whether it is paused, its settings and its jobs. */
import type { QueueSettings } from "../../mod.ts";
import { type Command, type Context, out, withQueue } from "./_command.ts";
import { formatTable } from "./_format.ts";

/** Seconds as the largest whole unit that fits: `7 d`, `12 h`, `90 s`; `forever`. */
function duration(seconds: number): string {
  if (seconds === Infinity) return "forever";
  for (const [unit, n] of [["d", 86_400], ["h", 3600], ["min", 60]] as const) {
    if (seconds >= n && seconds % n === 0) return `${seconds / n} ${unit}`;
  }
  return `${seconds} s`;
}

/** A queue's limits in a few words: `concurrency 5, 1 per key, 100 per 60 s`, or `none`. */
export function describeLimits(s: QueueSettings): string {
  const parts: string[] = [];
  if (s.concurrency !== null) parts.push(`concurrency ${s.concurrency}`);
  if (s.keyConcurrency !== null) parts.push(`${s.keyConcurrency} per key`);
  if (s.rateLimit !== null) {
    parts.push(`${s.rateLimit.max} per ${duration(s.rateLimit.perSeconds)}`);
  }
  return parts.length === 0 ? "none" : parts.join(", ");
}

/** How long a queue keeps ended jobs: `completed 7 d, failed 30 d`. */
export function describeKeep(s: QueueSettings): string {
  return `completed ${duration(s.keepCompleted)}, failed ${duration(s.keepFailed)}`;
}

/** Limits and retention in one line. */
export function describeSettings(s: QueueSettings): string {
  return `limits: ${describeLimits(s)}; keeps ${describeKeep(s)}`;
}

async function run(ctx: Context): Promise<number> {
  const queues = await withQueue(ctx, "read", (queue) => queue.queues());
  const table = queues.length === 0 ? "No queues found." : formatTable(
    queues.map((q) => [
      q.name,
      q.paused ? "yes" : "no",
      ...[q.pending, q.running, q.completed, q.failed, q.cancelled, q.timeout].map(String),
      describeLimits(q.settings),
      describeKeep(q.settings),
    ]),
    [
      "Queue",
      "Paused",
      "Pending",
      "Running",
      "Completed",
      "Failed",
      "Cancelled",
      "Timeout",
      "Limits",
      "Keeps",
    ],
  );
  out(ctx, table, queues);
  return 0;
}

/** The `queues` command. */
export const command: Command = {
  summary: "list the named queues: paused or not, their jobs by status, limits and retention",
  usage: "gigq queues [options]",
  details: `Every queue that has jobs or was paused or configured, by name, with its jobs counted
by status, its limits (gigq configure) and how long it keeps ended jobs. A paused queue's
jobs are claimed by no worker until gigq resume <queue>. With --json, a limit or a
retention that is unlimited is null.`,
  options: {},
  positionals: [],
  run,
};
