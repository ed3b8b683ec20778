/**
 * The `mcp` command: GigQ's MCP server on stdio, for an AI assistant's MCP
 * client to start. The server (and the MCP SDK from npm) is imported by a
 * name Deno cannot follow before it runs, so that the other commands never
 * load or download it.
 */
import { UsageError } from "./_args.ts";
import type { Command, Context } from "./_command.ts";

/** The MCP export, imported on demand (see the module doc). */
const MCP_MODULE = new URL("../../mcp.ts", import.meta.url).href;

async function run(ctx: Context): Promise<number> {
  if (ctx.json) {
    throw new UsageError("--json does not apply: the output of gigq mcp is the MCP protocol");
  }
  let mod: typeof import("../../mcp.ts");
  try {
    mod = await import(MCP_MODULE);
  } catch (error) {
    throw new Error(
      `the MCP server did not load (it needs the npm package @modelcontextprotocol/sdk@1): ${
        (error as Error)?.message ?? error
      }`,
      { cause: error },
    );
  }
  await mod.serveMcp({
    db: ctx.path,
    driver: ctx.driver,
    cwd: ctx.io.cwd(),
    log: (line) => ctx.io.stderr(`${line}\n`),
  });
  return 0;
}

/** The `mcp` command. */
export const command: Command = {
  summary: "serve the queue's tools to an AI assistant (an MCP server on stdio)",
  usage: "gigq mcp [options]",
  details: `Runs a Model Context Protocol server on standard input and output until the client
closes it: the MCP client of an AI assistant starts it as a command, for example
  deno run -A jsr:@gigq/gigq/cli --db /path/to/jobs.db mcp
Its tools submit jobs (<module>#<export>, paths relative to the current directory) and
workflows, show jobs, their results, counts and why one is not running, cancel and requeue
jobs, and list, pause and resume named queues. No tool starts a worker: run gigq worker on the
same database. Notes go to stderr; stdout carries only the protocol.`,
  options: {},
  positionals: [],
  run,
};
