/**
 * White space, once for validation and trimming alike: the Unicode White_Space property (UCD PropList.txt),
 * which is what Python's str.strip() removes apart from the C0 separators U+001C–U+001F. Unlike
 * String.prototype.trim it includes U+0085 (NEL) and excludes U+FEFF (a format character, not a space).
 * As the body of a regular-expression character class.
 */
export const WHITE_SPACE = '\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';

const isWhiteSpace = new RegExp(`^[${WHITE_SPACE}]$`, 'u');

/** Removes leading and trailing white space. A loop, not a regular expression: `\s+$` backtracks quadratically. */
export function trimWhiteSpace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isWhiteSpace.test(text[start] as string)) start++;
  while (end > start && isWhiteSpace.test(text[end - 1] as string)) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}
