#define G_LOG_DOMAIN "gemba-test-demo"

#include "config.h"

/* test-demo.c: the demo renderer and the demo project
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>

#include <glib/gstdio.h>

#include "gemba.h"
#include "gemba-util-private.h"

typedef struct {
  char *dir;
  char *project;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("gemba-test-demo-XXXXXX", &error);
  g_assert_no_error (error);
  f->project = g_build_filename (f->dir, "demo-line", NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  _gemba_remove_tree (f->dir);
  g_free (f->project);
  g_free (f->dir);
}

static double
mean_abs_diff (const GembaImage *a, const GembaImage *b)
{
  gsize n = (gsize) a->width * a->height * 3;
  double sum = 0;

  for (gsize i = 0; i < n; i++)
    sum += ABS ((int) a->pixels[i] - (int) b->pixels[i]);
  return sum / n;
}

/* A seed always gives the same pixels, and another seed a visibly different frame. */
static void
test_render (void)
{
  for (guint source = 0; source < GEMBA_DEMO_N_RENDER_SOURCES; source++)
    for (guint klass = 0; klass < GEMBA_DEMO_N_CLASSES; klass++)
      {
        g_autoptr(GembaImage) a = gemba_demo_render (source, klass, 42);
        g_autoptr(GembaImage) b = gemba_demo_render (source, klass, 42);
        g_autoptr(GembaImage) c = gemba_demo_render (source, klass, 43);

        g_assert_cmpuint (a->width, ==, GEMBA_DEMO_WIDTH);
        g_assert_cmpuint (a->height, ==, GEMBA_DEMO_HEIGHT);
        g_assert_cmpmem (a->pixels, GEMBA_DEMO_WIDTH * GEMBA_DEMO_HEIGHT * 3,
                         b->pixels, GEMBA_DEMO_WIDTH * GEMBA_DEMO_HEIGHT * 3);
        /* Another seed: another pose, part and light, not just other noise. */
        g_assert_cmpfloat (mean_abs_diff (a, c), >, 5.0);
      }

  g_assert_cmpstr (gemba_demo_class_name (GEMBA_DEMO_MISSING_HOLE), ==, "missing-hole");
  g_assert_cmpstr (gemba_demo_source_name (1), ==, "Line 2 side camera");
  g_assert_cmpstr (gemba_demo_source_name (GEMBA_DEMO_SOURCE_NEW_LIGHTING), ==,
                   "Line 3 top camera");
}

/* Mean of channel @c over the frame, and over its corners (an 40 × 40 square each). */
static void
channel_means (const GembaImage *image, guint c, double *all, double *corners)
{
  double sum = 0, corner_sum = 0;
  guint n_corner = 0;

  for (guint y = 0; y < image->height; y++)
    for (guint x = 0; x < image->width; x++)
      {
        double v = image->pixels[((gsize) y * image->width + x) * 3 + c];
        sum += v;
        if ((x < 40 || x >= image->width - 40) && (y < 40 || y >= image->height - 40))
          {
            corner_sum += v;
            n_corner++;
          }
      }
  *all = sum / ((double) image->width * image->height);
  *corners = corner_sum / n_corner;
}

/* The new lighting is a shift a model notices: darker, warmer and more vignetted than line 1,
 * on average over many frames. */
static void
test_new_lighting (void)
{
  double mean[2][3] = { { 0 } }, corner[2][3] = { { 0 } };
  const guint sources[2] = { 0, GEMBA_DEMO_SOURCE_NEW_LIGHTING };

  for (guint s = 0; s < 2; s++)
    for (guint64 seed = 1; seed <= 16; seed++)
      {
        g_autoptr(GembaImage) image = gemba_demo_render (sources[s], seed % GEMBA_DEMO_N_CLASSES,
                                                         seed);
        for (guint c = 0; c < 3; c++)
          {
            double a, k;
            channel_means (image, c, &a, &k);
            mean[s][c] += a / 16;
            corner[s][c] += k / 16;
          }
      }
  /* Darker: less green (the channel the tint changes least). */
  g_assert_cmpfloat (mean[1][1], <, 0.85 * mean[0][1]);
  /* Warmer: red over blue. */
  g_assert_cmpfloat (mean[1][0] / mean[1][2], >, 1.3 * mean[0][0] / mean[0][2]);
  /* Vignetted: the corners fall further below the mean. */
  g_assert_cmpfloat (corner[1][1] / mean[1][1], <, corner[0][1] / mean[0][1]);
}

/* One seed gives the same part, pose and light in every class: the defect must change a
 * clearly visible patch of the part, and only a patch, never the whole frame. */
static void
test_defects_visible (void)
{
  for (guint64 seed = 1; seed <= 24; seed++)
    for (guint source = 0; source < GEMBA_DEMO_N_RENDER_SOURCES; source++)
      {
        g_autoptr(GembaImage) ok = gemba_demo_render (source, GEMBA_DEMO_OK, seed);

        for (guint klass = GEMBA_DEMO_SCRATCH; klass < GEMBA_DEMO_N_CLASSES; klass++)
          {
            g_autoptr(GembaImage) bad = gemba_demo_render (source, klass, seed);
            guint changed = 0;

            for (gsize i = 0; i < (gsize) ok->width * ok->height; i++)
              {
                int d = 0;

                for (guint c = 0; c < 3; c++)
                  d = MAX (d, ABS ((int) ok->pixels[3 * i + c] - (int) bad->pixels[3 * i + c]));
                if (d > 40)
                  changed++;
              }
            g_test_message ("seed %" G_GUINT64_FORMAT " source %u %s: %u pixels changed", seed,
                            source, gemba_demo_class_name (klass), changed);
            g_assert_cmpuint (changed, >=, 40);
            g_assert_cmpuint (changed, <, ok->width * ok->height / 10);
          }
      }
}

typedef struct {
  guint calls;
  guint last_done;
  guint total;
  GCancellable *cancel_at_10;
} ProgressLog;

static void
progress_cb (guint done, guint total, gpointer user_data)
{
  ProgressLog *log = user_data;

  g_assert_cmpuint (done, >, log->last_done);
  g_assert_cmpuint (done, <=, total);
  log->calls++;
  log->last_done = done;
  log->total = total;
  if (log->cancel_at_10 != NULL && done == 10)
    g_cancellable_cancel (log->cancel_at_10);
}

/* A second demo project is the same, frame for frame, split for split, label for label. */
static void
check_deterministic (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *second = g_build_filename (f->dir, "again", NULL);
  g_autoptr(GembaStore) a = NULL;
  g_autoptr(GembaStore) b = NULL;
  g_autoptr(GPtrArray) fa = NULL;
  g_autoptr(GPtrArray) fb = NULL;
  GembaFrameQuery query = { 0 };

  g_assert_true (gemba_demo_create (second, NULL, NULL, NULL, &error));
  g_assert_no_error (error);

  a = gemba_store_open (f->project, &error);
  g_assert_no_error (error);
  b = gemba_store_open (second, &error);
  g_assert_no_error (error);
  query.sort = GEMBA_SORT_CAPTURED;
  fa = gemba_store_list_frames (a, &query, 0, -1, &error);
  g_assert_no_error (error);
  fb = gemba_store_list_frames (b, &query, 0, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fa->len, ==, fb->len);
  for (guint i = 0; i < fa->len; i++)
    {
      GembaFrame *x = g_ptr_array_index (fa, i), *y = g_ptr_array_index (fb, i);

      g_assert_cmpstr (x->sha256, ==, y->sha256);
      g_assert_cmpint (x->split, ==, y->split);
      g_assert_cmpint (x->label_class_id, ==, y->label_class_id);
    }
}

static void
test_create (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GPtrArray) sources = NULL;
  g_autoptr(GPtrArray) classes = NULL;
  g_autoptr(GArray) per_class = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  GembaFrameQuery query = { 0 };
  GembaStats stats;
  ProgressLog log = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  GHashTable *authors = g_hash_table_new (g_str_hash, g_str_equal);

  g_assert_true (gemba_demo_create (f->project, progress_cb, &log, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("demo project made in %.1f s",
                  (g_get_monotonic_time () - t0) / (double) G_USEC_PER_SEC);
  g_assert_cmpuint (log.last_done, ==, log.total);
  g_assert_cmpuint (log.calls, >=, 300);

  store = gemba_store_open (f->project, &error);
  g_assert_no_error (error);

  g_assert_true (gemba_store_get_stats (store, &stats, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stats.n_frames, >=, 300);
  g_assert_cmpint (stats.n_labeled, >, 0);
  g_assert_cmpint (stats.n_unlabeled, >, 0);
  /* About 70 % labeled. */
  g_assert_cmpfloat ((double) stats.n_labeled / stats.n_frames, >, 0.6);
  g_assert_cmpfloat ((double) stats.n_labeled / stats.n_frames, <, 0.8);
  g_assert_cmpint (stats.n_split[GEMBA_SPLIT_TEST], >, 0);
  g_assert_cmpint (stats.n_split[GEMBA_SPLIT_VAL], >, 0);
  g_assert_cmpint (stats.n_split[GEMBA_SPLIT_TRAIN], >, stats.n_split[GEMBA_SPLIT_TEST]);

  sources = gemba_store_list_sources (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sources->len, ==, 2);
  for (guint i = 0; i < sources->len; i++)
    {
      GembaSource *source = g_ptr_array_index (sources, i);

      g_assert_true (g_str_equal (source->name, "Line 1 top camera") ||
                     g_str_equal (source->name, "Line 2 side camera"));
      g_assert_cmpint (source->n_frames, >, 100);
    }

  classes = gemba_store_list_classes (store, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (classes->len, ==, 4);
  for (guint i = 0; i < classes->len; i++)
    g_assert_cmpstr (((GembaClass *) g_ptr_array_index (classes, i))->name, ==,
                     gemba_demo_class_name (i));

  per_class = gemba_store_count_labels_per_class (store, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (per_class->len, ==, 4);
  for (guint i = 0; i < per_class->len; i++)
    g_assert_cmpint (g_array_index (per_class, GembaClassCount, i).count, >=, 20);

  /* Frames are real 320 × 240 JPEGs, captured in order, labeled by two people. */
  query.filter = GEMBA_FILTER_ALL;
  query.sort = GEMBA_SORT_CAPTURED;
  frames = gemba_store_list_frames (store, &query, 0, -1, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = g_ptr_array_index (frames, i);

      g_assert_cmpstr (frame->ext, ==, "jpg");
      g_assert_cmpuint (frame->width, ==, 320);
      g_assert_cmpuint (frame->height, ==, 240);
      if (i > 0)
        g_assert_cmpint (frame->captured_at, >=,
                         ((GembaFrame *) g_ptr_array_index (frames, i - 1))->captured_at);
      if (frame->label_author != NULL)
        g_hash_table_add (authors, frame->label_author);
      if (i % 40 == 0)
        {
          g_autofree char *path = gemba_store_dup_frame_path (store, frame);
          g_autoptr(GembaImage) image = gemba_image_load (path, &error);

          g_assert_no_error (error);
          g_assert_cmpuint (image->width, ==, 320);
        }
    }
  g_assert_cmpuint (g_hash_table_size (authors), ==, 2);
  g_assert_true (g_hash_table_contains (authors, "mei.chen"));
  g_assert_true (g_hash_table_contains (authors, "r.okafor"));
  g_hash_table_unref (authors);

  /* A project is never made twice in the same place. */
  g_assert_false (gemba_demo_create (f->project, NULL, NULL, NULL, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
  g_assert_true (gemba_store_is_project (f->project));

  check_deterministic (f);
}

static void
test_cancel (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  ProgressLog log = { 0 };

  log.cancel_at_10 = cancellable;
  g_assert_false (gemba_demo_create (f->project, progress_cb, &log, cancellable, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CANCELLED);
  g_assert_cmpuint (log.last_done, ==, 10);
  g_assert_false (g_file_test (f->project, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  /* An empty folder chosen by the user stays, emptied again. */
  g_assert_cmpint (g_mkdir (f->project, 0755), ==, 0);
  g_cancellable_reset (cancellable);
  log.last_done = 0;
  g_assert_false (gemba_demo_create (f->project, progress_cb, &log, cancellable, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CANCELLED);
  g_assert_true (g_file_test (f->project, G_FILE_TEST_IS_DIR));
  {
    GDir *dir = g_dir_open (f->project, 0, NULL);

    g_assert_nonnull (dir);
    g_assert_null (g_dir_read_name (dir));
    g_dir_close (dir);
  }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/core/demo/render", test_render);
  g_test_add_func ("/core/demo/defects-visible", test_defects_visible);
  g_test_add_func ("/core/demo/new-lighting", test_new_lighting);
  g_test_add ("/core/demo/create", Fixture, NULL, fixture_setup, test_create, fixture_teardown);
  g_test_add ("/core/demo/cancel", Fixture, NULL, fixture_setup, test_cancel, fixture_teardown);

  return g_test_run ();
}
