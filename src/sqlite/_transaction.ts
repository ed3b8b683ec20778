import type { Statement } from "./connection.ts";
import { enterWriteGate, leaveWriteGate } from "./_write_gate.ts";

/** The statements a driver hands to {@linkcode runTransaction}. */
export interface TransactionStatements {
  beginWrite: Statement;
  beginRead: Statement;
  commit: Statement;
  rollback: Statement;
}

/**
 * Runs `fn` between BEGIN and COMMIT, rolling back when it throws. Shared by
 * every driver so both behave the same way. `fn` must not return a promise:
 * holding a transaction across an `await` would block every other writer.
 */
export function runTransaction<T>(
  stmts: TransactionStatements,
  mode: "write" | "read",
  fn: () => T,
): T {
  // A pool's threads queue for the write lock among themselves (see _write_gate.ts).
  const gated = mode === "write" && enterWriteGate();
  try {
    return transact(stmts, mode, fn);
  } finally {
    if (gated) leaveWriteGate();
  }
}

function transact<T>(stmts: TransactionStatements, mode: "write" | "read", fn: () => T): T {
  (mode === "write" ? stmts.beginWrite : stmts.beginRead).run();
  let result: T;
  try {
    result = fn();
    if (
      result !== null && typeof result === "object" &&
      typeof (result as { then?: unknown }).then === "function"
    ) {
      throw new TypeError(
        "Cannot run an async function in a transaction: the function returned a promise; " +
          "transactions must be synchronous so no lock is held across an await",
      );
    }
    stmts.commit.run();
  } catch (error) {
    try {
      stmts.rollback.run();
    } catch {
      // The transaction may already be gone (SQLite rolls back on some errors).
    }
    throw error;
  }
  return result;
}
