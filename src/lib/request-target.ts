/**
 * The path and query of a request target, read as the router reads it (RFC 9112 §3.2). An
 * absolute-form target (`GET http://evil.example/api/v1/tasks`) names a scheme and host of the
 * client's choosing: the router routes on its path alone, and everything we write back must use
 * only the path and query too (links stay relative: no Host header or public URL is needed).
 */
export function originForm(target: string): { path: string; query: string } {
  // As find-my-way strips it: http or https in any case, then a non-empty authority.
  const rest = target.replace(/^https?:\/\/[^/?#]+/i, '');
  const mark = rest.indexOf('?');
  return mark < 0 ? { path: rest || '/', query: '' } : { path: rest.slice(0, mark) || '/', query: rest.slice(mark + 1) };
}
