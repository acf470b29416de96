/**
 * Limits applied to Markdown before it is parsed. marked recurses once per level of nesting, so a
 * few kilobytes of `>`, `- ` or `*` (from a tier, a model or the visitor) overflow the stack, and
 * deeply indented lists take minutes. Past the limits the Markdown syntax is escaped and shows as the
 * characters that were written: the text is all there, only its nesting stops.
 */

/** Block containers (blockquotes and list items) one line may open. */
export const MAX_BLOCK_DEPTH = 16;
/** Columns of indentation that still nest (2 to 4 per level); deeper lines are cut to it, their list marker escaped. */
export const MAX_LIST_INDENT = 2 * MAX_BLOCK_DEPTH;
/** Longest run of one emphasis character (`***` is bold italic; longer runs mean nothing more). */
export const MAX_EMPHASIS_RUN = 3;
/**
 * Emphasis delimiter runs (`*`, `_`, `~`) one text may use. marked matches each opener against the
 * rest of its paragraph, so the time grows with their number times the length: 8 KB of `_a*` took
 * seconds on the main thread. Past this many the delimiters are escaped and show as written.
 */
export const MAX_EMPHASIS_DELIMITERS = 256;

/** Spaces or tabs, then one container marker: `>`, or a list marker followed by a blank or the end. */
const CONTAINER = /[ \t]*(?:>|(?:[-+*]|\d{1,9}[.)])(?=[ \t]|$))/y;
/** A backslash escape, a backtick run, a run of emphasis characters, or other text. */
const INLINE_PIECE = /\\[\s\S]|`+|[*_~]+|[^\\`*_~]+/g;
const THEMATIC_BREAK = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;

function indentColumns(line: string): number {
  let columns = 0;
  for (const c of line) {
    if (c === ' ') columns += 1;
    else if (c === '\t') columns += 4 - (columns % 4);
    else break;
  }
  return columns;
}

/** A backslash before the marker that starts at `at` (after its blanks): it becomes text. */
function escapeMarkerAt(line: string, at: number): string {
  let i = at;
  while (line[i] === ' ' || line[i] === '\t') i++;
  const digits = /^\d+/.exec(line.slice(i))?.[0].length ?? 0;
  return `${line.slice(0, i + digits)}\\${line.slice(i + digits)}`;
}

function limitLine(line: string, budget: { left: number }): string {
  if (indentColumns(line) > MAX_LIST_INDENT) {
    // Deeper indentation nests nothing more; cut to the limit, as marked re-reads it once per level.
    line = ' '.repeat(MAX_LIST_INDENT) + line.trimStart();
    CONTAINER.lastIndex = 0;
    if (CONTAINER.test(line)) return escapeMarkerAt(line, 0);
  }
  let depth = 0;
  let at = 0;
  CONTAINER.lastIndex = 0;
  while (CONTAINER.test(line)) {
    depth++;
    if (depth > MAX_BLOCK_DEPTH) {
      line = escapeMarkerAt(line, at);
      break;
    }
    at = CONTAINER.lastIndex;
  }
  if (THEMATIC_BREAK.test(line)) return line;
  return line.slice(0, at) + limitEmphasis(line.slice(at), budget);
}

const escapeAll = (text: string): string => text.replace(/./g, '\\$&');

/**
 * `text` with emphasis runs longer than MAX_EMPHASIS_RUN, and every run once `budget` is spent,
 * escaped. Code spans and escaped characters are left as they are (a backslash shows in code).
 */
function limitEmphasis(text: string, budget: { left: number }): string {
  const pieces: string[] = text.match(INLINE_PIECE) ?? [];
  let out = '';
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i] as string;
    if (piece[0] === '`') {
      const close = pieces.indexOf(piece, i + 1);
      if (close !== -1) {
        out += pieces.slice(i, close + 1).join('');
        i = close;
        continue;
      }
      out += piece;
    } else if (/^[*_~]/.test(piece)) {
      for (const run of piece.match(/([*_~])\1*/g) ?? []) {
        if (run.length > MAX_EMPHASIS_RUN || budget.left <= 0) out += escapeAll(run);
        else {
          budget.left--;
          out += run;
        }
      }
    } else out += piece;
  }
  return out;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * `markdown` with nesting past the limits escaped to text (unchanged when within them). Lines inside
 * fenced code blocks are left alone: code is shown as written, and marked does not nest in it.
 */
export function limitNesting(markdown: string): string {
  let fence: string | null = null;
  const budget = { left: MAX_EMPHASIS_DELIMITERS };
  return markdown
    .split('\n')
    .map((line) => {
      const opener = FENCE.exec(line)?.[1];
      if (fence !== null) {
        if (opener && opener[0] === fence[0] && opener.length >= fence.length && line.trim() === opener)
          fence = null;
        return line;
      }
      if (opener) {
        fence = opener;
        return line;
      }
      return limitLine(line, budget);
    })
    .join('\n');
}

/**
 * `markdown` cut into top-level blocks that parse alike alone and together: a cut falls after a
 * blank line outside fenced code, before a line that starts at the margin (not a list item's
 * continuation or indented code). The pieces joined give `markdown` back.
 */
export function splitBlocks(markdown: string): string[] {
  const lines = markdown.split('\n');
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | null = null;
  let blankBefore = false;
  for (const line of lines) {
    const opener = FENCE.exec(line)?.[1];
    const atMargin = line !== '' && line[0] !== ' ' && line[0] !== '\t';
    if (fence === null && blankBefore && atMargin && current.length > 0) {
      blocks.push(current.join('\n'));
      current = [];
    }
    current.push(line);
    if (fence !== null) {
      if (opener && opener[0] === fence[0] && opener.length >= fence.length && line.trim() === opener)
        fence = null;
    } else if (opener) {
      fence = opener;
    }
    blankBefore = line.trim() === '';
  }
  blocks.push(current.join('\n'));
  return blocks.map((block, i) => (i < blocks.length - 1 ? `${block}\n` : block));
}
