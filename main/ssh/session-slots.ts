// A counting semaphore for SSH sessions on one connection. OpenSSH refuses more than MaxSessions
// (default 10) open sessions per connection, so extra commands wait their turn instead of failing.

export class SessionSlots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  readonly max: number;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`max sessions must be a positive integer, got ${max}`);
    this.max = max;
  }

  get inUse(): number {
    return this.used;
  }

  /** Resolves with a release function once a slot is free; releasing twice is harmless. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.used < this.max) {
      this.used++;
    } else {
      await new Promise<void>((resolve, reject) => {
        const grant = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const index = this.waiting.indexOf(grant);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(grant);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter so the count never dips and lets a newcomer jump the queue.
      if (next) next();
      else this.used--;
    };
  }
}
