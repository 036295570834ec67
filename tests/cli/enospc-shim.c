/* enospc-shim.c: an LD_PRELOAD library that makes a disk look full
 *
 * With GEMBA_TEST_ENOSPC_AFTER=N in the environment, writes to regular files succeed until
 * N bytes have been written in all; from then on every write to a regular file fails with
 * ENOSPC, as on a full disk (a partial write is returned first, as the kernel does). Pipes and
 * terminals are never affected. Used by the cli suite's full-disk import test: it needs no
 * root, no loop device and no tmpfs mount, so it runs the same way everywhere.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

ssize_t write (int fd, const void *buf, size_t count);
ssize_t pwrite (int fd, const void *buf, size_t count, off_t offset);
ssize_t pwrite64 (int fd, const void *buf, size_t count, off_t offset);
ssize_t writev (int fd, const struct iovec *iov, int iovcnt);

static atomic_llong written;

/* How many of @count bytes to @fd may be written: all of them for what is not a regular file
 * or while the budget lasts, fewer at its end, 0 (ENOSPC) once it is spent. */
static size_t
allowance (int fd, size_t count)
{
  static long long budget = -2;
  struct stat st;
  long long before;

  if (budget == -2)
    {
      const char *env = getenv ("GEMBA_TEST_ENOSPC_AFTER");
      budget = env ? atoll (env) : -1;
    }
  if (budget < 0 || count == 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    return count;
  before = atomic_fetch_add (&written, (long long) count);
  if (before >= budget)
    return 0;
  if (before + (long long) count > budget)
    return (size_t) (budget - before);
  return count;
}

#define NEXT(name) ((__typeof__ (&name)) dlsym (RTLD_NEXT, #name))

ssize_t
write (int fd, const void *buf, size_t count)
{
  size_t n = allowance (fd, count);

  if (n == 0 && count > 0)
    {
      errno = ENOSPC;
      return -1;
    }
  return NEXT (write) (fd, buf, n);
}

ssize_t
pwrite (int fd, const void *buf, size_t count, off_t offset)
{
  size_t n = allowance (fd, count);

  if (n == 0 && count > 0)
    {
      errno = ENOSPC;
      return -1;
    }
  return NEXT (pwrite) (fd, buf, n, offset);
}

ssize_t
pwrite64 (int fd, const void *buf, size_t count, off_t offset)
{
  size_t n = allowance (fd, count);

  if (n == 0 && count > 0)
    {
      errno = ENOSPC;
      return -1;
    }
  return NEXT (pwrite64) (fd, buf, n, offset);
}

ssize_t
writev (int fd, const struct iovec *iov, int iovcnt)
{
  size_t total = 0;

  for (int i = 0; i < iovcnt; i++)
    total += iov[i].iov_len;
  if (total > 0 && allowance (fd, total) < total)
    {
      errno = ENOSPC;
      return -1;
    }
  return NEXT (writev) (fd, iov, iovcnt);
}
