/**
 * The `dashboard` command: serves the web dashboard and the HTTP API of a
 * queue until SIGINT or SIGTERM.
 */
import { parseNumber, UsageError } from "./_args.ts";
import { type Command, type Context, flag, open, str } from "./_command.ts";
import { dashboard } from "../../dashboard.ts";

/** Whether `host` is a loopback address or name (reachable from this machine only). */
function isLoopback(host: string): boolean {
  return ["localhost", "::1", "[::1]"].includes(host.toLowerCase()) ||
    /^127\.\d+\.\d+\.\d+$/.test(host);
}

async function run(ctx: Context): Promise<number> {
  const p = ctx.parsed;
  const host = str(p, "host") ?? "127.0.0.1";
  const portText = str(p, "port") ?? "8080";
  const port = parseNumber("--port", portText, { integer: true, min: 0, max: 65535 });
  const token = str(p, "token") ?? (ctx.io.env("GIGQ_DASHBOARD_TOKEN") || undefined);
  const readOnly = flag(p, "read-only");
  const basePath = str(p, "base-path");
  if (!isLoopback(host) && token === undefined) {
    throw new UsageError(
      `gigq dashboard: refusing to listen on ${host} without a token: anyone who can reach it ` +
        `could cancel and requeue jobs. Give --token (or GIGQ_DASHBOARD_TOKEN), or listen on ` +
        `127.0.0.1 (the default)`,
    );
  }
  if (token !== undefined && token.length < 8) {
    throw new UsageError(
      `gigq dashboard: --token must be at least 8 characters, got ${token.length}`,
    );
  }
  if (basePath !== undefined && (!basePath.startsWith("/") || basePath.endsWith("/"))) {
    throw new UsageError(
      `gigq dashboard: --base-path must start with "/" and not end with one, like /jobs, got ${
        JSON.stringify(basePath)
      }`,
    );
  }
  const queue = await open(ctx, readOnly ? "read" : "write");
  const stop = new AbortController();
  try {
    const handler = dashboard(queue, {
      token,
      readOnly,
      basePath,
      onError: (e) =>
        ctx.io.stderr(`gigq dashboard: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`),
    });
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: host,
        port,
        signal: stop.signal,
        onListen: () => {},
      }, handler);
    } catch (e) {
      throw new UsageError(
        `gigq dashboard: cannot listen on ${host}:${port}: ${(e as Error).message}`,
      );
    }
    const addr = server.addr;
    const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    ctx.io.stdout(`GigQ dashboard on http://${shown}:${addr.port}${basePath ?? ""}/\n`);
    ctx.io.stderr(
      `gigq dashboard: ${readOnly ? "read-only, " : ""}${
        token === undefined ? "no token (loopback only)" : "token required"
      }; Ctrl-C to stop\n`,
    );
    const off = [
      ctx.io.onSignal("SIGINT", () => stop.abort()),
      ctx.io.onSignal("SIGTERM", () => stop.abort()),
    ];
    try {
      await server.finished;
    } finally {
      for (const f of off) f();
    }
    return 0;
  } finally {
    queue.close();
  }
}

/** The `dashboard` command. */
export const command: Command = {
  summary: "serve the web dashboard and the HTTP API",
  usage: "gigq dashboard [--host 127.0.0.1] [--port 8080] [--token T] [--read-only] [options]",
  details: `Serves the dashboard (overview, jobs, a job's attempts and graph, workers, schedules;
cancel, requeue, pause, resume, run now) and the JSON API under /api/ until Ctrl-C.

  --host HOST       the address to listen on (default 127.0.0.1); any other than loopback
                    needs a token
  --port N          the port (default 8080; 0: any free port, printed on start)
  --token T         a secret every request needs (Authorization: Bearer T, or the login page)
                    (default: $GIGQ_DASHBOARD_TOKEN; keep it out of the process list with that)
  --read-only       show everything, change nothing
  --base-path PATH  serve under PATH, like /jobs (behind a proxy that keeps the prefix)`,
  options: {
    host: { type: "string" },
    port: { type: "string" },
    token: { type: "string" },
    "read-only": { type: "boolean" },
    "base-path": { type: "string" },
  },
  positionals: [],
  run,
};
