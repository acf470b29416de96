/**
 * The page's side of a static build (`edgetier build`): reads edgetier.config.json, and starts the
 * site's service worker (sw.js, from src/site/service-worker.js), which makes the page cross-origin
 * isolated on hosts that send no COOP/COEP and keeps it working offline.
 *
 * Under `edgetier serve` (or Vite) there is no config file: nothing here runs, and the app keeps
 * using its server's /v1 tier as before.
 *
 * Isolation, in order: the host's own headers (nothing to do); else the service worker, which adds
 * the headers to every response it serves, once it controls the page, hence one reload on the
 * first visit; else (no service worker: a private window, a browser setting) one WASM thread, and a
 * notice that says so.
 */

import { BUILTIN_MODELS } from '../../core/catalog.ts';
import { EdgetierError } from '../../core/errors.ts';
import {
  firstUnknownModel,
  parseSiteConfig,
  SITE_CONFIG_FILE,
  type SiteConfig,
  siteTierId,
} from '../../core/site-config.ts';
import type { Settings } from '../state/settings-store.ts';

/**
 * Set before the one isolation reload, so a worker that cannot isolate never causes a reload loop.
 * Per site folder: sessionStorage is per tab and origin, and another site under a sibling path of
 * the origin (GitHub Pages project sites) must not have used up this one's reload.
 */
const reloadFlag = () => `edgetier.isolation-reload ${new URL('.', document.baseURI).pathname}`;
/** How long the first visit waits for the new service worker to take control. */
const CONTROL_TIMEOUT_MS = 10_000;

export interface StaticSite {
  config: SiteConfig;
  /** Why the page runs one WASM thread, or null when it is cross-origin isolated. */
  singleThreadReason: string | null;
}

/**
 * A static site's first-visit settings: its configured tiers replace the server tier (a static host
 * has no /v1 of its own); Compare uses the first of them.
 */
export function settingsForSite(config: SiteConfig, defaults: Settings): Settings {
  const tiers = config.tiers.map((t) => ({ ...t, id: siteTierId(t), rememberKey: false }));
  return { ...defaults, tiers, compareTierId: tiers[0]?.id ?? '' };
}

/** The config of a static build, null when the page is not one; a broken file throws, naming the field. */
export async function fetchSiteConfig(): Promise<SiteConfig | null> {
  let response: Response;
  try {
    response = await fetch(new URL(SITE_CONFIG_FILE, document.baseURI), { cache: 'no-cache' });
  } catch {
    return null;
  }
  if (!response.ok || !response.headers.get('content-type')?.includes('json')) return null;
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new EdgetierError('bad_request', `${SITE_CONFIG_FILE} is not valid JSON.`);
  }
  return parseSiteConfig(body);
}

/** What a config may name: the site's published folders and the built-in Hub models; null unknown. */
async function offeredModels(): Promise<Set<string> | null> {
  try {
    const response = await fetch(new URL('models/index.json', document.baseURI));
    const body = (await response.json()) as { models?: { name: string }[] };
    return new Set([...BUILTIN_MODELS.map((m) => m.key), ...(body.models ?? []).map((m) => m.name)]);
  } catch {
    return null; // no index to check against (offline before it was cached): no false alarm
  }
}

function until<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([promise, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);
}

function isolationReload(): void {
  sessionStorage.setItem(reloadFlag(), '1');
  location.reload();
}

/**
 * Registers sw.js and waits until it controls the page. Returns null when the page is (or becomes)
 * isolated, else the reason it runs one thread. May reload the page once (the promise then never
 * settles), the first time the service worker makes isolation possible.
 */
async function startServiceWorker(): Promise<string | null> {
  if (!('serviceWorker' in navigator)) {
    return crossOriginIsolated ? null : 'this browser offers no service worker here (a private window?)';
  }
  const container = navigator.serviceWorker;
  try {
    await container.register(new URL('sw.js', document.baseURI), { updateViaCache: 'none' });
  } catch (error) {
    if (crossOriginIsolated) return null;
    return `the service worker could not start (${error instanceof Error ? error.message : String(error)})`;
  }
  // The first visit: the worker claims this page once it has cached the shell.
  let previous = container.controller;
  if (!previous) {
    await until(
      new Promise((r) => container.addEventListener('controllerchange', r, { once: true })),
      CONTROL_TIMEOUT_MS,
    );
    previous = container.controller;
  }
  container.addEventListener('controllerchange', () => {
    const first = previous === null;
    previous = container.controller;
    // Later, a change of controller is a new deployment taking over: reload into it, so the page
    // never runs one version's code against another version's files.
    if (!first) location.reload();
    // A first claim that came after the wait above: reload only if it brings isolation.
    else if (!crossOriginIsolated && sessionStorage.getItem(reloadFlag()) === null) isolationReload();
  });
  if (crossOriginIsolated) {
    sessionStorage.removeItem(reloadFlag());
    return null;
  }
  if (container.controller && sessionStorage.getItem(reloadFlag()) === null) {
    isolationReload();
    return new Promise(() => {});
  }
  return container.controller
    ? 'the host sends no COOP/COEP headers and the service worker could not add them'
    : 'the service worker did not take control of the page';
}

/** A line at the top of the page, outside the app's components (it exists before they do). */
export function showSiteNotice(text: string): void {
  const notice = document.createElement('p');
  notice.setAttribute('role', 'status');
  notice.dataset.testid = 'site-notice';
  notice.textContent = text;
  Object.assign(notice.style, {
    margin: '0',
    padding: '0.4rem 1rem',
    background: 'var(--warn-bg)',
    color: 'var(--warn-text)',
    fontSize: '0.9rem',
  });
  document.body.prepend(notice);
}

/**
 * Everything a static build needs before the app starts; null when the page is not a static build.
 * A broken config is shown to the visitor (and the app starts without it) rather than hidden.
 */
export async function prepareStaticSite(): Promise<StaticSite | null> {
  let config: SiteConfig | null;
  try {
    config = await fetchSiteConfig();
  } catch (error) {
    showSiteNotice(`${error instanceof Error ? error.message : String(error)} The page uses its defaults.`);
    return null;
  }
  if (!config) return null;
  const singleThreadReason = await startServiceWorker();
  // The build checked the names; an edit made since is checked here, and said, not skipped in silence.
  const offered = await offeredModels();
  const unknown = offered && firstUnknownModel(config, offered);
  if (unknown) {
    showSiteNotice(
      `${SITE_CONFIG_FILE}: ${unknown.field} names "${unknown.name}", which this site does not offer; the page leaves it out.`,
    );
  }
  if (singleThreadReason) {
    showSiteNotice(`Running on one thread, so more slowly: ${singleThreadReason}.`);
  }
  return { config, singleThreadReason };
}
