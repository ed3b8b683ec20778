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
export const COUNT_CAP = 10_000;

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
  const count = await queue.countJobs({ ...filter, cap: COUNT_CAP });
  return { jobs, next: more ? jobs[jobs.length - 1].id : null, count };
}

/** The overview: every queue, the totals, the last hour's activity and the live workers. */
export interface Overview {
  queues: QueueInfo[];
  stats: QueueStats;
  activity: ActivityMinute[];
  workers: WorkerInfo[];
}

/** Reads the overview. */
export async function overview(queue: JobQueue): Promise<Overview> {
  const [queues, activity, workers] = await Promise.all([
    queue.queues(),
    queue.activity({ minutes: 60 }),
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
  return { queues, stats, activity, workers };
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
