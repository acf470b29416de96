/**
 * A bounded queue in front of the native engine: `concurrency` requests run, at most `maxWaiting`
 * wait, the rest are refused at once (the caller answers 429 with Retry-After). A waiter whose
 * signal fires (its client went away, or the server shuts down) leaves the queue immediately, with
 * the signal's reason.
 */
import { ApiError, abortError } from './api-error.ts';

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (error: unknown) => void;
}

export class WorkQueue {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  /** Moving average of how long one slot is held, for Retry-After. */
  private averageMs = 5000;

  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
    private readonly label = 'The native tier',
  ) {}

  get stats() {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Seconds until a slot is likely free, at least 1. */
  retryAfterSec(): number {
    const ahead = this.waiting.length + this.running;
    return Math.max(1, Math.ceil((this.averageMs * ahead) / this.concurrency / 1000));
  }

  /** No slot free and no room to wait: `acquire` would refuse at once. */
  get full(): boolean {
    return this.running >= this.concurrency && this.waiting.length >= this.maxWaiting;
  }

  /** Resolves with a release function once a slot is free; rejects with a 429 when the queue is full. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    if (this.running < this.concurrency) return Promise.resolve(this.slot());
    if (this.waiting.length >= this.maxWaiting) {
      const seconds = this.retryAfterSec();
      return Promise.reject(
        new ApiError(
          429,
          `${this.label} is busy: ${this.running} request(s) running and ${this.waiting.length} waiting, which is all it queues. Retry after ${seconds} s.`,
          'rate_limit_error',
          'queue_full',
          null,
          { 'Retry-After': String(seconds) },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject,
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(waiter);
        if (index !== -1) this.waiting.splice(index, 1);
        reject(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private slot(): () => void {
    this.running++;
    const started = Date.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.averageMs = 0.7 * this.averageMs + 0.3 * (Date.now() - started);
      this.running--;
      const next = this.waiting.shift();
      if (next) next.resolve(this.slot());
    };
  }
}
