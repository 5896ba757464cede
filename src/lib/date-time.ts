import { Type } from 'typebox';

/**
 * RFC 3339's date-time, exactly its grammar: `T` between date and time (either case), seconds,
 * at most 9 fraction digits, and `Z` or a `±hh:mm` offset (no local times, no `+0100`). One
 * fixed sequence, no alternation that overlaps: matching it cannot backtrack. The format
 * (`date-time`) checks the calendar (no 30 February) on top.
 */
const RFC3339 = '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$';
const PARTS =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))$/;

/** The longest accepted text: `2026-12-24T18:00:00.123456789+01:00`. */
const DATE_TIME_MAX_LENGTH = 35;

/** What every date-time a client sends must be, said once for the OpenAPI descriptions. */
export const DATE_TIME_RULE =
  'An RFC 3339 date-time with seconds and Z or a ±hh:mm offset (a date alone is refused), from year 1000 to 9999 in UTC, to the millisecond (further digits are ignored)';

/** A date-time sent by a client (a field or a query parameter); `instantOf` reads it. */
export const DateTimeInput = ({ description, examples }: { description: string; examples: string[] }) =>
  Type.String({
    format: 'date-time',
    minLength: 20,
    maxLength: DATE_TIME_MAX_LENGTH,
    pattern: RFC3339,
    description: `${description}. ${DATE_TIME_RULE}.`,
    examples,
  });

export const DATE_TIME_RANGE = 'must be an instant from year 1000 to year 9999 in UTC';

/**
 * The instant a date-time names, to the millisecond (further digits are dropped), or undefined when
 * it falls outside years 1000 to 9999 once in UTC: the API writes four-digit years (`toISOString`
 * writes no others as RFC 3339), and Drizzle reads timestamps back with `new Date(text)`, which
 * takes years below 100 for 19xx or 20xx. Expects text the schema has accepted (so the calendar
 * is valid); 23:59:60, a leap second, is the next second.
 */
export function instantOf(text: string): Date | undefined {
  const parts = PARTS.exec(text);
  if (!parts) return undefined;
  const [, year, month, day, hour, minute, second, fraction = '', sign, offsetHours = '0', offsetMinutes = '0'] = parts;
  const instant = new Date(0);
  // setUTCFullYear, unlike Date.UTC, takes years 0 to 99 as written (not as 19xx).
  instant.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  instant.setUTCHours(Number(hour), Number(minute), Number(second), Number(fraction.padEnd(3, '0').slice(0, 3)));
  const offset = (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000;
  instant.setTime(instant.getTime() + (sign === '-' ? offset : -offset));
  const utcYear = instant.getUTCFullYear();
  return utcYear >= 1000 && utcYear <= 9999 ? instant : undefined;
}
