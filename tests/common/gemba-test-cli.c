/* gemba-test-cli.c: running the gemba CLI from a test
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "gemba-test-cli.h"

#include <stdarg.h>
#include <sys/wait.h>

const char *
gemba_test_cli_path (void)
{
  static char *path;

  if (path == NULL)
    {
      const char *root = g_getenv ("GEMBA_BUILD_ROOT");
      path = g_build_filename (root ? root : ".", "src", "cli", "gemba", NULL);
    }
  return path;
}

static int
spawn (char **out, char **err, const char *first, va_list args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  GSpawnFlags flags = 0;
  const char *arg;
  int status = 0;

  g_ptr_array_add (argv, (char *) gemba_test_cli_path ());
  g_ptr_array_add (argv, (char *) first);
  while ((arg = va_arg (args, const char *)))
    g_ptr_array_add (argv, (char *) arg);
  g_ptr_array_add (argv, NULL);
  if (out == NULL)
    flags |= G_SPAWN_STDOUT_TO_DEV_NULL;
  if (err == NULL)
    flags |= G_SPAWN_STDERR_TO_DEV_NULL;
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, flags, NULL, NULL, out, err, &status,
                &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
  return 0;
}

void
gemba_test_cli_run (const char *first, ...)
{
  g_autofree char *err = NULL;
  va_list args;
  int status;

  va_start (args, first);
  status = spawn (NULL, &err, first, args);
  va_end (args);
  if (status != 0)
    g_printerr ("gemba %s: %s", first, err);
  g_assert_cmpint (status, ==, 0);
}

int
gemba_test_cli_capture (char **out, char **err, const char *first, ...)
{
  va_list args;
  int status;

  va_start (args, first);
  status = spawn (out, err, first, args);
  va_end (args);
  return status;
}
