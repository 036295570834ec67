/* test-store.c: the project store
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "gemba.h"
#include "gemba-sha256-private.h"
#include "gemba-util-private.h"

typedef struct
{
  char *dir;
  char *project;
  GembaStore *store;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const char *classes[] = { "ok", "scratch", "dent", NULL };
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("gemba-store-XXXXXX", &error);
  g_assert_no_error (error);
  f->project = g_build_filename (f->dir, "line", NULL);
  f->store = gemba_store_create (f->project, classes, &error);
  g_assert_no_error (error);
  gemba_store_set_author (f->store, "tester");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->store);
  _gemba_remove_tree (f->dir);
  g_free (f->project);
  g_free (f->dir);
}

/* A distinct small JPEG per @seed. */
static GBytes *
make_jpeg (guint seed, guint *w, guint *h)
{
  g_autoptr(GembaImage) image = gemba_image_new (32, 24);
  g_autoptr(GError) error = NULL;
  GBytes *bytes;

  for (guint i = 0; i < 32 * 24 * 3; i++)
    image->pixels[i] = (guint8) ((i * 7 + seed * 131) ^ (seed >> 3));
  bytes = gemba_image_encode_jpeg (image, 90, &error);
  g_assert_no_error (error);
  *w = 32;
  *h = 24;
  return bytes;
}

static GembaFrame *
add_frame (Fixture *f, guint seed, const char *label)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  GembaFrameInfo info;
  guint w, h;
  GembaFrame *frame;

  bytes = make_jpeg (seed, &w, &h);
  gemba_frame_info_init (&info);
  info.source_name = seed % 2 ? "Line 1 top" : "Line 2 side";
  info.captured_at = 1700000000000000 + seed * G_USEC_PER_SEC;
  info.label_class = label;
  frame = gemba_store_add_frame (f->store, bytes, "jpg", w, h, &info, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (frame);
  return frame;
}

static void
test_create_open (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaStore) again = NULL;
  g_autoptr(GPtrArray) classes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *db = g_build_filename (f->project, "project.gemba", NULL);

  g_assert_true (gemba_store_is_project (f->project));
  g_assert_true (g_file_test (db, G_FILE_TEST_IS_REGULAR));
  again = gemba_store_open (f->project, &error);
  g_assert_no_error (error);
  classes = gemba_store_list_classes (again, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (classes->len, ==, 3);
  g_assert_cmpstr (((GembaClass *) classes->pdata[0])->name, ==, "ok");
  g_assert_cmpint (((GembaClass *) classes->pdata[0])->key, ==, 1);
  g_assert_cmpint (((GembaClass *) classes->pdata[2])->key, ==, 3);

  /* Creating over an existing project is refused. */
  g_assert_null (gemba_store_create (f->project, NULL, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
}

static void
test_open_errors (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *missing = g_build_filename (f->dir, "nope", NULL);
  g_autofree char *plain = g_build_filename (f->dir, "plain", NULL);
  g_autofree char *db = g_build_filename (f->project, "project.gemba", NULL);
  g_autofree char *before = NULL, *after = NULL;
  gsize len_before, len_after;
  sqlite3 *raw;

  g_assert_null (gemba_store_open (missing, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  g_mkdir (plain, 0755);
  g_assert_null (gemba_store_open (plain, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_A_PROJECT);
  g_clear_error (&error);

  /* A database from a newer Gemba: refused, and not a byte changes. */
  g_clear_object (&f->store);
  g_assert_cmpint (sqlite3_open (db, &raw), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (raw, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 99",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (raw);
  g_assert_true (g_file_get_contents (db, &before, &len_before, NULL));
  g_assert_null (gemba_store_open (f->project, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_TOO_NEW);
  g_assert_nonnull (strstr (error->message, "newer"));
  g_assert_true (g_file_get_contents (db, &after, &len_after, NULL));
  g_assert_cmpmem (before, len_before, after, len_after);
  g_clear_error (&error);

  /* Garbage instead of a database. */
  g_assert_true (g_file_set_contents (db, "this is not sqlite at all, not even close......", -1,
                                      NULL));
  g_assert_null (gemba_store_open (f->project, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_A_PROJECT);
}

static void
test_frames_dedup (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaFrame) a = add_frame (f, 1, NULL);
  g_autoptr(GembaFrame) b = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = gemba_store_dup_frame_path (f->store, a);
  gboolean duplicate = FALSE;
  guint w, h;

  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpstr (a->source_name, ==, "Line 1 top");
  g_assert_cmpint (a->stream_time, ==, -1);

  bytes = make_jpeg (1, &w, &h);
  b = gemba_store_add_frame (f->store, bytes, "jpg", w, h, NULL, &duplicate, &error);
  g_assert_no_error (error);
  g_assert_true (duplicate);
  g_assert_cmpint (a->id, ==, b->id);
  g_assert_cmpint (gemba_store_count_frames (f->store, NULL, NULL), ==, 1);
}

static void
test_find_prefix (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_frame_free);
  g_autoptr(GError) error = NULL;
  char prefix[5];
  gboolean found_ambiguous = FALSE;

  for (guint i = 0; i < 40; i++)
    g_ptr_array_add (frames, add_frame (f, i, NULL));

  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = frames->pdata[i];
      g_autoptr(GembaFrame) found = gemba_store_find_frame (f->store, frame->sha256, &error);
      g_assert_no_error (error);
      g_assert_cmpint (found->id, ==, frame->id);
    }

  /* With 40 frames, some 1-hex-digit prefixes repeat; 4 digits are the minimum, so look for
   * two frames sharing their first 4 digits by forcing a short one. */
  g_assert_null (gemba_store_find_frame (f->store, "ab", &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (gemba_store_find_frame (f->store, "zzzz", &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_clear_error (&error);

  for (guint i = 0; i < frames->len && !found_ambiguous; i++)
    for (guint j = i + 1; j < frames->len && !found_ambiguous; j++)
      if (strncmp (((GembaFrame *) frames->pdata[i])->sha256,
                   ((GembaFrame *) frames->pdata[j])->sha256, 4) == 0)
        {
          memcpy (prefix, ((GembaFrame *) frames->pdata[i])->sha256, 4);
          prefix[4] = 0;
          found_ambiguous = TRUE;
        }
  if (found_ambiguous)
    {
      g_assert_null (gemba_store_find_frame (f->store, prefix, &error));
      g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_AMBIGUOUS);
      g_clear_error (&error);
    }
  /* A prefix nobody has. */
  {
    char absent[9] = "00000000";
    gboolean taken;
    do
      {
        taken = FALSE;
        for (guint i = 0; i < frames->len; i++)
          taken |= strncmp (((GembaFrame *) frames->pdata[i])->sha256, absent, 8) == 0;
        if (taken)
          absent[0]++;
      }
    while (taken);
    g_assert_null (gemba_store_find_frame (f->store, absent, &error));
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  }
}

static void
test_labels_history (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaFrame) frame = add_frame (f, 7, NULL);
  g_autoptr(GembaClass) ok = gemba_store_find_class (f->store, "ok", NULL);
  g_autoptr(GembaClass) dent = gemba_store_find_class (f->store, "dent", NULL);
  g_autoptr(GPtrArray) history = NULL;
  g_autoptr(GembaFrame) after = NULL;
  g_autoptr(GError) error = NULL;
  GembaStats stats;
  gint64 revision;

  gemba_store_get_stats (f->store, &stats, NULL);
  revision = stats.revision;

  gemba_label_free (gemba_store_set_label (f->store, frame->id, ok->id, GEMBA_LABEL_SET, &error));
  g_assert_no_error (error);
  gemba_store_set_author (f->store, "second");
  gemba_label_free (gemba_store_set_label (f->store, frame->id, dent->id, GEMBA_LABEL_SET, &error));
  g_assert_no_error (error);

  history = gemba_store_list_label_history (f->store, frame->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (history->len, ==, 2);
  g_assert_cmpstr (((GembaLabel *) history->pdata[0])->author, ==, "tester");
  g_assert_cmpstr (((GembaLabel *) history->pdata[0])->class_name, ==, "ok");
  g_assert_null (((GembaLabel *) history->pdata[0])->previous_class_name);
  g_assert_cmpstr (((GembaLabel *) history->pdata[1])->author, ==, "second");
  g_assert_cmpstr (((GembaLabel *) history->pdata[1])->previous_class_name, ==, "ok");
  g_assert_cmpstr (((GembaLabel *) history->pdata[1])->class_name, ==, "dent");

  after = gemba_store_get_frame (f->store, frame->id, &error);
  g_assert_cmpint (after->label_class_id, ==, dent->id);
  g_assert_cmpstr (after->label_author, ==, "second");
  gemba_store_get_stats (f->store, &stats, NULL);
  g_assert_cmpint (stats.revision, >, revision);
  g_assert_cmpint (stats.n_labeled, ==, 1);

  /* Retired classes keep history but take no new label. */
  g_assert_true (gemba_store_set_class_retired (f->store, ok->id, TRUE, &error));
  g_assert_null (gemba_store_set_label (f->store, frame->id, ok->id, GEMBA_LABEL_SET, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
}

static void
test_undo_redo (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaClass) ok = gemba_store_find_class (f->store, "ok", NULL);
  g_autoptr(GembaClass) scratch = gemba_store_find_class (f->store, "scratch", NULL);
  GembaFrame *frames[3];
  g_autoptr(GError) error = NULL;
  guint n_undo, n_redo;

  for (int i = 0; i < 3; i++)
    frames[i] = add_frame (f, 100 + i, NULL);
  for (int i = 0; i < 3; i++)
    gemba_label_free (gemba_store_set_label (f->store, frames[i]->id, i == 1 ? scratch->id : ok->id,
                                             GEMBA_LABEL_SET, &error));
  gemba_store_get_undo_state (f->store, &n_undo, &n_redo);
  g_assert_cmpuint (n_undo, ==, 3);
  g_assert_cmpuint (n_redo, ==, 0);

  /* Undo twice: frames 2 and 1 go back to unlabeled. */
  for (int i = 0; i < 2; i++)
    {
      g_autoptr(GembaLabel) undo = gemba_store_undo_label (f->store, &error);
      g_assert_no_error (error);
      g_assert_nonnull (undo);
      g_assert_cmpint (undo->frame_id, ==, frames[2 - i]->id);
      g_assert_cmpint (undo->class_id, ==, 0);
    }
  gemba_store_get_undo_state (f->store, &n_undo, &n_redo);
  g_assert_cmpuint (n_undo, ==, 1);
  g_assert_cmpuint (n_redo, ==, 2);

  /* The state survives reopening: it lives in the label history. */
  g_clear_object (&f->store);
  f->store = gemba_store_open (f->project, &error);
  g_assert_no_error (error);
  gemba_store_set_author (f->store, "tester");
  gemba_store_get_undo_state (f->store, &n_undo, &n_redo);
  g_assert_cmpuint (n_undo, ==, 1);
  g_assert_cmpuint (n_redo, ==, 2);

  /* Redo brings frame 1 back to scratch. */
  {
    g_autoptr(GembaLabel) redo = gemba_store_redo_label (f->store, &error);
    g_assert_no_error (error);
    g_assert_cmpint (redo->frame_id, ==, frames[1]->id);
    g_assert_cmpint (redo->class_id, ==, scratch->id);
  }
  /* A new label clears the redo stack. */
  gemba_label_free (gemba_store_set_label (f->store, frames[2]->id, scratch->id, GEMBA_LABEL_SET,
                                           &error));
  gemba_store_get_undo_state (f->store, &n_undo, &n_redo);
  g_assert_cmpuint (n_redo, ==, 0);
  g_assert_null (gemba_store_redo_label (f->store, &error));
  g_assert_no_error (error);

  /* Another annotator's later label blocks my undo of that frame. */
  gemba_store_set_author (f->store, "other");
  gemba_label_free (gemba_store_set_label (f->store, frames[2]->id, ok->id, GEMBA_LABEL_SET,
                                           &error));
  gemba_store_set_author (f->store, "tester");
  g_assert_null (gemba_store_undo_label (f->store, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_LOCKED);
  g_assert_nonnull (strstr (error->message, "other"));

  for (int i = 0; i < 3; i++)
    gemba_frame_free (frames[i]);
}

static void
test_classes (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaClass) added = NULL;
  g_autoptr(GembaClass) dent = gemba_store_find_class (f->store, "dent", NULL);
  g_autoptr(GPtrArray) classes = NULL;
  g_autoptr(GError) error = NULL;

  added = gemba_store_add_class (f->store, "missing-screw", NULL, 4, &error);
  g_assert_no_error (error);
  g_assert_cmpint (added->key, ==, 4);
  g_assert_null (gemba_store_add_class (f->store, "other", NULL, 4, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_null (gemba_store_add_class (f->store, "ok", NULL, -1, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_null (gemba_store_add_class (f->store, " bad", NULL, -1, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (gemba_store_find_class (f->store, "nope", &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "scratch"));
  g_clear_error (&error);

  g_assert_true (gemba_store_rename_class (f->store, dent->id, "dent-deep", &error));
  g_assert_true (gemba_store_set_class_color (f->store, dent->id, "#123456", &error));
  g_assert_false (gemba_store_set_class_color (f->store, dent->id, "blue", &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (gemba_store_move_class (f->store, dent->id, 0, &error));
  g_assert_true (gemba_store_set_class_key (f->store, dent->id, 1, &error));
  g_assert_no_error (error);

  classes = gemba_store_list_classes (f->store, FALSE, &error);
  g_assert_cmpstr (((GembaClass *) classes->pdata[0])->name, ==, "dent-deep");
  g_assert_cmpstr (((GembaClass *) classes->pdata[0])->color, ==, "#123456");
  g_assert_cmpint (((GembaClass *) classes->pdata[0])->key, ==, 1);
  /* "ok" lost key 1 to dent-deep. */
  g_assert_cmpstr (((GembaClass *) classes->pdata[1])->name, ==, "ok");
  g_assert_cmpint (((GembaClass *) classes->pdata[1])->key, ==, -1);
}

static void
test_splits (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 assigned[4], again[4];
  GembaStats stats;
  GembaFrameQuery test_query = { .filter = GEMBA_FILTER_SPLIT, .split = GEMBA_SPLIT_TEST };
  g_autoptr(GArray) test_ids = NULL;

  for (guint i = 0; i < 100; i++)
    gemba_frame_free (add_frame (f, 1000 + i, i % 4 == 0 ? "dent" : i % 2 ? "ok" : NULL));
  g_assert_true (gemba_store_assign_splits (f->store, 0.2, 0.1, 7, assigned, &error));
  g_assert_no_error (error);
  g_assert_cmpint (assigned[GEMBA_SPLIT_TEST], ==, 20);
  g_assert_cmpint (assigned[GEMBA_SPLIT_VAL], ==, 10);
  g_assert_cmpint (assigned[GEMBA_SPLIT_TRAIN], ==, 70);
  gemba_store_get_stats (f->store, &stats, NULL);
  g_assert_cmpint (stats.n_split[GEMBA_SPLIT_NONE], ==, 0);

  /* Nothing left to assign. */
  g_assert_true (gemba_store_assign_splits (f->store, 0.2, 0.1, 7, again, &error));
  g_assert_cmpint (again[GEMBA_SPLIT_TEST] + again[GEMBA_SPLIT_TRAIN], ==, 0);

  /* The test split is locked. */
  test_ids = gemba_store_list_frame_ids (f->store, &test_query, &error);
  g_assert_cmpuint (test_ids->len, ==, 20);
  g_assert_false (gemba_store_set_split (f->store, g_array_index (test_ids, gint64, 0),
                                         GEMBA_SPLIT_TRAIN, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_LOCKED);
  g_clear_error (&error);

  g_assert_false (gemba_store_assign_splits (f->store, 0.8, 0.5, 1, NULL, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
}

static void
test_filters (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaClass) dent = gemba_store_find_class (f->store, "dent", NULL);
  GembaFrameQuery query = { 0 };
  g_autoptr(GPtrArray) sources = NULL;
  g_autoptr(GPtrArray) page = NULL;

  for (guint i = 0; i < 30; i++)
    gemba_frame_free (add_frame (f, 2000 + i, i < 10 ? "dent" : NULL));

  query.filter = GEMBA_FILTER_UNLABELED;
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 20);
  query.filter = GEMBA_FILTER_CLASS;
  query.class_id = dent->id;
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 10);
  query.filter = GEMBA_FILTER_REVIEW;
  /* No production model: the review queue is the unlabeled frames. */
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 20);
  query.filter = GEMBA_FILTER_FALSE_READINGS;
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 0);

  sources = gemba_store_list_sources (f->store, NULL);
  g_assert_cmpuint (sources->len, ==, 2);
  query.filter = GEMBA_FILTER_SOURCE;
  query.source_id = ((GembaSource *) sources->pdata[0])->id;
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 15);

  query.filter = GEMBA_FILTER_ALL;
  query.sort = GEMBA_SORT_CAPTURED_DESC;
  page = gemba_store_list_frames (f->store, &query, 5, 10, NULL);
  g_assert_cmpuint (page->len, ==, 10);
  g_assert_cmpint (((GembaFrame *) page->pdata[0])->captured_at, >,
                   ((GembaFrame *) page->pdata[9])->captured_at);
}

static void
test_batch_rollback (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (gemba_store_begin_batch (f->store, &error));
  for (guint i = 0; i < 5; i++)
    gemba_frame_free (add_frame (f, 3000 + i, NULL));
  gemba_store_rollback_batch (f->store);
  g_assert_cmpint (gemba_store_count_frames (f->store, NULL, NULL), ==, 0);

  g_assert_true (gemba_store_begin_batch (f->store, &error));
  for (guint i = 0; i < 5; i++)
    gemba_frame_free (add_frame (f, 3000 + i, NULL));
  g_assert_true (gemba_store_commit_batch (f->store, &error));
  g_assert_cmpint (gemba_store_count_frames (f->store, NULL, NULL), ==, 5);
}

static void
test_models_predictions (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaClass) ok = gemba_store_find_class (f->store, "ok", NULL);
  g_autoptr(GembaClass) dent = gemba_store_find_class (f->store, "dent", NULL);
  g_autoptr(GembaModelRecord) model = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *staging = NULL, *weights = NULL, *dir = NULL, *moved = NULL;
  char *classes[] = { (char *) "ok", (char *) "scratch", (char *) "dent", NULL };
  GembaModelRecord record = { .architecture = (char *) "small-cnn", .classes = classes,
                              .seed = 7, .test_accuracy = -1 };
  gint64 frame_ids[4], class_ids[3] = { ok->id, 0, dent->id };
  float probs[4 * 3] = {
    0.9f, 0.05f, 0.05f,   /* labeled ok, predicted ok */
    0.8f, 0.1f, 0.1f,     /* labeled dent, predicted ok: a false reading */
    0.4f, 0.25f, 0.35f,   /* unlabeled, unsure */
    0.1f, 0.1f, 0.8f,     /* unlabeled, sure */
  };
  GembaFrameQuery query = { .filter = GEMBA_FILTER_FALSE_READINGS };
  g_autoptr(GPtrArray) review = NULL;
  g_autoptr(GArray) corrected = NULL;
  float *stored = NULL;
  guint n_stored;
  gint64 verdict;
  double confidence;

  for (guint i = 0; i < 4; i++)
    {
      GembaFrame *frame = add_frame (f, 4000 + i, i == 0 ? "ok" : i == 1 ? "dent" : NULL);
      frame_ids[i] = frame->id;
      gemba_frame_free (frame);
    }

  staging = gemba_store_make_staging_dir (f->store, &error);
  g_assert_no_error (error);
  weights = g_build_filename (staging, "weights.bin", NULL);
  g_assert_true (g_file_set_contents (weights, "w", 1, NULL));
  model = gemba_store_add_model (f->store, &record, staging, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (model->name, ==, "Model 1");
  g_assert_cmpstr (model->classes[2], ==, "dent");
  g_assert_false (model->production);
  dir = gemba_store_dup_model_dir (f->store, model->id);
  moved = g_build_filename (dir, "weights.bin", NULL);
  g_assert_true (g_file_test (moved, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (staging, G_FILE_TEST_EXISTS));

  g_assert_true (gemba_store_save_predictions (f->store, model->id, 4, frame_ids, probs, 3,
                                               class_ids, &error));
  g_assert_no_error (error);
  /* Not production yet: no false readings. */
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 0);
  g_assert_true (gemba_store_promote_model (f->store, model->id, &error));
  g_assert_cmpint (gemba_store_get_production_model_id (f->store), ==, model->id);
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 1);

  /* The review queue: the false reading, then the least sure unlabeled frame. */
  query.filter = GEMBA_FILTER_REVIEW;
  review = gemba_store_list_frames (f->store, &query, 0, -1, &error);
  g_assert_cmpuint (review->len, ==, 3);
  g_assert_cmpint (((GembaFrame *) review->pdata[0])->id, ==, frame_ids[1]);
  g_assert_cmpint (((GembaFrame *) review->pdata[1])->id, ==, frame_ids[2]);
  g_assert_cmpint (((GembaFrame *) review->pdata[2])->id, ==, frame_ids[3]);
  g_assert_cmpfloat_with_epsilon (((GembaFrame *) review->pdata[1])->pred_confidence, 0.4, 1e-6);

  g_assert_true (gemba_store_get_prediction (f->store, 0, frame_ids[3], &verdict, &confidence,
                                             &stored, &n_stored, &error));
  g_assert_cmpint (verdict, ==, dent->id);
  g_assert_cmpuint (n_stored, ==, 3);
  g_assert_cmpfloat (stored[2], ==, 0.8f);
  g_free (stored);

  corrected = gemba_store_list_corrected_false_readings (f->store, &error);
  g_assert_cmpuint (corrected->len, ==, 1);
  g_assert_cmpint (g_array_index (corrected, gint64, 0), ==, frame_ids[1]);
}

/* Frames are named by the SHA-256 of their bytes: the fast path (SHA instructions) must give
 * GLib's digest, for every length around the block boundaries and for a frame-sized buffer. */
static void
test_sha256 (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (4);
  gsize big = 300 * 1024 + 13;
  g_autofree guint8 *data = g_malloc (big);
  g_autofree char *abc = _gemba_sha256_hex ((const guint8 *) "abc", 3);

  g_assert_cmpstr (abc, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  for (gsize i = 0; i < big; i++)
    data[i] = (guint8) g_rand_int (rand);
  for (gsize len = 0; len <= 300; len++)
    {
      g_autofree char *fast = _gemba_sha256_hex (data + len % 7, len);
      g_autofree char *glib = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data + len % 7, len);
      g_assert_cmpstr (fast, ==, glib);
    }
  {
    g_autofree char *fast = _gemba_sha256_hex (data, big);
    g_autofree char *glib = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, big);
    g_assert_cmpstr (fast, ==, glib);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/core/store/sha256", test_sha256);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/core/store/create-open", test_create_open);
  ADD ("/core/store/open-errors", test_open_errors);
  ADD ("/core/store/frames-dedup", test_frames_dedup);
  ADD ("/core/store/find-prefix", test_find_prefix);
  ADD ("/core/store/labels-history", test_labels_history);
  ADD ("/core/store/undo-redo", test_undo_redo);
  ADD ("/core/store/classes", test_classes);
  ADD ("/core/store/splits", test_splits);
  ADD ("/core/store/filters", test_filters);
  ADD ("/core/store/batch-rollback", test_batch_rollback);
  ADD ("/core/store/models-predictions", test_models_predictions);
#undef ADD

  return g_test_run ();
}
