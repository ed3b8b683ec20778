/**
 * GigQ for Deno: a job queue that lives in one SQLite file.
 *
 * Define tasks, submit jobs, run workers. Jobs get retries with backoff,
 * timeouts that abort the handler's `AbortSignal`, dependencies (workflows
 * whose jobs receive their parents' results), leases that bring back the jobs
 * of a worker that died, and a status and result you can query from the same
 * file.
 *
 * @example Define a task, submit a job, run it
 * ```ts ignore
 * import { JobQueue, task, Worker } from "@gigq/gigq";
 *
 * export const greet = task("greet", (params: { name: string }) => `Hello, ${params.name}!`);
 *
 * const queue = new JobQueue("jobs.db");
 * const id = await greet.submit(queue, { name: "Alice" });
 *
 * const worker = new Worker("jobs.db", { tasks: [greet] });
 * await worker.processOne();
 * console.log(await queue.getResult(id)); // "Hello, Alice!"
 * worker.close();
 * queue.close();
 * ```
 *
 * @module
 */

export { isTask, task } from "./src/task.ts";
export type { JobContext, SubmitOptions, Task, TaskHandler } from "./src/task.ts";
export { Job } from "./src/job.ts";
export type { Backoff, JobInit, JobOptions, TaskRef } from "./src/job.ts";
export { JobStatus, parseJobStatus } from "./src/job_status.ts";
export { JobQueue } from "./src/queue.ts";
export type {
  ActivityOptions,
  CancelManyFilter,
  ClearOptions,
  CountOptions,
  JobFilterOptions,
  JobQueueOptions,
  ListOptions,
  QueueTransaction,
  RequeueManyFilter,
  StatsOptions,
  SubmitResult,
  WaitOptions,
  WorkersOptions,
} from "./src/queue.ts";
export type {
  ActivityMinute,
  ExecutionInfo,
  JobCount,
  JobDetails,
  JobInfo,
  QueueInfo,
  QueueStats,
  StatusCounts,
  WorkerInfo,
} from "./src/job_info.ts";
export { DEFAULT_KEEP_COMPLETED, DEFAULT_KEEP_FAILED } from "./src/queue_config.ts";
export type { QueueConfig, QueueSettings, RateLimit } from "./src/queue_config.ts";
export { defaultLogger, Worker } from "./src/worker.ts";
export type { Logger, LogLevel, StopOptions, WorkerCounts, WorkerOptions } from "./src/worker.ts";
export type {
  CompletedEventDetail,
  FailedEventDetail,
  JobEventDetail,
  RetryEventDetail,
  WorkerEventMap,
  WorkerEventType,
} from "./src/worker_events.ts";
export { WorkerPool } from "./src/pool.ts";
export type { WorkerPoolOptions } from "./src/pool.ts";
export { why } from "./src/why.ts";
export type { WhyAnswer, WhyOptions, WhyParent, WhyReason, WhySchedule } from "./src/why.ts";
export { nextRunTimes } from "./src/schedule.ts";
export type { MissedSlots, NextRunOptions, ScheduleInfo, ScheduleOptions } from "./src/schedule.ts";
export { copyQueue } from "./src/copy.ts";
export type { CopyOptions, CopyReport } from "./src/copy.ts";
export { Workflow } from "./src/workflow.ts";
export type { AddTaskOptions } from "./src/workflow.ts";
export { closeConnection, closeConnections, getConnection } from "./src/sqlite/registry.ts";
export type { ConnectionOptions } from "./src/sqlite/registry.ts";
export {
  DriverConflictError,
  JobCancelledError,
  JobNotFoundError,
  JobTimeoutError,
  NoQueueError,
  NoRetryError,
  QueueClosedError,
  ReadOnlyQueueError,
  WaitTimeoutError,
} from "./src/errors.ts";
export type { NoQueueReason, ReadOnlyQueueReason } from "./src/errors.ts";
export { SchemaError } from "./src/sqlite/schema.ts";
export { SqliteError } from "./src/sqlite/connection.ts";
export type {
  Connection,
  DriverName,
  RunResult,
  SqlRow,
  SqlValue,
  Statement,
} from "./src/sqlite/connection.ts";
export { systemClock } from "./src/clock.ts";
export type { Clock, TimerId } from "./src/clock.ts";
export { DEFAULT_MAX_PAYLOAD_BYTES } from "./src/_json.ts";
export type { JsonValue } from "./src/_json.ts";
export { migrate } from "./src/migrate.ts";
export type { MigrateOptions, MigrationReport } from "./src/migrate.ts";
