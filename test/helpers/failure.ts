/** The code and message of the EdgetierError a call rejects with; fails the test if it resolves. */
import { expect } from 'vitest';
import { EdgetierError } from '../../src/core/errors.ts';

export async function failureOf(run: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await run;
  } catch (error) {
    expect(error).toBeInstanceOf(EdgetierError);
    return { code: (error as EdgetierError).code, message: (error as EdgetierError).message };
  }
  throw new Error('expected the call to fail');
}
