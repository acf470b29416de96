/**
 * The Content-Security-Policy of the app's own pages and of the model folders' files, in one place:
 * `edgetier serve`, the Vite dev/preview server and the engine test page all send these.
 *
 * The app: scripts only from its own origin (no inline script, no eval; WebAssembly compiles under
 * 'wasm-unsafe-eval'), workers from its origin (blob: for ORT's thread workers), no plugins, no
 * <base>, never framed. `connect-src` cannot list the tiers a visitor configures in Settings (they
 * live in the browser, the header is fixed when the page is served), so it allows the origin, any
 * https: host (remote tiers, the Hugging Face Hub and its CDN hosts, mirrors) and plain http on
 * loopback (a local tier such as `edgetier serve` or llama.cpp on another port). A plain-http tier on
 * another machine is refused by the browser; put it behind https or this server's upstream.
 *
 * Model folders are data from strangers: their files are served with a sandbox that gives them an
 * opaque origin and no script, so even a file a browser would render can never act as the app.
 */

const APP_DIRECTIVES: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  'worker-src': ["'self'", 'blob:'],
  'connect-src': ["'self'", 'https:', 'http://127.0.0.1:*', 'http://localhost:*'],
  'img-src': ["'self'", 'data:'],
  'style-src': ["'self'"],
  'font-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

function serialise(directives: Record<string, string[]>): string {
  return Object.entries(directives)
    .map(([name, sources]) => `${name} ${sources.join(' ')}`)
    .join('; ');
}

/** The app's pages and scripts (the built app; the engine test page). */
export const APP_CSP = serialise(APP_DIRECTIVES);

/**
 * Vite's dev server: the same, except that it injects CSS as <style> elements and talks to its
 * HMR client over a WebSocket on the loopback.
 */
export const APP_DEV_CSP = serialise({
  ...APP_DIRECTIVES,
  'style-src': ["'self'", "'unsafe-inline'"],
  'connect-src': [...(APP_DIRECTIVES['connect-src'] ?? []), 'ws://127.0.0.1:*', 'ws://localhost:*'],
});

/** Every file of a model folder: an opaque origin, no script, nothing loaded by it. */
export const MODEL_FILE_CSP = "sandbox; default-src 'none'";

/**
 * The app's policy as a `<meta http-equiv>` for a static build served by any host: the same rules,
 * less `frame-ancestors`, which a meta policy cannot carry (a host must send that as a header).
 */
export const APP_META_CSP = serialise(
  Object.fromEntries(Object.entries(APP_DIRECTIVES).filter(([name]) => name !== 'frame-ancestors')),
);
