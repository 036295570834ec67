#define G_LOG_DOMAIN "bench-loop"
/* make-frames: the lighting-shift scenario of bench/loop, rendered by the demo generator
 *
 *   make-frames OUT SEED [SIZE]
 *
 * writes, from SEED (the same seed gives the same pixels):
 *   OUT/old/line1/CLASS/, OUT/old/line2/CLASS/  labeled PNG frames of the two known lines
 *   OUT/pool/                 unlabeled PNG frames of line 3 under its new lighting
 *   OUT/test-old/, OUT/test-new/  held-out PNG frames of both conditions, never imported
 *   OUT/truth.tsv             set, file name, class index, class name of every frame
 * Every file's modification time (Gemba's capture time) is set: one frame every 5 s.
 *   OUT/SET.u8                the same pixels for the PyTorch side (SIZE × SIZE × 3 per frame,
 *                             in truth.tsv's order within the set), so both see the same frames
 * Frames are the demo's 320 × 240 renders resized to SIZE × SIZE (64 by default), stored as PNG
 * so that nothing is lost between the two sides.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <utime.h>

#include "gemba-demo.h"
#include "gemba-image.h"

/* Counts of the scenario: 900 labeled frames on two lines, 600 unlabeled on the new one. */
#define N_OLD_PER_LINE 450
#define N_POOL 600
#define N_TEST_OLD_PER_LINE 200
#define N_TEST_NEW 400

/* Capture times: from 2026-01-05 06:00 UTC, one frame every 5 s. */
#define CAPTURE_START ((time_t) 1767592800)
#define CAPTURE_INTERVAL 5

static const double class_share[GEMBA_DEMO_N_CLASSES] = { 0.46, 0.18, 0.18, 0.18 };

typedef struct {
  const char *set;      /* "old", "pool", "test-old", "test-new" */
  guint source;
  guint n;
} Batch;

typedef struct {
  char *dir;
  guint size;
  GString *truth;
  GHashTable *raw;      /* set name → FILE* */
  GRand *rand;
  guint counter;
} Maker;

static GembaDemoClass
draw_class (GRand *rand)
{
  double u = g_rand_double (rand), acc = 0;

  for (guint k = 0; k < GEMBA_DEMO_N_CLASSES; k++)
    {
      acc += class_share[k];
      if (u < acc)
        return k;
    }
  return GEMBA_DEMO_OK;
}

static gboolean
make_batch (Maker *m, const Batch *b, GError **error)
{
  FILE *raw = g_hash_table_lookup (m->raw, b->set);

  if (!raw)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s.u8", m->dir, b->set);
      if (!(raw = fopen (path, "wb")))
        {
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                       "%s: cannot write it", path);
          return FALSE;
        }
      g_hash_table_insert (m->raw, g_strdup (b->set), raw);
    }

  for (guint i = 0; i < b->n; i++)
    {
      GembaDemoClass klass = draw_class (m->rand);
      guint64 seed = ((guint64) g_rand_int (m->rand) << 32) | g_rand_int (m->rand);
      g_autoptr(GembaImage) full = gemba_demo_render (b->source, klass, seed);
      g_autoptr(GembaImage) small = gemba_image_resize (full, m->size, m->size);
      g_autofree char *name = g_strdup_printf ("L%u_%05u.png", b->source + 1, m->counter++);
      g_autofree char *folder = NULL;
      g_autofree char *path = NULL;

      if (g_str_equal (b->set, "old"))
        folder = g_strdup_printf ("%s/old/line%u/%s", m->dir, b->source + 1,
                                  gemba_demo_class_name (klass));
      else
        folder = g_strdup_printf ("%s/%s", m->dir, b->set);
      g_mkdir_with_parents (folder, 0755);
      path = g_build_filename (folder, name, NULL);
      if (!gemba_image_save (small, path, error))
        return FALSE;
      /* Gemba takes a file's capture time from its modification time: one part every
       * CAPTURE_INTERVAL seconds, as on a line, not the instant this program wrote it (a run's
       * 600 new frames in a second or two made near-duplicates of unrelated parts, and the
       * review queue depended on how fast the frames were rendered). */
      {
        struct utimbuf when;

        when.actime = when.modtime = CAPTURE_START + (time_t) m->counter * CAPTURE_INTERVAL;
        if (utime (path, &when) != 0)
          {
            g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                         "%s: cannot set its time", path);
            return FALSE;
          }
      }
      if (fwrite (small->pixels, 1, (gsize) m->size * m->size * 3, raw) !=
          (gsize) m->size * m->size * 3)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s/%s.u8: short write", m->dir,
                       b->set);
          return FALSE;
        }
      g_string_append_printf (m->truth, "%s\t%s\t%u\t%s\n", b->set, name, klass,
                              gemba_demo_class_name (klass));
    }
  return TRUE;
}

static void
close_file (gpointer f)
{
  fclose (f);
}

int
main (int argc, char **argv)
{
  /* Interleaved so that the old set mixes both lines in file order. */
  static const Batch batches[] = {
    { "old", 0, N_OLD_PER_LINE }, { "old", 1, N_OLD_PER_LINE },
    { "pool", GEMBA_DEMO_SOURCE_NEW_LIGHTING, N_POOL },
    { "test-old", 0, N_TEST_OLD_PER_LINE }, { "test-old", 1, N_TEST_OLD_PER_LINE },
    { "test-new", GEMBA_DEMO_SOURCE_NEW_LIGHTING, N_TEST_NEW },
  };
  g_autoptr(GError) error = NULL;
  g_autofree char *truth_path = NULL;
  Maker m = { 0 };

  if (argc < 3)
    {
      g_printerr ("usage: %s OUT SEED [SIZE]\n", argv[0]);
      return 2;
    }
  m.dir = argv[1];
  m.size = argc > 3 ? (guint) atoi (argv[3]) : 64;
  if (m.size < 16 || m.size > 320)
    {
      g_printerr ("%s: SIZE must be between 16 and 320\n", argv[0]);
      return 2;
    }
  if (g_mkdir_with_parents (m.dir, 0755) != 0)
    {
      g_printerr ("%s: cannot create %s\n", argv[0], m.dir);
      return 1;
    }
  m.rand = g_rand_new_with_seed ((guint32) g_ascii_strtoull (argv[2], NULL, 10) * 2654435761u);
  m.truth = g_string_new ("set\tfile\tclass\tname\n");
  m.raw = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, close_file);
  for (guint i = 0; i < G_N_ELEMENTS (batches); i++)
    if (!make_batch (&m, &batches[i], &error))
      {
        g_printerr ("%s: %s\n", argv[0], error->message);
        return 1;
      }
  g_hash_table_unref (m.raw);
  truth_path = g_build_filename (m.dir, "truth.tsv", NULL);
  if (!g_file_set_contents (truth_path, m.truth->str, -1, &error))
    {
      g_printerr ("%s: %s\n", argv[0], error->message);
      return 1;
    }
  g_string_free (m.truth, TRUE);
  g_rand_free (m.rand);
  return 0;
}
