/**
 * The app's shared state: the catalog, the chosen model, the on-device engine's lifecycle (load
 * progress, errors, what is cached) and whether the conversation is fully local. Views read it
 * through StoreController and change it only through these methods. A first visit starts with the
 * server's own model chosen and loading (see firstVisitChoice); a Hub model is only ever loaded
 * because the visitor picked it. The visitor's own choice is remembered, so a later visit never
 * replaces it with the server's model: it loads again a server folder they chose, or a Hub model
 * whose files are whole in the browser cache (both where they fit the device); a Hub model still to
 * download and a remote tier are offered back (the Model menu shows it with a Load button) and load
 * only when confirmed; none (after they deleted the loaded model) stays none.
 */
import {
  assessFit,
  BUILTIN_MODELS,
  budgetForBackend,
  buildCatalog,
  type CatalogEntry,
  cpuEngineWillRun,
  type DeviceBudget,
  entriesFromServer,
  entriesFromTiers,
  estimateMemoryBytes,
  expectedDecodeSpeed,
  type FitAssessment,
  firstVisitChoice,
  loadsUnasked,
  type MeasuredSpeed,
  parseMeasuredSpeeds,
  preferredDtype,
  preferredDtypeWithCache,
  type RemoteTier,
  type ServedModel,
  type SpeedExpectation,
} from '../../core/catalog.ts';
import type { Dtype } from '../../core/dtypes.ts';
import type {
  CachedModel,
  CpuRuntimeChoice,
  Engine,
  LoadInfo,
  LoadProgress,
  LoadRequest,
} from '../../core/engine.ts';
import { EdgetierError, isEdgetierError } from '../../core/errors.ts';
import { catalogKeyFor, offerFirst } from '../../core/site-config.ts';
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
  /** The catalog key whose last load failed: the error banner's Retry loads it again. */
  failedKey: string | null;
  /** What the model cache did on the last load that the visitor should know (a changed model, a repair). */
  notice: string | null;
  cached: CachedModel[];
  storage: { usageBytes: number; quotaBytes: number } | null;
  /**
   * The visitor's choice from an earlier visit, offered back but not loaded (a Hub model still to
   * download, a remote tier): the Model menu shows it with a Load button.
   */
  offeredKey: string | null;
  /** What each remote tier serves, by catalog key; null once asked without an answer. */
  served: Record<string, ServedModel | null>;
  /** Decode speeds the Bench view measured on this device, by catalog key (the latest run). */
  benchSpeeds: Record<string, MeasuredSpeed>;
}

/**
 * How long Settings' "Test connection" waits for the tier's model list: a server that takes the
 * connection and never answers is given up on well before the 30 s a Compare request waits.
 */
export const TEST_CONNECTION_TIMEOUT_MS = 10_000;

/** localStorage key of the visitor's last explicit choice: a catalog key, or '' for none. */
export const MODEL_CHOICE_STORAGE_KEY = 'edgetier.modelChoice.v1';
/** localStorage key of the Bench view's measured decode speeds (MeasuredSpeed by catalog key). */
export const BENCH_SPEEDS_STORAGE_KEY = 'edgetier.benchSpeeds.v1';

const FALLBACK_BUDGET: DeviceBudget = {
  webgpu: false,
  shaderF16: false,
  deviceMemoryGiB: null,
  maxBufferBytes: null,
};

/** A person-readable message from anything thrown (no stack traces on screen). */
/** Error messages as shown and stored: at most this long (a tier or a template may send megabytes). */
export const MAX_ERROR_CHARS = 1000;
/** Bidi embeddings, overrides and isolates: foreign text in a message could reverse the advice after it. */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

export function messageOf(error: unknown): string {
  const message = isEdgetierError(error) || error instanceof Error ? error.message : String(error);
  const clean = message.replace(BIDI_CONTROLS, '');
  return clean.length > MAX_ERROR_CHARS ? `${clean.slice(0, MAX_ERROR_CHARS)}…` : clean;
}

/** A Bench figure without the refusal it was measured after. */
function withoutRefusal(speed: MeasuredSpeed): MeasuredSpeed {
  const { refused: _refused, ...figure } = speed;
  return figure;
}

export class AppState extends Store<AppStateData> {
  readonly network = new NetworkMonitor();
  #local: Engine | null = null;
  #remote = new Map<string, Engine>();
  #loadToken = 0;
  #started: Promise<void> | null = null;
  #describing: Promise<void> | null = null;

  constructor(
    readonly services: AppServices,
    private readonly settings: SettingsStore,
    private readonly storage: Storage | null = globalThis.localStorage ?? null,
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
      failedKey: null,
      notice: null,
      cached: [],
      storage: null,
      offeredKey: null,
      served: {},
      benchSpeeds: {},
    });
    this.set({ benchSpeeds: this.#readBenchSpeeds() });
    let tiers = tiersSignature(settings);
    settings.addEventListener('change', () => {
      // Sampling or backend changes keep the engines; a changed tier or key needs a fresh one.
      const now = tiersSignature(settings);
      if (now === tiers) return;
      tiers = now;
      this.#remote.clear();
      this.#describing = null;
      this.set({ served: {} });
      if (this.entry(this.state.loadedKey)?.runs === 'remote') {
        this.set({ status: 'idle', loadedKey: null, loadInfo: null });
      }
      this.rebuildCatalog();
      // Only once started: before that, start-up asks.
      if (this.#started) void this.describeTiers();
    });
  }

  /** Reads the device and the server's models, then makes the start-up choice; once per page. */
  init(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const [budget, server] = await Promise.all([
      this.services.detectBudget().catch(() => FALLBACK_BUDGET),
      this.services.fetchServerModels().catch(() => []),
    ]);
    this.set({ budget, serverEntries: entriesFromServer(server) });
    this.rebuildCatalog();
    // Asked now, before any model loads (nothing here counts against the Chat view's privacy
    // badge, which counts from the end of a load): every view names the tier by what it serves.
    void this.describeTiers();
    await this.refreshCached();
    if (this.state.selectedKey !== null) return;
    // Chosen and loading before the visitor does anything (unless they already picked one), so the
    // Model menu shows it, the progress strip runs, and Send works as soon as it is ready.
    const start = this.#startChoice(budget);
    if (start && this.state.selectedKey === null) await this.#choose(start.key);
  }

  /**
   * First visit: a static build's default model, else the server's newcomer entry; a folder is
   * chosen and loaded only where it fits (see loadsUnasked), a Hub model only shown selected (never
   * downloaded without the visitor's choice). Later: the visitor's own choice when it is a server folder.
   */
  #startChoice(budget: DeviceBudget): CatalogEntry | null {
    const previous = this.#readChoice();
    // A remembered key this app no longer lists (a model gone from the server, a tier removed, a
    // damaged record) is no choice of the visitor's: start as a first visit would. '' is their "none".
    if (previous === null || (previous !== '' && !this.entry(previous))) {
      const preset = this.services.site?.defaultModel;
      const keys = new Set(this.state.catalog.map((e) => e.key));
      const presetEntry = this.entry(preset ? catalogKeyFor(preset, keys) : null);
      if (presetEntry) {
        if (presetEntry.origin === 'server' && this.#loadsUnasked(presetEntry, budget)) return presetEntry;
        this.set({ selectedKey: presetEntry.key });
        return null;
      }
      if (this.#forcedGpuMissing) return null;
      const first = firstVisitChoice(
        this.state.catalog,
        budgetForBackend(budget, this.backendOverride),
        this.cpuRuntimeFor('wasm'),
      );
      // Chosen on its planned file; a file already cached is what loads, so that one must fit too.
      return first && this.#loadsUnasked(first, budget) ? first : null;
    }
    const entry = this.entry(previous);
    if (!entry) return null;
    // Loading it costs nothing (a server folder, or files whole in the browser cache) and it fits.
    const free =
      entry.origin === 'server' ||
      (entry.runs === 'device' && this.isCached(entry, this.dtypeFor(entry)) !== undefined);
    if (free && entry.runs === 'device' && this.#loadsUnasked(entry, budget)) return entry;
    this.set({ offeredKey: entry.key });
    return null;
  }

  /** loadsUnasked on the device and with the CPU runtime the load would use (Settings'). */
  #loadsUnasked(entry: CatalogEntry, budget: DeviceBudget): boolean {
    if (this.#forcedGpuMissing) return false;
    // The dtype load() would load (a cached file or the visitor's choice), not the planned one.
    return loadsUnasked(
      entry,
      budgetForBackend(budget, this.backendOverride),
      this.cpuRuntimeFor('wasm'),
      this.dtypeFor(entry),
    );
  }

  #readChoice(): string | null {
    try {
      return this.storage?.getItem(MODEL_CHOICE_STORAGE_KEY) ?? null;
    } catch {
      return null; // storage refused (private mode): every visit is a first visit
    }
  }

  #readBenchSpeeds(): Record<string, MeasuredSpeed> {
    try {
      return parseMeasuredSpeeds(this.storage?.getItem(BENCH_SPEEDS_STORAGE_KEY) ?? null);
    } catch {
      return {}; // storage refused: nothing measured
    }
  }

  /**
   * The CPU runtime an on-device load asks for: the CPU engine setting on wasm ('auto' by default:
   * src/core/cpu-runtime-plan.ts), 'auto' on WebGPU (ONNX Runtime's whatever the setting says). The
   * Bench view measures with the same.
   */
  cpuRuntimeFor(device: 'wasm' | 'webgpu'): CpuRuntimeChoice {
    return device === 'wasm' ? this.settings.settings.cpuEngine : 'auto';
  }

  /** Keeps the decode speed Bench measured for a model on this device (shown on the Models view). */
  recordBenchSpeed(key: string, speed: MeasuredSpeed): void {
    const benchSpeeds = { ...this.state.benchSpeeds, [key]: speed };
    this.set({ benchSpeeds });
    try {
      this.storage?.setItem(BENCH_SPEEDS_STORAGE_KEY, JSON.stringify(benchSpeeds));
    } catch {
      // storage refused or full: the figure holds for this page only
    }
  }

  /** How fast an entry should decode here, and from where the figure comes (null: nothing honest to say). */
  speed(entry: CatalogEntry): SpeedExpectation | null {
    const fit = this.fit(entry);
    if (fit.device === 'server') return null;
    const dtype = this.dtypeFor(entry);
    // A figure Bench measured counts only for the CPU runtime the app's load would ask for now.
    // (The engine runs it only where cpuEngineWillRun says so: else ORT runs it, after a refusal.)
    const cpuEngine =
      fit.device === 'wasm' &&
      cpuEngineWillRun(entry, dtype, 'wasm', this.cpuRuntimeFor('wasm'), this.budget.wasmSimd === true);
    const saved = this.state.benchSpeeds[entry.key];
    // Bench saw the engine refuse this very file and ORT run the fallback this load would ask for:
    // the same load does the same again.
    const fallback = this.loadPlan(entry).ortDtype ?? dtype;
    if (cpuEngine && saved?.refused === dtype && saved.device === 'wasm' && saved.dtype === fallback) {
      return expectedDecodeSpeed(entry, fallback, 'wasm', this.budget.wasm, saved, false);
    }
    // Elsewhere it is ORT's figure for that file alone (another setting, another file), no refusal said.
    const figure = saved && withoutRefusal(saved);
    return expectedDecodeSpeed(entry, dtype, fit.device, this.budget.wasm, figure, cpuEngine);
  }

  /**
   * Asks each remote tier what it serves (once per tier settings): the Models view places a tier by
   * its served model. Only the app's own server is asked (see AppServices.describeTier); a tier that
   * does not answer stays "size unknown", and nothing is shown as an error.
   */
  describeTiers(): Promise<void> {
    if (this.#describing) return this.#describing;
    const asking: Promise<void> = (async () => {
      const tiers = this.state.catalog.filter((e) => e.remote);
      await Promise.all(
        tiers.map(async (e) => {
          const served = await (this.services.describeTier?.(e.remote!) ?? Promise.resolve(null)).catch(
            () => null,
          );
          // The tier changed while its server answered: that answer is about what it was.
          if (this.#describing !== asking) return;
          this.set({ served: { ...this.state.served, [e.key]: served } });
          // The tier is named by what it serves (the Model menu, Compare, Models, Settings).
          this.rebuildCatalog();
        }),
      );
    })();
    this.#describing = asking;
    return asking;
  }

  #recordChoice(key: string): void {
    try {
      this.storage?.setItem(MODEL_CHOICE_STORAGE_KEY, key);
    } catch {
      // storage refused or full: the choice holds for this page only
    }
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

  /**
   * The visitor's choice, else the device's preferred format, or the other acceptable one where only
   * that is whole in the model cache (preferredDtypeWithCache: offline it is the one that loads).
   */
  dtypeFor(entry: CatalogEntry): Dtype {
    return (
      this.state.dtypes[entry.key] ??
      preferredDtypeWithCache(
        entry,
        this.#dtypeBudget,
        this.cpuRuntimeFor('wasm'),
        entry.runs === 'device' ? this.isCached(entry)?.dtypes : undefined,
      )
    );
  }

  /**
   * The format dtypeFor takes from the model cache instead of the device's preferred one (none where
   * the visitor chose one, or the preferred one is what loads): what Bench pins so it measures it too.
   */
  cachedInstead(entry: CatalogEntry): Dtype | undefined {
    if (this.state.dtypes[entry.key] !== undefined) return undefined;
    const dtype = this.dtypeFor(entry);
    return dtype === preferredDtype(entry, this.#dtypeBudget, this.cpuRuntimeFor('wasm')) ? undefined : dtype;
  }

  /** The budget dtypes are planned by: Settings' backend forced to WASM plans for WASM, GPU or not. */
  get #dtypeBudget(): DeviceBudget {
    return budgetForBackend(this.budget, this.settings.settings.backend);
  }

  /**
   * Whether an entry fits, on the device its load would use: Settings' backend forced to WASM
   * assesses WASM (its 4 GiB limit, its KV cache), GPU or not; the CPU engine setting decides the cache.
   */
  fit(entry: CatalogEntry, dtype: Dtype = this.dtypeFor(entry)): FitAssessment {
    if (entry.runs === 'device' && this.#forcedGpuMissing) {
      return {
        verdict: 'too-big',
        device: 'webgpu',
        reason:
          'Settings force WebGPU, which this browser does not offer; set the backend to Automatic or WASM.',
        memoryBytes: estimateMemoryBytes(entry, dtype, 'webgpu'),
      };
    }
    return assessFit(entry, dtype, this.#dtypeBudget, {
      runtime: this.cpuRuntimeFor('wasm'),
      forcedWasm: this.backendOverride === 'wasm',
      forcedWebgpu: this.backendOverride === 'webgpu',
    });
  }

  /** Whether ONNX Runtime's load of `entry` in `dtype` on WASM would fit here. */
  #ortFits(entry: CatalogEntry, dtype: Dtype): boolean {
    const budget = budgetForBackend(this.budget, 'wasm');
    return assessFit(entry, dtype, budget, { runtime: 'onnxruntime' }).verdict !== 'too-big';
  }

  /** Settings force WebGPU on a device without it: every device load would fail. */
  get #forcedGpuMissing(): boolean {
    return this.backendOverride === 'webgpu' && !this.budget.webgpu;
  }

  /**
   * What a load of `entry` asks for (AppState.load, and Bench, which measures what the chats run):
   * the device (Settings' forced backend, else where it fits), the dtype (dtypeFor), the CPU runtime
   * (the CPU engine setting on WASM) and the dtype ONNX Runtime loads on a refusal of a planned q4.
   */
  loadPlan(entry: CatalogEntry): {
    device: 'webgpu' | 'wasm';
    dtype: Dtype;
    runtime: CpuRuntimeChoice;
    ortDtype?: Dtype;
  } {
    const dtype = this.dtypeFor(entry);
    const device = this.deviceFor(entry, dtype);
    // A q4 the app planned for edgetier's CPU engine is re-planned for ORT on a refusal (ORT decodes
    // q4 at a few tokens/s): q8, else (convert's fp32 + q4) fp32, the first that fits here, as the
    // backend plan does (none: ORT loads the q4); a dtype the visitor chose is never changed.
    const chosenByUser = this.state.dtypes[entry.key] !== undefined;
    const ortDtype =
      dtype === 'q4' && !chosenByUser
        ? (['q8', 'fp32'] as const).find((d) => entry.dtypes.includes(d) && this.#ortFits(entry, d))
        : undefined;
    return { device, dtype, runtime: this.cpuRuntimeFor(device), ...(ortDtype ? { ortDtype } : {}) };
  }

  /** Settings' backend: 'auto', or the device every load is forced onto. */
  get backendOverride(): 'auto' | 'webgpu' | 'wasm' {
    return this.settings.settings.backend;
  }

  /** The device a load of `entry` asks for: Settings' forced backend, else where it fits. */
  deviceFor(entry: CatalogEntry, dtype: Dtype = this.dtypeFor(entry)): 'webgpu' | 'wasm' {
    const override = this.backendOverride;
    if (override !== 'auto') return override;
    return this.fit(entry, dtype).device === 'webgpu' ? 'webgpu' : 'wasm';
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

  /**
   * Settings' "Test connection": asks the tier, as given (unsaved values included), which model it
   * serves, through a fresh engine that is dropped afterwards. The page calls the tier as Compare
   * does: the key is the one entered for it, or none for this server's own tier (which keeps its own).
   */
  async checkTier(tier: RemoteTier, apiKey: string | null, signal?: AbortSignal): Promise<LoadInfo> {
    const engine = this.services.createRemoteEngine(tier, apiKey, {
      connectTimeoutMs: TEST_CONNECTION_TIMEOUT_MS,
    });
    // Cancel ends the model list's request at once (the engine's interrupt aborts it).
    const cancel = () => void engine.interrupt();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      if (signal?.aborted) throw new EdgetierError('aborted', 'Cancelled.');
      return await engine.load({ source: { kind: 'hub', id: tier.model }, device: 'wasm', dtype: 'fp32' });
    } finally {
      signal?.removeEventListener('abort', cancel);
      await engine.unload().catch(() => undefined);
    }
  }

  localEngine(): Engine {
    this.#local ??= this.services.createLocalEngine();
    return this.#local;
  }

  /** The visitor picks a model (remembered for later visits) and it loads. */
  async select(key: string): Promise<void> {
    if (!this.entry(key)) return;
    this.#recordChoice(key);
    this.set({ offeredKey: null });
    await this.#choose(key);
  }

  /** Loads again the model whose last load failed (the error banner's Retry). */
  async retry(): Promise<void> {
    const key = this.state.failedKey;
    if (key !== null) await this.select(key);
  }

  /** Selects a model and loads it (download for device models, a model check for remote tiers). */
  async #choose(key: string): Promise<void> {
    const entry = this.entry(key);
    if (!entry) return;
    this.set({ selectedKey: key });
    await this.load(entry);
  }

  async load(entry: CatalogEntry): Promise<void> {
    const token = ++this.#loadToken;
    const plan = this.loadPlan(entry);
    const { device, dtype } = plan;
    this.set({ status: 'loading', progress: null, error: null, failedKey: null, notice: null });
    this.network.stop();
    try {
      const engine = this.engineFor(entry);
      const source = entry.source ?? { kind: 'hub' as const, id: entry.remote?.model ?? entry.key };
      // The CPU engine setting ('auto' by default: src/core/cpu-runtime-plan.ts); ORT runs what
      // edgetier's CPU engine refuses (LoadInfo.fallback), an explicit choice of it included.
      const request: LoadRequest & { fallbackToOrt?: boolean; ortDtype?: Dtype } = {
        source,
        device,
        dtype,
        ...(entry.runs === 'device' ? { runtime: plan.runtime, fallbackToOrt: true } : {}),
      };
      if (entry.runs === 'device' && plan.ortDtype) request.ortDtype = plan.ortDtype;
      const info = await engine.load(request, (progress) => {
        if (token === this.#loadToken) this.set({ progress });
      });
      if (token !== this.#loadToken) return;
      this.set({
        status: 'ready',
        loadInfo: info,
        loadedKey: entry.key,
        progress: null,
        notice:
          [
            // Said at once only to a visitor who chose the CPU engine; under 'auto' the Models view says it.
            ...(info.fallback && info.runtimeChoice?.asked === 'edgetier'
              ? [
                  `edgetier's CPU engine could not run this model (${info.fallback.reason}) ONNX Runtime runs it instead.`,
                ]
              : []),
            ...(info.cacheNotes ?? []),
          ].join(' ') || null,
      });
      // From here on, a local conversation should make no request at all.
      if (entry.runs === 'device') this.network.reset();
      await this.refreshCached();
    } catch (error) {
      if (token !== this.#loadToken) return;
      // Nothing is loaded now, so the Model menu shows nothing chosen (it must agree with the badge);
      // choosing the same model again, or Retry, loads it again.
      this.set({
        status: 'error',
        error: messageOf(error),
        failedKey: entry.key,
        progress: null,
        loadedKey: null,
        selectedKey: null,
      });
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
      this.set({ status: 'idle', loadedKey: null, loadInfo: null, selectedKey: null, offeredKey: null });
      this.#recordChoice(''); // the visitor chose none: a later visit must not load it again
    }
    await engine.deleteCached(id);
    await this.refreshCached();
  }

  /**
   * The entry's files in the browser cache; with `dtype`, only where that format's model file is
   * among them (a model cached in q4f16 is still a download in q8).
   */
  isCached(entry: CatalogEntry, dtype?: Dtype): CachedModel | undefined {
    const cached = this.state.cached.find((c) => cachedIdMatches(entry, c.id));
    if (!cached || dtype === undefined || cached.dtypes === undefined) return cached;
    return cached.dtypes.includes(dtype) ? cached : undefined;
  }

  private rebuildCatalog(): void {
    const catalog = offerFirst(
      buildCatalog(
        BUILTIN_MODELS,
        this.state.serverEntries,
        entriesFromTiers(this.settings.settings.tiers, this.state.served),
      ),
      this.services.site?.offerFirst ?? [],
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
