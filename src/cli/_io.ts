/** Where the CLI writes, reads its environment and hears signals: Deno's by default. */

/** The signals the worker command stops on. */
export type StopSignal = "SIGINT" | "SIGTERM";

/**
 * What the CLI uses from the outside world. Every field is optional and
 * defaults to the real thing, so a test can capture output, pin the
 * environment and send signals.
 */
export interface CliIo {
  /**
   * Receives standard output.
   *
   * @default {writes to Deno.stdout}
   */
  stdout?: (text: string) => void;
  /**
   * Receives error messages, log lines and the worker's progress line.
   *
   * @default {writes to Deno.stderr}
   */
  stderr?: (text: string) => void;
  /**
   * Reads an environment variable (`GIGQ_DB`, `GIGQ_DRIVER`, `GIGQ_WORKER_ID`,
   * `GIGQ_POLLING_INTERVAL`).
   *
   * @default {Deno.env.get, when --allow-env grants the variable; otherwise unset}
   */
  env?: (name: string) => string | undefined;
  /**
   * Whether stderr is a terminal: the worker then shows one updating
   * progress line instead of plain log lines.
   *
   * @default {Deno.stderr.isTerminal()}
   */
  isTerminal?: boolean;
  /**
   * Calls `handler` on `signal`; returns the function that stops listening.
   *
   * @default {Deno.addSignalListener / Deno.removeSignalListener}
   */
  onSignal?: (signal: StopSignal, handler: () => void) => () => void;
  /**
   * Ends the process at once (the worker's second signal).
   *
   * @default {Deno.exit}
   */
  exit?: (code: number) => void;
  /**
   * The directory relative module paths are resolved against.
   *
   * @default {Deno.cwd()}
   */
  cwd?: () => string;
}

/** {@linkcode CliIo} with every default filled in. */
export type Io = Required<CliIo>;

function writer(stream: { writeSync(p: Uint8Array): number }): (text: string) => void {
  const encoder = new TextEncoder();
  return (text) => {
    let bytes = encoder.encode(text);
    try {
      while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
    } catch (error) {
      // A reader that went away (`gigq list | head -1`) is not an error of ours.
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    }
  };
}

function readEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function listen(signal: StopSignal, handler: () => void): () => void {
  try {
    Deno.addSignalListener(signal, handler);
  } catch {
    return () => {}; // SIGTERM cannot be listened to on Windows
  }
  return () => {
    try {
      Deno.removeSignalListener(signal, handler);
    } catch {
      // already gone
    }
  };
}

/** Fills in the defaults. */
export function resolveIo(io: CliIo): Io {
  return {
    stdout: io.stdout ?? writer(Deno.stdout),
    stderr: io.stderr ?? writer(Deno.stderr),
    env: io.env ?? readEnv,
    isTerminal: io.isTerminal ?? Deno.stderr.isTerminal(),
    onSignal: io.onSignal ?? listen,
    exit: io.exit ?? ((code) => Deno.exit(code)),
    cwd: io.cwd ?? (() => Deno.cwd()),
  };
}
