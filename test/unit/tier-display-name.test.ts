/** The tier named by what it serves: a served id cannot reorder its name (option text has no isolation). */
import { describe, expect, it } from 'vitest';
import { entriesFromTiers, type RemoteTier } from '../../src/core/catalog.ts';

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
