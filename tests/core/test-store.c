/* test-store.c: the project store
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <unistd.h>

#include "gemba.h"
#include "gemba-db-private.h"
#include "gemba-sha256-private.h"
#include "gemba-util-private.h"
#include "gemba-test-store.h"

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

  f->store = gemba_test_project_create ("gemba-store-XXXXXX", classes, &f->dir, &f->project);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  gemba_test_project_clear (&f->store, &f->project, &f->dir);
}

/* A distinct small JPEG per @seed, 32 × 24. */
static GBytes *
make_jpeg (guint seed, guint *w, guint *h)
{
  *w = 32;
  *h = 24;
  return gemba_test_make_jpeg (32, 24, seed);
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
  if (gemba_test_server ())
    {
      /* A team project: the folder names the server and holds no database. */
      g_autofree char *ini = g_build_filename (f->project, GEMBA_STORE_SERVER_NAME, NULL);
      g_assert_true (g_file_test (ini, G_FILE_TEST_IS_REGULAR));
      g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
      g_assert_nonnull (gemba_store_get_server (f->store));
    }
  else
    {
      g_assert_true (g_file_test (db, G_FILE_TEST_IS_REGULAR));
      g_assert_null (gemba_store_get_server (f->store));
    }
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
  g_assert_nonnull (strstr (error->message, "not SQLite"));
  g_clear_error (&error);

  /* An empty file: damaged, not "not a project". */
  g_assert_true (g_file_set_contents (db, "", 0, NULL));
  g_assert_null (gemba_store_open (f->project, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "damaged"));
  g_assert_nonnull (strstr (error->message, "empty"));
}

/* A database cut short (a copy that stopped half-way, a full disk): called damaged and
 * truncated, and left exactly as it was. */
static void
test_open_truncated (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *db = g_build_filename (f->project, "project.gemba", NULL);
  g_autofree char *whole = NULL, *after = NULL;
  gsize len, len_after;

  for (guint i = 0; i < 40; i++)
    gemba_frame_free (add_frame (f, i, "ok"));
  g_clear_object (&f->store);   /* the last connection checkpoints and removes the -wal */
  g_assert_true (g_file_get_contents (db, &whole, &len, NULL));
  g_assert_cmpuint (len, >, 8192);
  g_assert_true (g_file_set_contents (db, whole, len / 2, NULL));
  g_assert_null (gemba_store_open (f->project, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "damaged"));
  g_assert_nonnull (strstr (error->message, "truncated"));
  g_assert_nonnull (strstr (error->message, db));
  g_assert_true (g_file_get_contents (db, &after, &len_after, NULL));
  g_assert_cmpmem (whole, len / 2, after, len_after);
}

/* A project whose folder and database are not writable opens read-only: everything reads,
 * every change fails saying so, and nothing is written there (no -wal, no -shm). Root writes
 * anything, so as root the check runs as nobody in a subprocess (the saved uid brings root
 * back for the teardown). */
static void
test_open_read_only (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaClass) klass = NULL;
  g_autofree char *db = g_build_filename (f->project, "project.gemba", NULL);
  g_autofree char *wal = g_strconcat (db, "-wal", NULL);
  g_autofree char *shm = g_strconcat (db, "-shm", NULL);
  gboolean root = getuid () == 0;

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }

  for (guint i = 0; i < 3; i++)
    gemba_frame_free (add_frame (f, i, "scratch"));
  g_clear_object (&f->store);
  g_assert_cmpint (g_chmod (f->dir, 0755), ==, 0);
  g_assert_cmpint (g_chmod (db, 0444), ==, 0);
  g_assert_cmpint (g_chmod (f->project, 0555), ==, 0);
  if (root)
    {
      g_assert_cmpint (setresgid (65534, 65534, 0), ==, 0);
      g_assert_cmpint (setresuid (65534, 65534, 0), ==, 0);
    }

  store = gemba_store_open (f->project, &error);
  g_assert_no_error (error);
  g_assert_true (gemba_store_is_read_only (store));
  g_assert_cmpint (gemba_store_count_frames (store, NULL, NULL), ==, 3);
  klass = gemba_store_add_class (store, "crack", NULL, -1, &error);
  g_assert_null (klass);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_READ_ONLY);
  g_assert_nonnull (strstr (error->message, "read-only"));
  g_assert_nonnull (strstr (error->message, f->project));
  g_clear_error (&error);
  g_assert_false (gemba_store_check_writable (store, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_READ_ONLY);
  g_clear_error (&error);
  g_clear_object (&store);
  g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (shm, G_FILE_TEST_EXISTS));

  if (root)
    {
      g_assert_cmpint (setresuid (0, 0, 0), ==, 0);
      g_assert_cmpint (setresgid (0, 0, 0), ==, 0);
    }
  g_chmod (f->project, 0755);
  g_chmod (db, 0644);
  /* Writable again: opened read-write. */
  store = gemba_store_open (f->project, &error);
  g_assert_no_error (error);
  g_assert_false (gemba_store_is_read_only (store));
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
  gemba_store_assign_splits (f->store, 0.2, 0.1, 7, assigned, &error);
  g_assert_no_error (error);
  g_assert_no_error (error);
  /* The 75 labeled frames are split; the 25 unlabeled ones wait until they are labeled. */
  g_assert_cmpint (assigned[GEMBA_SPLIT_TEST], ==, 15);
  g_assert_cmpint (assigned[GEMBA_SPLIT_VAL], ==, 8);
  g_assert_cmpint (assigned[GEMBA_SPLIT_TRAIN], ==, 52);
  gemba_store_get_stats (f->store, &stats, NULL);
  g_assert_cmpint (stats.n_split[GEMBA_SPLIT_NONE], ==, 25);

  /* Nothing left to assign. */
  g_assert_true (gemba_store_assign_splits (f->store, 0.2, 0.1, 7, again, &error));
  g_assert_cmpint (again[GEMBA_SPLIT_TEST] + again[GEMBA_SPLIT_TRAIN], ==, 0);

  /* The test split is locked. */
  test_ids = gemba_store_list_frame_ids (f->store, &test_query, &error);
  g_assert_cmpuint (test_ids->len, ==, 15);
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

/* Frames a line spooled carry the package that classified them: listed by version with their
 * counts, filtered by, kept once per package, and a version-2 project gains them on opening. */
static void
test_frame_packages (Fixture *f, gconstpointer data)
{
  const char *shas[] = { "aa11", "bb22" }, *versions[] = { "1.0", "1.1" };
  g_autoptr(GPtrArray) packages = NULL;
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *db = g_build_filename (f->project, "project.gemba", NULL);
  GembaFrameQuery query = { 0 };
  GembaFramePackage *old, *new;
  sqlite3 *raw;

  gemba_frame_free (add_frame (f, 7000, NULL)); /* not from a line */
  for (guint i = 0; i < 6; i++)
    {
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GembaFrame) frame = NULL;
      GembaFrameInfo info;
      gboolean duplicate;
      guint w, h;

      /* The last one was imported before, not from a line: it gains the package. */
      bytes = make_jpeg (i < 5 ? 7100 + i : 7000, &w, &h);
      gemba_frame_info_init (&info);
      info.source_name = "Line 3";
      info.source_kind = "line";
      info.package_sha256 = shas[i < 2 || i == 5 ? 0 : 1];
      info.package_name = "washers";
      info.package_version = versions[i < 2 || i == 5 ? 0 : 1];
      frame = gemba_store_add_frame (f->store, bytes, "png", w, h, &info, &duplicate, &error);
      g_assert_no_error (error);
      g_assert_true (duplicate == (i == 5));
    }

  packages = gemba_store_list_frame_packages (f->store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (packages->len, ==, 2);
  old = packages->pdata[0];
  new = packages->pdata[1];
  g_assert_cmpstr (old->sha256, ==, "aa11");
  g_assert_cmpstr (old->name, ==, "washers");
  g_assert_cmpstr (old->version, ==, "1.0");
  g_assert_cmpint (old->n_frames, ==, 3);
  g_assert_cmpstr (new->version, ==, "1.1");
  g_assert_cmpint (new->n_frames, ==, 3);

  query.filter = GEMBA_FILTER_PACKAGE;
  query.package_id = new->id;
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 3);
  page = gemba_store_list_frames (f->store, &query, 0, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (page->len, ==, 3);
  for (guint i = 0; i < page->len; i++)
    g_assert_cmpstr (((GembaFrame *) page->pdata[i])->source_name, ==, "Line 3");
  query.package_id = old->id;
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 3);
  query.package_id = 0;
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 0);

  /* A project of schema 2 (before packages and leases were recorded) is brought up to date
   * (on a server, test-store-server checks the steps). */
  if (gemba_test_server ())
    return;
  g_clear_object (&f->store);
  g_assert_cmpint (sqlite3_open (db, &raw), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (raw, "DROP TABLE leases; DROP INDEX frames_package;"
                                      "ALTER TABLE frames DROP COLUMN package_id;"
                                      "DROP TABLE packages; PRAGMA user_version = 2",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (raw);
  f->store = gemba_store_open (f->project, &error);
  g_assert_no_error (error);
  g_clear_pointer (&packages, g_ptr_array_unref);
  packages = gemba_store_list_frame_packages (f->store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (packages->len, ==, 0);
  g_assert_cmpint (gemba_store_count_frames (f->store, NULL, NULL), ==, 6);
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

  /* The review queue: unlabeled frames only (the false reading is not in it), the least sure
   * first. */
  query.filter = GEMBA_FILTER_REVIEW;
  review = gemba_store_list_frames (f->store, &query, 0, -1, &error);
  g_assert_cmpuint (review->len, ==, 2);
  g_assert_cmpint (((GembaFrame *) review->pdata[0])->id, ==, frame_ids[2]);
  g_assert_cmpint (((GembaFrame *) review->pdata[1])->id, ==, frame_ids[3]);
  g_assert_cmpfloat_with_epsilon (((GembaFrame *) review->pdata[0])->pred_confidence, 0.4, 1e-6);
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 2);

  g_assert_true (gemba_store_get_prediction (f->store, 0, frame_ids[3], &verdict, &confidence,
                                             &stored, &n_stored, &error));
  g_assert_cmpint (verdict, ==, dent->id);
  g_assert_cmpuint (n_stored, ==, 3);
  g_assert_cmpfloat (stored[2], ==, 0.8f);
  g_free (stored);

  /* The false reading was labeled at import: not a correction. */
  corrected = gemba_store_list_corrections (f->store, &error);
  g_assert_cmpuint (corrected->len, ==, 0);
  g_clear_pointer (&corrected, g_array_unref);

  /* A person labels the sure frame against production's verdict: a correction, which
   * records the model and verdict it corrected; confirming the unsure one is not. */
  {
    g_autoptr(GembaLabel) fix = gemba_store_set_label (f->store, frame_ids[3], ok->id,
                                                       GEMBA_LABEL_SET, &error);
    g_autoptr(GembaLabel) confirm = NULL;
    g_autoptr(GPtrArray) history = NULL;
    g_assert_no_error (error);
    g_assert_true (fix->correction);
    g_assert_cmpint (fix->model_id, ==, model->id);
    g_assert_cmpint (fix->model_class_id, ==, dent->id);
    g_assert_cmpstr (fix->model_class_name, ==, "dent");
    confirm = gemba_store_set_label (f->store, frame_ids[2], ok->id, GEMBA_LABEL_CONFIRM, &error);
    g_assert_no_error (error);
    g_assert_false (confirm->correction);
    g_assert_cmpint (confirm->model_id, ==, model->id);
    history = gemba_store_list_label_history (f->store, frame_ids[3], &error);
    g_assert_cmpuint (history->len, ==, 1);
    g_assert_true (((GembaLabel *) history->pdata[0])->correction);
  }
  corrected = gemba_store_list_corrections (f->store, &error);
  g_assert_cmpuint (corrected->len, ==, 1);
  g_assert_cmpint (g_array_index (corrected, gint64, 0), ==, frame_ids[3]);
  g_clear_pointer (&corrected, g_array_unref);

  /* Undone, it is no correction any more; redone, it is again. */
  {
    g_autoptr(GembaLabel) undo = gemba_store_undo_label (f->store, &error);
    g_autoptr(GembaLabel) undo2 = gemba_store_undo_label (f->store, &error);
    g_autoptr(GembaLabel) redo = gemba_store_redo_label (f->store, &error);
    g_autoptr(GembaLabel) redo2 = gemba_store_redo_label (f->store, &error);
    g_assert_no_error (error);
    /* Redone newest undo first: the fix, then the confirmation. */
    g_assert_nonnull (redo2);
    g_assert_true (redo->correction);
    g_assert_cmpint (redo->frame_id, ==, frame_ids[3]);
    g_assert_false (redo2->correction);
  }
  query.filter = GEMBA_FILTER_CORRECTIONS;
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 1);

  /* Labeled after seeing production's verdict: both train, never test. */
  {
    gint64 assigned[4];
    g_autoptr(GembaFrame) fixed = NULL, confirmed = NULL;
    g_assert_true (gemba_store_assign_splits (f->store, 1.0, 0.0, 3, assigned, &error));
    fixed = gemba_store_get_frame (f->store, frame_ids[3], &error);
    confirmed = gemba_store_get_frame (f->store, frame_ids[2], &error);
    g_assert_cmpint (fixed->split, ==, GEMBA_SPLIT_TRAIN);
    g_assert_cmpint (confirmed->split, ==, GEMBA_SPLIT_TRAIN);
  }

  /* Suspect labels: the import production reads as ok with 0.8 is not sure enough (0.9). */
  query.filter = GEMBA_FILTER_SUSPECT;
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 0);
}

/* Saves production predictions for the frames; @probs has 3 columns. */
static gint64
promote_predictions (Fixture *f, guint n, const gint64 *frame_ids, const float *probs)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) classes = gemba_store_list_classes (f->store, FALSE, &error);
  g_autoptr(GembaModelRecord) model = NULL;
  g_autofree char *staging = gemba_store_make_staging_dir (f->store, &error);
  char *names[] = { (char *) "ok", (char *) "scratch", (char *) "dent", NULL };
  GembaModelRecord record = { .architecture = (char *) "small-cnn", .classes = names,
                              .seed = 7, .test_accuracy = -1 };
  gint64 class_ids[3];

  for (guint k = 0; k < 3; k++)
    class_ids[k] = ((GembaClass *) classes->pdata[k])->id;
  model = gemba_store_add_model (f->store, &record, staging, &error);
  g_assert_no_error (error);
  g_assert_true (gemba_store_save_predictions (f->store, model->id, n, frame_ids, probs, 3,
                                               class_ids, &error));
  g_assert_true (gemba_store_promote_model (f->store, model->id, &error));
  g_assert_no_error (error);
  return model->id;
}

static GembaFrame *
add_sourced_frame (Fixture *f, guint seed, const char *source, gint64 captured_at,
                   const char *label)
{
  g_autoptr(GError) error = NULL;
  guint w, h;
  g_autoptr(GBytes) bytes = make_jpeg (seed, &w, &h);
  GembaFrameInfo info;
  GembaFrame *frame;

  gemba_frame_info_init (&info);
  info.source_name = source;
  info.captured_at = captured_at;
  info.label_class = label;
  frame = gemba_store_add_frame (f->store, bytes, "jpg", w, h, &info, NULL, &error);
  g_assert_no_error (error);
  return frame;
}

/* The queue: unlabeled frames only, near-duplicates once, interleaved across the predicted
 * classes, the newest source first among equals, test frames never in it. */
static void
test_review_queue (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) queue = NULL;
  gint64 ids[12];
  float probs[12 * 3];
  const gint64 t0 = G_GINT64_CONSTANT (1700000000) * G_USEC_PER_SEC;
  guint n_dent = 0;

  /* Old line: 6 unlabeled frames predicted "ok" fairly unsure, a minute apart. New line
   * (newer source): 4 frames predicted "dent", two of them a second apart with the same
   * doubt (near-duplicates), and two predicted "ok"; plus a labeled frame. */
  for (guint i = 0; i < 12; i++)
    {
      gint64 offset = i < 6 ? i * 60 : i == 7 ? 1 : (i - 6) * 60;
      g_autoptr(GembaFrame) frame =
        add_sourced_frame (f, 7000 + i, i < 6 ? "old line" : "new line",
                           t0 + offset * G_USEC_PER_SEC, i == 11 ? "dent" : NULL);
      ids[i] = frame->id;
    }
  for (guint i = 0; i < 12; i++)
    {
      float *p = probs + 3 * i;
      gboolean dent = i >= 6 && i < 10;
      float top = i < 6 ? 0.5f + 0.05f * i : dent ? 0.45f + 0.02f * i : 0.6f;
      p[0] = dent ? (1 - top) / 2 : top;
      p[1] = (1 - top) / 2;
      p[2] = dent ? top : (1 - top) / 2;
    }
  /* Frames 6 and 7: same source, captured a second apart, same verdict, similar margin. */
  probs[3 * 7 + 2] = probs[3 * 6 + 2] + 0.01f;
  probs[3 * 7 + 0] = probs[3 * 7 + 1] = (1 - probs[3 * 7 + 2]) / 2;
  promote_predictions (f, 12, ids, probs);

  queue = gemba_store_list_review_queue (f->store, &error);
  g_assert_no_error (error);
  /* 11 unlabeled, one near-duplicate hidden. */
  g_assert_cmpuint (queue->len, ==, 10);
  for (guint i = 0; i < queue->len; i++)
    {
      gint64 id = g_array_index (queue, gint64, i);
      g_assert_cmpint (id, !=, ids[11]);
      g_assert_cmpint (id, !=, ids[7]);
      if (i < 4 && (id == ids[6] || id == ids[8] || id == ids[9]))
        n_dent++;
    }
  /* Class-diverse: the first four alternate ok / dent although the old line's "ok" frames are
   * less sure than most "dent" frames; the least sure frame of all comes first. */
  g_assert_cmpuint (n_dent, ==, 2);
  g_assert_cmpint (g_array_index (queue, gint64, 0), ==, ids[0]);

  /* The CLI and the Frames page read the same order through the REVIEW filter. */
  {
    GembaFrameQuery query = { .filter = GEMBA_FILTER_REVIEW };
    g_autoptr(GArray) same = gemba_store_list_frame_ids (f->store, &query, &error);
    g_autoptr(GPtrArray) page = gemba_store_list_frames (f->store, &query, 2, 3, &error);
    g_assert_cmpuint (same->len, ==, queue->len);
    g_assert_cmpmem (same->data, same->len * 8, queue->data, queue->len * 8);
    g_assert_cmpuint (page->len, ==, 3);
    g_assert_cmpint (((GembaFrame *) page->pdata[0])->id, ==, g_array_index (queue, gint64, 2));
  }

  /* A test batch of the new line leaves the queue and waits to be labeled for testing. */
  {
    GembaFrameQuery batch = { .filter = GEMBA_FILTER_TEST_BATCH };
    g_autoptr(GArray) counts = NULL;
    g_autoptr(GArray) after = NULL;
    g_autoptr(GPtrArray) sources = gemba_store_list_sources (f->store, &error);
    gint64 new_line = 0;
    for (guint i = 0; i < sources->len; i++)
      if (g_str_equal (((GembaSource *) sources->pdata[i])->name, "new line"))
        new_line = ((GembaSource *) sources->pdata[i])->id;
    g_assert_cmpint (gemba_store_reserve_test_batch (f->store, new_line, 2, 1, &error), ==, 2);
    g_assert_cmpint (gemba_store_count_frames (f->store, &batch, NULL), ==, 2);
    after = gemba_store_list_review_queue (f->store, &error);
    g_assert_cmpuint (after->len, <, queue->len);
    counts = gemba_store_count_test_frames_per_source (f->store, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (counts->len, ==, 2);
    /* Newest source first. */
    g_assert_cmpint (g_array_index (counts, GembaSourceTestCount, 0).source_id, ==, new_line);
    g_assert_cmpint (g_array_index (counts, GembaSourceTestCount, 0).n_reserved, ==, 2);
    g_assert_cmpint (g_array_index (counts, GembaSourceTestCount, 0).n_test, ==, 0);
    /* Topping up reserves the rest of GEMBA_MIN_TEST_FRAMES (as many as there are), once. */
    {
      gint64 unreserved, topped;
      GembaFrameQuery none = { .filter = GEMBA_FILTER_SPLIT, .split = GEMBA_SPLIT_NONE };
      g_autoptr(GPtrArray) left = gemba_store_list_frames (f->store, &none, 0, -1, &error);

      unreserved = 0;
      for (guint i = 0; i < left->len; i++)
        if (((GembaFrame *) left->pdata[i])->source_id == new_line &&
            ((GembaFrame *) left->pdata[i])->label_class_id == 0)
          unreserved++;
      topped = gemba_store_top_up_test_batch (f->store, new_line, &error);
      g_assert_no_error (error);
      g_assert_cmpint (topped, ==, MIN (GEMBA_MIN_TEST_FRAMES - 2, unreserved));
      g_assert_cmpint (gemba_store_count_frames (f->store, &batch, NULL), ==, 2 + topped);
      g_assert_cmpint (gemba_store_top_up_test_batch (f->store, new_line, &error), ==, 0);
    }
    g_array_set_clear_func (counts, NULL);
    for (guint i = 0; i < counts->len; i++)
      g_free (g_array_index (counts, GembaSourceTestCount, i).source_name);
  }
}

/* The queue's ranking: entropy rather than margin; one frame per doubt (the two likeliest
 * classes) per round, so the doubt ok-or-dent is not buried under the more numerous and less
 * sure ok-or-scratch; no predicted class over GEMBA_REVIEW_MAX_CLASS_SHARE of the first
 * GEMBA_REVIEW_BATCH while other classes wait. */
static void
test_review_queue_doubts (Fixture *f, gconstpointer data)
{
  enum { N_A = 30, N_B = 10, N_C = 30, N_D = 10, N = N_A + N_B + N_C + N_D };
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) queue = NULL;
  gint64 ids[N];
  float probs[N * 3];
  const gint64 t0 = G_GINT64_CONSTANT (1700000000) * G_USEC_PER_SEC;
  const guint cap = (guint) (GEMBA_REVIEW_BATCH * GEMBA_REVIEW_MAX_CLASS_SHARE);
  guint n_ok = 0, n_dent = 0, n_b = 0, n_b_early = 0;
  int pos_x = -1, pos_y = -1;

  /* A: ok or scratch, the least sure; B: ok or dent; C: dent or ok, sure; D: scratch, surer.
   * Columns: ok, scratch, dent. A minute apart: no near-duplicates. */
  for (guint i = 0; i < N; i++)
    {
      float *p = probs + 3 * i;
      g_autoptr(GembaFrame) frame = add_sourced_frame (f, 9000 + i, "line", t0 + i * 60 *
                                                       G_USEC_PER_SEC, NULL);
      ids[i] = frame->id;
      if (i < N_A)
        {
          p[0] = 0.40f + 0.002f * i;
          p[1] = 0.36f;
          p[2] = 1 - p[0] - p[1];
        }
      else if (i < N_A + N_B)
        {
          p[0] = 0.60f + 0.01f * (i - N_A);
          p[2] = 0.30f;
          p[1] = 1 - p[0] - p[2];
        }
      else if (i < N_A + N_B + N_C)
        {
          p[2] = 0.80f + 0.002f * (i - N_A - N_B);
          p[0] = 0.12f;
          p[1] = 1 - p[0] - p[2];
        }
      else
        {
          p[1] = 0.85f + 0.002f * (i - N_A - N_B - N_C);
          p[0] = 0.10f;
          p[2] = 1 - p[0] - p[1];
        }
    }
  /* Two frames of doubt A: X has the smaller margin, Y the higher entropy. */
  probs[3 * 0 + 0] = 0.50f, probs[3 * 0 + 1] = 0.44f, probs[3 * 0 + 2] = 0.06f;
  probs[3 * 1 + 0] = 0.38f, probs[3 * 1 + 1] = 0.31f, probs[3 * 1 + 2] = 0.31f;
  promote_predictions (f, N, ids, probs);

  queue = gemba_store_list_review_queue (f->store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (queue->len, ==, N);
  for (guint i = 0; i < queue->len; i++)
    {
      gint64 id = g_array_index (queue, gint64, i);
      gboolean b = id >= ids[N_A] && id <= ids[N_A + N_B - 1];
      if (id == ids[0])
        pos_x = (int) i;
      if (id == ids[1])
        pos_y = (int) i;
      if (i < GEMBA_REVIEW_BATCH && id <= ids[N_A + N_B - 1])
        n_ok++;
      if (i < GEMBA_REVIEW_BATCH && id >= ids[N_A + N_B] && id <= ids[N_A + N_B + N_C - 1])
        n_dent++;
      if (i < 2 * N_B && b)
        n_b_early++;
      n_b += b;
    }
  g_assert_cmpuint (n_b, ==, N_B);
  /* Entropy first: Y, the least sure of all, leads; X, whose margin is the smallest, does not. */
  g_assert_cmpint (pos_y, ==, 0);
  g_assert_cmpint (pos_x, >, pos_y);
  /* Doubt B takes every other "ok" place although all of A is less sure. */
  g_assert_cmpuint (n_b_early, >=, N_B / 2);
  /* The cap: 20 "ok" and 20 "dent" in the first 50 while "scratch" frames wait, the rest
   * after. */
  g_assert_cmpuint (n_ok, ==, cap);
  g_assert_cmpuint (n_dent, ==, cap);
  g_assert_cmpint (g_array_index (queue, gint64, N - 1), <=, ids[N_A - 1]);
}

/* Splits: unlabeled frames get none; the test split is a random sample of every source. */
static void
test_splits_per_source (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 assigned[4];
  GembaFrameQuery query = { .filter = GEMBA_FILTER_SPLIT, .split = GEMBA_SPLIT_NONE };
  g_autoptr(GArray) counts = NULL;

  for (guint i = 0; i < 40; i++)
    {
      g_autoptr(GembaFrame) frame = add_sourced_frame (f, 8000 + i, i % 2 ? "a" : "b",
                                                       0, i < 30 ? "ok" : NULL);
    }
  g_assert_true (gemba_store_assign_splits (f->store, 0.2, 0.1, 5, assigned, &error));
  g_assert_no_error (error);
  g_assert_cmpint (assigned[GEMBA_SPLIT_TEST] + assigned[GEMBA_SPLIT_VAL] +
                   assigned[GEMBA_SPLIT_TRAIN], ==, 30);
  g_assert_cmpint (gemba_store_count_frames (f->store, &query, NULL), ==, 10);
  counts = gemba_store_count_test_frames_per_source (f->store, &error);
  g_assert_cmpuint (counts->len, ==, 2);
  for (guint i = 0; i < counts->len; i++)
    {
      GembaSourceTestCount *c = &g_array_index (counts, GembaSourceTestCount, i);
      g_assert_cmpint (c->n_labeled, ==, 15);
      g_assert_cmpint (c->n_test, ==, 3);
      g_free (c->source_name);
    }
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

/* A team project (only with a test server): what its folder may and may not say, who the
 * audit trail names, and a folder that is not writable. */
static void
test_team (Fixture *f, gconstpointer data)
{
  g_autofree char *ini = g_build_filename (f->project, GEMBA_STORE_SERVER_NAME, NULL);
  g_autofree char *other = g_build_filename (f->dir, "other", NULL);
  g_autofree char *fresh = NULL;
  g_autofree char *secret = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GembaDb) db = NULL;
  g_autoptr(GembaDbStmt) stmt = NULL;
  g_autoptr(GembaStore) again = NULL;
  g_autoptr(GError) error = NULL;
  const char *classes[] = { "ok", NULL };

  /* Every audit entry names the server's user, whatever the local author is. */
  g_assert_true (gemba_store_audit (f->store, "test", "team", NULL, &error));
  g_assert_no_error (error);
  db = gemba_db_open_server (gemba_store_get_server (f->store), &error);
  g_assert_no_error (error);
  stmt = gemba_db_prepare (db, "SELECT count(*), count(CASE WHEN author = current_user "
                               "THEN 1 END) FROM audit", &error);
  g_assert_no_error (error);
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
  g_assert_cmpint (gemba_db_column_int64 (stmt, 0), >=, 2);
  g_assert_cmpint (gemba_db_column_int64 (stmt, 1), ==, gemba_db_column_int64 (stmt, 0));
  g_clear_pointer (&stmt, gemba_db_stmt_free);

  /* A password is never written into the shared folder. */
  fresh = gemba_test_server_new_database ();
  secret = g_strdup_printf ("%s&password=hunter2", fresh);
  g_assert_null (gemba_store_create_team (other, secret, classes, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "pgpass"));
  g_assert_null (strstr (error->message, "hunter2"));
  g_assert_false (g_file_test (other, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  /* A server nobody can reach: the new folder is not made. */
  g_assert_null (gemba_store_create_team (other, "postgresql:///nothing?host=/nonexistent",
                                          classes, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_IO);
  g_assert_false (g_file_test (other, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  /* A server database that holds something else is not taken over. */
  g_assert_null (gemba_store_create_team (other, gemba_store_get_server (f->store), classes,
                                          &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
  g_clear_error (&error);
  _gemba_remove_tree (other);

  /* A server nobody can reach: the project and the server are named, nothing is written. */
  g_assert_true (g_file_get_contents (ini, &text, NULL, NULL));
  g_assert_true (g_file_set_contents (ini, "[server]\nuri=postgresql:///nothing?host=/nonexistent\n",
                                      -1, NULL));
  g_assert_null (gemba_store_open (f->project, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent"));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (ini, "[server]\nurl=postgresql:///x\n", -1, NULL));
  g_assert_null (gemba_store_open (f->project, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, GEMBA_STORE_SERVER_NAME));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (ini, text, -1, NULL));

  /* A folder the user cannot write (the frames live there): opened read-only. */
  if (getuid () != 0)
    {
      g_autoptr(GPtrArray) list = NULL;

      g_assert_cmpint (g_chmod (f->project, 0555), ==, 0);
      again = gemba_store_open (f->project, &error);
      g_assert_no_error (error);
      g_assert_true (gemba_store_is_read_only (again));
      list = gemba_store_list_classes (again, FALSE, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (list->len, ==, 3);
      g_assert_null (gemba_store_add_class (again, "new", NULL, -1, &error));
      g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_READ_ONLY);
      g_clear_error (&error);
      g_assert_cmpint (g_chmod (f->project, 0755), ==, 0);
    }
}

typedef struct
{
  GembaChangeKind kind;
  gint64 id;
  gint64 at;  /* µs monotonic */
} Heard;

static void
heard_cb (GembaChangeKind kind, gint64 id, gpointer user_data)
{
  Heard heard = { kind, id, g_get_monotonic_time () };

  g_array_append_val ((GArray *) user_data, heard);
}

/* Iterates @context until @heard holds @kind with @id or @timeout_us passed; the µs it took
 * from @since, or -1. */
static gint64
wait_heard (GMainContext *context, GArray *heard, GembaChangeKind kind, gint64 id,
            gint64 since, gint64 timeout_us)
{
  while (g_get_monotonic_time () < since + timeout_us)
    {
      for (guint i = 0; i < heard->len; i++)
        {
          Heard *h = &g_array_index (heard, Heard, i);
          if (h->kind == kind && h->id == id)
            return h->at - since;
        }
      /* Wakes at least every 10 ms to look at the clock. */
      {
        g_autoptr(GSource) tick = g_timeout_source_new (10);
        g_source_set_dummy_callback (tick);
        g_source_attach (tick, context);
        g_main_context_iteration (context, TRUE);
        g_source_destroy (tick);
      }
    }
  return -1;
}

/* The team project's URI as the server user @user, and a store opened with it (the folder's
 * settings file names it only while opening). */
static GembaStore *
open_as (Fixture *f, const char *user)
{
  g_autofree char *ini = g_build_filename (f->project, GEMBA_STORE_SERVER_NAME, NULL);
  g_autofree char *saved = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *text = NULL;
  g_autofree char *replacement = g_strdup_printf ("\\1user=%s", user);
  g_autoptr(GRegex) regex = g_regex_new ("([?&])user=[^&]*", 0, 0, NULL);
  g_autoptr(GError) error = NULL;
  GembaStore *store;

  g_assert_true (g_file_get_contents (ini, &saved, NULL, NULL));
  uri = g_regex_replace (regex, gemba_store_get_server (f->store), -1, 0, replacement, 0, NULL);
  g_assert_nonnull (strstr (uri, replacement + 2));
  text = g_strdup_printf ("[server]\nuri=%s\n", uri);
  g_assert_true (g_file_set_contents (ini, text, -1, NULL));
  store = gemba_store_open (f->project, &error);
  g_assert_true (g_file_set_contents (ini, saved, -1, NULL));
  g_assert_no_error (error);
  return store;
}

/* A refusal names the action, the project, the server user, its role and the role needed. */
static void
assert_refused (GError **error, const char *action, const char *user, const char *needed,
                const char *phrase)
{
  g_autofree char *role = g_strdup_printf ("needs the %s role", needed);

  g_assert_error (*error, GEMBA_ERROR, GEMBA_ERROR_REFUSED);
  g_assert_nonnull (strstr ((*error)->message, action));
  g_assert_nonnull (strstr ((*error)->message, user));
  g_assert_nonnull (strstr ((*error)->message, role));
  g_assert_nonnull (strstr ((*error)->message, phrase));
  g_clear_error (error);
}

/* Runs @sql as the connection's user and expects the server to refuse it (42501). */
static void
assert_server_refuses (GembaDb *db, const char *sql)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (gemba_db_exec (db, sql, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_REFUSED);
  g_assert_cmpint (gemba_db_errcode (db), ==, GEMBA_ERROR_REFUSED);
  if (!strstr (error->message, "permission denied") && !strstr (error->message, "admin option"))
    g_error ("%s: %s", sql, error->message);
}

static GembaRole
member_role (GPtrArray *members, const char *user)
{
  for (guint i = 0; i < members->len; i++)
    if (g_str_equal (((GembaTeamMember *) members->pdata[i])->user, user))
      return ((GembaTeamMember *) members->pdata[i])->role;
  return GEMBA_ROLE_NONE;
}

static gint64
count_rows (GembaDb *db, const char *sql)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaDbStmt) stmt = gemba_db_prepare (db, sql, &error);

  g_assert_no_error (error);
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
  return gemba_db_column_int64 (stmt, 0);
}

/* Roles (only with a test server): what an annotator, an engineer and an owner may do, each
 * checked by Gemba first and by the server itself (SQL run around Gemba). */
static void
test_team_roles (Fixture *f, gconstpointer data)
{
  g_autofree char *alice = g_strdup_printf ("alice_%d", (int) getpid ());
  g_autofree char *bob = g_strdup_printf ("bob_%d", (int) getpid ());
  g_autofree char *carol = g_strdup_printf ("carol_%d", (int) getpid ());
  g_autofree char *engineer_role = NULL;
  g_autoptr(GembaStore) as_alice = NULL, as_bob = NULL, as_carol = NULL;
  g_autoptr(GembaDb) admin = NULL, raw = NULL;
  g_autoptr(GPtrArray) members = NULL;
  g_autoptr(GembaFrame) labeled = NULL, unlabeled = NULL;
  g_autoptr(GembaClass) ok = NULL, klass = NULL;
  g_autoptr(GembaLabel) label = NULL;
  g_autoptr(GembaModelRecord) model = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *sql = NULL;
  const char *names[] = { "ok", "scratch", "dent", NULL };
  GembaModelRecord record = { .architecture = (char *) "small-cnn", .classes = (char **) names,
                              .seed = 7, .test_accuracy = -1 };
  gint64 revision, classes_before;
  gboolean has = FALSE;

  /* The DBA's part: login roles. */
  admin = gemba_db_open_server (gemba_store_get_server (f->store), &error);
  g_assert_no_error (error);
  sql = g_strdup_printf ("CREATE ROLE %s LOGIN; CREATE ROLE %s LOGIN; CREATE ROLE %s LOGIN",
                         alice, bob, carol);
  g_assert_true (gemba_db_exec (admin, sql, &error));
  g_assert_no_error (error);

  /* gemba init --server made the roles; its creator (a superuser here) is an owner. */
  g_assert_true (gemba_store_team_has_roles (f->store, &has, &error));
  g_assert_no_error (error);
  g_assert_true (has);
  g_assert_cmpint (gemba_store_get_role (f->store), ==, GEMBA_ROLE_OWNER);
  engineer_role = gemba_store_dup_role_name (f->store, GEMBA_ROLE_ENGINEER);
  g_assert_true (g_str_has_suffix (engineer_role, "_engineer"));

  labeled = add_frame (f, 1, "ok");
  unlabeled = add_frame (f, 2, NULL);
  ok = gemba_store_find_class (f->store, "ok", &error);
  g_assert_no_error (error);
  staging = gemba_store_make_staging_dir (f->store, &error);
  g_assert_no_error (error);
  model = gemba_store_add_model (f->store, &record, staging, &error);
  g_assert_no_error (error);

  g_assert_true (gemba_store_team_add (f->store, alice, GEMBA_ROLE_ANNOTATOR, &error));
  g_assert_no_error (error);
  g_assert_true (gemba_store_team_add (f->store, bob, GEMBA_ROLE_ENGINEER, &error));
  g_assert_no_error (error);
  g_assert_false (gemba_store_team_add (f->store, "nobody_such", GEMBA_ROLE_ENGINEER, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "CREATE ROLE"));
  g_clear_error (&error);
  members = gemba_store_team_list (f->store, &error);
  g_assert_no_error (error);
  g_assert_cmpint (member_role (members, alice), ==, GEMBA_ROLE_ANNOTATOR);
  g_assert_cmpint (member_role (members, bob), ==, GEMBA_ROLE_ENGINEER);
  g_assert_cmpint (member_role (members, gemba_store_get_server_user (f->store)), ==,
                   GEMBA_ROLE_OWNER);
  g_clear_pointer (&members, g_ptr_array_unref);

  /* An annotator labels; the rest is refused before anything is written. */
  as_alice = open_as (f, alice);
  g_assert_cmpint (gemba_store_get_role (as_alice), ==, GEMBA_ROLE_ANNOTATOR);
  g_assert_cmpstr (gemba_store_get_server_user (as_alice), ==, alice);
  label = gemba_store_set_label (as_alice, unlabeled->id, ok->id, GEMBA_LABEL_SET, &error);
  g_assert_no_error (error);
  g_clear_pointer (&label, gemba_label_free);
  label = gemba_store_undo_label (as_alice, &error);
  g_assert_no_error (error);
  g_clear_pointer (&label, gemba_label_free);
  /* … and shares the review queue: claims, renews, labels one, gives the rest back. */
  {
    g_autoptr(GembaFrame) other = add_frame (f, 3, NULL);
    g_autoptr(GArray) queue = g_array_new (FALSE, FALSE, sizeof (gint64));
    g_autoptr(GArray) claimed = NULL;
    g_autoptr(GPtrArray) leases = NULL;

    g_array_append_val (queue, unlabeled->id);
    g_array_append_val (queue, other->id);
    claimed = gemba_store_claim_frames (as_alice, queue, 2, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (claimed->len, ==, 2);
    g_assert_true (gemba_store_renew_leases (as_alice, &error));
    g_assert_no_error (error);
    label = gemba_store_set_label (as_alice, other->id, ok->id, GEMBA_LABEL_SET, &error);
    g_assert_no_error (error);
    g_clear_pointer (&label, gemba_label_free);
    /* (Cleared again, so that the splits below see the frames they expect.) */
    label = gemba_store_set_label (as_alice, other->id, 0, GEMBA_LABEL_CLEAR, &error);
    g_assert_no_error (error);
    g_clear_pointer (&label, gemba_label_free);
    g_assert_true (gemba_store_release_frame (as_alice, unlabeled->id, &error));
    g_assert_true (gemba_store_release_leases (as_alice, &error));
    g_assert_no_error (error);
    leases = gemba_store_list_leases (as_alice, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (leases->len, ==, 0);
  }
  revision = count_rows (admin, "SELECT CAST(value AS BIGINT) FROM settings "
                                "WHERE key = 'revision'");
  classes_before = count_rows (admin, "SELECT count(*) FROM classes");
  g_assert_false (gemba_store_promote_model (as_alice, model->id, &error));
  assert_refused (&error, "promoting a model", alice, "engineer", "is an annotator");
  g_assert_false (gemba_store_assign_splits (as_alice, 0.2, 0.1, 1, NULL, &error));
  assert_refused (&error, "assigning splits", alice, "engineer", "is an annotator");
  g_assert_null (gemba_store_add_class (as_alice, "crack", NULL, -1, &error));
  assert_refused (&error, "changing the classes", alice, "owner", "is an annotator");
  g_assert_false (gemba_store_set_split (as_alice, labeled->id, GEMBA_SPLIT_TEST, &error));
  assert_refused (&error, "split", alice, "owner", "is an annotator");
  g_assert_false (gemba_store_team_add (as_alice, carol, GEMBA_ROLE_ANNOTATOR, &error));
  assert_refused (&error, "adding a member", alice, "owner", "is an annotator");
  g_assert_cmpint (gemba_store_get_production_model_id (f->store), ==, 0);
  g_assert_cmpint (count_rows (admin, "SELECT count(*) FROM frames WHERE split <> 0"), ==, 0);
  g_assert_cmpint (count_rows (admin, "SELECT count(*) FROM classes"), ==, classes_before);
  g_assert_cmpint (count_rows (admin, "SELECT CAST(value AS BIGINT) FROM settings "
                                      "WHERE key = 'revision'"), ==, revision);

  /* … and refused by the server itself, whatever the client. */
  raw = gemba_db_open_server (gemba_store_get_server (as_alice), &error);
  g_assert_no_error (error);
  assert_server_refuses (raw, "INSERT INTO classes (name, color, position, created_at) "
                              "VALUES ('crack', '#000000', 9, 0)");
  assert_server_refuses (raw, "UPDATE frames SET split = 3");
  assert_server_refuses (raw, "INSERT INTO models (name, created_at, author, architecture, "
                              "classes, settings, seed, dataset_revision) "
                              "VALUES ('x', 0, 'x', 'x', '[]', '{}', 0, 0)");
  assert_server_refuses (raw, "INSERT INTO settings (key, value) VALUES ('production-model', "
                              "'1') ON CONFLICT (key) DO UPDATE SET value = '1'");
  assert_server_refuses (raw, "INSERT INTO audit (at, author, action) VALUES (0, 'x', 'export')");
  g_free (sql);
  sql = g_strdup_printf ("GRANT \"%s\" TO %s", engineer_role, alice);
  assert_server_refuses (raw, sql);
  /* Rows a policy hides are not changed (and not refused): the production model stays. */
  g_assert_true (gemba_db_exec (raw, "UPDATE settings SET value = '1' "
                                     "WHERE key = 'production-model'", &error));
  g_assert_no_error (error);
  g_assert_cmpint (gemba_db_changes (raw), ==, 0);
  g_clear_pointer (&raw, gemba_db_close);

  /* An engineer promotes and assigns new frames' splits, but neither changes classes nor
   * moves a frame that has a split, nor reserves unlabeled frames for testing. */
  as_bob = open_as (f, bob);
  g_assert_cmpint (gemba_store_get_role (as_bob), ==, GEMBA_ROLE_ENGINEER);
  g_assert_true (gemba_store_promote_model (as_bob, model->id, &error));
  g_assert_no_error (error);
  g_assert_cmpint (gemba_store_get_production_model_id (f->store), ==, model->id);
  g_assert_true (gemba_store_assign_splits (as_bob, 0.0, 0.0, 1, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (count_rows (admin, "SELECT count(*) FROM frames WHERE split = 1"), ==, 1);
  g_assert_null (gemba_store_add_class (as_bob, "crack", NULL, -1, &error));
  assert_refused (&error, "changing the classes", bob, "owner", "is an engineer");
  g_assert_cmpint (gemba_store_reserve_test_batch (as_bob, unlabeled->source_id, 1, 1, &error),
                   ==, -1);
  assert_refused (&error, "test split", bob, "owner", "is an engineer");
  raw = gemba_db_open_server (gemba_store_get_server (as_bob), &error);
  g_assert_no_error (error);
  assert_server_refuses (raw, "UPDATE frames SET split = 3 WHERE split = 0");
  assert_server_refuses (raw, "UPDATE frames SET split = 2 WHERE split = 1");
  assert_server_refuses (raw, "UPDATE classes SET name = 'x'");
  /* Whoever an engineer says wrote an audit entry, the server writes its own user. */
  g_assert_true (gemba_db_exec (raw, "INSERT INTO audit (at, author, action) "
                                     "VALUES (0, 'somebody else', 'test')", &error));
  g_assert_no_error (error);
  g_free (sql);
  sql = g_strdup_printf ("SELECT count(*) FROM audit WHERE action = 'test' AND author = '%s'",
                         bob);
  g_assert_cmpint (count_rows (admin, sql), ==, 1);
  g_clear_pointer (&raw, gemba_db_close);

  /* An owner changes classes and the test split and manages the team. */
  klass = gemba_store_add_class (f->store, "crack", NULL, -1, &error);
  g_assert_no_error (error);
  g_clear_pointer (&klass, gemba_class_free);
  g_assert_true (gemba_store_team_add (f->store, carol, GEMBA_ROLE_OWNER, &error));
  g_assert_no_error (error);
  as_carol = open_as (f, carol);
  g_assert_cmpint (gemba_store_get_role (as_carol), ==, GEMBA_ROLE_OWNER);
  klass = gemba_store_add_class (as_carol, "burr", NULL, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gemba_store_reserve_test_batch (as_carol, unlabeled->source_id, 1, 1, &error),
                   ==, 1);
  g_assert_no_error (error);
  g_assert_true (gemba_store_team_add (as_carol, alice, GEMBA_ROLE_ENGINEER, &error));
  g_assert_no_error (error);

  /* Bob becomes an annotator while his workbench is open: its next promotion is refused by
   * the server, explained, and changes nothing. */
  g_assert_true (gemba_store_team_add (as_carol, bob, GEMBA_ROLE_ANNOTATOR, &error));
  g_assert_no_error (error);
  g_assert_cmpint (gemba_store_get_role (as_bob), ==, GEMBA_ROLE_ENGINEER);  /* as it was */
  g_assert_false (gemba_store_promote_model (as_bob, model->id, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_REFUSED);
  g_assert_nonnull (strstr (error->message, "The server refused"));
  assert_refused (&error, "promoting a model", bob, "engineer", "is an annotator");
  g_assert_cmpint (gemba_store_get_role (as_bob), ==, GEMBA_ROLE_ANNOTATOR);
  g_assert_true (gemba_store_team_remove (as_carol, bob, &error));
  g_assert_no_error (error);
  g_assert_cmpint (count_rows (admin, "SELECT count(*) FROM audit WHERE action = 'promote'"),
                   ==, 1);

  members = gemba_store_team_list (f->store, &error);
  g_assert_no_error (error);
  g_assert_cmpint (member_role (members, alice), ==, GEMBA_ROLE_ENGINEER);
  g_assert_cmpint (member_role (members, bob), ==, GEMBA_ROLE_NONE);
  g_assert_cmpint (member_role (members, carol), ==, GEMBA_ROLE_OWNER);
  g_clear_pointer (&members, g_ptr_array_unref);
  g_assert_false (gemba_store_team_remove (f->store, bob, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* The last owner stays. */
  g_assert_true (gemba_store_team_remove (f->store, carol, &error));
  g_assert_no_error (error);
  g_assert_false (gemba_store_team_remove (f->store, gemba_store_get_server_user (f->store),
                                           &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_REFUSED);
  g_assert_nonnull (strstr (error->message, "last owner"));
  g_clear_error (&error);
}

/* A team project made before Gemba had roles (simulated: its roles dropped) gets them from
 * gemba_store_team_create_roles(), again and again. */
static void
test_team_roles_create (Fixture *f, gconstpointer data)
{
  g_autofree char *annotator = gemba_store_dup_role_name (f->store, GEMBA_ROLE_ANNOTATOR);
  g_autofree char *engineer = gemba_store_dup_role_name (f->store, GEMBA_ROLE_ENGINEER);
  g_autofree char *owner = gemba_store_dup_role_name (f->store, GEMBA_ROLE_OWNER);
  g_autofree char *alice = g_strdup_printf ("alice_c%d", (int) getpid ());
  g_autofree char *sql = NULL;
  g_autoptr(GembaDb) admin = NULL;
  g_autoptr(GembaStore) again = NULL, as_alice = NULL;
  g_autoptr(GPtrArray) members = NULL;
  g_autoptr(GError) error = NULL;
  gboolean has = TRUE;

  admin = gemba_db_open_server (gemba_store_get_server (f->store), &error);
  g_assert_no_error (error);
  sql = g_strdup_printf ("REASSIGN OWNED BY \"%1$s\" TO CURRENT_USER;"
                         "DROP OWNED BY \"%1$s\", \"%2$s\", \"%3$s\";"
                         "DROP ROLE \"%1$s\", \"%2$s\", \"%3$s\"; CREATE ROLE %4$s LOGIN",
                         owner, engineer, annotator, alice);
  g_assert_true (gemba_db_exec (admin, sql, &error));
  g_assert_no_error (error);
  g_clear_object (&f->store);

  again = gemba_store_open (f->project, &error);
  g_assert_no_error (error);
  g_assert_true (gemba_store_team_has_roles (again, &has, &error));
  g_assert_false (has);
  g_assert_cmpint (gemba_store_get_role (again), ==, GEMBA_ROLE_OWNER);  /* owns the tables */
  g_assert_null (gemba_store_team_list (again, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "roles --create"));
  g_clear_error (&error);

  for (int i = 0; i < 2; i++)
    {
      g_assert_true (gemba_store_team_create_roles (again, &error));
      g_assert_no_error (error);
    }
  g_assert_true (gemba_store_team_has_roles (again, &has, &error));
  g_assert_true (has);
  g_assert_true (gemba_store_team_add (again, alice, GEMBA_ROLE_ANNOTATOR, &error));
  g_assert_no_error (error);
  members = gemba_store_team_list (again, &error);
  g_assert_no_error (error);
  g_assert_cmpint (member_role (members, alice), ==, GEMBA_ROLE_ANNOTATOR);
  f->store = g_steal_pointer (&again);
  as_alice = open_as (f, alice);
  g_assert_cmpint (gemba_store_get_role (as_alice), ==, GEMBA_ROLE_ANNOTATOR);
  g_assert_null (gemba_store_add_class (as_alice, "crack", NULL, -1, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_REFUSED);
}

/* Two clients of one team project (only with a test server): what one writes, the other's
 * watch hears within a second; a watch skipping its own process hears none of it; a watch
 * whose connection is killed reconnects and asks for a reload. */
static void
test_team_watch (Fixture *f, gconstpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GArray) heard = g_array_new (FALSE, FALSE, sizeof (Heard));
  g_autoptr(GArray) own = g_array_new (FALSE, FALSE, sizeof (Heard));
  g_autoptr(GembaStore) other = NULL;
  g_autoptr(GembaStoreWatch) watch = NULL;
  g_autoptr(GembaStoreWatch) skip = NULL;
  g_autoptr(GembaFrame) frame = NULL;
  g_autoptr(GembaLabel) label = NULL;
  g_autoptr(GembaClass) klass = NULL;
  g_autoptr(GembaModelRecord) model = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *staging = NULL;
  char *names[] = { (char *) "ok", (char *) "scratch", (char *) "dent", NULL };
  GembaModelRecord record = { .architecture = (char *) "small-cnn", .classes = names,
                              .seed = 7, .test_accuracy = -1 };
  gint64 start, took, worst = 0;
  const gint64 bound = G_USEC_PER_SEC;

  other = gemba_store_open (f->project, &error);
  g_assert_no_error (error);
  watch = gemba_store_watch_new (other, GEMBA_WATCH_DEFAULT, context, heard_cb, heard, &error);
  g_assert_no_error (error);
  g_assert_true (gemba_store_watch_is_connected (watch));
  skip = gemba_store_watch_new (other, GEMBA_WATCH_SKIP_OWN_PROCESS, context, heard_cb, own,
                                &error);
  g_assert_no_error (error);

  start = g_get_monotonic_time ();
  frame = add_frame (f, 9100, NULL);
  took = wait_heard (context, heard, GEMBA_CHANGE_FRAMES, 0, start, bound);
  g_assert_cmpint (took, >=, 0);
  worst = MAX (worst, took);
  g_test_message ("%s heard %.1f ms after the write began", "import", took / 1000.0);

  klass = gemba_store_find_class (f->store, "dent", &error);
  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  label = gemba_store_set_label (f->store, frame->id, klass->id, GEMBA_LABEL_SET, &error);
  g_assert_no_error (error);
  took = wait_heard (context, heard, GEMBA_CHANGE_FRAMES, frame->id, start, bound);
  g_assert_cmpint (took, >=, 0);
  worst = MAX (worst, took);
  g_test_message ("%s heard %.1f ms after the write began", "label", took / 1000.0);

  staging = gemba_store_make_staging_dir (f->store, &error);
  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  model = gemba_store_add_model (f->store, &record, staging, &error);
  g_assert_no_error (error);
  took = wait_heard (context, heard, GEMBA_CHANGE_MODEL, model->id, start, bound);
  g_assert_cmpint (took, >=, 0);
  worst = MAX (worst, took);
  g_test_message ("%s heard %.1f ms after the write began", "model", took / 1000.0);
  start = g_get_monotonic_time ();
  g_assert_true (gemba_store_promote_model (f->store, model->id, &error));
  g_assert_no_error (error);
  took = wait_heard (context, heard, GEMBA_CHANGE_PRODUCTION, model->id, start, bound);
  g_assert_cmpint (took, >=, 0);
  worst = MAX (worst, took);
  g_test_message ("%s heard %.1f ms after the write began", "promotion", took / 1000.0);
  g_test_message ("slowest notification: %.1f ms", worst / 1000.0);

  /* A rolled-back write is never announced. */
  g_assert_true (gemba_store_begin_batch (f->store, &error));
  g_assert_true (gemba_store_rename_class (f->store, klass->id, "bump", &error));
  g_assert_no_error (error);
  gemba_store_rollback_batch (f->store);
  /* The same process wrote all of it: the skipping watch heard nothing, even given time. */
  start = g_get_monotonic_time ();
  g_assert_cmpint (wait_heard (context, heard, GEMBA_CHANGE_CLASSES, klass->id, start,
                               G_USEC_PER_SEC / 5), ==, -1);
  g_assert_cmpuint (own->len, ==, 0);
  g_clear_pointer (&skip, gemba_store_watch_free);

  /* The watch's connection is killed: reported, then reconnected with a request to reload. */
  {
    g_autoptr(GembaDb) db = gemba_db_open_server (gemba_store_get_server (f->store), &error);
    g_assert_no_error (error);
    g_test_expect_message ("gemba-store", G_LOG_LEVEL_WARNING, "*lost the connection*");
    g_assert_true (gemba_db_exec (db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE query LIKE '%LISTEN gemba_changes%' "
                                      "AND pid != pg_backend_pid()",
                                  &error));
    g_assert_no_error (error);
  }
  g_array_set_size (heard, 0);
  start = g_get_monotonic_time ();
  g_assert_cmpint (wait_heard (context, heard, GEMBA_CHANGE_RESYNC, 0, start,
                               10 * G_USEC_PER_SEC), >=, 0);
  g_test_assert_expected_messages ();
  g_assert_true (gemba_store_watch_is_connected (watch));
  g_clear_pointer (&label, gemba_label_free);
  label = gemba_store_set_label (f->store, frame->id, 0, GEMBA_LABEL_CLEAR, &error);
  g_assert_no_error (error);
  g_assert_cmpint (wait_heard (context, heard, GEMBA_CHANGE_FRAMES, frame->id, start,
                               10 * G_USEC_PER_SEC), >=, 0);
}

/* --- Faults: a server that goes away, a client killed mid-label -------------------------- */

/* Runs the test server's control script (tests/server/with-server.sh) with @action; FALSE
 * when there is none (a server the test did not start). */
static gboolean
server_ctl (const char *action)
{
  const char *ctl = g_getenv ("GEMBA_TEST_SERVER_CTL");
  g_autofree char *command = NULL;
  g_autoptr(GError) error = NULL;
  int status;

  if (!ctl || !*ctl)
    return FALSE;
  command = g_strdup_printf ("%s %s", ctl, action);
  g_assert_true (g_spawn_command_line_sync (command, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
  return TRUE;
}

/* Runs @sql (one integer) on a connection of its own to @store's server. */
static gint64
server_query (GembaStore *store, const char *sql)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaDb) db = gemba_db_open_server (gemba_store_get_server (store), &error);
  g_autoptr(GembaDbStmt) stmt = NULL;

  g_assert_no_error (error);
  stmt = gemba_db_prepare (db, sql, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
  return gemba_db_column_int64 (stmt, 0);
}

/* Sessions holding the team project's shared owner lock (gemba-store-check.c). */
#define OWNER_LOCKS "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' " \
                    "AND objid = 1195724099 AND mode = 'ShareLock' AND granted"

static guint
history_length (Fixture *f, gint64 frame_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) history = gemba_store_list_label_history (f->store, frame_id, &error);

  g_assert_no_error (error);
  return history->len;
}

/* The server restarted between two labels: the store connects again by itself, takes its
 * owner lock again, and the second label lands. Stopped: a label fails with
 * GEMBA_ERROR_DISCONNECTED and nothing of it is written. Lost inside a batch: the rest of the
 * batch fails until it is rolled back, and none of it is written. A label sent twice with
 * the same time (its commit's answer lost) is saved once. */
static void
test_team_reconnect (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaFrame) a = add_frame (f, 9200, NULL);
  g_autoptr(GembaFrame) b = add_frame (f, 9201, NULL);
  g_autoptr(GembaClass) ok = NULL;
  g_autoptr(GembaClass) dent = NULL;
  g_autoptr(GembaLabel) label = NULL;
  g_autoptr(GembaLabel) again = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start, restart_us, label_us;
  guint n;

  if (!g_getenv ("GEMBA_TEST_SERVER_CTL"))
    {
      g_test_skip ("needs a server it may restart (tests/server/with-server.sh)");
      return;
    }
  ok = gemba_store_find_class (f->store, "ok", &error);
  dent = gemba_store_find_class (f->store, "dent", &error);
  g_assert_no_error (error);
  label = gemba_store_set_label (f->store, a->id, ok->id, GEMBA_LABEL_SET, &error);
  g_assert_no_error (error);
  g_clear_pointer (&label, gemba_label_free);
  g_assert_cmpint (server_query (f->store, OWNER_LOCKS), ==, 1);

  /* Restarted between two labels. */
  start = g_get_monotonic_time ();
  server_ctl ("restart fast");
  restart_us = g_get_monotonic_time () - start;
  start = g_get_monotonic_time ();
  label = gemba_store_set_label (f->store, b->id, dent->id, GEMBA_LABEL_SET, &error);
  label_us = g_get_monotonic_time () - start;
  g_assert_no_error (error);
  g_assert_cmpint (label->class_id, ==, dent->id);
  g_clear_pointer (&label, gemba_label_free);
  g_assert_true (gemba_store_is_connected (f->store));
  g_assert_cmpint (server_query (f->store, OWNER_LOCKS), ==, 1);
  g_test_message ("server restart took %.0f ms; the next label, reconnecting, %.1f ms",
                  restart_us / 1000.0, label_us / 1000.0);

  /* Stopped (as if it crashed): the label fails, distinctly, and is not written. */
  n = history_length (f, a->id);
  server_ctl ("stop immediate");
  g_assert_null (gemba_store_set_label (f->store, a->id, dent->id, GEMBA_LABEL_SET, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_DISCONNECTED);
  g_clear_error (&error);
  g_assert_false (gemba_store_is_connected (f->store));
  g_assert_false (gemba_store_check_connection (f->store, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_DISCONNECTED);
  g_clear_error (&error);
  server_ctl ("start");
  g_assert_true (gemba_store_check_connection (f->store, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (history_length (f, a->id), ==, n);
  g_assert_cmpint (server_query (f->store, OWNER_LOCKS), ==, 1);

  /* Lost in the middle of a batch: nothing of the batch is written, and it is not silently
   * continued on a new connection (which would commit its second half alone). */
  g_assert_true (gemba_store_begin_batch (f->store, &error));
  label = gemba_store_set_label (f->store, a->id, dent->id, GEMBA_LABEL_SET, &error);
  g_assert_no_error (error);
  g_clear_pointer (&label, gemba_label_free);
  g_assert_cmpint (server_query (f->store,
                                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE pid <> pg_backend_pid() AND backend_type = "
                                 "'client backend' AND datname = current_database()"), ==, 1);
  g_assert_null (gemba_store_set_label (f->store, b->id, ok->id, GEMBA_LABEL_SET, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_DISCONNECTED);
  g_clear_error (&error);
  g_assert_false (gemba_store_commit_batch (f->store, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_DISCONNECTED);
  g_clear_error (&error);
  g_assert_cmpuint (history_length (f, a->id), ==, n);
  label = gemba_store_set_label (f->store, a->id, dent->id, GEMBA_LABEL_SET, &error);
  g_assert_no_error (error);
  g_clear_pointer (&label, gemba_label_free);
  g_assert_cmpuint (history_length (f, a->id), ==, n + 1);

  /* Sent again after its answer was lost: saved once, the same label returned. */
  {
    gint64 at = g_get_real_time ();

    label = gemba_store_set_label_at (f->store, b->id, ok->id, GEMBA_LABEL_SET, at, &error);
    g_assert_no_error (error);
    again = gemba_store_set_label_at (f->store, b->id, ok->id, GEMBA_LABEL_SET, at, &error);
    g_assert_no_error (error);
    g_assert_cmpint (again->id, ==, label->id);
    g_assert_cmpint (label->created_at, ==, at);
    g_clear_pointer (&label, gemba_label_free);
    g_clear_pointer (&again, gemba_label_free);
    label = gemba_store_undo_label_at (f->store, at + 1, &error);
    g_assert_no_error (error);
    again = gemba_store_undo_label_at (f->store, at + 1, &error);
    g_assert_no_error (error);
    g_assert_cmpint (again->id, ==, label->id);
    g_assert_cmpint (label->kind, ==, GEMBA_LABEL_UNDO);
    g_clear_pointer (&label, gemba_label_free);
    g_clear_pointer (&again, gemba_label_free);
    label = gemba_store_redo_label_at (f->store, at + 2, &error);
    g_assert_no_error (error);
    again = gemba_store_redo_label_at (f->store, at + 2, &error);
    g_assert_no_error (error);
    g_assert_cmpint (again->id, ==, label->id);
    g_assert_cmpint (label->kind, ==, GEMBA_LABEL_REDO);
    g_assert_cmpint (label->class_id, ==, ok->id);
  }
}

static const char *test_program;

/* The child of /core/store/kill-confirmed: labels the project's frames round and round as
 * fast as it can and prints "FRAME CLASS LABEL" for each label once it is confirmed. */
static int
label_child_main (const char *project)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = gemba_store_open (project, &error);
  g_autoptr(GArray) ids = NULL;
  g_autoptr(GPtrArray) classes = NULL;
  GembaFrameQuery all = { .filter = GEMBA_FILTER_ALL };

  if (!store ||
      !(ids = gemba_store_list_frame_ids (store, &all, &error)) ||
      !(classes = gemba_store_list_classes (store, FALSE, &error)))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  gemba_store_set_author (store, "killed");
  for (guint64 i = 0;; i++)
    {
      gint64 frame_id = g_array_index (ids, gint64, i % ids->len);
      const GembaClass *klass = classes->pdata[i % classes->len];
      g_autoptr(GembaLabel) label = gemba_store_set_label (store, frame_id, klass->id,
                                                           GEMBA_LABEL_SET, &error);
      if (!label)
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      printf ("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n", frame_id,
              klass->id, label->id);
      fflush (stdout);
    }
  return 0;
}

/* A client killed with SIGKILL in the middle of labeling loses no label it was told was
 * saved (SQLite: the WAL, synchronous = FULL; a server: the commit). */
static void
test_kill_confirmed (Fixture *f, gconstpointer data)
{
  const char *argv[] = { test_program, "--label-child", f->project, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) child = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GArray) confirmed = g_array_new (FALSE, FALSE, sizeof (gint64) * 3);
  const guint kill_after = 40;
  char *line;

  g_assert_true (gemba_store_begin_batch (f->store, &error));
  for (guint i = 0; i < 20; i++)
    gemba_frame_free (add_frame (f, 9300 + i, NULL));
  g_assert_true (gemba_store_commit_batch (f->store, &error));
  g_assert_no_error (error);

  child = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (child));
  while ((line = g_data_input_stream_read_line (out, NULL, NULL, &error)))
    {
      gint64 row[3];

      g_assert_cmpint (sscanf (line, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %"
                               G_GINT64_FORMAT, &row[0], &row[1], &row[2]), ==, 3);
      g_free (line);
      g_array_append_val (confirmed, row);
      if (confirmed->len == kill_after)
        g_subprocess_send_signal (child, SIGKILL);
    }
  g_assert_no_error (error);
  g_subprocess_wait (child, NULL, &error);
  g_assert_no_error (error);
  /* It was killed while labeling, not ended by an error. */
  g_assert_true (g_subprocess_get_if_signaled (child));
  g_assert_cmpint (g_subprocess_get_term_sig (child), ==, SIGKILL);
  g_assert_cmpuint (confirmed->len, >=, kill_after);
  g_test_message ("%u labels confirmed before the kill took effect", confirmed->len);

  /* Every confirmed label is there, as it was confirmed: a fresh connection reads them. */
  {
    g_autoptr(GembaStore) store = gemba_store_open (f->project, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < confirmed->len; i++)
      {
        gint64 *row = &g_array_index (confirmed, gint64, 3 * i);
        g_autoptr(GPtrArray) history = gemba_store_list_label_history (store, row[0], &error);
        gboolean found = FALSE;

        g_assert_no_error (error);
        for (guint h = 0; h < history->len; h++)
          {
            GembaLabel *label = history->pdata[h];
            if (label->id == row[2])
              {
                g_assert_cmpint (label->class_id, ==, row[1]);
                g_assert_cmpstr (label->author, ==, "killed");
                found = TRUE;
              }
          }
        g_assert_true (found);
      }
  }
}

/* Takes the private network's loopback down or up (tests/server/lost-network.sh). */
static void
set_network (gboolean up)
{
  const char *argv[] = { "ip", "link", "set", "lo", up ? "up" : "down", NULL };
  g_autoptr(GError) error = NULL;
  gint status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                               NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
}

/* A lost network (the loopback of a private network namespace taken down: packets go nowhere
 * and nothing says so), with Gemba's own connection settings: a label fails with
 * GEMBA_ERROR_DISCONNECTED in bounded time (TCP keepalives and tcp_user_timeout, not the
 * system's two hours) and is not written; once the network is back, the same label sent
 * again lands once, on a connection made again by itself. */
static void
test_team_lost_network (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaFrame) a = add_frame (f, 9300, NULL);
  g_autoptr(GembaFrame) b = add_frame (f, 9301, NULL);
  g_autoptr(GembaClass) ok = NULL;
  g_autoptr(GembaLabel) label = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start, failed_us, at;

  ok = gemba_store_find_class (f->store, "ok", &error);
  g_assert_no_error (error);
  label = gemba_store_set_label (f->store, a->id, ok->id, GEMBA_LABEL_SET, &error);
  g_assert_no_error (error);
  g_clear_pointer (&label, gemba_label_free);

  set_network (FALSE);
  at = g_get_real_time ();
  start = g_get_monotonic_time ();
  label = gemba_store_set_label_at (f->store, b->id, ok->id, GEMBA_LABEL_SET, at, &error);
  failed_us = g_get_monotonic_time () - start;
  g_assert_null (label);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_DISCONNECTED);
  g_test_message ("with the network lost, a label failed after %.1f s: %s", failed_us / 1e6,
                  error->message);
  g_clear_error (&error);
  g_assert_false (gemba_store_is_connected (f->store));
  /* Gemba asks for 30 s without an acknowledgement (tcp_user_timeout), keepalives after 10 s. */
  g_assert_cmpint (failed_us, <, 90 * G_USEC_PER_SEC);

  set_network (TRUE);
  start = g_get_monotonic_time ();
  label = gemba_store_set_label_at (f->store, b->id, ok->id, GEMBA_LABEL_SET, at, &error);
  g_assert_no_error (error);
  g_test_message ("with the network back, the label sent again landed in %.1f ms",
                  (g_get_monotonic_time () - start) / 1e3);
  g_clear_pointer (&label, gemba_label_free);
  g_assert_true (gemba_store_is_connected (f->store));
  /* Its first send never reached the server, or its commit did: saved once either way. */
  g_assert_cmpuint (history_length (f, b->id), ==, 1);
  g_assert_cmpuint (history_length (f, a->id), ==, 1);
}

/* --- Review-queue leases ------------------------------------------------------------------ */

/* @n unlabeled frames (seeds from @seed) as a queue in the order they were added. */
static GArray *
make_queue (Fixture *f, guint seed, guint n)
{
  g_autoptr(GError) error = NULL;
  GArray *queue = g_array_new (FALSE, FALSE, sizeof (gint64));

  g_assert_true (gemba_store_begin_batch (f->store, &error));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GembaFrame) frame = add_frame (f, seed + i, NULL);
      g_array_append_val (queue, frame->id);
    }
  g_assert_true (gemba_store_commit_batch (f->store, &error));
  g_assert_no_error (error);
  return queue;
}

static GembaStore *
open_holder (Fixture *f, const char *holder)
{
  g_autoptr(GError) error = NULL;
  GembaStore *store = gemba_store_open (f->project, &error);

  g_assert_no_error (error);
  gemba_store_set_author (store, holder);
  gemba_store_set_lease_holder (store, holder);
  return store;
}

static GArray *
claim (GembaStore *store, GArray *queue, guint n)
{
  g_autoptr(GError) error = NULL;
  GArray *claimed = gemba_store_claim_frames (store, queue, n, &error);

  g_assert_no_error (error);
  g_assert_nonnull (claimed);
  return claimed;
}

/* Asserts that @claimed is exactly the queue's frames at @positions (-1 ends them). */
static void
assert_claimed (GArray *claimed, GArray *queue, const int *positions)
{
  guint n = 0;

  while (positions[n] >= 0)
    n++;
  g_assert_cmpuint (claimed->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (g_array_index (claimed, gint64, i), ==,
                     g_array_index (queue, gint64, positions[i]));
}

/* Holder of the live lease on @frame_id, or NULL (a string of @leases). */
static const char *
lease_holder_of (GPtrArray *leases, gint64 frame_id)
{
  for (guint i = 0; i < leases->len; i++)
    if (((GembaLease *) leases->pdata[i])->frame_id == frame_id)
      return ((GembaLease *) leases->pdata[i])->holder;
  return NULL;
}

static GPtrArray *
list_leases (GembaStore *store)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *leases = gemba_store_list_leases (store, &error);

  g_assert_no_error (error);
  return leases;
}

static void
label_as (GembaStore *store, gint64 frame_id, const char *class_name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaClass) klass = gemba_store_find_class (store, class_name, &error);
  g_autoptr(GembaLabel) label = NULL;

  g_assert_no_error (error);
  label = gemba_store_set_label (store, frame_id, klass->id, GEMBA_LABEL_SET, &error);
  g_assert_no_error (error);
}

/* Two holders on one queue: each gets frames nobody else holds, first in the queue first;
 * the holder's own leases come back first; a claim skips labeled frames; labeling ends the
 * lease, whoever holds it; releasing one frame or all gives them to the next claim. */
static void
test_leases (Fixture *f, gconstpointer data)
{
  g_autoptr(GArray) queue = make_queue (f, 9500, 10);
  g_autoptr(GembaStore) a = open_holder (f, "anna");
  g_autoptr(GembaStore) b = open_holder (f, "bert");
  g_autoptr(GArray) got = NULL;
  g_autoptr(GPtrArray) leases = NULL;
  g_autoptr(GError) error = NULL;
  gint64 before, after;

  /* The default holder is the store's own, named after its author and process. */
  {
    g_autofree char *prefix = g_strdup_printf ("tester@%s:%d:", g_get_host_name (),
                                               (int) getpid ());
    g_assert_true (g_str_has_prefix (gemba_store_get_lease_holder (f->store), prefix));
    g_assert_cmpint (gemba_store_get_lease_timeout (f->store), ==, GEMBA_LEASE_TIMEOUT_USEC);
  }

  /* Someone labeled the first frame already: nobody is handed it. */
  label_as (f->store, g_array_index (queue, gint64, 0), "ok");
  before = g_get_real_time ();
  got = claim (a, queue, 3);
  after = g_get_real_time ();
  assert_claimed (got, queue, (int[]) { 1, 2, 3, -1 });
  g_clear_pointer (&got, g_array_unref);
  got = claim (b, queue, 2);
  assert_claimed (got, queue, (int[]) { 4, 5, -1 });
  g_clear_pointer (&got, g_array_unref);

  leases = list_leases (f->store);
  g_assert_cmpuint (leases->len, ==, 5);
  g_assert_cmpstr (lease_holder_of (leases, g_array_index (queue, gint64, 1)), ==, "anna");
  g_assert_cmpstr (lease_holder_of (leases, g_array_index (queue, gint64, 5)), ==, "bert");
  for (guint i = 0; i < leases->len; i++)
    {
      GembaLease *lease = leases->pdata[i];
      /* In this machine's clock, whichever clock the store keeps (a second of slack for a
       * server's clock read through a query). */
      g_assert_cmpint (lease->expires_at - lease->claimed_at, ==, GEMBA_LEASE_TIMEOUT_USEC);
      if (g_str_equal (lease->holder, "anna"))
        {
          g_assert_cmpint (lease->claimed_at, >=, before - G_USEC_PER_SEC);
          g_assert_cmpint (lease->claimed_at, <=, after + G_USEC_PER_SEC);
        }
    }
  g_clear_pointer (&leases, g_ptr_array_unref);

  /* Own leases first (in queue order), then free frames; n limits both. */
  got = claim (a, queue, 2);
  assert_claimed (got, queue, (int[]) { 1, 2, -1 });
  g_clear_pointer (&got, g_array_unref);
  got = claim (a, queue, 5);
  assert_claimed (got, queue, (int[]) { 1, 2, 3, 6, 7, -1 });
  g_clear_pointer (&got, g_array_unref);

  /* Bert labels one of Anna's frames: her lease on it ends; nobody is handed it again. */
  label_as (b, g_array_index (queue, gint64, 2), "dent");
  leases = list_leases (b);
  g_assert_null (lease_holder_of (leases, g_array_index (queue, gint64, 2)));
  g_assert_cmpuint (leases->len, ==, 6);
  g_clear_pointer (&leases, g_ptr_array_unref);
  got = claim (a, queue, 10);
  assert_claimed (got, queue, (int[]) { 1, 3, 6, 7, 8, 9, -1 });
  g_clear_pointer (&got, g_array_unref);
  /* Nothing is free for Bert but his own. */
  got = claim (b, queue, 10);
  assert_claimed (got, queue, (int[]) { 4, 5, -1 });
  g_clear_pointer (&got, g_array_unref);

  /* Skipping: the frame goes to the next claim. Releasing another's frame does nothing. */
  g_assert_true (gemba_store_release_frame (a, g_array_index (queue, gint64, 3), &error));
  g_assert_true (gemba_store_release_frame (b, g_array_index (queue, gint64, 6), &error));
  g_assert_no_error (error);
  got = claim (b, queue, 3);
  assert_claimed (got, queue, (int[]) { 3, 4, 5, -1 });
  g_clear_pointer (&got, g_array_unref);

  /* Leaving: all of Anna's frames are free again. */
  g_assert_true (gemba_store_release_leases (a, &error));
  g_assert_no_error (error);
  leases = list_leases (a);
  g_assert_cmpuint (leases->len, ==, 3);
  for (guint i = 0; i < leases->len; i++)
    g_assert_cmpstr (((GembaLease *) leases->pdata[i])->holder, ==, "bert");
  g_clear_pointer (&leases, g_ptr_array_unref);
  got = claim (f->store, queue, 10);
  assert_claimed (got, queue, (int[]) { 1, 6, 7, 8, 9, -1 });
  g_clear_pointer (&got, g_array_unref);

  /* A store with the default holder releases its leases when it is finalized; a named one
   * keeps them for the next store of that name. */
  g_clear_object (&f->store);
  g_clear_object (&a);
  leases = list_leases (b);
  g_assert_cmpuint (leases->len, ==, 3);
  g_clear_pointer (&leases, g_ptr_array_unref);
  g_clear_object (&b);
  b = open_holder (f, "bert");
  leases = list_leases (b);
  g_assert_cmpuint (leases->len, ==, 3);
  g_clear_pointer (&leases, g_ptr_array_unref);

  /* Every frame labeled: nothing left to claim; no lease is left either. */
  for (guint i = 1; i < queue->len; i++)
    label_as (b, g_array_index (queue, gint64, i), "scratch");
  got = claim (b, queue, 10);
  g_assert_cmpuint (got->len, ==, 0);
  leases = list_leases (b);
  g_assert_cmpuint (leases->len, ==, 0);
}

/* A lease ends at its timeout unless renewed: the next claim of another holder gets the
 * frame, and lists leave it out. Only the leases the test waits out are short (300 ms): the
 * others keep the default 2 minutes, so that a test descheduled between two calls on a
 * loaded machine never sees a lease end that it still counts on. */
static void
test_leases_expiry (Fixture *f, gconstpointer data)
{
  const gint64 timeout = 300 * 1000;
  g_autoptr(GArray) queue = make_queue (f, 9600, 4);
  g_autoptr(GembaStore) a = open_holder (f, "anna");
  g_autoptr(GembaStore) b = open_holder (f, "bert");
  g_autoptr(GArray) got = NULL;
  g_autoptr(GPtrArray) leases = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start;

  got = claim (b, queue, 2);
  assert_claimed (got, queue, (int[]) { 0, 1, -1 });
  g_clear_pointer (&got, g_array_unref);
  gemba_store_set_lease_timeout (a, timeout);
  start = g_get_monotonic_time ();
  got = claim (a, queue, 4);
  assert_claimed (got, queue, (int[]) { 2, 3, -1 });
  g_clear_pointer (&got, g_array_unref);

  /* Renewed before it ends (for 2 minutes): still Anna's when the first timeout has passed. */
  gemba_store_set_lease_timeout (a, GEMBA_LEASE_TIMEOUT_USEC);
  g_assert_true (gemba_store_renew_leases (a, &error));
  g_assert_no_error (error);
  leases = list_leases (a);
  if (!lease_holder_of (leases, g_array_index (queue, gint64, 2)))
    {
      /* The lease ended before the renewal came: descheduled for over 300 ms. */
      g_test_skip ("the machine is too slow for a 300 ms lease");
      return;
    }
  g_clear_pointer (&leases, g_ptr_array_unref);
  g_usleep (MAX (0, start + timeout + 50 * 1000 - g_get_monotonic_time ()));
  got = claim (b, queue, 4);
  assert_claimed (got, queue, (int[]) { 0, 1, -1 });
  g_clear_pointer (&got, g_array_unref);

  /* Renewed for 300 ms, then not again: expired after them. Bert's next claim takes the
   * frames over; lists leave Anna out. */
  gemba_store_set_lease_timeout (a, timeout);
  g_assert_true (gemba_store_renew_leases (a, &error));
  g_assert_no_error (error);
  g_usleep (timeout + 50 * 1000);
  leases = list_leases (b);
  g_assert_cmpuint (leases->len, ==, 2);
  g_assert_null (lease_holder_of (leases, g_array_index (queue, gint64, 2)));
  g_clear_pointer (&leases, g_ptr_array_unref);
  got = claim (b, queue, 4);
  assert_claimed (got, queue, (int[]) { 0, 1, 2, 3, -1 });
  g_clear_pointer (&got, g_array_unref);
  leases = list_leases (a);
  g_assert_cmpuint (leases->len, ==, 4);
  g_assert_cmpstr (lease_holder_of (leases, g_array_index (queue, gint64, 2)), ==, "bert");
  g_clear_pointer (&leases, g_ptr_array_unref);
  /* Anna's own lease is gone: she gets nothing, and does not get her frames back. */
  got = claim (a, queue, 4);
  g_assert_cmpuint (got->len, ==, 0);
}

typedef struct
{
  Fixture *f;
  GArray *queue;
  const char *name;
  guint claim_n;
  GArray *labeled;          /* frames it labeled */
  GMutex *mutex;
  GCond *cond;
  int *ready;
} Annotator;

/* Claims and labels frames of the queue until none is free (as bench/team does). */
static gpointer
annotate_thread (gpointer data)
{
  Annotator *a = data;
  g_autoptr(GembaStore) store = open_holder (a->f, a->name);
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaClass) klass = gemba_store_find_class (store, "ok", &error);

  g_assert_no_error (error);
  /* Both start together. */
  g_mutex_lock (a->mutex);
  (*a->ready)++;
  g_cond_broadcast (a->cond);
  while (*a->ready < 2)
    g_cond_wait (a->cond, a->mutex);
  g_mutex_unlock (a->mutex);
  for (;;)
    {
      g_autoptr(GArray) got = gemba_store_claim_frames (store, a->queue, a->claim_n, &error);

      g_assert_no_error (error);
      if (got->len == 0)
        break;
      for (guint i = 0; i < got->len; i++)
        {
          gint64 id = g_array_index (got, gint64, i);
          g_autoptr(GembaLabel) label = gemba_store_set_label (store, id, klass->id,
                                                               GEMBA_LABEL_SET, &error);
          g_assert_no_error (error);
          g_array_append_val (a->labeled, id);
        }
    }
  return NULL;
}

/* Two stores (two connections) claiming from two threads at once get disjoint frames that
 * cover the queue: every frame is labeled once. Both get a share, also on SQLite, whose
 * write lock a busy-waiting writer used to miss every time (busy_cb in gemba-db.c). */
static void
test_leases_concurrent (Fixture *f, gconstpointer data)
{
  g_autoptr(GArray) queue = make_queue (f, 9700, 80);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autoptr(GError) error = NULL;
  GMutex mutex;
  GCond cond;
  int ready = 0;
  Annotator annotators[2] = {
    { f, queue, "anna", 1, NULL, &mutex, &cond, &ready },
    { f, queue, "bert", 3, NULL, &mutex, &cond, &ready },
  };
  GThread *threads[2];

  g_mutex_init (&mutex);
  g_cond_init (&cond);
  for (guint i = 0; i < 2; i++)
    {
      annotators[i].labeled = g_array_new (FALSE, FALSE, sizeof (gint64));
      threads[i] = g_thread_new (annotators[i].name, annotate_thread, &annotators[i]);
    }
  for (guint i = 0; i < 2; i++)
    g_thread_join (threads[i]);
  for (guint i = 0; i < 2; i++)
    {
      GArray *labeled = annotators[i].labeled;
      g_test_message ("%s labeled %u frames", annotators[i].name, labeled->len);
      /* Both got a share. */
      g_assert_cmpuint (labeled->len, >, 0);
      for (guint k = 0; k < labeled->len; k++)
        {
          gint64 *id = &g_array_index (labeled, gint64, k);
          g_assert_false (g_hash_table_contains (seen, id));
          g_hash_table_add (seen, id);
        }
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, queue->len);
  for (guint i = 0; i < queue->len; i++)
    {
      g_autoptr(GPtrArray) history =
        gemba_store_list_label_history (f->store, g_array_index (queue, gint64, i), &error);
      g_assert_no_error (error);
      g_assert_cmpuint (history->len, ==, 1);
    }
  {
    g_autoptr(GPtrArray) leases = list_leases (f->store);
    g_assert_cmpuint (leases->len, ==, 0);
  }
  for (guint i = 0; i < 2; i++)
    g_array_unref (annotators[i].labeled);
  g_mutex_clear (&mutex);
  g_cond_clear (&cond);
}

typedef struct
{
  GembaStore *store;
  gint64 frame_id;
  gint64 class_id;
  GMutex *mutex;
  GCond *cond;
  int *ready;
  GembaLabel *label;
} Labeler;

static gpointer
label_thread (gpointer data)
{
  Labeler *l = data;
  g_autoptr(GError) error = NULL;

  g_mutex_lock (l->mutex);
  (*l->ready)++;
  g_cond_broadcast (l->cond);
  while (*l->ready < 2)
    g_cond_wait (l->cond, l->mutex);
  g_mutex_unlock (l->mutex);
  l->label = gemba_store_set_label (l->store, l->frame_id, l->class_id, GEMBA_LABEL_SET, &error);
  g_assert_no_error (error);
  return NULL;
}

/* Two members label one frame at the same moment (two connections, two threads): both
 * labels stay in its history, and the one saved later is the frame's label. */
static void
test_label_at_once (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaFrame) frame = add_frame (f, 9800, NULL);
  g_autoptr(GembaStore) a = open_holder (f, "anna");
  g_autoptr(GembaStore) b = open_holder (f, "bert");
  g_autoptr(GembaClass) ok = gemba_store_find_class (f->store, "ok", NULL);
  g_autoptr(GembaClass) dent = gemba_store_find_class (f->store, "dent", NULL);
  g_autoptr(GError) error = NULL;

  for (guint round = 0; round < 5; round++)
    {
      g_autoptr(GPtrArray) history = NULL;
      g_autoptr(GembaFrame) now = NULL;
      GMutex mutex;
      GCond cond;
      int ready = 0;
      Labeler labelers[2] = {
        { a, frame->id, ok->id, &mutex, &cond, &ready, NULL },
        { b, frame->id, dent->id, &mutex, &cond, &ready, NULL },
      };
      GThread *threads[2];
      GembaLabel *later, *last, *before_last;

      g_mutex_init (&mutex);
      g_cond_init (&cond);
      for (guint i = 0; i < 2; i++)
        threads[i] = g_thread_new ("labeler", label_thread, &labelers[i]);
      for (guint i = 0; i < 2; i++)
        g_thread_join (threads[i]);
      g_mutex_clear (&mutex);
      g_cond_clear (&cond);

      history = gemba_store_list_label_history (f->store, frame->id, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (history->len, ==, 2 * (round + 1));
      /* Saved one after the other (the write lock): the later one's previous class is the
       * earlier one's, and it is current. */
      later = labelers[0].label->id > labelers[1].label->id ? labelers[0].label
                                                           : labelers[1].label;
      last = history->pdata[history->len - 1];
      before_last = history->pdata[history->len - 2];
      g_assert_cmpint (last->id, ==, later->id);
      g_assert_cmpint (last->previous_class_id, ==, before_last->class_id);
      g_assert_cmpstr (before_last->author, !=, last->author);
      now = gemba_store_get_frame (f->store, frame->id, &error);
      g_assert_no_error (error);
      g_assert_cmpint (now->label_class_id, ==, later->class_id);
      g_assert_cmpstr (now->label_author, ==, later->author);
      for (guint i = 0; i < 2; i++)
        gemba_label_free (labelers[i].label);
    }
}

/* The child of /core/store/leases-kill: claims 3 frames of the project's unlabeled frames
 * with leases of @timeout_ms under its default holder, prints the holder, the monotonic time
 * before the claim and the frames, then waits to be killed. */
static int
claim_child_main (const char *project, const char *timeout_ms)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = gemba_store_open (project, &error);
  GembaFrameQuery unlabeled = { .filter = GEMBA_FILTER_UNLABELED };
  g_autoptr(GArray) ids = NULL;
  g_autoptr(GArray) got = NULL;
  gint64 before;

  if (!store || !(ids = gemba_store_list_frame_ids (store, &unlabeled, &error)))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  gemba_store_set_lease_timeout (store, g_ascii_strtoll (timeout_ms, NULL, 10) * 1000);
  before = g_get_monotonic_time ();
  if (!(got = gemba_store_claim_frames (store, ids, 3, &error)))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  printf ("%s\n", gemba_store_get_lease_holder (store));
  printf ("%" G_GINT64_FORMAT "\n", before);
  for (guint i = 0; i < got->len; i++)
    printf ("%" G_GINT64_FORMAT "\n", g_array_index (got, gint64, i));
  printf ("claimed\n");
  fflush (stdout);
  for (;;)
    g_usleep (G_USEC_PER_SEC);
  return 0;
}

/* A client killed with SIGKILL while holding frames leaks no lease beyond its timeout: the
 * frames stay its own until then, and are claimable after. */
static void
test_leases_kill (Fixture *f, gconstpointer data)
{
  const gint64 timeout = 500 * 1000;
  g_autofree char *timeout_ms = g_strdup_printf ("%d", (int) (timeout / 1000));
  const char *argv[] = { test_program, "--claim-child", f->project, timeout_ms, NULL };
  g_autoptr(GArray) queue = make_queue (f, 9900, 6);
  g_autoptr(GembaStore) b = open_holder (f, "bert");
  g_autoptr(GSubprocess) child = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GArray) held = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) got = NULL;
  g_autoptr(GPtrArray) leases = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *holder = NULL;
  g_autofree char *began = NULL;
  gint64 claim_began, claimed_at, killed_at;
  char *line;

  child = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (child));
  holder = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (holder);
  /* The child's leases end no earlier than @timeout after it began claiming (the monotonic
   * clock is the machine's), and no later than @timeout after it said it had claimed: a
   * delay between the two (the child or the test descheduled) must not make the test
   * expect live leases that have ended. */
  began = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (began);
  claim_began = g_ascii_strtoll (began, NULL, 10);
  while ((line = g_data_input_stream_read_line (out, NULL, NULL, &error)) &&
         !g_str_equal (line, "claimed"))
    {
      gint64 id = g_ascii_strtoll (line, NULL, 10);
      g_array_append_val (held, id);
      g_free (line);
    }
  g_free (line);
  g_assert_no_error (error);
  claimed_at = g_get_monotonic_time ();
  g_subprocess_send_signal (child, SIGKILL);
  g_subprocess_wait (child, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_signaled (child));
  killed_at = g_get_monotonic_time ();
  g_assert_cmpuint (held->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpint (g_array_index (held, gint64, i), ==, g_array_index (queue, gint64, i));

  /* Until the timeout, they are the killed client's. */
  leases = list_leases (b);
  if (g_get_monotonic_time () - claim_began < timeout * 3 / 4)
    {
      g_assert_cmpuint (leases->len, ==, 3);
      for (guint i = 0; i < 3; i++)
        g_assert_cmpstr (lease_holder_of (leases, g_array_index (held, gint64, i)), ==, holder);
      got = claim (b, queue, 6);
      if (g_get_monotonic_time () - claim_began < timeout * 3 / 4)
        assert_claimed (got, queue, (int[]) { 3, 4, 5, -1 });
      g_clear_pointer (&got, g_array_unref);
    }
  else
    g_test_message ("too slow to see the killed client's leases live (%.0f ms after the kill)",
                    (g_get_monotonic_time () - killed_at) / 1000.0);
  g_clear_pointer (&leases, g_ptr_array_unref);

  /* After it, they are the next claim's; nothing of the killed client remains. */
  g_usleep (MAX (0, claimed_at + timeout + 100 * 1000 - g_get_monotonic_time ()));
  got = claim (b, queue, 6);
  assert_claimed (got, queue, (int[]) { 0, 1, 2, 3, 4, 5, -1 });
  leases = list_leases (b);
  g_assert_cmpuint (leases->len, ==, 6);
  for (guint i = 0; i < leases->len; i++)
    g_assert_cmpstr (((GembaLease *) leases->pdata[i])->holder, ==, "bert");
}

/* The server restarted while a holder holds frames: its leases are rows, so after the store
 * connects again by itself its next claim gets them back, and nobody else gets them. */
static void
test_team_leases_reconnect (Fixture *f, gconstpointer data)
{
  g_autoptr(GArray) queue = make_queue (f, 9950, 5);
  g_autoptr(GembaStore) b = open_holder (f, "bert");
  g_autoptr(GArray) got = NULL;
  g_autoptr(GPtrArray) leases = NULL;

  if (!g_getenv ("GEMBA_TEST_SERVER_CTL"))
    {
      g_test_skip ("needs a server it may restart (tests/server/with-server.sh)");
      return;
    }
  /* The default holder: the store's own, which it keeps over the new session. */
  got = claim (f->store, queue, 2);
  assert_claimed (got, queue, (int[]) { 0, 1, -1 });
  g_clear_pointer (&got, g_array_unref);

  server_ctl ("restart fast");
  got = claim (f->store, queue, 2);
  assert_claimed (got, queue, (int[]) { 0, 1, -1 });
  g_clear_pointer (&got, g_array_unref);
  got = claim (b, queue, 5);
  assert_claimed (got, queue, (int[]) { 2, 3, 4, -1 });
  g_clear_pointer (&got, g_array_unref);

  /* Restarted again: labeling after it ends the lease as before. */
  server_ctl ("restart fast");
  label_as (f->store, g_array_index (queue, gint64, 0), "ok");
  leases = list_leases (b);
  g_assert_cmpuint (leases->len, ==, 4);
  g_assert_null (lease_holder_of (leases, g_array_index (queue, gint64, 0)));
  g_assert_cmpstr (lease_holder_of (leases, g_array_index (queue, gint64, 1)), ==,
                   gemba_store_get_lease_holder (f->store));
}

int
main (int argc, char **argv)
{
  if (argc == 3 && g_str_equal (argv[1], "--label-child"))
    return label_child_main (argv[2]);
  if (argc == 4 && g_str_equal (argv[1], "--claim-child"))
    return claim_child_main (argv[2], argv[3]);
  test_program = argv[0];
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/core/store/sha256", test_sha256);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/core/store/create-open", test_create_open);
  if (gemba_test_server ())
    {
      ADD ("/core/store/team", test_team);
      ADD ("/core/store/team-watch", test_team_watch);
      ADD ("/core/store/team-reconnect", test_team_reconnect);
      ADD ("/core/store/team-leases-reconnect", test_team_leases_reconnect);
      ADD ("/core/store/team-roles", test_team_roles);
      ADD ("/core/store/team-roles-create", test_team_roles_create);
      if (g_getenv ("GEMBA_TEST_LOST_NETWORK"))
        ADD ("/core/store/team-lost-network", test_team_lost_network);
    }
  else
    {
      /* What only a database file can suffer. */
      ADD ("/core/store/open-errors", test_open_errors);
      ADD ("/core/store/open-truncated", test_open_truncated);
      ADD ("/core/store/open-read-only", test_open_read_only);
    }
  ADD ("/core/store/frames-dedup", test_frames_dedup);
  ADD ("/core/store/find-prefix", test_find_prefix);
  ADD ("/core/store/labels-history", test_labels_history);
  ADD ("/core/store/undo-redo", test_undo_redo);
  ADD ("/core/store/classes", test_classes);
  ADD ("/core/store/splits", test_splits);
  ADD ("/core/store/filters", test_filters);
  ADD ("/core/store/frame-packages", test_frame_packages);
  ADD ("/core/store/batch-rollback", test_batch_rollback);
  ADD ("/core/store/models-predictions", test_models_predictions);
  ADD ("/core/store/review-queue", test_review_queue);
  ADD ("/core/store/review-queue-doubts", test_review_queue_doubts);
  ADD ("/core/store/splits-per-source", test_splits_per_source);
  ADD ("/core/store/kill-confirmed", test_kill_confirmed);
  ADD ("/core/store/leases", test_leases);
  ADD ("/core/store/leases-expiry", test_leases_expiry);
  ADD ("/core/store/leases-concurrent", test_leases_concurrent);
  ADD ("/core/store/leases-kill", test_leases_kill);
  ADD ("/core/store/label-at-once", test_label_at_once);
#undef ADD

  return g_test_run ();
}
