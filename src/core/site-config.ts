/**
 * edgetier.config.json: what a presenter may change in a static build (`edgetier build`) after the
 * build, without rebuilding. Read by the build (to check it against the published models) and by
 * the page (served by any web host). Pure data and pure functions, shared by Node and the browser.
 *
 * Every field is checked; an unknown field is refused by name, and a field that looks like an API
 * key is refused with the reason: the file is public, a key in it would be published to everyone.
 */
import { EdgetierError } from './errors.ts';

export const SITE_CONFIG_FILE = 'edgetier.config.json';
export const SITE_CONFIG_VERSION = 1;

/** A remote OpenAI-compatible tier the page lists (never its key: visitors enter their own). */
export interface SiteTier {
  /** What a person reads in the model picker. */
  name: string;
  /**
   * Base URL up to and including /v1: an absolute http(s) URL called by the browser directly (the
   * endpoint must allow CORS), or a path on this host (e.g. "/v1") where a reverse proxy forwards
   * to `edgetier serve`, which keeps the key on the server.
   */
  baseUrl: string;
  /** The model id sent to that endpoint. */
  model: string;
  /** US dollars per million input tokens. Default 0. */
  priceInPerMTok: number;
  /** US dollars per million output tokens. Default 0. */
  priceOutPerMTok: number;
}

export interface SiteConfig {
  version: typeof SITE_CONFIG_VERSION;
  /** Free text for the presenter (where this file is documented); the page ignores it. */
  about?: string;
  /** Models listed first, in this order: a published folder's name or a Hub model id. */
  offerFirst: string[];
  /** The model the picker shows selected on a first visit (loaded when the visitor asks); null for none. */
  defaultModel: string | null;
  /** Remote tiers listed after the on-device models, in this order. Default: none. */
  tiers: SiteTier[];
}

const FIELDS = ['version', 'about', 'offerFirst', 'defaultModel', 'tiers'] as const;
const TIER_FIELDS = ['name', 'baseUrl', 'model', 'priceInPerMTok', 'priceOutPerMTok'] as const;
/** Field names that would carry a secret: refused, never silently dropped. */
const SECRET_FIELD = /^(api[-_]?key|key|token|secret|password|authori[sz]ation|bearer)$/i;

const bad = (message: string) => new EdgetierError('bad_request', `${SITE_CONFIG_FILE}: ${message}`);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkFields(where: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const name of Object.keys(value)) {
    if (SECRET_FIELD.test(name)) {
      throw bad(
        `${where} has a "${name}" field. This file is public: never put an API key in it. Visitors enter ` +
          'their own key in Settings, or point baseUrl at `edgetier serve`, which keeps the key on the server.',
      );
    }
    if (!known.includes(name)) {
      throw bad(`${where} has an unknown field "${name}" (known: ${known.join(', ')}).`);
    }
  }
}

/** An absolute http(s) URL, or a path on this host starting with "/". */
function checkBaseUrl(where: string, url: string): void {
  const neither = () =>
    bad(
      `${where}.baseUrl ${JSON.stringify(url)} is neither an http(s) URL nor a path on this host starting with "/".`,
    );
  if (url.startsWith('/')) {
    // Resolved as the page will: a browser reads "/\\x" or "/<tab>/x" as "//x", another host.
    const host = 'site.invalid';
    if (new URL(url, `https://${host}/`).host !== host) throw neither();
    return;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw neither();
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw bad(`${where}.baseUrl "${url}" must use http or https.`);
  if (parsed.username || parsed.password)
    throw bad(`${where}.baseUrl "${url}" holds credentials; never publish them.`);
}

function price(where: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw bad(`${where} must be a non-negative number of US dollars per million tokens.`);
  return value;
}

function parseTier(value: unknown, index: number): SiteTier {
  const where = `tiers[${index}]`;
  if (!isObject(value)) throw bad(`${where} must be an object.`);
  checkFields(where, value, TIER_FIELDS);
  for (const field of ['name', 'baseUrl', 'model'] as const) {
    if (typeof value[field] !== 'string' || (value[field] as string).trim() === '')
      throw bad(`${where}.${field} must be a non-empty string.`);
  }
  const tier: SiteTier = {
    name: value.name as string,
    baseUrl: value.baseUrl as string,
    model: value.model as string,
    priceInPerMTok: price(`${where}.priceInPerMTok`, value.priceInPerMTok),
    priceOutPerMTok: price(`${where}.priceOutPerMTok`, value.priceOutPerMTok),
  };
  checkBaseUrl(where, tier.baseUrl);
  return tier;
}

/** Checks a parsed edgetier.config.json; throws a one-line error naming the field otherwise. */
export function parseSiteConfig(value: unknown): SiteConfig {
  if (!isObject(value)) throw bad('must hold a JSON object.');
  checkFields('the file', value, FIELDS);
  if (value.version !== SITE_CONFIG_VERSION)
    throw bad(`"version" must be ${SITE_CONFIG_VERSION}, got ${JSON.stringify(value.version)}.`);
  if (value.about !== undefined && typeof value.about !== 'string') throw bad('"about" must be a string.');
  const offerFirst = value.offerFirst ?? [];
  if (!Array.isArray(offerFirst) || offerFirst.some((m) => typeof m !== 'string' || m === ''))
    throw bad('"offerFirst" must be a list of model names.');
  const defaultModel = value.defaultModel ?? null;
  if (defaultModel !== null && (typeof defaultModel !== 'string' || defaultModel === ''))
    throw bad('"defaultModel" must be a model name or null.');
  const tiers = value.tiers ?? [];
  if (!Array.isArray(tiers)) throw bad('"tiers" must be a list.');
  const config: SiteConfig = {
    version: SITE_CONFIG_VERSION,
    offerFirst: offerFirst as string[],
    defaultModel: defaultModel as string | null,
    tiers: tiers.map(parseTier),
  };
  if (typeof value.about === 'string') config.about = value.about;
  const names = new Set<string>();
  const ids = new Map<string, string>();
  for (const tier of config.tiers) {
    if (names.has(tier.name)) throw bad(`two tiers are named "${tier.name}"; names must differ.`);
    names.add(tier.name);
    // Settings keep a visitor's key by tier id: two tiers of one id would share it.
    const id = siteTierId(tier);
    const same = ids.get(id);
    if (same !== undefined) {
      throw bad(
        `tiers "${same}" and "${tier.name}" would share the id "${id}" ` +
          "(a visitor's key for one would be sent to the other); rename one.",
      );
    }
    ids.set(id, tier.name);
  }
  return config;
}

/**
 * Checks that every model the config names is one the page can offer: a published folder or a
 * known Hub id. Returns the first unknown name's error, or null.
 */
export function unknownModelError(config: SiteConfig, known: ReadonlySet<string>): string | null {
  const unknown = firstUnknownModel(config, known);
  return unknown
    ? `${SITE_CONFIG_FILE}: ${unknown.field} names "${unknown.name}", which this site does not offer (offered: ${[...known].join(', ')}).`
    : null;
}

/** The first model the config names that is not in `known`, with the field naming it. */
export function firstUnknownModel(
  config: SiteConfig,
  known: ReadonlySet<string>,
): { field: 'offerFirst' | 'defaultModel'; name: string } | null {
  for (const [field, name] of [
    ...config.offerFirst.map((m) => ['offerFirst', m] as const),
    ...(config.defaultModel ? [['defaultModel', config.defaultModel] as const] : []),
  ]) {
    if (!known.has(name)) return { field, name };
  }
  return null;
}

/** The catalog key a config name stands for: a published folder (`local:<name>`) before a Hub id. */
export function catalogKeyFor(name: string, keys: ReadonlySet<string>): string | null {
  if (keys.has(`local:${name}`)) return `local:${name}`;
  return keys.has(name) ? name : null;
}

/** The catalog with the config's `offerFirst` models moved to the front, in the config's order. */
export function offerFirst<T extends { key: string }>(catalog: readonly T[], names: readonly string[]): T[] {
  const keys = new Set(catalog.map((e) => e.key));
  const first = names.map((n) => catalogKeyFor(n, keys)).filter((k): k is string => k !== null);
  const picked = first.map((k) => catalog.find((e) => e.key === k)!);
  return [...new Set(picked), ...catalog.filter((e) => !first.includes(e.key))];
}

/** What every configured tier's id starts with. */
export const SITE_TIER_PREFIX = 'site-';

/** A stable id for a configured tier, from its name. */
export function siteTierId(tier: SiteTier): string {
  return `${SITE_TIER_PREFIX}${tier.name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')}`;
}
