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
