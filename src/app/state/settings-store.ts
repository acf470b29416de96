/**
 * Settings: remote tiers, sampling defaults, backend override. Saved in localStorage, except API
 * keys: a key lives only in this tab's memory unless the person ticks "remember" for that tier.
 */
import type { RemoteTier } from '../../core/catalog.ts';
import { type CpuRuntimeChoice, isCpuRuntimeChoice, type SamplingOptions } from '../../core/engine.ts';
import { SITE_TIER_PREFIX } from '../../core/site-config.ts';
import { Store } from './store.ts';

export type BackendOverride = 'auto' | 'webgpu' | 'wasm';

export interface TierSettings extends RemoteTier {
  /** Keep the key in localStorage (otherwise it is forgotten when the tab closes). */
  rememberKey: boolean;
}

export interface Settings {
  tiers: TierSettings[];
  sampling: Required<Pick<SamplingOptions, 'temperature' | 'topP' | 'maxNewTokens'>>;
  backend: BackendOverride;
  /**
   * What runs a model on WASM (CPU): 'auto' (the measured choice, src/core/cpu-runtime-plan.ts), ONNX
   * Runtime, or edgetier's own CPU engine (a model or browser it cannot run falls back to ONNX
   * Runtime, and the app says why).
   */
  cpuEngine: CpuRuntimeChoice;
  /** Qwen3-style models: let the model think before answering. */
  enableThinking: boolean;
  /** Which tier Compare uses. */
  compareTierId: string;
}

export const DEFAULT_SETTINGS: Settings = {
  tiers: [
    {
      id: 'server',
      // Named by what it serves once the server says (tierDisplayName): it may serve a small twin.
      name: 'This server',
      baseUrl: '',
      model: '',
      priceInPerMTok: 0.15,
      priceOutPerMTok: 0.6,
      rememberKey: false,
    },
  ],
  // Chat samples, so Regenerate gives a new answer; benchmarks and exactness tests set 0 (greedy).
  sampling: { temperature: 0.7, topP: 1, maxNewTokens: 256 },
  backend: 'auto',
  cpuEngine: 'auto',
  enableThinking: true,
  compareTierId: 'server',
};

/** The server tier's name before it was named by what it serves: a saved copy of it is renamed. */
const OLD_SERVER_TIER_NAME = 'Full-scale tier (this server)';

const STORAGE_KEY = 'edgetier.settings.v1';
/**
 * Saved with the settings from the release that made 'auto' the CPU engine's default. Before it,
 * every save wrote the whole settings, the old default `cpuEngine: 'onnxruntime'` included, so a
 * saved 'onnxruntime' without this mark is most likely that implicit default: it becomes 'auto'.
 * 'edgetier', never a default, was chosen and is kept.
 */
const CPU_ENGINE_AUTO_MARK = 'cpuEngineAuto';
const KEYS_STORAGE_KEY = 'edgetier.keys.v1';

interface SettingsState {
  settings: Settings;
  /** Tier id → API key, in memory. */
  keys: Record<string, string>;
}

export class SettingsStore extends Store<SettingsState> {
  /**
   * `defaults`: what a first visit gets (a static build's config replaces the server tier).
   * `siteTiers`: a static build's configured tiers, which always come from its current config: they
   * replace every saved `site-` tier (an older config's, or a sibling site's on the same origin, since
   * localStorage is per origin), so a tier the presenter retired is never called again. Tiers the
   * visitor added are kept.
   */
  constructor(
    private readonly storage: Storage | null = globalThis.localStorage ?? null,
    private readonly defaults: Settings = DEFAULT_SETTINGS,
    private readonly siteTiers: readonly TierSettings[] | null = null,
  ) {
    super({ settings: defaults, keys: {} });
    this.restore();
  }

  get settings(): Settings {
    return this.state.settings;
  }

  keyFor(tierId: string): string | null {
    return this.state.keys[tierId] || null;
  }

  update(patch: Partial<Settings>): void {
    this.set({ settings: { ...this.state.settings, ...patch } });
    this.save();
  }

  upsertTier(tier: TierSettings, key?: string): void {
    const tiers = this.state.settings.tiers.filter((t) => t.id !== tier.id);
    const index = this.state.settings.tiers.findIndex((t) => t.id === tier.id);
    tiers.splice(index < 0 ? tiers.length : index, 0, tier);
    const keys = { ...this.state.keys };
    if (key !== undefined) {
      if (key) keys[tier.id] = key;
      else delete keys[tier.id];
    }
    this.set({ settings: { ...this.state.settings, tiers }, keys });
    this.save();
  }

  removeTier(id: string): void {
    const keys = { ...this.state.keys };
    delete keys[id];
    this.set({
      settings: { ...this.state.settings, tiers: this.state.settings.tiers.filter((t) => t.id !== id) },
      keys,
    });
    this.save();
  }

  private save(): void {
    if (!this.storage) return;
    this.storage.setItem(
      STORAGE_KEY,
      JSON.stringify({ ...this.state.settings, [CPU_ENGINE_AUTO_MARK]: true }),
    );
    const remembered: Record<string, string> = {};
    for (const t of this.state.settings.tiers) {
      const key = this.state.keys[t.id];
      if (t.rememberKey && key) remembered[t.id] = key;
    }
    if (Object.keys(remembered).length > 0)
      this.storage.setItem(KEYS_STORAGE_KEY, JSON.stringify(remembered));
    else this.storage.removeItem(KEYS_STORAGE_KEY);
  }

  private restore(): void {
    if (!this.storage) return;
    try {
      const raw = this.storage.getItem(STORAGE_KEY);
      const { [CPU_ENGINE_AUTO_MARK]: marked, ...saved } = (
        raw ? JSON.parse(raw) : {}
      ) as Partial<Settings> & {
        [CPU_ENGINE_AUTO_MARK]?: boolean;
      };
      if (!marked && saved.cpuEngine === 'onnxruntime') saved.cpuEngine = 'auto';
      // A value the app does not know (edited storage, a later release's runtime) would make every
      // load refuse it (planCpuRuntime): the default is read instead.
      if (saved.cpuEngine !== undefined && !isCpuRuntimeChoice(String(saved.cpuEngine)))
        delete saved.cpuEngine;
      const keysRaw = this.storage.getItem(KEYS_STORAGE_KEY);
      const keys = keysRaw ? (JSON.parse(keysRaw) as Record<string, string>) : {};
      const settings: Settings = {
        ...this.defaults,
        ...saved,
        sampling: { ...this.defaults.sampling, ...saved.sampling },
      };
      settings.tiers = settings.tiers.map((t) =>
        t.id === 'server' && t.name === OLD_SERVER_TIER_NAME ? { ...t, name: 'This server' } : t,
      );
      if (this.siteTiers) {
        settings.tiers = [
          ...this.siteTiers,
          ...settings.tiers.filter((t) => !t.id.startsWith(SITE_TIER_PREFIX)),
        ];
        if (!settings.tiers.some((t) => t.id === settings.compareTierId))
          settings.compareTierId = settings.tiers[0]?.id ?? '';
      }
      this.set({ settings, keys });
    } catch {
      // Corrupt storage: start from the defaults rather than fail to open the app.
    }
  }
}
