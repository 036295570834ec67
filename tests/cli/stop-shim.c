/* stop-shim.c: an LD_PRELOAD library that stops a process just before it renames a file
 *
 * With GEMBA_TEST_STOP_BEFORE_RENAME=TEXT in the environment, a rename() whose source path
 * contains TEXT first stops the process (SIGSTOP), so a test can kill it with SIGKILL at that
 * exact moment: the temporary file written, the rename not done. Used by the cli suite's
 * killed-export test; without the variable every rename goes straight through.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rename (const char *oldpath, const char *newpath);

int
rename (const char *oldpath, const char *newpath)
{
  const char *text = getenv ("GEMBA_TEST_STOP_BEFORE_RENAME");
  int (*next) (const char *, const char *) =
    (int (*) (const char *, const char *)) dlsym (RTLD_NEXT, "rename");

  if (text && *text && oldpath && strstr (oldpath, text))
    raise (SIGSTOP);
  return next (oldpath, newpath);
}
