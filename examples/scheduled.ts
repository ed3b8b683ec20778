/**
 * A scheduled task that submits a daily job. It uses `Deno.cron` where the
 * runtime has it (Deno Deploy, or `--unstable-cron`), else a timer that fires
 * at the same time of day. Each run opens the queue, submits, and closes its
 * connection, so nothing stays open between runs.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env examples/scheduled.ts          # wait for 06:00 UTC daily
 * deno run --allow-read --allow-write --allow-env examples/scheduled.ts --now    # submit once and exit
 * ```
 *
 * @module
 */
import { closeConnections, JobQueue } from "../mod.ts";
import { greet } from "./tasks.ts";

const path = Deno.env.get("GIGQ_DB") ?? "gigq.db";
const HOUR_UTC = 6;

/** Submits today's job and closes the connection. */
export async function submitDaily(now: Date = new Date()): Promise<string> {
  const queue = new JobQueue(path);
  try {
    const day = now.toISOString().slice(0, 10);
    const id = await greet.submit(queue, { name: `report for ${day}` }, {
      name: `daily-report-${day}`,
      description: "submitted by examples/scheduled.ts",
    });
    console.log(`submitted daily-report-${day}: ${id}`);
    return id;
  } finally {
    queue.close();
    closeConnections();
  }
}

/** Milliseconds from `now` until the next HOUR_UTC:00 UTC. */
export function untilNextRun(now: Date): number {
  const next = new Date(now);
  next.setUTCHours(HOUR_UTC, 0, 0, 0);
  if (next <= now) next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime() - now.getTime();
}

if (import.meta.main) {
  if (Deno.args.includes("--now")) {
    await submitDaily();
  } else {
    const cron = (Deno as unknown as { cron?: (n: string, s: string, f: () => unknown) => unknown })
      .cron;
    if (typeof cron === "function") {
      cron("gigq-daily-report", `0 ${HOUR_UTC} * * *`, () => submitDaily());
      console.log(`Deno.cron: a daily report at ${HOUR_UTC}:00 UTC`);
    } else {
      const schedule = () => {
        const wait = untilNextRun(new Date());
        console.log(`timer: next daily report in ${Math.round(wait / 60_000)} min`);
        setTimeout(() => submitDaily().finally(schedule), wait);
      };
      schedule();
    }
  }
}
