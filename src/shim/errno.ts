// nginx appends a failed system call's error as ` (ERRNO: strerror text)`. Node's errors carry the
// code ("ENOENT") but libuv's own wording, so the glibc texts for the errors the shim can meet are here.
import { constants } from 'node:os';

const GLIBC_TEXT: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ETXTBSY: 'Text file busy',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
  EOVERFLOW: 'Value too large for defined data type',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
};

/** ` (2: No such file or directory)` for a Node system error; its own message when it is not one. */
export function errnoSuffix(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const errnos = constants.errno as Record<string, number | undefined>;
  const num = code === undefined ? undefined : errnos[code];
  if (code === undefined || num === undefined) return ` (${(err as Error)?.message ?? String(err)})`;
  return ` (${num}: ${GLIBC_TEXT[code] ?? code})`;
}
