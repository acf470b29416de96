/**
 * generation_config.json forms at the edge of what generate() reads (a hostile review's findings;
 * each test failed first): a file that is valid JSON but not an object (0, "x", true) loads on the ORT
 * path as generate() reads it (it adds nothing), where reading its eos_token_id threw a TypeError; an
 * eos_token_id the CPU engine would compare differently from generate()'s bigint == ("N.0", [null, N])
 * is refused by name there, so the two runtimes cannot stop at different places.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgetierError } from '../../src/core/errors.ts';
import {
  SETTINGS_CHECKPOINT,
  type TempConvertedFolders,
  tempConvertedFolders,
} from '../helpers/converted-folders.ts';
import { nodeAnswer } from '../helpers/node-answer.ts';

let folders: TempConvertedFolders;

const run = async (runtime: 'edgetier' | 'onnxruntime', dir: string) =>
  (await nodeAnswer(runtime, dir, { prompt: 'Once upon a time', sampling: { maxNewTokens: 8 } })).outputIds;

const variant = (name: string, generationConfig: string) =>
  folders.folder(name, { 'generation_config.json': generationConfig });

beforeAll(async () => {
  folders = await tempConvertedFolders('edgetier-eos-forms-', 'fp32', SETTINGS_CHECKPOINT);
});

afterAll(async () => {
  await folders?.remove();
});

describe('a generation_config.json that is valid JSON but not an object', () => {
  it.each(['0', '"x"', 'true'])('%s: the ORT path loads and answers as without the file', async (text) => {
    const plain = await run('onnxruntime', folders.built);
    expect(await run('onnxruntime', variant(`gen-${text.replace(/\W/g, '')}`, text))).toEqual(plain);
  });
});

describe('an eos_token_id the CPU engine would compare differently from generate()', () => {
  it.each([
    ['"339.0"', '"339.0"'],
    ['[null, 3]', '[null,3]'],
    ['"2"', '"2"'],
    ['2.5', '2.5'],
  ])('%s is refused by name on the CPU engine', async (_name, value) => {
    const dir = variant(`eos-${_name.replace(/\W/g, '')}`, `{"eos_token_id": ${value}}`);
    const error = await run('edgetier', dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgetierError);
    expect((error as EdgetierError).code).toBe('unsupported_architecture');
    expect((error as EdgetierError).message).toBe(
      `generation_config.json sets eos_token_id = ${value}; edgetier's CPU engine takes a token id or a list of them only: run this model on onnxruntime.`,
    );
  });

  it('a token id, a list of them, or null still loads', async () => {
    for (const value of ['2', '[2, 3]', 'null']) {
      const dir = variant(`eos-ok-${value.replace(/\W/g, '')}`, `{"eos_token_id": ${value}}`);
      expect(await run('edgetier', dir)).toEqual(expect.any(Array));
    }
  });
});
