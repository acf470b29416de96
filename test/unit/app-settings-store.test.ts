import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, SettingsStore } from '../../src/app/state/settings-store.ts';
import { parseSiteConfig, siteTierId } from '../../src/core/site-config.ts';
import { MemoryStorage } from '../helpers/memory-storage.ts';

const tier = { ...DEFAULT_SETTINGS.tiers[0]!, baseUrl: 'https://api.example/v1', model: 'big' };

describe('settings store', () => {
  it("names the server's tier by place, not as full-scale, and renames a saved copy of the old default", () => {
    expect(DEFAULT_SETTINGS.tiers[0]!.name).toBe('This server');
    const storage = new MemoryStorage();
    const old = {
      ...DEFAULT_SETTINGS,
      tiers: [{ ...DEFAULT_SETTINGS.tiers[0]!, name: 'Full-scale tier (this server)' }],
    };
    storage.setItem('edgetier.settings.v1', JSON.stringify(old));
    expect(new SettingsStore(storage).settings.tiers[0]!.name).toBe('This server');
    // A name the visitor gave it is theirs.
    storage.setItem(
      'edgetier.settings.v1',
      JSON.stringify({ ...old, tiers: [{ ...old.tiers[0]!, name: 'My big model' }] }),
    );
    expect(new SettingsStore(storage).settings.tiers[0]!.name).toBe('My big model');
  });

  it('keeps an API key in memory only, unless remember is ticked', () => {
    const storage = new MemoryStorage();
    const store = new SettingsStore(storage);
    store.upsertTier({ ...tier, rememberKey: false }, 'sk-secret-1');
    expect(store.keyFor(tier.id)).toBe('sk-secret-1');
    expect(JSON.stringify(storage.dump())).not.toContain('sk-secret-1');
    expect(new SettingsStore(storage).keyFor(tier.id)).toBeNull();

    store.upsertTier({ ...tier, rememberKey: true }, 'sk-secret-1');
    expect(storage.getItem('edgetier.keys.v1')).toBe('{"server":"sk-secret-1"}');
    expect(new SettingsStore(storage).keyFor(tier.id)).toBe('sk-secret-1');

    // Unticking forgets it on disk at once; the open tab still holds it.
    store.upsertTier({ ...tier, rememberKey: false });
    expect(storage.getItem('edgetier.keys.v1')).toBeNull();
    expect(store.keyFor(tier.id)).toBe('sk-secret-1');
  });

  it('saves tiers and sampling, and survives corrupt storage', () => {
    const storage = new MemoryStorage();
    const store = new SettingsStore(storage);
    store.upsertTier({ ...tier, id: 'deep', name: 'Deep', rememberKey: false });
    store.update({ sampling: { ...DEFAULT_SETTINGS.sampling, maxNewTokens: 99 } });
    const again = new SettingsStore(storage);
    expect(again.settings.tiers.map((t) => t.id)).toEqual(['server', 'deep']);
    expect(again.settings.sampling.maxNewTokens).toBe(99);
    store.removeTier('deep');
    expect(new SettingsStore(storage).settings.tiers.map((t) => t.id)).toEqual(['server']);

    storage.setItem('edgetier.settings.v1', '{not json');
    expect(new SettingsStore(storage).settings).toEqual(DEFAULT_SETTINGS);
  });

  it("takes a static site's tiers from its current config, keeping the visitor's own", () => {
    const storage = new MemoryStorage();
    const siteStore = (tiers: unknown[]) => {
      // What src/app/services/site-config.ts settingsForSite gives the app shell (a DOM module).
      const siteTiers = parseSiteConfig({ version: 1, tiers }).tiers.map((t) => ({
        ...t,
        id: siteTierId(t),
        rememberKey: false,
      }));
      const defaults = { ...DEFAULT_SETTINGS, tiers: siteTiers, compareTierId: siteTiers[0]?.id ?? '' };
      return new SettingsStore(storage, defaults, siteTiers);
    };
    // A returning visitor who changed a setting under the presenter's first config, and added a tier.
    const first = siteStore([{ name: 'Old host', baseUrl: 'https://old.example/v1', model: 'm' }]);
    first.upsertTier({ ...tier, id: 'mine', name: 'Mine', rememberKey: false });
    first.update({ sampling: { ...DEFAULT_SETTINGS.sampling, maxNewTokens: 99 } });
    expect(first.settings.compareTierId).toBe('site-old-host');
    // The presenter retires that endpoint (or a sibling site on the origin lists others).
    const next = siteStore([{ name: 'New host', baseUrl: 'https://new.example/v1', model: 'm' }]);
    expect(next.settings.tiers.map((t) => [t.id, t.baseUrl])).toEqual([
      ['site-new-host', 'https://new.example/v1'],
      ['mine', 'https://api.example/v1'],
    ]);
    expect(next.settings.compareTierId).toBe('site-new-host');
    expect(next.settings.sampling.maxNewTokens).toBe(99);
  });
});

describe('the CPU engine setting', () => {
  it("defaults to auto, and a saved 'onnxruntime' from before auto (the old default, saved with every change) becomes auto", () => {
    expect(new SettingsStore(new MemoryStorage()).settings.cpuEngine).toBe('auto');
    // What the release before 'auto' saved after the visitor only changed the temperature.
    const before = new MemoryStorage();
    before.setItem(
      'edgetier.settings.v1',
      JSON.stringify({
        ...DEFAULT_SETTINGS,
        cpuEngine: 'onnxruntime',
        sampling: { ...DEFAULT_SETTINGS.sampling, temperature: 0 },
      }),
    );
    const migrated = new SettingsStore(before);
    expect(migrated.settings.cpuEngine).toBe('auto');
    expect(migrated.settings.sampling.temperature).toBe(0);
    // An explicit choice of the CPU engine (never a default) is kept.
    const chose = new MemoryStorage();
    chose.setItem('edgetier.settings.v1', JSON.stringify({ ...DEFAULT_SETTINGS, cpuEngine: 'edgetier' }));
    expect(new SettingsStore(chose).settings.cpuEngine).toBe('edgetier');
  });

  it('keeps ONNX Runtime chosen after auto became the default, across reloads', () => {
    const storage = new MemoryStorage();
    new SettingsStore(storage).update({ cpuEngine: 'onnxruntime' });
    expect(new SettingsStore(storage).settings.cpuEngine).toBe('onnxruntime');
    // The mark is storage only: the settings the app reads have no such field.
    expect(Object.keys(new SettingsStore(storage).settings)).not.toContain('cpuEngineAuto');
    new SettingsStore(storage).update({ cpuEngine: 'auto' });
    expect(new SettingsStore(storage).settings.cpuEngine).toBe('auto');
  });
});

describe('a saved CPU engine the app does not know', () => {
  it.each([['tvm'], [null], [42], ['ONNXRUNTIME']])(
    'cpuEngine %j is read as auto, the other settings kept (every load would otherwise be refused)',
    (bogus) => {
      const storage = new MemoryStorage();
      storage.setItem(
        'edgetier.settings.v1',
        JSON.stringify({
          ...DEFAULT_SETTINGS,
          cpuEngine: bogus,
          cpuEngineAuto: true,
          sampling: { ...DEFAULT_SETTINGS.sampling, temperature: 0 },
        }),
      );
      const store = new SettingsStore(storage);
      expect(store.settings.cpuEngine).toBe('auto');
      expect(store.settings.sampling.temperature).toBe(0);
    },
  );
});
