/**
 * Cron rules in time zones: slots on the days the clocks change, checked
 * against a brute-force reading of the same rules minute by minute, and the
 * refusals of bad expressions and zones.
 */
import assert from "node:assert/strict";
import { Cron } from "npm:croner@10";
import { CronError, CronRule } from "../src/_cron.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The slots of `rule` in (from, to], by repeated next(). */
function slots(rule: CronRule, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = rule.next(from); t !== undefined && t <= to; t = rule.next(t)) {
    assert.ok(t > (out.at(-1) ?? from), "slots only move forward");
    out.push(t);
  }
  return out;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** Local wall time of `ms` in `timezone`, as `YYYY-MM-DD HH:MM:SS`. */
function local(ms: number, timezone: string): string {
  let format = formats.get(timezone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("sv-SE", {
      timeZone: timezone,
      dateStyle: "short",
      timeStyle: "medium",
    });
    formats.set(timezone, format);
  }
  return format.format(ms);
}

/** The zone's offset at `ms` (wall = utc + offset). */
function offsetAt(ms: number, timezone: string): number {
  const wall = Date.parse(local(ms, timezone).replace(" ", "T") + "Z");
  return wall - Math.floor(ms / 1000) * 1000;
}

/**
 * The same rules read the slow way: every `step` ms of (from, to], an
 * instant fires when its wall time matches, unless it is the second pass of
 * a repeated wall time and the hour field is not every hour; a skipped
 * wall time that matches fires at its wall time read with the offset before
 * the change.
 */
function bruteForce(
  cron: string,
  minutes: readonly { t: number; o: number }[],
  everyHour: boolean,
  step = 60_000,
): number[] {
  const matcher = new Cron(cron, { mode: "5-or-6-parts", utcOffset: 0 });
  const fired = new Set<number>();
  const seenWalls = new Set<number>();
  const from = minutes[0].t;
  const to = minutes.at(-1)!.t;
  let previous = minutes[0].o;
  for (const { t, o } of minutes.slice(1)) {
    if (o > previous) {
      // A spring-forward just before t: the wall times from t + previous to t + o never happen.
      for (let w = t + previous; w < t + o; w += step) {
        if (matcher.match(new Date(w))) fired.add(w - previous);
      }
    }
    previous = o;
    const wall = t + o;
    const repeat = seenWalls.has(wall);
    seenWalls.add(wall);
    if (matcher.match(new Date(wall)) && (!repeat || everyHour)) fired.add(t);
  }
  return [...fired].filter((t) => t > from && t <= to).sort((a, b) => a - b);
}

const CHANGES = [
  { timezone: "Europe/Berlin", day: "2026-03-29", kind: "spring-forward" },
  { timezone: "Europe/Berlin", day: "2026-10-25", kind: "fall-back" },
  { timezone: "America/New_York", day: "2026-03-08", kind: "spring-forward" },
  { timezone: "America/New_York", day: "2026-11-01", kind: "fall-back" },
] as const;

Deno.test("a daily 02:30 slot fires once on each day the clocks change, at the documented local time", () => {
  const expected: Record<string, string> = {
    // 02:30 does not exist: moved forward by the hour the clocks skipped.
    "Europe/Berlin 2026-03-29": "2026-03-29 03:30:00",
    // 02:30 happens twice: the first pass (still summer time).
    "Europe/Berlin 2026-10-25": "2026-10-25 02:30:00",
    "America/New_York 2026-03-08": "2026-03-08 03:30:00",
    // New York repeats 01:00-02:00: 02:30 happens once.
    "America/New_York 2026-11-01": "2026-11-01 02:30:00",
  };
  for (const { timezone, day } of CHANGES) {
    const rule = CronRule.parse("30 2 * * *", timezone);
    const start = Date.parse(`${day}T00:00:00Z`) - DAY;
    const found = slots(rule, start, start + 3 * DAY).map((t) => local(t, timezone));
    const onDay = found.filter((l) => l.startsWith(day));
    assert.deepEqual(onDay, [expected[`${timezone} ${day}`]], `${timezone} ${day}: ${found}`);
    // The days around it keep 02:30.
    assert.equal(
      found.filter((l) => l.endsWith(" 02:30:00")).length,
      found.length - 1 + +(
        onDay[0].endsWith(" 02:30:00")
      ),
    );
  }
  // The spring-forward slot, in UTC: 02:30 read with the winter offset.
  const berlin = CronRule.parse("30 2 * * *", "Europe/Berlin");
  assert.equal(
    new Date(berlin.next(Date.parse("2026-03-28T12:00:00Z"))!).toISOString(),
    "2026-03-29T01:30:00.000Z",
  );
  assert.equal(
    new Date(berlin.next(Date.parse("2026-10-24T12:00:00Z"))!).toISOString(),
    "2026-10-25T00:30:00.000Z",
  );
  // From inside the repeated hour, the next slot is the next day's (never one in the past).
  assert.equal(
    new Date(berlin.next(Date.parse("2026-10-25T01:10:00Z"))!).toISOString(),
    "2026-10-26T01:30:00.000Z",
  );
});

Deno.test("an hourly job fires once per real hour across the days the clocks change", () => {
  for (const { timezone, day, kind } of CHANGES) {
    for (const cron of ["0 * * * *", "@hourly", "15 * * * *"]) {
      const rule = CronRule.parse(cron, timezone);
      const start = Date.parse(`${day}T00:00:00Z`) - DAY;
      const end = start + 3 * DAY;
      const found = slots(rule, start, end);
      // One slot in each real hour, an hour apart: 72 of them in 72 hours.
      assert.equal(found.length, 72, `${timezone} ${day} ${cron}`);
      for (let i = 1; i < found.length; i++) {
        assert.equal(found[i] - found[i - 1], HOUR, `${cron} at ${local(found[i], timezone)}`);
      }
      const localDay = found.filter((t) => local(t, timezone).startsWith(day)).length;
      assert.equal(localDay, kind === "spring-forward" ? 23 : 25, `${timezone} ${day} ${cron}`);
    }
  }
});

Deno.test("the rules agree with a minute-by-minute reading of them around each change", () => {
  const crons: [string, boolean][] = [
    ["30 2 * * *", false],
    ["0 * * * *", true],
    ["*/20 * * * *", true],
    ["0,30 2 * * *", false],
    ["*/15 1-3 * * *", false],
    ["45 1 * * *", false],
    ["0 3 * * *", false],
    ["10 * * 3,10,11 0", true],
  ];
  for (const { timezone, day } of CHANGES) {
    const start = Date.parse(`${day}T00:00:00Z`) - DAY;
    const end = start + 3 * DAY;
    const minutes = Array.from({ length: 3 * 24 * 60 + 1 }, (_, i) => {
      const t = start + i * 60_000;
      return { t, o: offsetAt(t, timezone) };
    });
    for (const [cron, everyHour] of crons) {
      const rule = CronRule.parse(cron, timezone);
      assert.deepEqual(
        slots(rule, start, end).map((t) => new Date(t).toISOString()),
        bruteForce(cron, minutes, everyHour).map((t) => new Date(t).toISOString()),
        `${cron} in ${timezone} around ${day}`,
      );
    }
  }
});

Deno.test("a seconds field fires every real second through a repeated hour", () => {
  const rule = CronRule.parse("*/30 * * * * *", "Europe/Berlin");
  // 2026-10-25 00:00Z to 02:00Z: both passes of 02:00-03:00 local, 120 minutes of real time.
  const found = slots(rule, Date.parse("2026-10-25T00:00:00Z"), Date.parse("2026-10-25T02:00:00Z"));
  assert.equal(found.length, 240);
  for (let i = 1; i < found.length; i++) assert.equal(found[i] - found[i - 1], 30_000);
});

Deno.test("slots far apart cross offset changes: a yearly and a monthly slot keep their wall time", () => {
  const july = CronRule.parse("0 3 1 7 *", "Europe/Berlin");
  assert.equal(
    local(july.next(Date.parse("2026-01-15T00:00:00Z"))!, "Europe/Berlin"),
    "2026-07-01 03:00:00",
  );
  const monthly = CronRule.parse("0 9 1 * *", "America/New_York");
  const found = slots(
    monthly,
    Date.parse("2026-01-01T00:00:00Z"),
    Date.parse("2027-01-01T00:00:00Z"),
  );
  assert.deepEqual(
    found.map((t) => local(t, "America/New_York")),
    Array.from({ length: 12 }, (_, m) => `2026-${String(m + 1).padStart(2, "0")}-01 09:00:00`),
  );
  const leap = CronRule.parse("0 0 29 2 *", "UTC");
  assert.equal(
    new Date(leap.next(Date.parse("2026-01-01T00:00:00Z"))!).toISOString(),
    "2028-02-29T00:00:00.000Z",
  );
});

Deno.test("next() is strictly after its argument, at any millisecond", () => {
  const rule = CronRule.parse("* * * * * *", "UTC");
  assert.equal(
    rule.next(Date.parse("2026-01-01T00:00:00.000Z")),
    Date.parse("2026-01-01T00:00:01Z"),
  );
  assert.equal(
    rule.next(Date.parse("2026-01-01T00:00:00.999Z")),
    Date.parse("2026-01-01T00:00:01Z"),
  );
  assert.equal(
    rule.next(Date.parse("2026-01-01T00:00:00.001Z")),
    Date.parse("2026-01-01T00:00:01Z"),
  );
  const minutely = CronRule.parse("* * * * *", "UTC");
  assert.equal(
    minutely.next(Date.parse("2026-01-01T00:00:59.999Z")),
    Date.parse("2026-01-01T00:01:00Z"),
  );
});

Deno.test("aliases, six fields and ? read as croner's patterns do", () => {
  const from = Date.parse("2026-01-01T00:00:00Z");
  const at = (cron: string) => new Date(CronRule.parse(cron, "UTC").next(from)!).toISOString();
  assert.equal(at("@hourly"), "2026-01-01T01:00:00.000Z");
  assert.equal(at("@daily"), "2026-01-02T00:00:00.000Z");
  assert.equal(at("@weekly"), "2026-01-04T00:00:00.000Z");
  assert.equal(at("@monthly"), "2026-02-01T00:00:00.000Z");
  assert.equal(at("@yearly"), "2027-01-01T00:00:00.000Z");
  assert.equal(at("15 0 0 * * *"), "2026-01-01T00:00:15.000Z");
  // "?" is "*": Mondays only (2026-01-05 is a Monday), not every day.
  assert.equal(at("0 12 ? * MON"), "2026-01-05T12:00:00.000Z");
  assert.equal(at("0 12 * * MON"), "2026-01-05T12:00:00.000Z");
});

Deno.test("a bad cron or time zone is a CronError naming the value and saying why", () => {
  const bad: [string, string, RegExp][] = [
    ["61 * * * *", "UTC", /^cron "61 \* \* \* \*" is not valid: .*minute/],
    ["* * * * * * *", "UTC", /^cron "\* \* \* \* \* \* \*" is not valid: .*5 or 6 parts/],
    ["", "UTC", /^cron "" is not valid: it is empty/],
    ["often", "UTC", /^cron "often" is not valid:/],
    ["@reboot", "UTC", /^cron "@reboot" is not valid:/],
    ["0 0 31 2 *", "UTC", /^cron "0 0 31 2 \*" is not valid: it matches no date/],
    ["0 * * * *", "Mars/Olympus", /^timezone "Mars\/Olympus" is not valid: .*IANA/],
  ];
  for (const [cron, timezone, message] of bad) {
    assert.throws(() => CronRule.parse(cron, timezone), (e: Error) => {
      assert.ok(e instanceof CronError && e instanceof RangeError, `${e.name}: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
});
