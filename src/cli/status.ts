/** The `status` command: one job, in full. */
import { type JobDetails, JobNotFoundError } from "../../mod.ts";
import type { Parsed } from "./_args.ts";
import { type Command, type Context, flag, out, withQueue } from "./_command.ts";
import { firstLine, formatTable, formatTime, formatValue } from "./_format.ts";

function statusText(job: JobDetails, p: Parsed): string {
  const lines = [
    `Job: ${job.name} (${job.id})`,
    `Task: ${job.task}${job.module ? ` (${job.module})` : ""}`,
    `Queue: ${job.queue}`,
    `Status: ${job.status}`,
    `Created: ${formatTime(job.createdAt)}`,
    `Updated: ${formatTime(job.updatedAt)}`,
    `Started: ${formatTime(job.startedAt)}`,
    `Completed: ${formatTime(job.completedAt)}`,
    `Attempts: ${job.attempts} / ${job.maxAttempts}`,
    `Priority: ${job.priority}`,
  ];
  if (job.uniqueKey !== null) lines.push(`Unique key: ${job.uniqueKey}`);
  if (job.concurrencyKey !== null) lines.push(`Concurrency key: ${job.concurrencyKey}`);
  if (job.progress !== null) lines.push(`Progress: ${formatValue(job.progress)}`);
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

async function run(ctx: Context): Promise<number> {
  const [id] = ctx.parsed.positionals;
  const job = await withQueue(ctx, "read", (queue) => queue.getStatus(id));
  if (job === undefined) throw new JobNotFoundError(id);
  out(ctx, statusText(job, ctx.parsed), job);
  return 0;
}

/** The `status` command. */
export const command: Command = {
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
  run,
};
