/**
 * A git-lfs pointer is what a clone without git-lfs leaves in place of a large file: a few lines of
 * text starting with this line. Caught by name, so the user is told to fetch the real file instead of
 * being shown a parse error.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { EdgetierError } from '../core/errors.ts';

const LFS_PREFIX = 'version https://git-lfs.github.com/spec/';

export function isLfsPointerText(head: string): boolean {
  return head.startsWith(LFS_PREFIX);
}

/** Throws when `file` is a git-lfs pointer rather than the file itself. */
export async function refuseLfsPointer(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(LFS_PREFIX.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (isLfsPointerText(head.subarray(0, bytesRead).toString('latin1'))) throw lfsPointerError(file);
  } finally {
    await handle.close();
  }
}

export function lfsPointerError(file: string): EdgetierError {
  return new EdgetierError(
    'weights_missing',
    `${basename(file)} is a git-lfs pointer, not the file itself: run \`git lfs pull\` in the checkpoint folder (or download ${basename(file)} directly).`,
  );
}
