/**
 * What the pages and the API read, gathered from the public queue API.
 *
 * @module
 */
import type { JobQueue } from "../queue.ts";
import type { JobDetails, JobInfo, QueueInfo, QueueStats } from "../job_info.ts";
import type { ActivityMinute, JobCount, WorkerInfo } from "../../mod.ts";
import type { JobStatus } from "../job_status.ts";
import { JobNotFoundError } from "../errors.ts";
import { why, type WhyAnswer } from "../why.ts";
import { HttpError } from "./_security.ts";
import type { JobsQuery } from "./_params.ts";

/** One page of jobs, newest first. */
export interface JobsPage {
  /** The jobs of the page. */
  jobs: JobInfo[];
  /** The cursor of the next page (`before`), or null: this was the last. */
  next: string | null;
  /** How many jobs match the filter, counted up to a cap. */
  count: JobCount;
}

/** A filter's count stops here (it stays fast on millions of jobs). */
export const COUNT_CAP = 1000;

/** A page of jobs matching `f`. */
export async function jobsPage(queue: JobQueue, f: JobsQuery): Promise<JobsPage> {
  const filter = { status: f.status, queue: f.queue, task: f.task, search: f.search };
  let jobs: JobInfo[];
  try {
    jobs = await queue.listJobs({ ...filter, before: f.before, limit: f.limit + 1 });
  } catch (e) {
    if (e instanceof JobNotFoundError) {
      throw new HttpError(
        400,
        "bad_parameter",
        `Query parameter before: no job has the id ${JSON.stringify(f.before)} (give the id of ` +
          `the last job of the previous page)`,
      );
    }
    throw e;
  }
  const more = jobs.length > f.limit;
  if (more) jobs = jobs.slice(0, f.limit);
  // A first page that is not full holds every match: no second scan to count them (the slow
  // case, a filter that matches few of millions of jobs, would read the table twice).
  const count = f.before === undefined && !more
    ? { count: jobs.length, exact: true }
    : await queue.countJobs({ ...filter, cap: COUNT_CAP });
  return { jobs, next: more ? jobs[jobs.length - 1].id : null, count };
}

/**
 * A value read at most once per `ttlMs`: a read within it gets the last
 * value; a read after it gets the last value too while one refresh runs (a
 * first read waits for it). Counting every job of a queue of millions takes
 * a scan (about half a second for a million SQLite rows), so the overview's
 * counts are read like this, once for every open tab, rather than per request.
 */
export class Snapshot<T> {
  readonly #read: () => Promise<T>;
  readonly #ttlMs: number;
  #value: { at: number; data: T } | undefined;
  #pending: Promise<{ at: number; data: T }> | undefined;
  #tookMs = 0;

  constructor(read: () => Promise<T>, ttlMs: number) {
    this.#read = read;
    this.#ttlMs = ttlMs;
  }

  /** The value and when it was read (epoch ms). */
  async get(): Promise<{ at: number; data: T }> {
    const value = this.#value;
    // A read that takes long is repeated less often: at most a tenth of the time is spent on it.
    const ttl = Math.max(this.#ttlMs, 10 * this.#tookMs);
    if (value !== undefined && Date.now() - value.at < ttl) return value;
    const refresh = this.#pending ??= (async () => {
      try {
        const at = Date.now();
        const data = await this.#read();
        this.#tookMs = Date.now() - at;
        return this.#value = { at, data };
      } finally {
        this.#pending = undefined;
      }
    })();
    if (value !== undefined) {
      refresh.catch(() => {}); // the next read tries again
      return value;
    }
    return await refresh;
  }

  /** Forgets the value: the next read waits for a fresh one (after an action changed it). */
  invalidate(): void {
    this.#value = undefined;
  }
}

/** How long the overview's counts are reused, in milliseconds. */
export const COUNTS_TTL_MS = 5000;

/** The counted part of the overview: every queue's counts and the last hour's activity. */
export interface Counts {
  queues: QueueInfo[];
  activity: ActivityMinute[];
}

/** Reads the counted part of the overview. */
export async function counts(queue: JobQueue): Promise<Counts> {
  const [queues, activity] = await Promise.all([queue.queues(), queue.activity({ minutes: 60 })]);
  return { queues, activity };
}

/** The overview: every queue, the totals, the last hour's activity and the live workers. */
export interface Overview {
  queues: QueueInfo[];
  stats: QueueStats;
  activity: ActivityMinute[];
  workers: WorkerInfo[];
  /** When the counts were read (epoch ms). */
  countedAt: number;
}

/**
 * A worker not seen for this long (ms) is not counted as live: a running
 * worker records a sign of life at least every third of its lease (10 s by
 * default), and a killed one never records that it stopped.
 */
export const LIVE_MS = 60_000;

/** Whether a worker that has not stopped showed a sign of life lately. */
export function isLive(w: WorkerInfo, now: number): boolean {
  return w.stoppedAt === null && now - Date.parse(w.lastSeenAt) < LIVE_MS;
}

/** Reads the overview: the counts from `snapshot`, the live workers now. */
export async function overview(queue: JobQueue, snapshot: Snapshot<Counts>): Promise<Overview> {
  const [{ at, data: { queues, activity } }, workers] = await Promise.all([
    snapshot.get(),
    queue.workers(),
  ]);
  const stats: QueueStats = {
    pending: 0,
    running: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    timeout: 0,
    total: 0,
  };
  for (const q of queues) {
    for (
      const s of ["pending", "running", "completed", "failed", "cancelled", "timeout"] as const
    ) {
      stats[s] += q[s];
      stats.total += q[s];
    }
  }
  const now = Date.now();
  return { queues, stats, activity, workers: workers.filter((w) => isLive(w, now)), countedAt: at };
}

/** A job related to the one shown: a parent or a child. */
export interface Relative {
  id: string;
  name: string | null;
  status: JobStatus | "missing";
}

/** A job with its parents, children and the `why` answer. */
export interface JobView {
  job: JobDetails;
  parents: Relative[];
  children: Relative[];
  why: WhyAnswer;
}

/** The most parents or children the job page draws. */
export const MAX_RELATIVES = 50;

async function relative(queue: JobQueue, id: string): Promise<Relative> {
  const j = await queue.getStatus(id);
  return j === undefined
    ? { id, name: null, status: "missing" }
    : { id, name: j.name, status: j.status };
}

/** Reads a job's page, or undefined for an unknown id. */
export async function jobView(queue: JobQueue, id: string): Promise<JobView | undefined> {
  const job = await queue.getStatus(id);
  if (job === undefined) return undefined;
  const [parents, children, answer] = await Promise.all([
    Promise.all(job.dependencies.slice(0, MAX_RELATIVES).map((p) => relative(queue, p))),
    Promise.all(job.children.slice(0, MAX_RELATIVES).map((c) => relative(queue, c))),
    why(queue, id).catch((e) => {
      if (e instanceof JobNotFoundError) return undefined;
      throw e;
    }),
  ]);
  if (answer === undefined) return undefined;
  return { job, parents, children, why: answer };
}
