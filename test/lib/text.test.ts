import { describe, expect, it } from 'vitest';
import { trimWhiteSpace, WHITE_SPACE } from '../../src/lib/text.js';

describe('trimWhiteSpace', () => {
  it('removes leading and trailing ASCII white space, keeping inner space', () => {
    expect(trimWhiteSpace(' \t\n\v\f\r a b \r\n')).toBe('a b');
  });

  it('removes Unicode White_Space that String.prototype.trim misses or shares (NEL, NBSP, ideographic space)', () => {
    expect(trimWhiteSpace('\u0085\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000x\u0085')).toBe('x');
    expect('\u0085x'.trim()).toBe('\u0085x');
  });

  it('keeps U+FEFF and the zero-width characters (format characters, not space), unlike String.prototype.trim', () => {
    expect(trimWhiteSpace('\ufeffx\ufeff')).toBe('\ufeffx\ufeff');
    expect(trimWhiteSpace('\u200bx\u200d')).toBe('\u200bx\u200d');
    expect('\ufeffx'.trim()).toBe('x');
  });

  it('keeps the C0 separators U+001C-U+001F (not White_Space)', () => {
    expect(trimWhiteSpace('\u001cx\u001f')).toBe('\u001cx\u001f');
  });

  it('returns the same string when there is nothing to trim, and "" for only space', () => {
    expect(trimWhiteSpace('abc')).toBe('abc');
    expect(trimWhiteSpace('')).toBe('');
    expect(trimWhiteSpace(' \u3000 ')).toBe('');
  });

  it('agrees with the WHITE_SPACE class used for validation', () => {
    const space = new RegExp(`^[${WHITE_SPACE}]+$`, 'u');
    for (let code = 0; code <= 0x3000; code++) {
      const char = String.fromCharCode(code);
      expect(trimWhiteSpace(`${char}x${char}`) === 'x', `U+${code.toString(16)}`).toBe(space.test(char));
    }
  });
});
