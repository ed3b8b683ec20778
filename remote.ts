/**
 * {@linkcode RemoteQueue}: submit jobs and read their status over HTTPS,
 * through a GigQ dashboard's API, from apps that cannot open the database
 * (Deno Deploy-style hosts). Needs only `--allow-net`.
 *
 * @example
 * ```ts ignore
 * import { Job, RemoteQueue } from "@gigq/gigq/remote";
 *
 * const queue = new RemoteQueue("https://jobs.example.com", { token: Deno.env.get("GIGQ_TOKEN") });
 * const id = await queue.submit(new Job({ task: "send-email", params: { to: "ada@example.com" } }));
 * ```
 *
 * @module
 */
export { RemoteError, RemoteQueue } from "./src/remote.ts";
export type { RemoteListOptions, RemoteQueueOptions } from "./src/remote.ts";
export { Job } from "./src/job.ts";
export type { JobInit, JobOptions } from "./src/job.ts";
export { JobNotFoundError } from "./src/errors.ts";
export type { JsonValue } from "./src/_json.ts";
export type { ExecutionInfo, JobDetails, JobInfo, QueueInfo, QueueStats } from "./src/job_info.ts";
