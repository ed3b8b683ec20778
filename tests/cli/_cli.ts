/** Running the CLI in this process with captured output, for the tests in tests/cli/. */
import { main } from "../../src/cli/main.ts";

/** The repository's root directory. */
export const REPO: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/** The fixture tasks, as an absolute path. */
export const TASKS: string = `${REPO}/tests/cli/_tasks.ts`;

/** What a command printed and its exit code. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `gigq <args>` in this process (the environment empty, cwd the repository). */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const out = { stdout: "", stderr: "" };
  const code = await main(args, {
    stdout: (t) => out.stdout += t,
    stderr: (t) => out.stderr += t,
    env: (name) => env[name],
    cwd: () => REPO,
    isTerminal: false,
    onSignal: () => () => {},
    exit: () => {},
  });
  return { code, ...out };
}

/** Runs `gigq <args>`, expects exit 0 and returns stdout. */
export async function ok(args: string[]): Promise<string> {
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`gigq ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The flags of the repository's `gigq` task, plus --allow-ffi for the ffi driver. */
export function taskFlags(driver: string): string[] {
  const task: string = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)).tasks.gigq;
  return [
    ...task.split(" ").filter((a) => a.startsWith("--")),
    ...(driver === "ffi" ? ["--allow-ffi"] : []),
  ];
}

/**
 * Runs `gigq <args>` in a new process with the `gigq` task's permissions (not
 * --allow-all); `driver` is `node`, `ffi`, or `postgres` (a URL in `args`).
 */
export async function cliProcess(driver: string, args: string[]): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...taskFlags(driver),
      `${REPO}/src/cli/main.ts`,
      ...(driver === "postgres" ? [] : ["--driver", driver]),
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
