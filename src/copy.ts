/**
 * {@linkcode copyQueue}: a whole queue moved to other storage (a SQLite file
 * to a PostgreSQL schema, back, or to another file or schema), behind
 * `gigq copy`. Backend-agnostic: each backend reads its queue in one
 * snapshot and writes one in one transaction; what a copy does to running
 * jobs is decided here, once for all of them.
 *
 * @module
 */
import { cascadeMessage, type QueueDump } from "./_backend.ts";
import { queueInternals } from "./_queue_backend.ts";
import { knownKeys } from "./_validate.ts";
import { type Backoff, retryDelaySeconds } from "./job.ts";
import { describe } from "./job_status.ts";
import type { JobQueue } from "./queue.ts";

/** Options for {@linkcode copyQueue}. */
export interface CopyOptions {
  /**
   * Copy into a queue that already holds jobs: the copied jobs come after
   * them (newer in `listJobs()` order). Never over a job: a copy that has a
   * job whose id the target holds is refused whole, with or without `force`.
   *
   * @default {false}
   */
  force?: boolean;
}

/** What {@linkcode copyQueue} wrote. */
export interface CopyReport {
  /** Jobs copied: every job of the source. */
  jobs: number;
  /** Dependency edges copied (one per dependency of each job). */
  edges: number;
  /**
   * Attempts recorded on the target besides each completed job's last one
   * (which lives on its job): the source's failed, timed-out and released
   * attempts, plus one abandoned attempt per running job.
   */
  attempts: number;
  /** Running jobs whose attempt the copy recorded as abandoned (see {@linkcode copyQueue}). */
  abandoned: number;
  /** Schedules copied (each with its next and last slot, and its records of fired slots). */
  schedules: number;
}

/**
 * The message stored on the abandoned attempt (and the job) of a job copied
 * while it ran.
 */
export function abandonedMessage(workerId: string | null): string {
  return `Worker ${workerId ?? "(unknown)"} was running this attempt when the queue was ` +
    `copied; the copy cannot finish it, so the attempt was abandoned`;
}

/**
 * Turns the running jobs of `dump` into what a lapse of their leases at
 * `now` leaves: the attempt recorded as timed out (abandoned), then the job
 * pending again after its retry delay, or timed out for good when that was
 * its last attempt (its pending descendants cancelled, naming it). In place;
 * returns how many jobs it changed.
 */
export function abandonRunning(dump: QueueDump, now: number): number {
  const running = dump.jobs.filter((j) => j.status === "running");
  if (running.length === 0) return 0;
  const bySeq = new Map(dump.jobs.map((j) => [j.seq, j]));
  const children = new Map<number, number[]>();
  for (const e of dump.edges) {
    const list = children.get(e.parent);
    if (list === undefined) children.set(e.parent, [e.child]);
    else list.push(e.child);
  }
  for (const j of running) {
    const message = abandonedMessage(j.worker_id);
    dump.attempts.push({
      job: j.seq,
      run: j.runs,
      attempt: j.attempts,
      worker_id: j.worker_id ?? "(unknown)",
      status: "timeout",
      started_at: j.started_at ?? now,
      completed_at: now,
      error: message,
    });
    j.error = message;
    j.worker_id = null;
    j.lease_until = null;
    j.lease_owner = null;
    j.updated_at = now;
    if (j.attempts < j.max_attempts) {
      j.status = "pending";
      const delay = retryDelaySeconds(
        j.retry_delay,
        j.backoff as Backoff,
        j.attempts,
        j.max_retry_delay,
      );
      j.run_at = now + Math.round(delay * 1000);
      j.scheduled = j.run_at > now ? 1 : 0;
      continue;
    }
    j.status = "timeout";
    j.result = null;
    j.completed_at = now;
    // Every pending descendant, through any path, as the backends' cascade does.
    const seen = new Set<number>();
    const stack = [...children.get(j.seq) ?? []];
    while (stack.length > 0) {
      const seq = stack.pop()!;
      if (seen.has(seq)) continue;
      seen.add(seq);
      stack.push(...children.get(seq) ?? []);
      const d = bySeq.get(seq);
      if (d === undefined || d.status !== "pending") continue;
      d.status = "cancelled";
      d.error = cascadeMessage(j.id, "timeout");
      d.cancelled_by = j.seq;
      d.completed_at = now;
      d.updated_at = now;
      d.scheduled = 0;
    }
  }
  dump.attempts.sort((a, b) => a.job - b.job || a.run - b.run);
  return running.length;
}

/**
 * Copies every job of the queue `from` into the queue `to`, which may live
 * in other storage (a SQLite file and a PostgreSQL schema, either way, or
 * two of one kind): each job with its id, status, attempts, params, result,
 * error, times and place in the submit order, its dependency edges and its
 * recorded attempts; and every schedule, with its next and last slot and
 * the records of the slots it fired (so a slot the source fired is not
 * fired again by the target's workers). The source is read in one snapshot
 * and left as it was;
 * the target is written in one transaction: all of it, or on any error
 * nothing.
 *
 * Stop the source's workers first: a job running during the copy goes on
 * in the source, while the copy records its attempt as abandoned (timed
 * out, as a lapse of its lease would) and makes it pending again after its
 * retry delay, or timed out for good when that was its last attempt. The
 * target must hold no jobs unless `force` (then the copies come after its
 * jobs); a copy with a job id or a schedule name the target holds is
 * always refused. The
 * workers table is not copied. The whole queue is held in memory while
 * it is written. Throws a `RangeError` when both are the same
 * queue, and an `Error` (nothing written) for a refused target.
 *
 * @example Move a queue from a SQLite file to PostgreSQL
 * ```ts ignore
 * import { copyQueue, JobQueue } from "@gigq/gigq";
 *
 * const from = new JobQueue("jobs.db", { create: false });
 * const to = new JobQueue("postgres://app@db.internal:5432/app?schema=gigq");
 * const report = await copyQueue(from, to);
 * console.log(`${report.jobs} jobs, ${report.edges} edges, ${report.attempts} attempts`);
 * from.close();
 * to.close();
 * ```
 *
 * @param from the queue to copy (read only)
 * @param to the queue to copy into
 * @param options `force`: copy into a queue that already holds jobs
 */
export async function copyQueue(
  from: JobQueue,
  to: JobQueue,
  options: CopyOptions = {},
): Promise<CopyReport> {
  const context = "Cannot copy the queue";
  const source = queueInternals(`${context}: from`, from);
  const target = queueInternals(`${context}: to`, to);
  knownKeys(context, options, ["force"]);
  const force = options.force ?? false;
  if (typeof force !== "boolean") {
    throw new TypeError(`${context}: force must be true or false, got ${describe(force)}`);
  }
  if (from === to || from.path === to.path) {
    throw new RangeError(
      `${context}: from and to are the same queue (${from.path}); give another target`,
    );
  }
  const [reader, writer] = [await source.backend(), await target.backend()];
  const now = source.now();
  const dump = await reader.exportQueue({ now });
  const abandoned = abandonRunning(dump, now);
  await writer.importQueue({ dump, force, now });
  writer.notifyLocalCommit();
  return {
    jobs: dump.jobs.length,
    edges: dump.edges.length,
    attempts: dump.attempts.length,
    abandoned,
    schedules: dump.schedules.length,
  };
}
