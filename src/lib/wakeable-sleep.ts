/**
 * The pause of a background loop between rounds, which a wake ends early. A wake that comes while
 * the loop is busy (a batch in flight) is kept, so the next pause ends at once and the work it
 * announced is not left for a whole interval. Once `closing()` holds, no pause waits.
 */
export function createWakeableSleep(closing: () => boolean) {
  let wakePending = false;
  let wakeWaiter: (() => void) | undefined;
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      if (wakePending || closing()) {
        wakePending = false;
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        wakeWaiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakeWaiter = done;
    });
  const wake = () => {
    if (wakeWaiter) wakeWaiter();
    else wakePending = true;
  };
  return { wait, wake };
}
