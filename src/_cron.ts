/**
 * Cron expressions for schedules, read in an IANA time zone. The npm package
 * croner parses them and finds the wall-clock times they match (as times at
 * offset 0); the time zone, and what a slot does on the days the clocks
 * change, are GigQ's own rules ({@linkcode CronRule.next}): croner's time
 * zone mode skips the second pass of a repeated hour, and from inside it can
 * answer a time in the past.
 *
 * Loaded only on demand, by `src/_schedule_plan.ts` (by a name Deno cannot
 * follow before it runs), so a program that never schedules anything never
 * downloads croner.
 *
 * Internal (not exported from `mod.ts`).
 *
 * @module
 */
import { Cron } from "npm:croner@10";

/** What GigQ uses of croner: a pattern that finds its next match. */
interface Matcher {
  nextRun(prev?: Date): Date | null;
}

const HOUR = 3_600_000;

/** A bad cron or time zone: which one, and why (the caller names the schedule). */
export class CronError extends RangeError {
  /** The field: `"cron"` or `"timezone"`. */
  readonly field: "cron" | "timezone";
  /** The value given. */
  readonly value: string;
  /** Why it is refused. */
  readonly reason: string;

  /**
   * @param field which field
   * @param value the value given
   * @param reason why it is refused
   */
  constructor(field: "cron" | "timezone", value: string, reason: string) {
    super(`${field} ${JSON.stringify(value)} is not valid: ${reason}`);
    this.name = "RangeError";
    this.field = field;
    this.value = value;
    this.reason = reason;
  }
}

/** The UTC offset (ms, wall = utc + offset) of each instant in one time zone. */
type Offsets = (ms: number) => number;

const zones = new Map<string, Offsets>();

/** The offsets of `timezone`, or a {@linkcode CronError} for a zone `Intl` does not know. */
function offsetsOf(timezone: string): Offsets {
  let offsets = zones.get(timezone);
  if (offsets !== undefined) return offsets;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
  } catch {
    throw new CronError(
      "timezone",
      timezone,
      `not a time zone this runtime knows (give an IANA name such as "Europe/Berlin", ` +
        `"America/New_York" or "UTC")`,
    );
  }
  const utc = format.resolvedOptions().timeZone === "UTC";
  offsets = utc ? () => 0 : (ms) => {
    const whole = Math.floor(ms / 1000) * 1000;
    const p: Record<string, number> = {};
    for (const part of format.formatToParts(whole)) {
      if (part.type !== "literal") p[part.type] = Number(part.value);
    }
    const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second);
    return wall - whole;
  };
  zones.set(timezone, offsets);
  return offsets;
}

/** Aliases croner knows, and whether they fire every hour. */
const ALIASES: Record<string, boolean> = {
  "@yearly": false,
  "@annually": false,
  "@monthly": false,
  "@weekly": false,
  "@daily": false,
  "@midnight": false,
  "@hourly": true,
};

/** Whether the hour field of `pattern` (five or six fields) matches every hour. */
function everyHour(pattern: string): boolean {
  const alias = ALIASES[pattern.toLowerCase()];
  if (alias !== undefined) return alias;
  const fields = pattern.split(/\s+/);
  const hour = fields.length === 6 ? fields[2] : fields[1];
  return /^(\*|0-23)(\/1)?$/.test(hour ?? "");
}

/**
 * A cron expression in a time zone: the instants its slots fall on.
 *
 * Slots are wall-clock times in `timezone`. On the days the clocks change:
 * - a slot whose wall time does not exist (skipped by a spring-forward)
 *   fires once, moved forward by the skipped span: 02:30 in Berlin on
 *   2026-03-29 fires at 03:30 CEST (01:30 UTC);
 * - a wall time that happens twice (a fall-back repeats an hour) fires once,
 *   at its first pass, unless the expression's hour field is `*` (or the
 *   alias is `@hourly`): such a schedule fires in both passes, once per real
 *   hour, as a job that runs every hour (or minute, or second) should.
 */
export class CronRule {
  /** The expression as given. */
  readonly cron: string;
  /** The IANA time zone it is read in. */
  readonly timezone: string;
  readonly #matcher: Matcher;
  readonly #offsets: Offsets;
  readonly #everyHour: boolean;

  private constructor(cron: string, timezone: string, matcher: Matcher, offsets: Offsets) {
    this.cron = cron;
    this.timezone = timezone;
    this.#matcher = matcher;
    this.#offsets = offsets;
    this.#everyHour = everyHour(cron.trim().replaceAll("?", "*"));
  }

  /**
   * Parses `cron` (five fields, or six with seconds first, or an alias like
   * `@hourly`) for `timezone`. A {@linkcode CronError} says what is wrong,
   * naming the value.
   */
  static parse(cron: string, timezone: string): CronRule {
    const offsets = offsetsOf(timezone);
    const pattern = cron.trim();
    if (pattern === "") throw new CronError("cron", cron, "it is empty");
    let matcher: Matcher;
    try {
      // "?" is croner's "the time at start-up" in some fields: here it is "*", as in Quartz.
      // A fixed offset of 0 (not the zone "UTC", which croner reads through Intl, 300 times slower).
      matcher = new Cron(pattern.replaceAll("?", "*"), { mode: "5-or-6-parts", utcOffset: 0 });
    } catch (error) {
      const text = String((error as Error)?.message ?? error).replace(/^CronPattern:\s*/, "");
      throw new CronError(
        "cron",
        cron,
        `${text} (five fields "minute hour day-of-month month day-of-week", six with seconds ` +
          `first, or an alias such as @hourly, @daily, @weekly)`,
      );
    }
    const rule = new CronRule(cron, timezone, matcher, offsets);
    // A date that never comes (February 30th) would leave the schedule with no next slot.
    if (rule.next(Date.UTC(2000, 0, 1)) === undefined) {
      throw new CronError("cron", cron, "it matches no date, so it would never fire");
    }
    return rule;
  }

  /** The first instant > `from` whose wall time under fixed offset `offset` matches. */
  #fixedNext(offset: number, from: number): number | undefined {
    const next = this.#matcher.nextRun(new Date(from + offset));
    return next === null ? undefined : next.getTime() - offset;
  }

  /** Whether instant `s` (offset `o`) is the second pass of a wall time a fall-back repeats. */
  #secondPass(s: number, o: number): boolean {
    const before = this.#offsets(s - 3 * HOUR);
    return before > o && this.#offsets(s - (before - o)) === before;
  }

  /**
   * The first slot after `after` (epoch ms), as an instant; undefined if
   * there is none. Looks for a match under each offset the zone has near
   * the answer: under offset `o`, a match at an instant whose offset is `o`
   * is a slot (unless it repeats a wall time it should not); a match that
   * lands past a spring-forward is a slot when its wall time was skipped.
   */
  next(after: number): number | undefined {
    const off = this.#offsets;
    // The offset now, the one ahead, and the one before a spring-forward just passed (the
    // slots it skipped may still be due).
    const todo = [off(after + 1), off(after + 3 * HOUR), off(after - 3 * HOUR)];
    const tried = new Set<number>();
    let best: number | undefined;
    while (todo.length > 0) {
      const o = todo.shift()!;
      if (tried.has(o)) continue;
      tried.add(o);
      let from = after;
      for (let i = 0; i < 8; i++) {
        const s = this.#fixedNext(o, from);
        if (s === undefined || (best !== undefined && s >= best)) break;
        const at = off(s);
        if (at === o) {
          if (!this.#everyHour && this.#secondPass(s, o)) {
            from = s;
            continue;
          }
          best = s;
          break;
        }
        if (!tried.has(at)) todo.push(at);
        // Under the offset before a spring-forward, a wall time the clocks skipped.
        if (at > o && off(s - (at - o)) !== at) {
          best = s;
          break;
        }
        from = s;
      }
    }
    return best;
  }
}
