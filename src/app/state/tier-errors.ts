/**
 * What to tell a visitor when a remote tier fails, shared by Compare and Settings' "Test connection".
 * A browser says only "Failed to fetch" for every request that got no response (nothing listening,
 * a blocked port, a CORS refusal, a wrong host, this page's own connect-src policy): the message
 * names the likely causes for this tier's address and what to do, and keeps the browser's words last.
 */
import type { RemoteTier } from '../../core/catalog.ts';
import { isRemoteError } from '../../remote/errors.ts';

/** The tier's API root as the browser calls it: '' is this page's own server (edgetier serve). */
export function tierUrl(tier: Pick<RemoteTier, 'baseUrl'>, pageHref: string): URL {
  return new URL(tier.baseUrl || '/v1', pageHref);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Why a tier's base URL cannot be called, before anything is sent; null when it can. Refused by name:
 * an address that does not parse, a scheme other than http(s), and a user name or password written
 * into it (browsers refuse to fetch such a URL, and their message would show the password on screen).
 * The message never repeats the credentials.
 */
export function tierUrlProblem(tier: Pick<RemoteTier, 'name' | 'baseUrl'>, pageHref: string): string | null {
  const notAddress = `The base URL of ${tier.name} is not a full web address: write it as https://host/v1 (or leave it empty for this server).`;
  const raw = tier.baseUrl;
  // Anything but a path on this server or an absolute URL would be read relative to this page
  // ("api.example.com/v1", even "http://"), and call this page's own server instead.
  if (raw && !raw.startsWith('/')) {
    if (!/^[a-z][a-z\d+.-]*:/i.test(raw)) return notAddress;
    try {
      new URL(raw);
    } catch {
      return notAddress;
    }
  }
  let url: URL;
  try {
    url = tierUrl(tier, pageHref);
  } catch {
    return notAddress;
  }
  if (url.username || url.password) {
    return `The base URL of ${tier.name} holds a user name or password (the part before "@"): browsers refuse to call such an address, and it would be stored and shown in clear. Remove it, and put the key in the API key field.`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `The base URL of ${tier.name} starts with "${url.protocol}": a tier is called over https:// (or http:// on this computer).`;
  }
  return null;
}

/** Text with any user name or password written into a URL (`//user:pass@`) taken out. */
export function withoutCredentials(text: string): string {
  return text.replace(/\/\/[^/\s@]*@/g, '//');
}

/** The tier runs on this computer (this page's server, or a loopback address): it shares the CPU. */
export function tierOnThisComputer(tier: Pick<RemoteTier, 'baseUrl'>, pageHref: string): boolean {
  if (tierUrlProblem({ name: '', ...tier }, pageHref)) return false;
  const url = tierUrl(tier, pageHref);
  const page = new URL(pageHref);
  return LOOPBACK.has(url.hostname) || (url.origin === page.origin && LOOPBACK.has(page.hostname));
}

/**
 * A person-readable message for a tier that gave no response at all. `advice` is the sentence that
 * says what to do where the message is shown ("Check the tier's address in Settings, then Retry.").
 * Null for any other failure: its own message already names the status, the server's words and what
 * to do (callers show messageOf(error)).
 */
export function explainTierError(
  error: unknown,
  tier: Pick<RemoteTier, 'name' | 'baseUrl'>,
  pageHref: string,
  advice: string,
): string | null {
  if (!isRemoteError(error) || !error.unreachable) return null;
  const problem = tierUrlProblem(tier, pageHref);
  if (problem) return `${problem} ${advice}`;
  const url = tierUrl(tier, pageHref);
  const page = new URL(pageHref);
  const where = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  const causes: string[] = [];
  const blockedByPage = url.origin !== page.origin && url.protocol === 'http:' && !LOOPBACK.has(url.hostname);
  if (blockedByPage) {
    causes.push(
      'this page may call only https: addresses and plain http on this computer (127.0.0.1, localhost), so the browser blocks this one: put the tier behind https, or behind this server (EDGETIER_UPSTREAM_URL)',
    );
  }
  causes.push(
    url.origin === page.origin
      ? 'this page’s own server stopped or restarted'
      : `no server is running at ${url.host}`,
  );
  if (url.origin !== page.origin) {
    causes.push(`a firewall or proxy blocks port ${url.port || (url.protocol === 'https:' ? '443' : '80')}`);
    causes.push(`the server refuses requests from this page (CORS: it must allow the origin ${page.origin})`);
  }
  causes.push('the base URL is wrong (it usually ends in /v1)');
  const cause = error.cause instanceof Error ? (error.cause.cause ?? error.cause) : error.cause;
  const said = cause instanceof Error ? cause.message : cause === undefined ? '' : String(cause);
  return (
    `Could not reach ${tier.name} at ${where}. Likely causes: ${causes.join('; ')}. ${advice}` +
    (said
      ? ` (The browser said: ${withoutCredentials(said)
          .replace(/[\u202A-\u202E\u2066-\u2069]/g, '')
          .slice(0, 200)
          .replace(/\.$/, '')}.)`
      : '')
  );
}

/**
 * The key to use with a tier as its form now reads: the saved key goes only to the origin it was
 * saved for. When the form's address is on another origin (or the saved one does not parse) and the
 * key field still holds the saved key untouched, it is withheld (Test connection) or dropped (Save);
 * a key typed anew, even the same text, is used. `keyTyped`: the visitor edited the key field.
 */
export function keyForAddress(
  saved: Pick<RemoteTier, 'name' | 'baseUrl'>,
  savedKey: string | null,
  next: Pick<RemoteTier, 'name' | 'baseUrl'>,
  formKey: string,
  keyTyped: boolean,
  pageHref: string,
): { key: string; withheld: boolean; savedOrigin: string | null } {
  const origin = (tier: Pick<RemoteTier, 'name' | 'baseUrl'>) =>
    tierUrlProblem(tier, pageHref) ? null : tierUrl(tier, pageHref).origin;
  const savedOrigin = origin(saved);
  const withheld =
    !!savedKey && !keyTyped && formKey === savedKey && (savedOrigin === null || savedOrigin !== origin(next));
  return { key: withheld ? '' : formKey, withheld, savedOrigin };
}
