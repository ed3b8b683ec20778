/** Errors as the text stored with a job: bounded in size, well-formed. */
import { describe } from "./job_status.ts";

/**
 * The most UTF-8 bytes an error stored with a job may take, for the short
 * error and for the detail (the stack) of its attempt each: 64 KiB. Longer
 * texts are cut on a character boundary and end with
 * `… [cut: N bytes in all]`.
 */
export const MAX_ERROR_BYTES = 65_536;

const encoder = new TextEncoder();

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes, marker included, on a
 * character boundary; unchanged when it fits.
 */
export function capBytes(text: string, maxBytes: number = MAX_ERROR_BYTES): string {
  if (text.length * 3 <= maxBytes) return text; // a UTF-16 unit is at most 3 UTF-8 bytes
  const total = encoder.encode(text).length;
  if (total <= maxBytes) return text;
  const marker = `… [cut: ${total} bytes in all]`;
  const room = new Uint8Array(Math.max(0, maxBytes - encoder.encode(marker).length));
  // encodeInto stops before a character that does not fit whole.
  const { read } = encoder.encodeInto(text, room);
  return text.slice(0, read) + marker;
}

/**
 * A thrown value as the two texts stored with a failed attempt: `message`
 * (the job's error: `Name: message`) and `detail` (the attempt's: the stack
 * when there is one). Each is well-formed Unicode and at most
 * {@linkcode MAX_ERROR_BYTES} bytes.
 */
export function errorText(error: unknown): { message: string; detail: string } {
  let message: string;
  let detail: string;
  if (error instanceof Error) {
    message = error.name && error.name !== "Error"
      ? `${error.name}: ${error.message}`
      : error.message;
    message ||= error.name;
    detail = typeof error.stack === "string" ? error.stack : message;
  } else {
    try {
      message = typeof error === "string" ? error : JSON.stringify(error) ?? describe(error);
    } catch {
      message = describe(error);
    }
    detail = message;
  }
  const short = capBytes(String(message).toWellFormed());
  return { message: short, detail: detail === message ? short : capBytes(detail.toWellFormed()) };
}
