/**
 * What a first visit starts with: the server's own model folder, never a Hub model (that download
 * waits for the visitor's choice). The browser side of it is test/browser/app-first-visit.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_MODELS,
  buildCatalog,
  type DeviceBudget,
  entriesFromServer,
  entriesFromTiers,
  firstVisitChoice,
} from '../../src/core/catalog.ts';

const wasmOnly: DeviceBudget = { webgpu: false, shaderF16: false, deviceMemoryGiB: 8, maxBufferBytes: null };
const tiers = entriesFromTiers([
  { id: 'server', name: 'Tier', baseUrl: '', model: 'm', priceInPerMTok: 0, priceOutPerMTok: 0 },
]);
const folder = (name: string, params: number, fp32Bytes: number) => ({
  name,
  synthetic: true,
  params,
  dtypes: { fp32: fp32Bytes },
});

describe('first visit', () => {
  it("starts with the server's model folder when the catalog picks it for a newcomer", () => {
    const server = entriesFromServer([folder('tiny', 1e5, 400_000), folder('big', 2e9, 8e9)]);
    expect(firstVisitChoice(buildCatalog(BUILTIN_MODELS, server, tiers), wasmOnly)?.key).toBe('local:tiny');
  });

  it('starts with no model when the server holds none: a Hub model is never chosen for the visitor', () => {
    expect(firstVisitChoice(buildCatalog(BUILTIN_MODELS, [], tiers), wasmOnly)).toBeNull();
  });

  it('starts with no model when the only folder does not fit this device', () => {
    const server = entriesFromServer([folder('big', 8e9, 32e9)]);
    expect(firstVisitChoice(buildCatalog(BUILTIN_MODELS, server, tiers), wasmOnly)).toBeNull();
  });

  // A phone that reports 0.5 GiB: no Hub model fits either, and the newcomer entry falls back to the
  // catalog's first device entry, the server's 30 GiB folder. It must not be loaded by itself.
  it('starts with no model on a small device where nothing fits, however the catalog falls back', () => {
    const phone: DeviceBudget = { ...wasmOnly, deviceMemoryGiB: 0.5 };
    const big = entriesFromServer([folder('big', 8e9, 32e9)]);
    expect(firstVisitChoice(buildCatalog(BUILTIN_MODELS, big, tiers), phone)).toBeNull();
    // Size unknown (no dtype sizes in the server's list): "may not fit" is not "fits".
    const unknown = entriesFromServer([{ name: 'nosize' }]);
    expect(firstVisitChoice(buildCatalog(BUILTIN_MODELS, unknown, tiers), phone)).toBeNull();
  });

  // A folder whose architecture the server cannot read has no parameter count, so the catalog sorts it
  // first; a newcomer still gets the smallest folder that fits, not a 3 GB unknown one.
  it('starts with the smallest folder that fits, whatever the catalog order', () => {
    const unknownArchitecture = { name: 'unknown-arch', dtypes: { fp32: 3e9 } };
    const server = entriesFromServer([folder('tiny', 1e5, 400_000), unknownArchitecture]);
    const catalog = buildCatalog(BUILTIN_MODELS, server, tiers);
    expect(catalog[0]?.key).toBe('local:unknown-arch');
    expect(firstVisitChoice(catalog, wasmOnly)?.key).toBe('local:tiny');
  });

  // Safari and Firefox (every iPhone) hide navigator.deviceMemory. Without the visitor's say, a first
  // visit then assumes a low-end phone (2 GiB): a 3 GB folder waits for their choice; a small one loads.
  it('on a browser that hides its memory, starts only with a folder that fits a 2 GiB phone', () => {
    const hidden: DeviceBudget = { ...wasmOnly, deviceMemoryGiB: null };
    const large = entriesFromServer([{ name: 'large', params: 3e9, dtypes: { q8: 3.3e9 } }]);
    expect(firstVisitChoice(buildCatalog(BUILTIN_MODELS, large, tiers), hidden)).toBeNull();
    const small = entriesFromServer([{ name: 'small', params: 1.35e8, dtypes: { q8: 1.6e8 } }]);
    expect(firstVisitChoice(buildCatalog(BUILTIN_MODELS, small, tiers), hidden)?.key).toBe('local:small');
  });
});
