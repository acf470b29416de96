/**
 * edgetier.config.json (src/core/site-config.ts): exact parses, refusals by name (an API key above
 * all), and the catalog order it asks for. `edgetier build` keeping and checking a presenter's file,
 * against real files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { offerFirst, parseSiteConfig, siteTierId, unknownModelError } from '../../src/core/site-config.ts';

const tier = { name: 'Hosted', baseUrl: 'https://api.example.com/v1', model: 'big-1' };

describe('parseSiteConfig', () => {
  it('fills the defaults of a minimal file', () => {
    expect(parseSiteConfig({ version: 1 })).toEqual({
      version: 1,
      offerFirst: [],
      defaultModel: null,
      tiers: [],
    });
  });

  it('keeps every documented field', () => {
    const config = parseSiteConfig({
      version: 1,
      about: 'notes',
      offerFirst: ['tiny', 'HuggingFaceTB/SmolLM2-135M-Instruct'],
      defaultModel: 'tiny',
      tiers: [
        { ...tier, priceInPerMTok: 0.15, priceOutPerMTok: 0.6 },
        { name: 'Proxy', baseUrl: '/v1', model: 'm' },
      ],
    });
    expect(config.tiers).toEqual([
      { ...tier, priceInPerMTok: 0.15, priceOutPerMTok: 0.6 },
      { name: 'Proxy', baseUrl: '/v1', model: 'm', priceInPerMTok: 0, priceOutPerMTok: 0 },
    ]);
    expect(config.about).toBe('notes');
  });

  it('refuses an API key by name, at the top or in a tier', () => {
    expect(() => parseSiteConfig({ version: 1, tiers: [{ ...tier, apiKey: 'sk-1' }] })).toThrow(
      'edgetier.config.json: tiers[0] has a "apiKey" field. This file is public: never put an API key in it.',
    );
    expect(() => parseSiteConfig({ version: 1, key: 'sk-1' })).toThrow('the file has a "key" field.');
    expect(() => parseSiteConfig({ version: 1, tiers: [{ ...tier, Authorization: 'Bearer x' }] })).toThrow(
      'tiers[0] has a "Authorization" field.',
    );
  });

  it('refuses unknown fields, bad URLs, prices and versions by name', () => {
    expect(() => parseSiteConfig({ version: 1, theme: 'dark' })).toThrow(
      'edgetier.config.json: the file has an unknown field "theme" (known: version, about, offerFirst, defaultModel, tiers).',
    );
    expect(() => parseSiteConfig({ version: 2 })).toThrow('"version" must be 1, got 2.');
    expect(() => parseSiteConfig({ version: 1, tiers: [{ ...tier, baseUrl: 'ftp://x/v1' }] })).toThrow(
      'tiers[0].baseUrl "ftp://x/v1" must use http or https.',
    );
    // Paths that a browser's URL parser turns into another host ("\\" is "/", tabs are dropped).
    for (const baseUrl of ['/\\evil.example/v1', '/\t/evil.example/v1'])
      expect(() => parseSiteConfig({ version: 1, tiers: [{ ...tier, baseUrl }] })).toThrow(
        `edgetier.config.json: tiers[0].baseUrl ${JSON.stringify(baseUrl)} is neither an http(s) URL nor a path on this host starting with "/".`,
      );
    expect(() => parseSiteConfig({ version: 1, tiers: [{ ...tier, baseUrl: 'https://u:p@x/v1' }] })).toThrow(
      'holds credentials',
    );
    expect(() => parseSiteConfig({ version: 1, tiers: [{ ...tier, priceInPerMTok: -1 }] })).toThrow(
      'tiers[0].priceInPerMTok must be a non-negative number',
    );
    expect(() => parseSiteConfig({ version: 1, tiers: [tier, tier] })).toThrow(
      'two tiers are named "Hosted"',
    );
    // Names that differ but give one id: the settings keep a visitor's key by that id, so the key
    // typed for one endpoint would be sent to the other.
    expect(() =>
      parseSiteConfig({
        version: 1,
        tiers: [tier, { ...tier, name: 'hosted!', baseUrl: 'https://other.example.net/v1' }],
      }),
    ).toThrow(
      'edgetier.config.json: tiers "Hosted" and "hosted!" would share the id "site-hosted" ' +
        "(a visitor's key for one would be sent to the other); rename one.",
    );
  });
});

describe('catalog order and names', () => {
  const catalog = [{ key: 'a/hub' }, { key: 'local:tiny' }, { key: 'local:small' }, { key: 'remote:x' }];

  it('moves the offered-first models to the front, in the config order, folders before Hub ids', () => {
    expect(offerFirst(catalog, ['small', 'a/hub']).map((e) => e.key)).toEqual([
      'local:small',
      'a/hub',
      'local:tiny',
      'remote:x',
    ]);
    expect(offerFirst(catalog, []).map((e) => e.key)).toEqual(catalog.map((e) => e.key));
  });

  it('names the first model the site does not offer', () => {
    const config = parseSiteConfig({ version: 1, offerFirst: ['tiny'], defaultModel: 'gone' });
    expect(unknownModelError(config, new Set(['tiny']))).toBe(
      'edgetier.config.json: defaultModel names "gone", which this site does not offer (offered: tiny).',
    );
  });

  it('gives tiers stable ids from their names', () => {
    expect(siteTierId({ ...tier, name: 'GPT-4o mini (hosted)', priceInPerMTok: 0, priceOutPerMTok: 0 })).toBe(
      'site-gpt-4o-mini-hosted',
    );
  });
});

describe('edgetier build keeps and checks a presenter-edited config', () => {
  const work = mkdtempSync(join(tmpdir(), 'edgetier-build-config-'));
  const bin = new URL('../../bin/edgetier.mjs', import.meta.url).pathname;
  const app = join(work, 'app');
  const out = join(work, 'site');
  mkdirSync(app);
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>t</title>');
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const build = () =>
    execFileSync(process.execPath, [bin, 'build', '--app', app, '--out', out], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('writes defaults, keeps an edited file, refuses a key without touching the site', () => {
    expect(build()).toContain('edgetier.config.json: written with the defaults');
    const edited = { version: 1, offerFirst: [], defaultModel: null, tiers: [tier] };
    writeFileSync(join(out, 'edgetier.config.json'), JSON.stringify(edited));
    expect(build()).toContain('edgetier.config.json: kept the one already there');
    expect(JSON.parse(readFileSync(join(out, 'edgetier.config.json'), 'utf8')).tiers[0].name).toBe('Hosted');

    const before = readFileSync(join(out, 'sw.js'), 'utf8');
    writeFileSync(
      join(out, 'edgetier.config.json'),
      JSON.stringify({ ...edited, tiers: [{ ...tier, apiKey: 'sk' }] }),
    );
    let stderr = '';
    try {
      build();
    } catch (error) {
      stderr = String((error as { stderr: string }).stderr);
    }
    expect(stderr).toContain('tiers[0] has a "apiKey" field. This file is public');
    expect(stderr).not.toContain('    at ');
    // The site that was there is still whole, and no staging folder is left behind.
    expect(readFileSync(join(out, 'sw.js'), 'utf8')).toBe(before);
    expect(existsSync(`${out}.tmp-${process.pid}`)).toBe(false);
  });
});
