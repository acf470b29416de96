/**
 * Static files with the headers the app needs: exact MIME types, a strong ETag with
 * If-None-Match, single byte ranges (206/416) for resumable model downloads, HEAD, and no path that
 * escapes its root. The cross-origin isolation headers are added by the server for every response.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ApiError } from './api-error.ts';
import { contentTypeFor } from './mime.ts';

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
  res.setHeader('Content-Type', contentTypeFor(file));
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
