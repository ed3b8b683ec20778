/** Retrying work that found the database locked, without blocking the event loop. */
import { isBusy } from "./connection.ts";

/** How long GigQ keeps retrying a locked database before giving up, in ms. */
export const BUSY_RETRY_MS = 30_000;

/**
 * Runs `fn`; while it fails with SQLITE_BUSY, waits a little (the event loop
 * stays free) and tries again, for up to `limitMs`. `fn` must be safe to
 * repeat: a transaction that failed busy was rolled back.
 */
export async function retryBusy<T>(fn: () => T, limitMs: number = BUSY_RETRY_MS): Promise<T> {
  let delay = 1;
  const start = Date.now();
  for (;;) {
    try {
      return fn();
    } catch (error) {
      if (!isBusy(error) || Date.now() - start >= limitMs) {
        if (isBusy(error)) {
          (error as Error).message += ` (still locked after retrying for ${limitMs} ms)`;
        }
        throw error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 2, 50);
  }
}
