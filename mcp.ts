/**
 * GigQ's MCP server: a job queue's tools for AI assistants, on the official
 * TypeScript SDK (`npm:@modelcontextprotocol/sdk`), which only this export
 * loads. Twelve tools: submit a job (`module#export`, params, options), a
 * job's status, its result, why it is not running, the jobs (by status or
 * queue), counts by status, cancel, requeue, submit a workflow (steps with
 * dependencies), the named queues, pause and resume. No tool starts a
 * worker: jobs run when a worker runs on the same database.
 *
 * Most users run it from the command line, as their MCP client's server
 * command: `deno run -A jsr:@gigq/gigq/cli --db jobs.db mcp`.
 *
 * @example Serve on stdio
 * ```ts ignore
 * import { serveMcp } from "@gigq/gigq/mcp";
 *
 * await serveMcp({ db: "jobs.db" });
 * ```
 *
 * @module
 */
export { MCP_TOOL_NAMES, serveMcp } from "./src/mcp/server.ts";
export type { McpServerOptions } from "./src/mcp/server.ts";
export type { DriverName } from "./mod.ts";
