/** Argument handling shared by the benchmark scripts: one line and exit 2 on bad input. */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Prints `message` and the usage line to stderr, then exits 2. */
export function usageError(message: string, usage: string): never {
  console.error(`${message}\n${usage}`);
  Deno.exit(2);
}

/** `parseArgs` over `args`, exiting 2 with the usage line on an unknown or malformed option. */
export function parseOrExit<T extends ParseArgsConfig["options"]>(
  args: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true }).values;
  } catch (error) {
    usageError((error as Error).message, usage);
  }
}

/** `text` as a positive integer, or exit 2 naming the option and the value. */
export function positiveInt(option: string, text: string | undefined, usage: string): number {
  const n = Number(text);
  if (text === undefined || text.trim() === "" || !Number.isInteger(n) || n < 1) {
    usageError(`${option} must be a positive integer, got ${JSON.stringify(text)}`, usage);
  }
  return n;
}

/** `text` as "node" or "ffi", or exit 2 naming the value. */
export function driverName(text: string | undefined, usage: string): "node" | "ffi" {
  if (text !== "node" && text !== "ffi") {
    usageError(`--driver must be "node" or "ffi", got ${JSON.stringify(text)}`, usage);
  }
  return text;
}

/** `text` as "sqlite" or "postgres", or exit 2 naming the value. */
export function backendName(text: string | undefined, usage: string): "sqlite" | "postgres" {
  if (text !== "sqlite" && text !== "postgres") {
    usageError(`--backend must be "sqlite" or "postgres", got ${JSON.stringify(text)}`, usage);
  }
  return text;
}
