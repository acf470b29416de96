/**
 * A watchdog for the engine worker. A worker caught in a synchronous loop (a chat template that
 * never ends, a step that hangs) answers no message: not Stop, not the next load. Comlink then never
 * settles the calls in flight, so the page's queue would wait forever. The watchdog asks the worker
 * to stop, and if it does not answer in time the worker is terminated (by its owner) and every call
 * in flight rejects with an error that says what happened.
 */
import { EdgetierError } from '../core/errors.ts';

/** How long a busy worker has to acknowledge Stop before it is terminated. */
export const STOP_ANSWER_MS = 1000;

/** Whether `promise` settles within `ms` (its result or error is not wanted). */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(done, done);
  });
}

export function engineRestartedError(): EdgetierError {
  return new EdgetierError(
    'timeout',
    `Stopped: the engine did not answer within ${STOP_ANSWER_MS / 1000} s (a chat template or a step that does not end), so it was restarted. Load the model again to go on; if it happens again, the model's chat template is at fault.`,
  );
}

/** The calls in flight on one worker, and the means to fail them all when it is terminated. */
export class WorkerWatch {
  #busy = 0;
  #fail: ((error: Error) => void) | null = null;
  readonly #lost: Promise<never>;

  constructor() {
    this.#lost = new Promise<never>((_, reject) => {
      this.#fail = reject;
    });
    this.#lost.catch(() => undefined); // nobody may be waiting
  }

  get busy(): boolean {
    return this.#busy > 0;
  }

  /** `call` (a Comlink call on this worker), or the error the worker was lost with. */
  async guard<T>(call: Promise<T>): Promise<T> {
    this.#busy++;
    try {
      return await Promise.race([call, this.#lost]);
    } finally {
      this.#busy--;
    }
  }

  /** Rejects every guarded call still waiting. */
  lose(error: Error): void {
    this.#fail?.(error);
    this.#fail = null;
  }
}
