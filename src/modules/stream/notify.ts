/**
 * Coalesces this instance's "rows were committed" into at most one NOTIFY per `intervalMs`, sent
 * after the commits (never inside a write's transaction, where a NOTIFY would serialise commits).
 */
export function createCoalescedNotify(send: () => Promise<void>, intervalMs: number, onError: (err: unknown) => void) {
  let lastSent = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const fire = () => {
    timer = undefined;
    if (stopped) return;
    lastSent = Date.now();
    send().catch(onError);
  };
  return {
    kick(): void {
      if (timer || stopped) return;
      const wait = lastSent + intervalMs - Date.now();
      if (wait <= 0) fire();
      else timer = setTimeout(fire, wait);
    },
    stop(): void {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
