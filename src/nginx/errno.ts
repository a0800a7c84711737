// nginx appends a failed system call's error as ` (ERRNO: strerror text)`. Node's errors carry the
// code ("ENOENT") but libuv's own wording, so the glibc texts for the errors bext can meet are here:
// one table for the config reader, the shim and the master.
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

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;
const message = (err: unknown): string => (err as Error | null)?.message ?? String(err);

/** strerror() text for a Node system error; its own message when it is not one bext knows. */
export function errnoText(err: unknown): string {
  return GLIBC_TEXT[code(err) ?? ''] ?? message(err);
}

/** ` (2: No such file or directory)` for a Node system error; ` (its message)` when it has no errno. */
export function errnoSuffix(err: unknown): string {
  const c = code(err);
  const errnos = constants.errno as Record<string, number | undefined>;
  // Linux numbers by code; Node's negative errno where the code is not a system one.
  const rawErrno = (err as NodeJS.ErrnoException | null)?.errno;
  const num = (c === undefined ? undefined : errnos[c]) ?? (typeof rawErrno === 'number' ? Math.abs(rawErrno) : undefined);
  if (num === undefined) return ` (${message(err)})`;
  return ` (${num}: ${GLIBC_TEXT[c ?? ''] ?? c ?? message(err)})`;
}
