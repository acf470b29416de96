/**
 * The static site's service worker (`edgetier build` writes it as sw.js, after a line that defines
 * BUILD: { id, precache, lazy }). It does two jobs:
 *
 * 1. Cross-origin isolation on hosts that cannot send COOP/COEP (the coi-serviceworker technique):
 *    every same-origin response it hands out carries COOP `same-origin` + COEP `require-corp`, so once
 *    this worker controls the page (after one reload, done by src/app/services/site-config.ts),
 *    `crossOriginIsolated` is true and ORT can run WASM threads. Hosts that send the headers need
 *    none of this.
 * 2. Offline after the first visit: the app shell (BUILD.precache) is cached at install and served
 *    cache-first (the CPU engine's few-KB kernels .wasm included); ORT's .wasm files (BUILD.lazy, 14-27 MB
 *    each) are cached when first used. Models are
 *    NOT handled here: they stay in edgetier's own model cache (workers/model-files.ts).
 *    edgetier.config.json and models/index.json are network-first, so a presenter's edit shows
 *    at once, with the cached copy offline.
 *
 * A site taken off its host (edgetier.config.json answers 404) unregisters this worker and drops
 * its caches, so visitors then get the host's answer instead of the cached app forever.
 *
 * Versions: the cache is named after BUILD.id (a hash of the shell) and the scope, so two
 * deployments never share a cache, and two sites on one origin never delete each other's. A new sw.js installs the new shell completely before taking over (skipWaiting), then
 * deletes every other version's cache; the page reloads once when its controller changes, so a
 * visitor never runs a mix of two versions.
 */
const SCOPE = self.registration.scope;
// Named after the scope too: sites under sub-paths of one origin (GitHub Pages project sites) share
// one CacheStorage, and each must delete only its own older versions.
const CACHE = `edgetier-site-${BUILD.id} ${SCOPE}`;
const OWN = (name) => name.startsWith('edgetier-site-') && name.endsWith(` ${SCOPE}`);
const NETWORK_FIRST = new Set(['edgetier.config.json', 'models/index.json']);
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // `reload` skips the HTTP cache: a stale file from the previous deployment must not slip in.
      await cache.addAll(BUILD.precache.map((path) => new Request(SCOPE + path, { cache: 'reload' })));
      // The network-first files too: a first visit that needs no reload (the host sends COOP/COEP)
      // read them before this worker controlled the page, and offline the page needs them.
      // Each on its own: one the presenter removed must not stop this version from installing.
      await Promise.all(
        [...NETWORK_FIRST].map((path) =>
          cache.add(new Request(SCOPE + path, { cache: 'reload' })).catch(() => undefined),
        ),
      );
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const others = (await caches.keys()).filter((name) => OWN(name) && name !== CACHE);
      // ORT's files keep their names across builds when unchanged (content-hashed): keep them.
      for (const path of BUILD.lazy) {
        if (await cache.match(SCOPE + path)) continue;
        for (const name of others) {
          const hit = await (await caches.open(name)).match(SCOPE + path);
          if (hit) {
            await cache.put(SCOPE + path, hit);
            break;
          }
        }
      }
      await Promise.all(others.map((name) => caches.delete(name)));
      await self.clients.claim();
    })(),
  );
});

/** The path of a URL inside this site, or null outside it. */
function sitePath(url) {
  if (!url.startsWith(SCOPE)) return null;
  return url.slice(SCOPE.length).split(/[?#]/)[0];
}

/** The same response with the isolation headers added (opaque responses cannot be changed). */
function isolated(response) {
  if (response.type === 'opaque' || response.type === 'opaqueredirect' || response.status === 0)
    return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION)) headers.set(name, value);
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/**
 * The site was taken off its host (its config now answers 404): leave, with every version's cache,
 * so the next load is the host's answer rather than the cached app, forever.
 */
let gone = false;
async function leave() {
  gone = true; // from now on every request goes to the network untouched (no cache is reopened)
  await self.registration.unregister();
  const own = (await caches.keys()).filter(OWN);
  await Promise.all(own.map((name) => caches.delete(name)));
}

async function networkFirst(request, path) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request, { cache: 'no-cache' });
    if (response.ok) await cache.put(request, response.clone());
    else if (response.status === 404 && path === 'edgetier.config.json') await leave();
    return response;
  } catch (error) {
    const hit = await cache.match(request, { ignoreSearch: true });
    if (hit) return hit;
    throw error;
  }
}

async function cacheFirst(request, path) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request, { ignoreSearch: true });
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && BUILD.lazy.includes(path)) await cache.put(request, response.clone());
  return response;
}

async function respond(request, path) {
  if (request.mode === 'navigate' && (path === '' || path === 'index.html')) {
    // The app's page: its shell from this version's cache (other files open as themselves).
    const cache = await caches.open(CACHE);
    return isolated((await cache.match(`${SCOPE}index.html`)) ?? (await fetch(request)));
  }
  if (NETWORK_FIRST.has(path)) return isolated(await networkFirst(request, path));
  return isolated(await cacheFirst(request, path));
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  // Other origins (a remote tier, the Hub) and writes go straight to the network, untouched.
  if (request.method !== 'GET' || gone) return;
  const path = sitePath(request.url);
  if (path === null) return;
  // Model files and resumed downloads (Range) are the engine's business: its own cache.
  if (request.headers.has('range')) return;
  if (path.startsWith('models/') && !NETWORK_FIRST.has(path)) return;
  if (path === 'sw.js') return;
  event.respondWith(respond(request, path));
});
