import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errnoSuffix, errnoText } from '../../src/nginx/errno.ts';

const sysError = (code: string, errno: number): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: libuv wording, open '/x'`), { code, errno: -errno });

test('errno suffixes read as glibc strerror, with Linux numbers', () => {
  assert.equal(errnoSuffix(sysError('ENOENT', 2)), ' (2: No such file or directory)');
  assert.equal(errnoSuffix(sysError('EADDRINUSE', 98)), ' (98: Address already in use)');
  assert.equal(errnoSuffix(sysError('EADDRNOTAVAIL', 99)), ' (99: Cannot assign requested address)');
  assert.equal(errnoSuffix(sysError('ESRCH', 3)), ' (3: No such process)');
  assert.equal(errnoSuffix(sysError('EPERM', 1)), ' (1: Operation not permitted)');
  assert.equal(errnoText(sysError('EISDIR', 21)), 'Is a directory');
});

test('errors that are not system errors keep their own message', () => {
  assert.equal(errnoSuffix(new Error('boom')), ' (boom)');
  assert.equal(errnoText(new Error('boom')), 'boom');
  // A code Linux numbers but bext has no text for: the number and the code.
  assert.equal(errnoSuffix(sysError('EXDEV', 18)), ' (18: EXDEV)');
});
