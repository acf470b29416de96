/**
 * Counts the requests this page makes, per view, so the app can say "fully local: no request left
 * this page from the Chat view since the model loaded" without a Compare run (which calls a remote
 * tier on purpose) marking the chat as having left the device. Resource Timing sees every
 * fetch/XHR/asset of the page; each request is counted for the view that was shown when it started.
 * Requests made inside the engine's worker are not visible here (after load the engine makes none;
 * the browser tests check that with a request listener that sees workers too).
 */
import { Store } from './store.ts';

/** Where a request is counted: the Chat view, the Compare view, or any other view. */
export type NetworkScope = 'chat' | 'compare' | 'other';

export interface ScopeCount {
  requests: number;
  /** Distinct origins of those requests. */
  origins: string[];
}

interface NetworkState {
  /** performance.now() when counting (re)started, or null before a model is loaded. */
  sinceMs: number | null;
  counts: Record<NetworkScope, ScopeCount>;
}

const EMPTY: Record<NetworkScope, ScopeCount> = {
  chat: { requests: 0, origins: [] },
  compare: { requests: 0, origins: [] },
  other: { requests: 0, origins: [] },
};

export class NetworkMonitor extends Store<NetworkState> {
  #observer: PerformanceObserver | null = null;
  /** When each view began to be shown (performance.now()), oldest first. */
  #scopes: { fromMs: number; scope: NetworkScope }[] = [{ fromMs: 0, scope: 'other' }];

  constructor() {
    super({ sinceMs: null, counts: EMPTY });
    if (typeof PerformanceObserver === 'undefined') return;
    this.#observer = new PerformanceObserver((list) => {
      const since = this.state.sinceMs;
      if (since === null) return;
      const fresh = list.getEntries().filter((e) => e.startTime >= since);
      if (fresh.length === 0) return;
      const counts = { ...this.state.counts };
      for (const e of fresh) {
        const scope = this.#scopeAt(e.startTime);
        const count = counts[scope];
        const origin = new URL(e.name, location.href).origin;
        counts[scope] = {
          requests: count.requests + 1,
          origins: count.origins.includes(origin) ? count.origins : [...count.origins, origin],
        };
      }
      this.set({ counts });
    });
    this.#observer.observe({ type: 'resource', buffered: false });
  }

  /** The view now shown: requests that start from now on are counted for it. */
  setScope(scope: NetworkScope): void {
    const last = this.#scopes.at(-1);
    if (last?.scope === scope) return;
    const now = performance.now();
    // Only what counting can still need: the segment in force when counting started, and later ones.
    const since = this.state.sinceMs ?? now;
    this.#scopes = [
      ...this.#scopes.filter((_s, i, all) => (all[i + 1]?.fromMs ?? now) > since),
      { fromMs: now, scope },
    ];
  }

  #scopeAt(ms: number): NetworkScope {
    let scope: NetworkScope = 'other';
    for (const s of this.#scopes) if (s.fromMs <= ms) scope = s.scope;
    return scope;
  }

  /** Start counting from now (call when a model has finished loading). */
  reset(): void {
    this.set({ sinceMs: performance.now(), counts: EMPTY });
  }

  stop(): void {
    this.set({ sinceMs: null, counts: EMPTY });
  }

  count(scope: NetworkScope): ScopeCount {
    return this.state.counts[scope];
  }

  /** No request has left the page from the Chat view since the model loaded. */
  get fullyLocal(): boolean {
    return this.state.sinceMs !== null && this.state.counts.chat.requests === 0;
  }
}
