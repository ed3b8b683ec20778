/**
 * The web dashboard and HTTP JSON API of a GigQ queue, as one handler for
 * `Deno.serve`: overview, jobs, a job's attempts and workflow graph,
 * workers and schedules, with cancel, requeue, pause, resume and "run now";
 * and `/api/…` for scripts and {@linkcode https://jsr.io/@gigq/gigq/doc/remote | RemoteQueue}.
 * `gigq dashboard --db jobs.db` serves it from the command line.
 *
 * @example Serve the dashboard of a queue on loopback
 * ```ts ignore
 * import { JobQueue } from "@gigq/gigq";
 * import { dashboard } from "@gigq/gigq/dashboard";
 *
 * const queue = new JobQueue("jobs.db");
 * Deno.serve({ hostname: "127.0.0.1", port: 8080 }, dashboard(queue));
 * ```
 *
 * @module
 */
export { dashboard } from "./src/dashboard/mod.ts";
export type { DashboardOptions } from "./src/dashboard/mod.ts";
