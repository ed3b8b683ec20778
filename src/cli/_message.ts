/** An error as the CLI (and the MCP server) says it: one line, without a stack. */
import {
  DriverConflictError,
  JobNotFoundError,
  NoQueueError,
  QueueClosedError,
  ReadOnlyQueueError,
  SchemaError,
  SqliteError,
} from "../../mod.ts";
import { OperationError, UsageError } from "./_args.ts";

/**
 * The message of `error` in one line: the text alone for the errors GigQ
 * means to be read (bad input, an unknown job, no queue), the class name
 * first for anything else.
 */
export function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return `permission denied: ${error.message}`;
  }
  if (error instanceof SqliteError && (error.readOnly || error.diskFull)) {
    // The library's text names the file and says what to do: in the CLI's lower case.
    return error.message[0].toLowerCase() + error.message.slice(1);
  }
  const known = [
    UsageError,
    OperationError,
    TypeError,
    RangeError,
    JobNotFoundError,
    SchemaError,
    SqliteError,
    DriverConflictError,
    QueueClosedError,
    NoQueueError,
    ReadOnlyQueueError,
  ];
  const text = known.some((k) => error instanceof k) || error.name === "Error"
    ? error.message
    : `${error.name}: ${error.message}`;
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ");
}
