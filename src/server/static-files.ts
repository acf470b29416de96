/**
 * Static files with the headers the app needs: exact MIME types, a strong ETag with
 * If-None-Match, single byte ranges (206/416) for resumable model downloads, HEAD, and no path that
 * escapes its root. The cross-origin isolation headers are added by the server for every response.
 * Model folders come from strangers: only the file types a model needs are served from them, each as
 * inert data (see `modelFileType` and `MODEL_FILE_HEADERS`).
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ApiError } from './api-error.ts';
import { MODEL_FILE_CSP } from './content-security-policy.ts';
import { contentTypeFor } from './mime.ts';

/**
 * The files transformers.js and edgetier read from a model folder, by how the name ends, and the
 * type each is served as. Anything else in a folder (.html, .svg, .js, ...) is a 404: a model folder
 * is data, and a page from it on the app's origin could read the app's storage.
 */
const MODEL_FILE_TYPES: ReadonlyArray<readonly [RegExp, string]> = [
  [/\.json$/i, 'application/json; charset=utf-8'], // config, generation_config, tokenizer(_config), ...
  [/\.onnx$/i, 'application/octet-stream'],
  [/\.onnx_data(?:_\d+)?$/i, 'application/octet-stream'], // external weights, split past 2 GiB
  [/\.(?:safetensors|gguf|bin)$/i, 'application/octet-stream'],
  [/(?:^|\/)tokenizer\.model$/i, 'application/octet-stream'], // SentencePiece
  [/\.(?:txt|jinja|md)$/i, 'text/plain; charset=utf-8'], // merges.txt, vocab.txt, chat_template.jinja, README.md
];

/** The type a model folder's file is served as, or null when a model folder has no business holding it. */
export function modelFileType(path: string): string | null {
  for (const [pattern, type] of MODEL_FILE_TYPES) if (pattern.test(path)) return type;
  return null;
}

/**
 * Sent with every model folder file: no sniffing into a runnable type, a sandbox (an opaque origin,
 * no script) should a browser render it anyway, and a download rather than a page for binaries.
 */
export function modelFileHeaders(type: string): Record<string, string> {
  return {
    'Content-Security-Policy': MODEL_FILE_CSP,
    'X-Content-Type-Options': 'nosniff',
    ...(type === 'application/octet-stream' ? { 'Content-Disposition': 'attachment' } : {}),
  };
}

/**
 * The file under `root` that the URL path `relPath` (still percent-encoded, no query) names, or
 * null when it would leave `root`. Throws a 400 for undecodable paths.
 */
export function resolveInside(root: string, relPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relPath);
  } catch {
    throw new ApiError(400, `The path "${relPath}" is not valid percent-encoding.`);
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const base = resolve(root);
  const full = resolve(join(base, decoded));
  if (full !== base && !full.startsWith(base + sep)) return null;
  return full;
}

/**
 * `file`'s real path when, links followed, it stays inside `folder`'s real path; null otherwise (or
 * when it is not there). A model folder from a stranger (a cloned repository keeps its links) may
 * hold `vocab.txt -> ~/.ssh/id_ed25519`: `resolveInside` checks the name, this checks the target.
 */
export async function realPathInside(folder: string, file: string): Promise<string | null> {
  let real: string;
  let base: string;
  try {
    [real, base] = await Promise.all([realpath(file), realpath(folder)]);
  } catch {
    return null;
  }
  return real === base || real.startsWith(base + sep) ? real : null;
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → [start, end] inclusive; 'unsatisfiable'; null to ignore. */
export function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | null {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null; // multiple ranges or another unit: serve the whole file
  const [, a, b] = match as unknown as [string, string, string];
  if (a === '' && b === '') return null;
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return null;
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return [start, end];
}

export interface ServeFileOptions {
  cacheControl?: string;
  /** Overrides the type `contentTypeFor` would give. */
  contentType?: string;
  /** Sent as well (on 304 and 416 too). */
  headers?: Record<string, string>;
}

/** Sends `file` if it is a regular file; resolves false (nothing sent) when it is not there. */
export async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  options: ServeFileOptions = {},
): Promise<boolean> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(file);
  } catch {
    return false;
  }
  if (!info.isFile()) return false;
  const size = info.size;
  const etag = `"${size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  for (const [name, value] of Object.entries(options.headers ?? {})) res.setHeader(name, value);
  res.setHeader('Content-Type', options.contentType ?? contentTypeFor(file));
  res.setHeader('ETag', etag);
  res.setHeader('Last-Modified', info.mtime.toUTCString());
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', options.cacheControl ?? 'no-cache');

  const inm = req.headers['if-none-match'];
  if (inm?.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}` || t.trim() === '*')) {
    res.statusCode = 304;
    res.end();
    return true;
  }

  let start = 0;
  let end = size - 1;
  const rangeHeader = req.headers.range;
  const ifRange = req.headers['if-range'];
  if (rangeHeader && (!ifRange || ifRange === etag)) {
    const range = parseRange(rangeHeader, size);
    if (range === 'unsatisfiable') {
      res.statusCode = 416;
      res.setHeader('Content-Range', `bytes */${size}`);
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(`Range ${rangeHeader} is outside the ${size} bytes of this file.\n`);
      return true;
    }
    if (range) {
      [start, end] = range;
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    }
  }
  res.setHeader('Content-Length', size === 0 ? 0 : end - start + 1);
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return true;
  }
  try {
    await pipeline(createReadStream(file, { start, end }), res);
  } catch {
    // The client went away mid-download; nothing to answer.
  }
  return true;
}
