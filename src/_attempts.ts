/**
 * The running attempts of one {@linkcode Worker}: their handlers, deadlines
 * (one timer for the earliest), timeouts that abort `ctx.signal`, handlers
 * abandoned past their grace, and the buffer of decided outcomes the worker
 * loop writes in its next step. Not part of the public API.
 *
 * @module
 */
import { type Claimed, type FailureExtras, failureExtras, type Outcome } from "./_backend.ts";
import { errorText } from "./_error_text.ts";
import { type JsonValue, toJson } from "./_json.ts";
import type { Clock, TimerId } from "./clock.ts";
import { isNoRetry, JobCancelledError, JobTimeoutError } from "./errors.ts";
import { retryDelaySeconds } from "./job.ts";
import type { JobContext, Task } from "./task.ts";
import type { Logger, WorkerCounts } from "./worker.ts";
import type { AttemptOutcome, AttemptSpan, Telemetry } from "./_telemetry.ts";

/** One attempt, from its claim until its handler settles (or is abandoned). */
export interface Running {
  job: Claimed;
  controller: AbortController | undefined;
  /** Clock time at which the attempt times out. */
  deadline: number;
  /** Its outcome has been decided (completed, failed, timed out or released). */
  decided: boolean;
  /** How it was decided before its handler settled, if it was. */
  cut?: "timed out" | "released" | "was cancelled";
  /** Clock time at which a cut handler still unsettled is abandoned (not for a released one). */
  giveUpAt?: number;
  /** The handler had asked for ctx.signal before it was cut. */
  watched?: boolean;
  /** Called once decided (processOne waits for its job this way). */
  onDecided?: () => void;
  /** When its progress was last written (clock ms), and the write waiting for its turn. */
  progressAt?: number;
  progressTimer?: TimerId;
  /** The owner of this attempt (for its context's progress). */
  owner?: Attempts;
  /** Its OpenTelemetry span (telemetry on). */
  span?: AttemptSpan;
}

/** At most this many progress writes a second per job (the last value always comes after). */
const PROGRESS_MIN_MS = 250;

/** A job without dependencies sees this (handlers get it read-only). */
const NO_PARENTS: Readonly<Record<string, JsonValue>> = Object.freeze({});

/**
 * What a handler gets besides its params. A class, so that the lazy signal is
 * one getter on the prototype rather than a closure per job.
 */
class Context implements JobContext {
  readonly jobId: string;
  readonly name: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly parentResults: Readonly<Record<string, JsonValue>>;
  #running: Running;

  constructor(running: Running) {
    const job = running.job;
    this.jobId = job.id;
    this.name = job.name;
    this.attempt = job.attempt;
    this.maxAttempts = job.maxAttempts;
    this.parentResults = job.parentResults ?? NO_PARENTS;
    this.#running = running;
  }

  get signal(): AbortSignal {
    return (this.#running.controller ??= new AbortController()).signal;
  }

  progress(value: unknown): void {
    this.#running.owner!.progress(this.#running, value);
  }
}

/**
 * What becomes of a failed or timed-out attempt, and the first line of its
 * error (at most 200 characters), for its log line. The store decides the
 * same way: a retry unless the failure is permanent or no attempt is left.
 */
function retryText(
  outcome: Extract<Outcome, { kind: "failed" | "timeout" }>,
  refused: boolean,
): string {
  const { job } = outcome;
  const line = outcome.error.split("\n", 1)[0];
  const error = line.length > 200 ? `${line.slice(0, 199)}…` : line;
  if (refused) return `not retried (the handler threw a NoRetryError): ${error}`;
  if (outcome.permanent) return `not retried (it would fail the same way): ${error}`;
  if (job.attempt >= job.maxAttempts) return `no attempts left: ${error}`;
  const asked = outcome.extras?.retryInMs;
  if (asked !== undefined) return `retrying in ${Math.round(asked / 100) / 10} s: ${error}`;
  // The store draws the jittered wait itself: say its range (one number when fixed).
  // The Claimed type gains maxRetryDelay with its column; until then, the default cap.
  const cap = job.maxRetryDelay;
  const round = (s: number) => Math.round(s * 10) / 10;
  const least = round(retryDelaySeconds(job.retryDelay, job.backoff, job.attempt, cap, () => 0));
  const most = round(retryDelaySeconds(job.retryDelay, job.backoff, job.attempt, cap, () => 1));
  const wait = most <= 0 ? "retrying" : `retrying in ${least === most ? "" : `${least}–`}${most} s`;
  return `${wait}: ${error}`;
}

/**
 * Ends an attempt's span with its outcome: a failure or timeout that will be
 * retried is `retry` (the store decides the same way, see retryText).
 */
function endSpan(span: AttemptSpan, outcome: Outcome, refused: boolean): void {
  if (outcome.kind === "completed" || outcome.kind === "released") {
    span.end(outcome.kind);
    return;
  }
  const { job } = outcome;
  const last = refused || outcome.permanent || job.attempt >= job.maxAttempts;
  const kind: AttemptOutcome = !last ? "retry" : outcome.kind === "timeout" ? "timeout" : "failed";
  span.end(kind, outcome.error);
}

/**
 * Calls the handler with its attempt's span active (apart from
 * {@linkcode Attempts.run}, whose variables a closure there would move to the
 * heap for every attempt, traced or not).
 */
function traced(span: AttemptSpan, task: Task, params: unknown, entry: Running): unknown {
  return span.run(() => task.handler(params, new Context(entry)));
}

/** What {@linkcode Attempts} needs from its worker. */
export interface AttemptsOptions {
  tasks: ReadonlyMap<string, Task>;
  clock: Clock;
  leaseMs: number;
  graceMs: number;
  maxPayload: number;
  log: Logger;
  /** Log one line per attempt (not built at all when false: the default logger drops them). */
  attemptLines: boolean;
  /** Something changed the loop may act on: an outcome, a freed slot. */
  changed: () => void;
  /**
   * A job was found cancelled while it ran (`noticed`), and later its
   * handler settled (`settled`): a pool's parent ends a Web Worker whose
   * handler does not.
   */
  onCancel?: (job: Claimed, phase: "noticed" | "settled") => void;
  /** A handler's synchronous stretch of `ms` outlasted the lease. */
  onStall: (ms: number, entry: Running) => void;
  /** Writes a running attempt's progress now (fenced; failures only cost that write). */
  writeProgress: (job: Claimed) => void;
}

/** The attempts a worker is running, and their decided outcomes not yet written. */
export class Attempts {
  /** Attempts whose handlers have not settled (by attempt, not job: a retry may overlap). */
  #active = new Set<Running>();
  /** Entries of #active whose outcome is not decided yet. */
  #undecided = 0;
  /**
   * One timer for the earliest deadline of the running attempts, rather than
   * one per job (a set and clear cost ~4 µs a job): when it fires, every
   * attempt past its deadline times out and it is set again for the next.
   */
  #deadlineTimer: TimerId | undefined;
  /** When #deadlineTimer fires (Infinity: not set). */
  #deadlineAt = Infinity;
  #outcomes: Outcome[] = [];
  #counts: WorkerCounts = {
    processed: 0,
    completed: 0,
    failed: 0,
    timedOut: 0,
    inFlight: 0,
    abandoned: 0,
  };
  #tasks: ReadonlyMap<string, Task>;
  #clock: Clock;
  #leaseMs: number;
  #graceMs: number;
  #maxPayload: number;
  #log: Logger;
  #attemptLines: boolean;
  #changed: () => void;
  #onStall: (ms: number, entry: Running) => void;
  #writeProgress: (job: Claimed) => void;
  #onCancel: ((job: Claimed, phase: "noticed" | "settled") => void) | undefined;
  /** OpenTelemetry, once loaded (telemetry on): each attempt gets a span. */
  telemetry: Telemetry | undefined;

  constructor(o: AttemptsOptions) {
    this.#tasks = o.tasks;
    this.#clock = o.clock;
    this.#leaseMs = o.leaseMs;
    this.#graceMs = o.graceMs;
    this.#maxPayload = o.maxPayload;
    this.#log = o.log;
    this.#attemptLines = o.attemptLines;
    this.#changed = o.changed;
    this.#onStall = o.onStall;
    this.#onCancel = o.onCancel;
    this.#writeProgress = o.writeProgress;
  }

  /**
   * A handler's `ctx.progress(value)`: kept on the job (the outcome writes
   * the last one) and written now, or once PROGRESS_MIN_MS has passed since
   * the last write. After its outcome is decided a report changes nothing.
   */
  progress(entry: Running, value: unknown): void {
    const job = entry.job;
    const json = toJson(
      value,
      "progress",
      () => `Cannot record the progress of job ${JSON.stringify(job.name)}`,
      this.#maxPayload,
    );
    if (entry.decided) return;
    job.progress = json;
    if (entry.progressTimer !== undefined) return;
    const send = () => {
      entry.progressTimer = undefined;
      if (entry.decided) return;
      entry.progressAt = this.#clock.now();
      this.#writeProgress(job);
    };
    const wait = entry.progressAt === undefined
      ? 0
      : entry.progressAt + PROGRESS_MIN_MS - this.#clock.now();
    if (wait <= 0) send();
    else entry.progressTimer = this.#clock.setTimeout(send, wait);
  }

  /** Counters so far. */
  get counts(): WorkerCounts {
    return { ...this.#counts, inFlight: this.#undecided };
  }

  /** Handlers holding a slot (decided or not, until they settle or are abandoned). */
  get size(): number {
    return this.#active.size;
  }

  /** Attempts whose outcome is not decided yet. */
  get undecided(): number {
    return this.#undecided;
  }

  /** Whether decided outcomes wait to be written. */
  get hasOutcomes(): boolean {
    return this.#outcomes.length > 0;
  }

  /** The attempts still undecided (for messages). */
  undecidedAttempts(): Running[] {
    return [...this.#active].filter((e) => !e.decided);
  }

  /** Takes the decided outcomes to write. */
  take(): Outcome[] {
    const outcomes = this.#outcomes;
    this.#outcomes = [];
    return outcomes;
  }

  /** Puts back outcomes a failed write did not record, before any decided since. */
  giveBack(outcomes: Outcome[]): void {
    this.#outcomes = outcomes.concat(this.#outcomes);
  }

  /** Starts a handler for `job`; its outcome lands in the outcome buffer. */
  run(job: Claimed): Running {
    const entry: Running = {
      job,
      controller: undefined,
      deadline: job.startedAt + job.timeout * 1000,
      decided: false,
      owner: this,
    };
    if (this.telemetry !== undefined) entry.span = this.telemetry.attempt(job);
    this.#active.add(entry);
    this.#undecided++;
    const task = this.#tasks.get(job.task);
    if (task === undefined) {
      const known = [...this.#tasks.keys()].map((n) => JSON.stringify(n)).join(", ") || "none";
      const message = `unknown task ${JSON.stringify(job.task)} (this worker runs: ${known})`;
      this.#fail(entry, "failed", message, message, false);
      this.#active.delete(entry);
      return entry;
    }
    let params: unknown;
    try {
      params = JSON.parse(job.params);
    } catch (error) {
      const message = `stored params are not valid JSON: ${errorText(error).message}`;
      this.#fail(entry, "failed", message, message, true);
      this.#active.delete(entry);
      return entry;
    }
    const calledAt = this.#clock.now();
    const late = calledAt - job.startedAt;
    if (late > this.#leaseMs) {
      // The claim's reply was slow (a stalled or cut network, a long wait on a
      // lock): its lease lapsed before this worker heard of it, so another
      // worker may already run the job. Hand it back unrun (fenced by the run:
      // a no-op if it was taken) rather than run it twice.
      const reason = `the claim reached worker ${job.workerId} ${(late / 1000).toFixed(1)} s ` +
        `after it was made, past its ${this.#leaseMs / 1000} s lease; handed back unrun`;
      this.#log(
        "warn",
        `job ${job.id} (${job.name}): ${reason} (another worker may have taken it meanwhile; ` +
          `a slow or cut network to the database, or a lease too short for it)`,
      );
      this.#decide(entry, { kind: "released", job, reason: `Released: ${reason}`, at: calledAt });
      this.#active.delete(entry);
      return entry;
    }
    if (entry.deadline < this.#deadlineAt) this.#armDeadline(entry.deadline);
    let value: unknown;
    try {
      value = entry.span === undefined
        ? task.handler(params, new Context(entry))
        : traced(entry.span, task, params, entry);
    } catch (error) {
      this.#settled(entry, false, error);
      return entry;
    } finally {
      // A synchronous stretch longer than the lease kept the heartbeat from
      // renewing any claim of this isolate. Measured from the call, not the
      // claim: a slow reply to the claim is no stall of this isolate.
      const blocked = this.#clock.now() - calledAt;
      if (blocked > this.#leaseMs) this.#onStall(blocked, entry);
    }
    if (value !== null && typeof (value as Promise<unknown>)?.then === "function") {
      (value as Promise<unknown>).then(
        (v) => this.#settled(entry, true, v),
        (e) => this.#settled(entry, false, e),
      );
    } else {
      this.#settled(entry, true, value);
    }
    return entry;
  }

  /** Sets the deadline timer to fire at clock time `at` (earlier than it is set for). */
  #armDeadline(at: number): void {
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = this.#clock.setTimeout(
      () => this.#onDeadline(),
      Math.max(0, at - this.#clock.now()),
    );
  }

  /** Cancels the deadline timer (the worker stops or has nothing running). */
  clearDeadline(): void {
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
  }

  /**
   * Times out every attempt past its deadline, abandons every timed-out
   * handler still unsettled `timeoutGrace` after it, and waits for the next.
   */
  #onDeadline(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    const now = this.#clock.now();
    let next = Infinity;
    for (const entry of this.#active) {
      if (!entry.decided) {
        if (entry.deadline <= now) this.#timedOut(entry);
        else if (entry.deadline < next) next = entry.deadline;
      }
      const giveUp = entry.giveUpAt;
      if (giveUp === undefined) continue;
      if (giveUp <= now) this.#abandon(entry);
      else if (giveUp < next) next = giveUp;
    }
    if (next !== Infinity) this.#armDeadline(next);
  }

  /** Frees the slot of a timed-out handler that will not settle. */
  #abandon(entry: Running): void {
    this.#active.delete(entry);
    this.#counts.abandoned++;
    const after = entry.cut === "was cancelled"
      ? "it was cancelled"
      : `its ${entry.job.timeout} s timeout`;
    this.#log(
      "error",
      `job ${entry.job.id} (${entry.job.name}): its handler had not settled ${
        this.#graceMs / 1000
      } s after ${after}, though its signal was aborted; its slot is ` +
        `freed for other jobs and its promise abandoned (${this.#counts.abandoned} so far). ` +
        `Make the handler stop when ctx.signal aborts`,
    );
    this.#changed();
  }

  /** Records `outcome` for `entry`, wakes the loop and logs the attempt's line. */
  #decide(entry: Running, outcome: Outcome, refused = false): void {
    entry.decided = true;
    // The last progress goes with the outcome; a write waiting for its turn is not needed.
    if (entry.progressTimer !== undefined) {
      this.#clock.clearTimeout(entry.progressTimer);
      entry.progressTimer = undefined;
    }
    this.#undecided--;
    this.#outcomes.push(outcome);
    entry.onDecided?.();
    this.#changed();
    switch (outcome.kind) {
      case "released":
        break;
      case "completed":
        this.#counts.completed++;
        break;
      case "timeout":
        this.#counts.timedOut++;
        break;
      default:
        this.#counts.failed++;
    }
    if (outcome.kind !== "released") this.#counts.processed++;
    if (this.#attemptLines) this.#logAttempt(outcome, refused);
    if (entry.span !== undefined) endSpan(entry.span, outcome, refused);
  }

  /** The attempt's log line: info for a failed or timed-out one, debug for the others. */
  #logAttempt(outcome: Outcome, refused: boolean): void {
    const job = outcome.job;
    const attempt = `job ${job.id} (${job.name}): attempt ${job.attempt}/${job.maxAttempts}`;
    switch (outcome.kind) {
      case "released":
        this.#log("debug", `${attempt} released (not counted): ${outcome.reason}`);
        return;
      case "completed":
        this.#log("debug", `${attempt} completed in ${outcome.at - job.startedAt} ms`);
        return;
      case "timeout":
        this.#log("info", `${attempt} timed out, ${retryText(outcome, false)}`);
        return;
      default:
        this.#log("info", `${attempt} failed, ${retryText(outcome, refused)}`);
    }
  }

  #fail(
    entry: Running,
    kind: "failed" | "timeout",
    error: string,
    detail: string,
    permanent: boolean,
    refused = false,
    extras?: FailureExtras,
  ): void {
    const job = entry.job;
    const at = this.#clock.now();
    this.#decide(
      entry,
      extras === undefined
        ? { kind, job, error, detail, permanent, at }
        : { kind, job, error, detail, permanent, at, extras },
      refused,
    );
  }

  #settled(entry: Running, ok: boolean, value: unknown): void {
    if (!this.#active.delete(entry)) return; // Abandoned: already logged.
    if (entry.cut === "was cancelled") this.#onCancel?.(entry.job, "settled");
    if (entry.decided) {
      // It already timed out or was released: a late finish changes nothing.
      // Rejecting once its signal aborted is what a handler should do; only
      // a handler that finished regardless ignored the abort.
      if (ok || !entry.watched) {
        this.#log(
          "warn",
          `job ${entry.job.id} (${entry.job.name}) ${ok ? "returned" : "threw"} after it ` +
            `${entry.cut ?? "ended"}; ${ok ? "its result" : "the error"} is ignored ` +
            `(the handler did not stop when ctx.signal aborted)`,
        );
      }
      this.#changed();
      return;
    }
    const job = entry.job;
    const now = this.#clock.now();
    if (now > entry.deadline) {
      // It ran past its deadline without letting the timer fire (a blocked
      // event loop): late is timed out, whatever it returned.
      this.#timedOut(entry);
      this.#changed();
      return;
    }
    if (ok) {
      let result: string;
      try {
        result = value === undefined || value === null ? "null" : toJson(
          value,
          "result",
          `Task ${JSON.stringify(job.task)} returned a bad result`,
          this.#maxPayload,
        );
      } catch (error) {
        const message = errorText(error).message;
        this.#fail(entry, "failed", message, message, true);
        return;
      }
      this.#decide(entry, { kind: "completed", job, result, at: now });
    } else {
      const { message, detail } = errorText(value);
      const refused = isNoRetry(value);
      this.#fail(entry, "failed", message, detail, refused, refused, failureExtras(value));
    }
  }

  #timedOut(entry: Running): void {
    if (entry.decided) return;
    const reason = new JobTimeoutError(entry.job.id, entry.job.timeout);
    entry.cut = "timed out";
    entry.giveUpAt = entry.deadline + this.#graceMs;
    entry.watched = entry.controller !== undefined;
    this.#fail(entry, "timeout", reason.message, reason.message, false);
    // The handler keeps its slot until it returns; abort asks it to.
    entry.controller?.abort(reason);
    if (entry.controller === undefined) {
      entry.controller = new AbortController();
      entry.controller.abort(reason);
    }
  }

  /**
   * Aborts the handlers of the undecided attempts of jobs `seqs`, which were
   * cancelled while they ran: the queue already says so, so nothing is
   * written; what the handlers do from now on is ignored, and one still
   * unsettled `timeoutGrace` later is abandoned.
   */
  cancelled(seqs: ReadonlySet<number>): void {
    const now = this.#clock.now();
    for (const entry of this.#active) {
      if (entry.decided || !seqs.has(entry.job.seq)) continue;
      const job = entry.job;
      entry.cut = "was cancelled";
      entry.watched = entry.controller !== undefined;
      entry.giveUpAt = now + this.#graceMs;
      entry.decided = true;
      this.#undecided--;
      entry.onDecided?.();
      this.#changed();
      if (this.#attemptLines) {
        this.#log(
          "info",
          `job ${job.id} (${job.name}): attempt ${job.attempt}/${job.maxAttempts} cancelled ` +
            `while it ran; aborting its handler`,
        );
      }
      this.#onCancel?.(job, "noticed");
      const reason = new JobCancelledError(job.id);
      entry.span?.end("cancelled", reason.message);
      entry.controller ??= new AbortController();
      entry.controller.abort(reason);
      if (entry.giveUpAt < this.#deadlineAt) this.#armDeadline(entry.giveUpAt);
    }
  }

  /** Interrupts every running handler and releases its job with `reason`. */
  releaseAll(reason: string): void {
    for (const entry of this.#active) {
      if (entry.decided) continue;
      entry.cut = "released";
      entry.watched = entry.controller !== undefined;
      this.#decide(entry, { kind: "released", job: entry.job, reason, at: this.#clock.now() });
      const abort = new DOMException(reason, "AbortError");
      entry.controller ??= new AbortController();
      entry.controller.abort(abort);
    }
  }
}
