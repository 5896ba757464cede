/** The target of the `rel="next"` link of an RFC 8288 Link header, or undefined on the last page. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  // Links are `<target>; rel="…"`, comma-separated; targets never hold `>` (they are percent-encoded).
  for (const match of header.matchAll(/<([^>]*)>\s*;\s*rel="([^"]*)"/g)) {
    if (match[2]?.split(/\s+/).includes('next')) return match[1];
  }
  return undefined;
}
