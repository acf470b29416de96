/**
 * Counts the requests this page makes, so the app can say "fully local: no request left this page
 * since the model loaded". Resource Timing sees every fetch/XHR/asset of the page; requests made
 * inside the engine's worker are not visible here (after load the engine makes none; the browser
 * tests check that with a request listener that sees workers too).
 */
import { Store } from './store.ts';

interface NetworkState {
  /** performance.now() when counting (re)started, or null before a model is loaded. */
  sinceMs: number | null;
  requests: number;
  /** Distinct origins of those requests. */
  origins: string[];
}

export class NetworkMonitor extends Store<NetworkState> {
  #observer: PerformanceObserver | null = null;

  constructor() {
    super({ sinceMs: null, requests: 0, origins: [] });
    if (typeof PerformanceObserver === 'undefined') return;
    this.#observer = new PerformanceObserver((list) => {
      const since = this.state.sinceMs;
      if (since === null) return;
      const fresh = list.getEntries().filter((e) => e.startTime >= since);
      if (fresh.length === 0) return;
      const origins = new Set(this.state.origins);
      for (const e of fresh) origins.add(new URL(e.name, location.href).origin);
      this.set({ requests: this.state.requests + fresh.length, origins: [...origins] });
    });
    this.#observer.observe({ type: 'resource', buffered: false });
  }

  /** Start counting from now (call when a model has finished loading). */
  reset(): void {
    this.set({ sinceMs: performance.now(), requests: 0, origins: [] });
  }

  stop(): void {
    this.set({ sinceMs: null, requests: 0, origins: [] });
  }

  get fullyLocal(): boolean {
    return this.state.sinceMs !== null && this.state.requests === 0;
  }
}
