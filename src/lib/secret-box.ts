import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts short secrets for storage (AES-256-GCM) under a key derived from the server's secret
 * with HKDF, as list cursors derive theirs (lib/cursor.ts): `purpose` names what the key is for, so
 * no two uses share a key and the secret itself is never the key. `context` is bound to each box
 * (additional data): a box opened under another context fails. A box is nonce, tag, ciphertext.
 */
export function createSecretBox(secret: string, purpose: string) {
  const key = Buffer.from(hkdfSync('sha256', secret, 'task-api', purpose, 32));
  return {
    seal(plain: string, context: string): Buffer {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return Buffer.concat([nonce, cipher.getAuthTag(), body]);
    },
    /** Throws when the box was altered, sealed under another key (JWT_SECRET changed) or another context. */
    open(box: Buffer, context: string): string {
      const decipher = createDecipheriv('aes-256-gcm', key, box.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(box.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(box.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    },
  };
}

export type SecretBox = ReturnType<typeof createSecretBox>;
