/**
 * The app's shared state: the catalog, the chosen model, the on-device engine's lifecycle (load
 * progress, errors, what is cached) and whether the conversation is fully local. Views read it
 * through StoreController and change it only through these methods.
 */
import {
  assessFit,
  BUILTIN_MODELS,
  buildCatalog,
  type CatalogEntry,
  type DeviceBudget,
  entriesFromServer,
  entriesFromTiers,
  type FitAssessment,
  preferredDtype,
} from '../../core/catalog.ts';
import type { Dtype } from '../../core/dtypes.ts';
import type { CachedModel, Engine, LoadInfo, LoadProgress } from '../../core/engine.ts';
import { isEdgetierError } from '../../core/errors.ts';
import type { AppServices } from '../services.ts';
import { NetworkMonitor } from './network-monitor.ts';
import type { SettingsStore } from './settings-store.ts';
import { Store } from './store.ts';

export type LoadStatus = 'idle' | 'loading' | 'ready' | 'error';

interface AppStateData {
  budget: DeviceBudget | null;
  serverEntries: CatalogEntry[];
  catalog: CatalogEntry[];
  selectedKey: string | null;
  /** Chosen weight format per catalog key (defaults to the device's preferred one). */
  dtypes: Record<string, Dtype>;
  status: LoadStatus;
  progress: LoadProgress | null;
  loadInfo: LoadInfo | null;
  /** The catalog key whose model is loaded and ready. */
  loadedKey: string | null;
  error: string | null;
  /** What the model cache did on the last load that the visitor should know (a changed model, a repair). */
  notice: string | null;
  cached: CachedModel[];
  storage: { usageBytes: number; quotaBytes: number } | null;
}

const FALLBACK_BUDGET: DeviceBudget = {
  webgpu: false,
  shaderF16: false,
  deviceMemoryGiB: null,
  maxBufferBytes: null,
};

/** A person-readable message from anything thrown (no stack traces on screen). */
export function messageOf(error: unknown): string {
  if (isEdgetierError(error)) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export class AppState extends Store<AppStateData> {
  readonly network = new NetworkMonitor();
  #local: Engine | null = null;
  #remote = new Map<string, Engine>();
  #loadToken = 0;

  constructor(
    readonly services: AppServices,
    private readonly settings: SettingsStore,
  ) {
    super({
      budget: null,
      serverEntries: [],
      catalog: buildCatalog(BUILTIN_MODELS, [], entriesFromTiers(settings.settings.tiers)),
      selectedKey: null,
      dtypes: {},
      status: 'idle',
      progress: null,
      loadInfo: null,
      loadedKey: null,
      error: null,
      notice: null,
      cached: [],
      storage: null,
    });
    let tiers = tiersSignature(settings);
    settings.addEventListener('change', () => {
      // Sampling or backend changes keep the engines; a changed tier or key needs a fresh one.
      const now = tiersSignature(settings);
      if (now === tiers) return;
      tiers = now;
      this.#remote.clear();
      if (this.entry(this.state.loadedKey)?.runs === 'remote') {
        this.set({ status: 'idle', loadedKey: null, loadInfo: null });
      }
      this.rebuildCatalog();
    });
  }

  async init(): Promise<void> {
    const [budget, server] = await Promise.all([
      this.services.detectBudget().catch(() => FALLBACK_BUDGET),
      this.services.fetchServerModels().catch(() => []),
    ]);
    this.set({ budget, serverEntries: entriesFromServer(server) });
    this.rebuildCatalog();
    await this.refreshCached();
  }

  get budget(): DeviceBudget {
    return this.state.budget ?? FALLBACK_BUDGET;
  }

  entry(key: string | null): CatalogEntry | undefined {
    return key === null ? undefined : this.state.catalog.find((e) => e.key === key);
  }

  get selected(): CatalogEntry | undefined {
    return this.entry(this.state.selectedKey);
  }

  dtypeFor(entry: CatalogEntry): Dtype {
    return this.state.dtypes[entry.key] ?? preferredDtype(entry, this.budget);
  }

  fit(entry: CatalogEntry): FitAssessment {
    return assessFit(entry, this.dtypeFor(entry), this.budget);
  }

  setDtype(key: string, dtype: Dtype): void {
    this.set({ dtypes: { ...this.state.dtypes, [key]: dtype } });
  }

  /** The engine that answers for an entry: the one local engine, or the tier's remote engine. */
  engineFor(entry: CatalogEntry): Engine {
    if (entry.remote) {
      let engine = this.#remote.get(entry.key);
      if (!engine) {
        engine = this.services.createRemoteEngine(entry.remote, this.settings.keyFor(entry.remote.id));
        this.#remote.set(entry.key, engine);
      }
      return engine;
    }
    return this.localEngine();
  }

  localEngine(): Engine {
    this.#local ??= this.services.createLocalEngine();
    return this.#local;
  }

  /** Picks a model and loads it (download for device models, a model check for remote tiers). */
  async select(key: string): Promise<void> {
    const entry = this.entry(key);
    if (!entry) return;
    this.set({ selectedKey: key });
    await this.load(entry);
  }

  async load(entry: CatalogEntry): Promise<void> {
    const token = ++this.#loadToken;
    const dtype = this.dtypeFor(entry);
    const fit = assessFit(entry, dtype, this.budget);
    const override = this.settings.settings.backend;
    const device = override === 'auto' ? (fit.device === 'webgpu' ? 'webgpu' : 'wasm') : override;
    this.set({ status: 'loading', progress: null, error: null, notice: null });
    this.network.stop();
    try {
      const engine = this.engineFor(entry);
      const source = entry.source ?? { kind: 'hub' as const, id: entry.remote?.model ?? entry.key };
      const info = await engine.load({ source, device, dtype }, (progress) => {
        if (token === this.#loadToken) this.set({ progress });
      });
      if (token !== this.#loadToken) return;
      this.set({
        status: 'ready',
        loadInfo: info,
        loadedKey: entry.key,
        progress: null,
        notice: info.cacheNotes?.join(' ') ?? null,
      });
      // From here on, a local conversation should make no request at all.
      if (entry.runs === 'device') this.network.reset();
      await this.refreshCached();
    } catch (error) {
      if (token !== this.#loadToken) return;
      this.set({ status: 'error', error: messageOf(error), progress: null, loadedKey: null });
    }
  }

  async refreshCached(): Promise<void> {
    try {
      const cached = await this.localEngine().listCached();
      const estimate = await navigator.storage?.estimate?.();
      this.set({
        cached,
        storage: estimate ? { usageBytes: estimate.usage ?? 0, quotaBytes: estimate.quota ?? 0 } : null,
      });
    } catch (error) {
      this.set({ error: `Could not list cached models: ${messageOf(error)}` });
    }
  }

  /** Removes a model's files from the browser cache (unloading it first when it is the loaded one). */
  async deleteCached(id: string): Promise<void> {
    const engine = this.localEngine();
    const loaded = this.entry(this.state.loadedKey);
    if (loaded && cachedIdMatches(loaded, id)) {
      await engine.unload();
      this.network.stop();
      this.set({ status: 'idle', loadedKey: null, loadInfo: null, selectedKey: null });
    }
    await engine.deleteCached(id);
    await this.refreshCached();
  }

  isCached(entry: CatalogEntry): CachedModel | undefined {
    return this.state.cached.find((c) => cachedIdMatches(entry, c.id));
  }

  private rebuildCatalog(): void {
    const catalog = buildCatalog(
      BUILTIN_MODELS,
      this.state.serverEntries,
      entriesFromTiers(this.settings.settings.tiers),
    );
    this.set({ catalog });
  }
}

const tiersSignature = (settings: SettingsStore): string =>
  JSON.stringify([settings.settings.tiers, settings.state.keys]);

/** Cache ids are the Hub id or the folder URL the engine loaded from. */
export function cachedIdMatches(entry: CatalogEntry, cachedId: string): boolean {
  const source = entry.source;
  if (!source) return false;
  if (source.kind === 'hub') return cachedId === source.id || cachedId.endsWith(`/${source.id}`);
  if (source.kind === 'url') {
    const trimmed = source.url.replace(/\/+$/, '');
    return cachedId === source.url || cachedId === trimmed || cachedId.endsWith(trimmed);
  }
  return cachedId === source.path;
}
