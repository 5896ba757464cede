/**
 * The wait before attempt `attempts + 1` of a background retry (mail, webhooks): exponential (base,
 * 2×base, 4×base, … at most `maxMs`) with jitter (a random half to all of it), so work failing
 * together does not retry together.
 */
export const retryDelay = (attempts: number, baseMs: number, maxMs: number, random = Math.random) => {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
};
