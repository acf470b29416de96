/**
 * A tiny observable state holder and the reactive controller that re-renders a component when it
 * changes. Components read `store.state` and call the store's methods; nothing else mutates state.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

export class Store<T extends object> extends EventTarget {
  #state: T;

  constructor(initial: T) {
    super();
    this.#state = initial;
  }

  get state(): Readonly<T> {
    return this.#state;
  }

  protected set(patch: Partial<T>): void {
    this.#state = { ...this.#state, ...patch };
    this.dispatchEvent(new Event('change'));
  }
}

/** Subscribes a Lit host to one or more stores for as long as it is connected. */
export class StoreController implements ReactiveController {
  readonly #host: ReactiveControllerHost;
  readonly #stores: EventTarget[];
  readonly #onChange = () => this.#host.requestUpdate();

  constructor(host: ReactiveControllerHost, ...stores: EventTarget[]) {
    this.#host = host;
    this.#stores = stores;
    host.addController(this);
  }

  hostConnected(): void {
    for (const s of this.#stores) s.addEventListener('change', this.#onChange);
  }

  hostDisconnected(): void {
    for (const s of this.#stores) s.removeEventListener('change', this.#onChange);
  }
}
