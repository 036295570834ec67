/* gemba-make-big-project.c: makes a project of N distinct tiny frames for the GUI's
 * scrolling test
 *
 *   gemba-make-big-project DIR N
 *
 * Frames are 16 × 16 JPEGs whose pixels encode their index, so all N are distinct (frames
 * are stored by content), from two sources, none labeled: the review queue (what the
 * workbench opens on) holds all N.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui-test"

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "gemba.h"

#define SIDE 16
#define BATCH 5000

static GembaImage *
render (guint64 index)
{
  GembaImage *image = gemba_image_new (SIDE, SIDE);

  /* A gradient for something to look at, and the index's bits in 4×4 blocks (JPEG keeps
   * those): bits 0–15 in blue, 16–31 in green. */
  for (guint y = 0; y < SIDE; y++)
    for (guint x = 0; x < SIDE; x++)
      {
        guint8 *p = image->pixels + (y * SIDE + x) * 3;
        guint block = (y / 4) * 4 + (x / 4);

        p[0] = (guint8) (60 + x * 8 + y * 4);
        p[1] = (index >> (16 + block)) & 1 ? 200 : 50;
        p[2] = (index >> block) & 1 ? 220 : 30;
      }
  return image;
}

int
main (int argc, char **argv)
{
  const char *classes[] = { "ok", "scratch", "dent", NULL };
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 base = 1767225600LL * G_USEC_PER_SEC;   /* 2026-01-01 */
  guint64 n;

  if (argc != 3 || (n = g_ascii_strtoull (argv[2], NULL, 10)) == 0 || n > 1u << 20)
    {
      fprintf (stderr, "usage: %s DIR N (N ≤ 1048576)\n", argv[0]);
      return 2;
    }
  if (!(store = gemba_store_create (argv[1], classes, &error)))
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }

  for (guint64 i = 0; i < n; i++)
    {
      g_autoptr(GembaImage) image = NULL;
      g_autoptr(GBytes) jpeg = NULL;
      g_autoptr(GembaFrame) frame = NULL;
      g_autofree char *name = g_strdup_printf ("big-%06" G_GUINT64_FORMAT ".jpg", i);
      GembaFrameInfo info;
      gboolean duplicate = FALSE;

      if (i % BATCH == 0 && !gemba_store_begin_batch (store, &error))
        break;
      gemba_frame_info_init (&info);
      info.source_name = i % 2 ? "Line 1 top camera" : "Line 2 side camera";
      info.source_kind = "camera";
      info.captured_at = base + (gint64) i * G_USEC_PER_SEC;
      info.original_name = name;
      image = render (i);
      if (!(jpeg = gemba_image_encode_jpeg (image, 90, &error)) ||
          !(frame = gemba_store_add_frame (store, jpeg, "jpg", SIDE, SIDE, &info, &duplicate,
                                           &error)))
        break;
      if (duplicate)
        {
          g_set_error (&error, G_IO_ERROR, G_IO_ERROR_EXISTS, "frame %" G_GUINT64_FORMAT
                       " duplicates an earlier one", i);
          break;
        }
      if ((i + 1) % BATCH == 0 || i + 1 == n)
        {
          if (!gemba_store_commit_batch (store, &error))
            break;
          fprintf (stderr, "\r%" G_GUINT64_FORMAT " frames", i + 1);
        }
    }
  if (error)
    {
      gemba_store_rollback_batch (store);
      fprintf (stderr, "\n%s\n", error->message);
      return 1;
    }
  fprintf (stderr, "\n%" G_GUINT64_FORMAT " frames in %.1f s\n", n,
           (g_get_monotonic_time () - start) / 1e6);
  return 0;
}
