/**
 * Model output → inert HTML. Two layers, because model output is untrusted text:
 * 1. marked renders Markdown, with raw HTML written out as escaped text (a model that writes
 *    `<script>` shows the characters, it never gets an element);
 * 2. DOMPurify then keeps only a short allow-list of tags and attributes, drops every URL that is
 *    not http(s)/mailto (no same-page fragment: those switch the app's views), and removes images altogether (an image from the
 *    model would load a remote URL by itself: a tracking pixel or a way to leak the conversation).
 * Links that stay open in a new tab with no referrer; nothing loads until the person clicks.
 * Nesting is limited before parsing (./limits.ts), and should marked still fail, the text is shown as
 * it was written: rendering never throws, whatever the input.
 */
import DOMPurify from 'dompurify';
import { Marked } from 'marked';
import { limitNesting, splitBlocks } from './limits.ts';

const ALLOWED_TAGS = [
  'p',
  'br',
  'hr',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'strong',
  'em',
  'del',
  's',
  'code',
  'pre',
  'blockquote',
  'ul',
  'ol',
  'li',
  'a',
  'table',
  'thead',
  'tbody',
  'tr',
  'th',
  'td',
  'span',
  'input',
];
const ALLOWED_ATTR = ['href', 'title', 'class', 'start', 'align', 'type', 'checked', 'disabled'];
// No `#` links: the app's views are fragments (#settings), and model output must not switch them.
const SAFE_URL = /^(?:https?:|mailto:)/i;
const LANGUAGE_CLASS = /^language-[\w+-]{1,32}$/;

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c]};`);

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    // Raw HTML in the model's Markdown is shown as text, never parsed.
    html: ({ text }) => escapeHtml(text),
    // Images become their alt text: no request leaves the page because a model wrote a URL.
    image: ({ text }) => escapeHtml(text),
  },
});

let purifier: ReturnType<typeof DOMPurify> | null = null;

function getPurifier(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  const p = DOMPurify(window);
  p.addHook('uponSanitizeAttribute', (node, data) => {
    if (data.attrName === 'href') {
      const href = data.attrValue.trim();
      if (!SAFE_URL.test(href)) data.keepAttr = false;
    } else if (data.attrName === 'class') {
      const kept = data.attrValue.split(/\s+/).filter((c) => LANGUAGE_CLASS.test(c));
      if (kept.length === 0) data.keepAttr = false;
      else data.attrValue = kept.join(' ');
    } else if (node.nodeName === 'INPUT' && data.attrName === 'type' && data.attrValue !== 'checkbox') {
      data.keepAttr = false;
    }
  });
  p.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
    // GFM task-list boxes are shown, never edited.
    if (node.nodeName === 'INPUT') {
      if (node.getAttribute('type') !== 'checkbox') node.remove();
      else node.setAttribute('disabled', '');
    }
  });
  purifier = p;
  return p;
}

/** Sanitise HTML with the strict allow-list (exported so tests can feed it hostile HTML directly). */
export function sanitizeHtml(html: string): string {
  return getPurifier().sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: [...ALLOWED_ATTR, 'target', 'rel'],
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    ALLOW_UNKNOWN_PROTOCOLS: false,
    ALLOWED_URI_REGEXP: SAFE_URL,
    RETURN_TRUSTED_TYPE: false,
  });
}

/** The text as written, escaped, in a paragraph that keeps its line breaks. */
export function plainTextHtml(text: string): string {
  return `<p class="plain-text">${escapeHtml(text)}</p>`;
}

/**
 * Answers longer than this are rendered up to here (at a line end), with a note: parsing and laying
 * out a megabyte of Markdown blocks the page for seconds. The whole text stays saved and copyable.
 */
export const MAX_RENDERED_CHARS = 8_000;

export interface RenderedAnswer {
  html: string;
  /** Characters rendered: the whole text unless it was longer than MAX_RENDERED_CHARS. */
  shownChars: number;
  totalChars: number;
}

/** The last few texts rendered, so that a streamed answer past the limit is not parsed again. */
const recentlyRendered = new Map<string, string>();
const RECENT_RENDERS = 8;

function renderRemembered(markdown: string): string {
  let html = recentlyRendered.get(markdown);
  if (html === undefined) {
    html = renderMarkdown(markdown);
    recentlyRendered.set(markdown, html);
    if (recentlyRendered.size > RECENT_RENDERS)
      recentlyRendered.delete(recentlyRendered.keys().next().value!);
  }
  return html;
}

/** How much of `markdown` is shown: all of it, or up to a line end near MAX_RENDERED_CHARS. */
function shownLength(markdown: string): number {
  if (markdown.length <= MAX_RENDERED_CHARS) return markdown.length;
  const lineEnd = markdown.lastIndexOf('\n', MAX_RENDERED_CHARS);
  return lineEnd > MAX_RENDERED_CHARS / 2 ? lineEnd : MAX_RENDERED_CHARS;
}

/** An answer for display: rendered whole, or its first MAX_RENDERED_CHARS or so. Never throws. */
export function renderAnswer(markdown: string): RenderedAnswer {
  const cut = shownLength(markdown);
  if (cut === markdown.length) return { html: renderMarkdown(markdown), shownChars: cut, totalChars: cut };
  return { html: renderRemembered(markdown.slice(0, cut)), shownChars: cut, totalChars: markdown.length };
}

/**
 * A growing answer, rendered block by block while it streams: finished blocks are parsed once, only
 * the last (growing) one again. Blocks rendered apart can differ in small ways from the whole (two
 * lists where a loose list was, a reference link defined later), so a finished answer goes through
 * `renderAnswer` once.
 */
export class StreamingRenderer {
  #done = new Map<string, string>();

  render(markdown: string): RenderedAnswer {
    const cut = shownLength(markdown);
    const blocks = splitBlocks(markdown.slice(0, cut));
    const done = new Map<string, string>();
    const html = blocks
      .map((block, i) => {
        const rendered = this.#done.get(block) ?? renderMarkdown(block);
        if (i < blocks.length - 1) done.set(block, rendered);
        return rendered;
      })
      .join('');
    this.#done = done;
    return { html, shownChars: cut, totalChars: markdown.length };
  }
}

/** The note under a cut answer. */
export function truncationNote(answer: RenderedAnswer): string {
  return `Showing the first ${answer.shownChars.toLocaleString('en')} of ${answer.totalChars.toLocaleString('en')} characters. Copy copies the whole answer.`;
}

/** Markdown (possibly half-streamed) to sanitised HTML, safe for `unsafeHTML`. Never throws. */
export function renderMarkdown(markdown: string): string {
  try {
    return sanitizeHtml(marked.parse(limitNesting(markdown), { async: false }));
  } catch {
    return plainTextHtml(markdown);
  }
}
