/**
 * {@linkcode Workflow}: jobs with dependencies, submitted together.
 *
 * @module
 */
import { knownKeys } from "./_validate.ts";
import { Job, type JobOptions } from "./job.ts";
import { describe } from "./job_status.ts";
import type { JobQueue } from "./queue.ts";
import { isTask, type Task } from "./task.ts";

/** Options for {@linkcode Workflow.addTask}. */
export interface AddTaskOptions extends JobOptions {
  /**
   * The handler's params.
   *
   * @default {{}}
   */
  params?: unknown;
  /**
   * Jobs of this workflow (or ids of jobs already submitted) to wait for.
   * Their results reach the handler as `ctx.parentResults`, in this order.
   *
   * @default {[]}
   */
  dependsOn?: readonly (Job | string)[];
  /**
   * A name other than the task's.
   *
   * @default {the task's name}
   */
  name?: string;
  /**
   * Not before this time.
   *
   * @default {now}
   */
  runAt?: Date | string | number;
}

/**
 * A graph of jobs submitted in one transaction: all of them or none. Each
 * job runs once its dependencies have completed and receives their results;
 * if a dependency fails, times out or is cancelled, its dependents are
 * cancelled with an error naming it.
 *
 * @example A fan-out and fan-in
 * ```ts ignore
 * import { JobQueue, task, Workflow } from "@gigq/gigq";
 *
 * const source = task("source", () => [1, 2, 3]);
 * const branch = task("branch", (p: { tag: string }, ctx) => ({ tag: p.tag, parents: ctx.parentResults }));
 * const merge = task("merge", (_p, ctx) => Object.values(ctx.parentResults));
 *
 * const wf = new Workflow("fan");
 * const s = wf.addTask(source);
 * const a = wf.addTask(branch, { params: { tag: "a" }, dependsOn: [s] });
 * const b = wf.addTask(branch, { params: { tag: "b" }, dependsOn: [s] });
 * wf.addTask(merge, { dependsOn: [a, b] });
 * const ids = await wf.submitAll(new JobQueue("jobs.db"));
 * ```
 */
export class Workflow {
  /** The workflow's name. */
  readonly name: string;
  #jobs: Job[] = [];

  /**
   * Starts an empty workflow.
   *
   * @param name a name for the workflow (informational)
   */
  constructor(name: string) {
    if (typeof name !== "string" || name.trim() === "") {
      throw new TypeError(
        `Cannot create workflow: name must be a non-empty string, got ${describe(name)}`,
      );
    }
    this.name = name;
  }

  /** The jobs added so far, in order. */
  get jobs(): readonly Job[] {
    return [...this.#jobs];
  }

  /**
   * Adds a job for `task` and returns it (use it in a later `dependsOn`).
   *
   * @example
   * ```ts ignore
   * const a = wf.addTask(branchA, { params: { tag: "a" }, dependsOn: [s] });
   * ```
   *
   * @param task a task made by `task()`
   * @param options params, dependencies and job options
   */
  addTask(task: Task, options: AddTaskOptions = {}): Job {
    if (!isTask(task)) {
      throw new TypeError(
        `Cannot add to workflow ${JSON.stringify(this.name)}: expected a task made by task(), ` +
          `got ${describe(task)} (use addJob() for a Job)`,
      );
    }
    knownKeys(`Cannot add task ${JSON.stringify(task.name)} to a workflow`, options, [
      "params",
      "dependsOn",
      "name",
      "runAt",
      "priority",
      "maxAttempts",
      "timeout",
      "retryDelay",
      "backoff",
      "maxRetryDelay",
      "description",
    ]);
    const { params, dependsOn, ...rest } = options;
    this.#checkDeps(task.name, dependsOn);
    const job = new Job({ ...rest, task, params, dependencies: dependsOn ?? [] });
    this.#jobs.push(job);
    return job;
  }

  /**
   * Adds an existing {@linkcode Job}, with extra dependencies if given (they
   * are added to the job's own). Returns the job as submitted.
   *
   * @example
   * ```ts ignore
   * wf.addJob(new Job({ task: "report", params: {} }), { dependsOn: [a, b] });
   * ```
   *
   * @param job the job
   * @param options more dependencies
   */
  addJob(job: Job, options: { dependsOn?: readonly (Job | string)[] } = {}): Job {
    if (!(job instanceof Job)) {
      throw new TypeError(
        `Cannot add to workflow ${JSON.stringify(this.name)}: expected a Job, got ${describe(job)}`,
      );
    }
    knownKeys(`Cannot add job ${JSON.stringify(job.name)} to a workflow`, options, ["dependsOn"]);
    if (this.#jobs.some((j) => j.id === job.id)) {
      throw new RangeError(
        `Cannot add job ${JSON.stringify(job.name)} to workflow ${
          JSON.stringify(this.name)
        }: it is already in it`,
      );
    }
    this.#checkDeps(job.name, options.dependsOn);
    let added = job;
    if (options.dependsOn !== undefined && options.dependsOn.length > 0) {
      // Jobs are immutable: a copy with the same id and the extra dependencies.
      added = Object.freeze(
        Object.assign(Object.create(Job.prototype), job, {
          dependencies: Object.freeze([
            ...new Set([
              ...job.dependencies,
              ...options.dependsOn.map((d) => d instanceof Job ? d.id : d),
            ]),
          ]),
        }),
      ) as Job;
    }
    this.#jobs.push(added);
    return added;
  }

  #checkDeps(name: string, deps: readonly (Job | string)[] | undefined): void {
    if (deps === undefined) return;
    if (!Array.isArray(deps)) {
      throw new TypeError(
        `Cannot add ${JSON.stringify(name)} to workflow ${
          JSON.stringify(this.name)
        }: dependsOn must be an array of jobs, got ${describe(deps)}`,
      );
    }
    for (const [i, dep] of deps.entries()) {
      if (dep instanceof Job && !this.#jobs.some((j) => j.id === dep.id)) {
        throw new RangeError(
          `Cannot add ${JSON.stringify(name)} to workflow ${JSON.stringify(this.name)}: ` +
            `dependsOn[${i}] (${JSON.stringify(dep.name)}) is not in this workflow; add it first`,
        );
      }
    }
  }

  /**
   * Submits every job in one transaction (all or none); resolves to their
   * ids in the order they were added.
   *
   * @example
   * ```ts ignore
   * const ids = await wf.submitAll(queue);
   * ```
   *
   * @param queue where to submit
   */
  submitAll(queue: JobQueue): Promise<string[]> {
    return queue.submitMany(this.#jobs);
  }
}
