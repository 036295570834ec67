/* gemba-util.c: small helpers the core's modules share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-util"

#include "config.h"

#include <glib/gstdio.h>

#include "gemba-util-private.h"

void
_gemba_remove_tree (const char *path)
{
  GStatBuf st;
  GDir *dir;

  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode) && (dir = g_dir_open (path, 0, NULL)) != NULL)
    {
      const char *name;

      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          _gemba_remove_tree (child);
        }
      g_dir_close (dir);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}
