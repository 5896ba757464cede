/** A mail ready to send: its subject, plain-text and HTML parts. */
export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Every value that goes into an HTML part goes through this (a username is `[A-Za-z0-9_.-]`, but a template must not rely on it). */
const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);

const page = (title: string, paragraphs: string[]) =>
  `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body>\n${paragraphs
    .map((p) => `<p>${p}</p>`)
    .join('\n')}\n</body></html>\n`;

/**
 * The templates, by the name a queued mail carries. Each gets the mail's ordinary values, its one
 * secret (opened by the sender just before sending) and the public base URL (PUBLIC_URL), never a
 * request's host. A new template is a new entry here.
 */
export const TEMPLATES = {
  /** `params`: username, minutes (the token's lifetime); `secret`: the reset token. */
  'password-reset'(params: Record<string, string | number>, secret: string, publicUrl: string): RenderedMail {
    const username = String(params.username);
    const minutes = Number(params.minutes);
    const link = `${publicUrl}/reset-password?token=${encodeURIComponent(secret)}`;
    const subject = 'Reset your task-api password';
    const text = [
      `Hello ${username},`,
      '',
      'Someone (hopefully you) asked to reset the password of your task-api account.',
      `To choose a new password, open this link within ${minutes} minutes:`,
      '',
      link,
      '',
      'The link works once. If you did not ask for this, ignore this mail: your password stays as it is.',
      '',
    ].join('\n');
    const html = page(subject, [
      `Hello ${escapeHtml(username)},`,
      'Someone (hopefully you) asked to reset the password of your task-api account.',
      `To choose a new password, open this link within ${minutes} minutes:`,
      `<a href="${escapeHtml(link)}">${escapeHtml(link)}</a>`,
      'The link works once. If you did not ask for this, ignore this mail: your password stays as it is.',
    ]);
    return { subject, text, html };
  },

  /** `params`: username, hours (the token's lifetime); `secret`: the verification token. */
  'verify-email'(params: Record<string, string | number>, secret: string, publicUrl: string): RenderedMail {
    const username = String(params.username);
    const hours = Number(params.hours);
    const link = `${publicUrl}/verify-email?token=${encodeURIComponent(secret)}`;
    const subject = 'Confirm your email for task-api';
    const text = [
      `Hello ${username},`,
      '',
      'Please confirm that this is the email of your task-api account by opening this link',
      `within ${hours} hours:`,
      '',
      link,
      '',
      'If you did not register or change your email at task-api, ignore this mail.',
      '',
    ].join('\n');
    const html = page(subject, [
      `Hello ${escapeHtml(username)},`,
      `Please confirm that this is the email of your task-api account by opening this link within ${hours} hours:`,
      `<a href="${escapeHtml(link)}">${escapeHtml(link)}</a>`,
      'If you did not register or change your email at task-api, ignore this mail.',
    ]);
    return { subject, text, html };
  },
} as const;

export type TemplateName = keyof typeof TEMPLATES;
