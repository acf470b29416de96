import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, SettingsStore } from '../../src/app/state/settings-store.ts';

/** A real Storage-shaped map (the browser's localStorage contract), to see what would persist. */
class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  clear() {
    this.items.clear();
  }
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  key(index: number) {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  dump() {
    return Object.fromEntries(this.items);
  }
}

const tier = { ...DEFAULT_SETTINGS.tiers[0]!, baseUrl: 'https://api.example/v1', model: 'big' };

describe('settings store', () => {
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
});
