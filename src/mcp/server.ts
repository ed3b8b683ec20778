/**
 * The MCP server: GigQ's tools on the official TypeScript SDK, over stdio
 * or any transport the SDK has. The only module that loads the SDK.
 *
 * @module
 */
import process from "node:process";
import { resolve } from "node:path";
import { Server } from "npm:@modelcontextprotocol/sdk@1/server";
// The SDK's types for its subpaths are found only without ".js", its code only with it.
// @ts-types="npm:@modelcontextprotocol/sdk@1/server/stdio"
import { StdioServerTransport } from "npm:@modelcontextprotocol/sdk@1/server/stdio.js";
// @ts-types="npm:@modelcontextprotocol/sdk@1/types"
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  type JSONRPCMessage,
  ListToolsRequestSchema,
  McpError,
} from "npm:@modelcontextprotocol/sdk@1/types.js";
import type { DriverName } from "../../mod.ts";
import { dbLabel, isDatabaseUrl } from "../cli/_database.ts";
import { messageOf } from "../cli/_message.ts";
import { checkArguments } from "./_schema.ts";
import { type Tool, type ToolContext, TOOLS } from "./_tools.ts";

/** The version the server reports to clients (the package's). */
const VERSION = "0.1.0";

/** Options for {@linkcode serveMcp}. */
export interface McpServerOptions {
  /**
   * The queue's database: an SQLite file (a path relative to `cwd`,
   * `:memory:` or a `file:` URI) or a `postgres://` URL (`?schema=NAME`,
   * default `gigq`). Submitting creates it where it is missing; the other
   * tools say there is no queue and create nothing.
   */
  db: string;
  /**
   * The SQLite driver (SQLite files only): `node` or `ffi` (which needs
   * `--allow-ffi`).
   *
   * @default {"node"}
   */
  driver?: DriverName;
  /**
   * The directory that relative paths (`db`, the modules of tasks) are
   * resolved against.
   *
   * @default {Deno.cwd()}
   */
  cwd?: string;
  /**
   * Receives the server's notes, one line each (never stdout, which is the
   * protocol's channel on stdio).
   *
   * @default {writes to stderr}
   */
  log?: (line: string) => void;
}

/** The names of the server's tools, in the order it lists them. */
export const MCP_TOOL_NAMES: readonly string[] = TOOLS.map((t) => t.name);

/** The database as the server names it: an absolute path, or the URL as given. */
function databaseOf(db: string, cwd: string): string {
  if (typeof db !== "string" || db.trim() === "") {
    throw new TypeError(
      `Cannot start the MCP server: db must be a database path or a postgres:// URL, got ${
        JSON.stringify(db)
      }`,
    );
  }
  return db === ":memory:" || db.startsWith("file:") || isDatabaseUrl(db) ? db : resolve(cwd, db);
}

function instructions(db: string): string {
  return `GigQ is a job queue in a database; this server works on the one at ${dbLabel(db)}. ` +
    `Submit jobs (a task named by <module>#<export>), look at them (status, result, why one ` +
    `is not running, counts), cancel, requeue, and pause or resume named queues. Submitting ` +
    `does not run a job: a worker must run on the same database (gigq worker --tasks ` +
    `MODULE), and this server never starts one.`;
}

/** Runs `tool`: its report as JSON text and structured content, or a tool error. */
async function callTool(
  tool: Tool,
  args: Record<string, unknown> | undefined,
  ctx: ToolContext,
): Promise<CallToolResult> {
  try {
    const report = await tool.run(checkArguments(tool.inputSchema, args), ctx);
    return {
      content: [{ type: "text", text: JSON.stringify(report, null, 2) }],
      structuredContent: report,
    };
  } catch (error) {
    return {
      content: [{ type: "text", text: `${tool.name}: ${messageOf(error)}` }],
      isError: true,
    };
  }
}

/**
 * Makes an MCP server with GigQ's tools on the queue in `options.db`, not
 * yet connected to a transport. Each tool call opens the queue, does its
 * work and closes it; a failure (bad input, an unknown job, no queue) is a
 * tool result with `isError` and a message that says what was wrong, and
 * the server goes on answering. No tool starts a worker.
 *
 * @param options the database, and where paths are resolved
 */
export function createMcpServer(options: McpServerOptions): Server {
  const cwd = options.cwd ?? Deno.cwd();
  const db = databaseOf(options.db, cwd);
  const log = options.log ?? ((line: string) => console.error(line));
  const ctx: ToolContext = { db, driver: options.driver ?? "node", cwd, log };
  const server = new Server(
    { name: "gigq", title: "GigQ job queue", version: VERSION },
    { capabilities: { tools: {} }, instructions: instructions(db) },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: TOOLS.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: t.inputSchema,
      annotations: {
        title: t.title,
        readOnlyHint: t.readOnly,
        destructiveHint: t.destructive ?? false,
        idempotentHint: t.idempotent ?? t.readOnly,
        openWorldHint: false,
      },
    })),
  }));
  server.setRequestHandler(CallToolRequestSchema, (request: CallToolRequest) => {
    const tool = TOOLS.find((t) => t.name === request.params.name);
    if (tool === undefined) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `Unknown tool ${JSON.stringify(request.params.name)}; the tools are: ${
          MCP_TOOL_NAMES.join(", ")
        }`,
      );
    }
    return callTool(tool, request.params.arguments, ctx);
  });
  return server;
}

/**
 * Serves GigQ's tools over stdio (standard input and output carry the
 * protocol) until the client closes standard input. While it serves,
 * `console.log`, `console.info` and `console.debug` write to stderr, so
 * that a task module printing as it is imported cannot break the protocol.
 *
 * @example A server a client starts with `deno run -A serve.ts`
 * ```ts ignore
 * import { serveMcp } from "@gigq/gigq/mcp";
 * await serveMcp({ db: "jobs.db" });
 * ```
 *
 * @param options the database, and where paths are resolved
 */
export async function serveMcp(options: McpServerOptions): Promise<void> {
  const server = createMcpServer(options);
  const saved = { log: console.log, info: console.info, debug: console.debug };
  console.log = console.info = console.debug = (...args: unknown[]) => console.error(...args);
  try {
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((done) => {
      server.onclose = done;
    });
    await server.connect(transport);
    // Requests received and not yet answered: when the client is done
    // sending, the server answers them before it closes (the process may
    // exit as soon as this function returns).
    let unanswered = 0;
    let ended = false;
    const closeIfDone = () => {
      if (ended && unanswered === 0) void server.close();
    };
    const receive = transport.onmessage!;
    transport.onmessage = (message: JSONRPCMessage) => {
      if ("method" in message && "id" in message) unanswered++;
      receive(message);
    };
    const send = transport.send.bind(transport);
    transport.send = async (message: JSONRPCMessage) => {
      try {
        await send(message);
      } finally {
        if (!("method" in message) && "id" in message) {
          unanswered--;
          closeIfDone();
        }
      }
    };
    const end = () => {
      ended = true;
      closeIfDone();
    };
    process.stdin.once("end", end);
    process.stdin.once("close", end);
    try {
      await closed;
    } finally {
      process.stdin.off("end", end);
      process.stdin.off("close", end);
    }
  } finally {
    Object.assign(console, saved);
  }
}
