/**
 * Markdown nesting limits, applied before marked parses: deep input becomes text past the limit,
 * and marked (the real one) parses what comes out without overflowing its stack.
 */
import { Marked } from 'marked';
import { describe, expect, it } from 'vitest';
import {
  limitNesting,
  MAX_BLOCK_DEPTH,
  MAX_EMPHASIS_DELIMITERS,
  splitBlocks,
} from '../../src/app/markdown/limits.ts';

const marked = new Marked({ gfm: true, async: false });

describe('limitNesting', () => {
  it('leaves ordinary Markdown as it is', () => {
    const text = [
      '# Title',
      '> quoted **bold** and ***both***',
      '> > twice',
      '- a',
      '  - b',
      '    1. c',
      '***',
      '* * *',
      '```',
      '****',
      '```',
    ].join('\n');
    expect(limitNesting(text)).toBe(text);
  });

  it('escapes the first container past the depth limit, so the rest of the line is text', () => {
    const deep = `${'>'.repeat(MAX_BLOCK_DEPTH + 2)} hi`;
    expect(limitNesting(deep)).toBe(`${'>'.repeat(MAX_BLOCK_DEPTH)}\\>> hi`);
    const list = `${'- '.repeat(MAX_BLOCK_DEPTH + 1)}x`;
    expect(limitNesting(list)).toBe(`${'- '.repeat(MAX_BLOCK_DEPTH)}\\- x`);
    expect(limitNesting(`${'> '.repeat(MAX_BLOCK_DEPTH)}12. x`)).toBe(
      `${'> '.repeat(MAX_BLOCK_DEPTH)}12\\. x`,
    );
  });

  it('escapes list markers past the indentation limit and emphasis runs past three', () => {
    expect(limitNesting(`${' '.repeat(80)}- x`)).toBe(`${' '.repeat(32)}\\- x`);
    expect(limitNesting(`${' '.repeat(80)}text`)).toBe(`${' '.repeat(32)}text`);
    expect(limitNesting('a ****b**** c')).toBe('a \\*\\*\\*\\*b\\*\\*\\*\\* c');
    expect(limitNesting('__~~~~x')).toBe('__\\~\\~\\~\\~x');
  });

  it.each([
    ['1,900 ">"', `${'>'.repeat(1900)} hi`],
    ['1,900 "> "', `${'> '.repeat(1900)}hi`],
    ['1,200 "- "', `${'- '.repeat(1200)}hi`],
    ['2,200 "*"', `${'*'.repeat(2200)}hi${'*'.repeat(2200)}`],
    ['2,200 "_"', `${'_'.repeat(2200)}hi${'_'.repeat(2200)}`],
    [
      'a 1,200-level list by indentation',
      Array.from({ length: 1200 }, (_, i) => `${'  '.repeat(i)}- x`).join('\n'),
    ],
  ])('lets marked parse %s without overflowing, keeping the text', (_name, text) => {
    const html = marked.parse(limitNesting(text)) as string;
    expect(html).toContain(text.includes('hi') ? 'hi' : 'x');
  });
});

describe('limitNesting and emphasis delimiters', () => {
  // marked matches each emphasis opener against the rest of its paragraph: 8 KB of `_a*` took
  // seconds (quadratic), a page frozen by one answer. Past the budget the delimiters are text.
  it('keeps the first MAX_EMPHASIS_DELIMITERS runs and escapes the rest', () => {
    const runs = MAX_EMPHASIS_DELIMITERS + 50;
    const text = '_a*'.repeat(runs / 2);
    const kept = '_a*'.repeat(MAX_EMPHASIS_DELIMITERS / 2);
    expect(limitNesting(text)).toBe(kept + '\\_a\\*'.repeat(25));
    // The budget holds for the whole text, not per line.
    const lines = Array.from({ length: runs }, () => 'x *y').join('\n');
    const limited = limitNesting(lines).split('\n');
    expect(limited.slice(0, MAX_EMPHASIS_DELIMITERS)).toEqual(Array(MAX_EMPHASIS_DELIMITERS).fill('x *y'));
    expect(limited.slice(MAX_EMPHASIS_DELIMITERS)).toEqual(Array(50).fill('x \\*y'));
  });

  it('leaves code spans, escaped characters and list markers alone', () => {
    const code = '`a*b_c` \\* '.repeat(MAX_EMPHASIS_DELIMITERS + 10);
    expect(limitNesting(code)).toBe(code);
    expect(limitNesting('`****` and ``a*`*b``')).toBe('`****` and ``a*`*b``');
    const list = Array.from({ length: MAX_EMPHASIS_DELIMITERS + 10 }, () => '* item').join('\n');
    expect(limitNesting(list)).toBe(list);
  });

  it('lets marked parse 8 KB of every delimiter pattern tried into the same text', () => {
    for (const unit of ['_a*', '[*a', '**a_', '*_a', '~a*', '_a__']) {
      const text = unit.repeat(Math.ceil(8000 / unit.length)).slice(0, 8000);
      const html = marked.parse(limitNesting(text), { async: false });
      const shown = html
        .replace(/<[^>]+>/g, '')
        .replace(/&amp;/g, '&')
        .trim();
      expect(shown.replace(/[*_~]/g, '').length, unit).toBe(text.replace(/[*_~]/g, '').length);
    }
  });
});

describe('splitBlocks', () => {
  const text = [
    '# Title',
    '',
    'A paragraph',
    'on two lines.',
    '',
    '- item',
    '',
    '  continued item',
    '',
    '```',
    'code',
    '',
    'more code',
    '```',
    '',
    'The end',
  ].join('\n');

  it('cuts at blank lines before a line at the margin, outside fences, and loses nothing', () => {
    const blocks = splitBlocks(text);
    expect(blocks).toEqual([
      '# Title\n\n',
      'A paragraph\non two lines.\n\n',
      '- item\n\n  continued item\n\n',
      '```\ncode\n\nmore code\n```\n\n',
      'The end',
    ]);
    expect(blocks.join('')).toBe(text);
  });

  it('renders the same HTML block by block as whole', () => {
    const whole = marked.parse(text) as string;
    const pieces = splitBlocks(text)
      .map((b) => marked.parse(b) as string)
      .join('');
    expect(pieces.replace(/\n/g, '')).toBe(whole.replace(/\n/g, ''));
  });
});
