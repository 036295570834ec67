/* make-jpegs.c: writes N distinct JPEG files of W×H for the import benchmark
 *
 * Usage: make-jpegs DIR N WIDTH HEIGHT
 * The frames are demo renders (washers and brackets), scaled to the size, so that the JPEGs
 * compress like camera frames rather than like noise or flat colour.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdlib.h>

#include "gemba.h"

int
main (int argc, char **argv)
{
  guint n, width, height;

  if (argc != 5)
    {
      g_printerr ("usage: make-jpegs DIR N WIDTH HEIGHT\n");
      return 2;
    }
  n = atoi (argv[2]);
  width = atoi (argv[3]);
  height = atoi (argv[4]);
  g_mkdir_with_parents (argv[1], 0755);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GembaImage) render = gemba_demo_render (i % 2, i % GEMBA_DEMO_N_CLASSES, 1000 + i);
      g_autoptr(GembaImage) image = gemba_image_resize (render, width, height);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *path = g_strdup_printf ("%s/frame-%05u.jpg", argv[1], i);

      bytes = gemba_image_encode_jpeg (image, 90, &error);
      if (!bytes || !g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
                                          g_bytes_get_size (bytes), &error))
        {
          g_printerr ("make-jpegs: %s\n", error->message);
          return 1;
        }
    }
  return 0;
}
