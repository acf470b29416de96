/**
 * The tier named by what it serves: an answer to an earlier question (the tier as it was before the
 * visitor changed it) must not name the tier as it is now, and a served id cannot reorder its name.
 */
import { describe, expect, it } from 'vitest';
import type { AppServices } from '../../src/app/services.ts';
import { AppState } from '../../src/app/state/app-state.ts';
import { SettingsStore } from '../../src/app/state/settings-store.ts';
import type { RemoteTier, ServedModel } from '../../src/core/catalog.ts';
import { entriesFromTiers } from '../../src/core/catalog.ts';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('AppState.describeTiers', () => {
  it("ignores a slow answer about the tier's previous settings", async () => {
    const settings = new SettingsStore(null);
    const asked: { tier: RemoteTier; answer: ReturnType<typeof deferred<ServedModel | null>> }[] = [];
    const services = {
      describeTier: (tier: RemoteTier) => {
        const answer = deferred<ServedModel | null>();
        asked.push({ tier, answer });
        return answer.promise;
      },
    } as unknown as AppServices;
    const app = new AppState(services, settings, null);
    const first = app.describeTiers();
    expect(asked.map((a) => a.tier.model)).toEqual(['']);
    // The visitor points the tier at another model while the server is slow to say what it serves.
    const server = settings.settings.tiers.find((t) => t.id === 'server')!;
    settings.upsertTier({ ...server, model: 'chosen' });
    const second = app.describeTiers();
    expect(asked.map((a) => a.tier.model)).toEqual(['', 'chosen']);
    asked[1]!.answer.resolve({ id: 'chosen', synthetic: false });
    await second;
    asked[0]!.answer.resolve({ id: 'old-default-twin', synthetic: true });
    await first;
    const entry = app.state.catalog.find((e) => e.key === 'remote:server')!;
    expect(app.state.served['remote:server']).toEqual({ id: 'chosen', synthetic: false });
    expect(entry.name).toBe('This server: chosen');
    expect(entry.synthetic).toBe(false);
  });
});

describe('entriesFromTiers', () => {
  it("keeps a served id's bidi controls out of the tier's name and note", () => {
    const tier: RemoteTier = {
      id: 'server',
      name: 'This server',
      baseUrl: '',
      model: '',
      priceInPerMTok: 0,
      priceOutPerMTok: 0,
    } as RemoteTier;
    const [entry] = entriesFromTiers([tier], {
      'remote:server': { id: 'evil\u202Eniwt\u2066x\u200F\u061C', synthetic: true },
    });
    // An option's text cannot be isolated: a right-to-left override would reverse what follows
    // it (Compare appends " · synthetic twin (random weights)").
    expect(entry!.name).toBe('This server: evilniwtx');
    expect(entry!.note).not.toMatch(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/);
  });
});
