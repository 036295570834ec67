/* test-store-server.c: a project on a PostgreSQL server and back
 *
 * Needs a server: run under tests/server/with-server.sh, which starts a throwaway one and
 * sets GEMBA_TEST_SERVER. Started without it, the test runs itself under that script.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <unistd.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "gemba.h"
#include "gemba-db-private.h"
#include "gemba-test-store.h"
#include "gemba-util-private.h"

typedef struct
{
  char *dir;
  char *project;
  GembaStore *store;
  gint64 frames[6];
} Fixture;

static guint database_counter;

/* A new empty database on the test server; its URI. */
static char *
new_database (void)
{
  const char *server = g_getenv ("GEMBA_TEST_SERVER");
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaDb) db = gemba_db_open_server (server, &error);
  g_autofree char *name = g_strdup_printf ("t%d_%u", (int) getpid (), ++database_counter);
  g_autofree char *sql = g_strdup_printf ("CREATE DATABASE %s", name);
  g_auto(GStrv) parts = g_strsplit (server, "/gemba?", 2);

  g_assert_no_error (error);
  g_assert_true (gemba_db_exec (db, sql, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  return g_strdup_printf ("%s/%s?%s", parts[0], name, parts[1]);
}

/* A project with something in every table: two sources, a class with a quote and CJK in
 * its name, labels with undo, redo and clear in their history, splits with a locked test
 * split, a promoted model with predictions, a finished run, the audit trail. */
static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const char *classes[] = { "ok", "scratch", "d'ent 凹痕", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModelRecord) model = NULL;
  g_autofree char *staging = NULL, *weights = NULL;
  char *model_classes[] = { (char *) "ok", (char *) "scratch", (char *) "d'ent 凹痕", NULL };
  GembaModelRecord record = { .architecture = (char *) "small-cnn", .classes = model_classes,
                              .settings = (char *) "{\"epochs\": 3}", .seed = 7,
                              .test_accuracy = -1, .duration = 0.1 };
  g_autoptr(GPtrArray) list = NULL;
  gint64 class_ids[3];
  float probs[6 * 3];
  gint64 assigned[4], run;

  f->store = gemba_test_project_create ("gemba-server-XXXXXX", classes, &f->dir, &f->project);
  list = gemba_store_list_classes (f->store, FALSE, &error);
  for (guint i = 0; i < 3; i++)
    class_ids[i] = ((GembaClass *) list->pdata[i])->id;

  for (guint i = 0; i < G_N_ELEMENTS (f->frames); i++)
    {
      g_autoptr(GBytes) bytes = gemba_test_make_jpeg (16, 12, i);
      g_autoptr(GembaFrame) frame = NULL;
      GembaFrameInfo info;

      gemba_frame_info_init (&info);
      info.source_name = i % 2 ? "Line 1 top" : "Line 2 side";
      info.source_uri = i % 2 ? "rtsp://cam1/stream?x=1" : NULL;
      info.captured_at = 1700000000000000 + i * G_USEC_PER_SEC;
      info.original_name = i == 0 ? "première ?.jpg" : NULL;
      info.label_class = i < 4 ? classes[i % 3] : NULL;
      frame = gemba_store_add_frame (f->store, bytes, "jpg", 16, 12, &info, NULL, &error);
      g_assert_no_error (error);
      f->frames[i] = frame->id;
      for (guint c = 0; c < 3; c++)
        probs[i * 3 + c] = (c == i % 3 ? 0.7f : 0.15f) + (float) i * 1e-7f;
    }

  staging = gemba_store_make_staging_dir (f->store, &error);
  g_assert_no_error (error);
  weights = g_build_filename (staging, "weights.bin", NULL);
  g_assert_true (g_file_set_contents (weights, "w", 1, NULL));
  run = gemba_store_begin_run (f->store, 0, "{}", &error);
  g_assert_no_error (error);
  model = gemba_store_add_model (f->store, &record, staging, &error);
  g_assert_no_error (error);
  g_assert_true (gemba_store_finish_run (f->store, run, "done", model->id, "3 epochs", &error));
  g_assert_true (gemba_store_save_predictions (f->store, model->id, G_N_ELEMENTS (f->frames),
                                               f->frames, probs, 3, class_ids, &error));
  g_assert_true (gemba_store_set_model_metrics (f->store, model->id, "{\"accuracy\": 0.5}",
                                                1.0 / 3.0, &error));
  g_assert_true (gemba_store_promote_model (f->store, model->id, &error));
  g_assert_no_error (error);

  /* A history with corrections, undo, redo and a clear. */
  gemba_label_free (gemba_store_set_label (f->store, f->frames[4], class_ids[1],
                                           GEMBA_LABEL_SET, &error));
  gemba_label_free (gemba_store_set_label (f->store, f->frames[4], class_ids[2],
                                           GEMBA_LABEL_SET, &error));
  gemba_label_free (gemba_store_undo_label (f->store, &error));
  gemba_label_free (gemba_store_redo_label (f->store, &error));
  gemba_label_free (gemba_store_set_label (f->store, f->frames[5], class_ids[2],
                                           GEMBA_LABEL_CONFIRM, &error));
  gemba_label_free (gemba_store_set_label (f->store, f->frames[5], 0, GEMBA_LABEL_CLEAR,
                                           &error));
  g_assert_no_error (error);
  g_assert_true (gemba_store_assign_splits (f->store, 0.4, 0.2, 3, assigned, &error));
  g_assert_no_error (error);
  g_assert_cmpint (assigned[GEMBA_SPLIT_TEST], >, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  gemba_test_project_clear (&f->store, &f->project, &f->dir);
}

static void
assert_digests_equal (GPtrArray *a, GPtrArray *b)
{
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    {
      GembaTableDigest *x = a->pdata[i], *y = b->pdata[i];
      g_assert_cmpstr (x->table, ==, y->table);
      g_assert_cmpint (x->rows, ==, y->rows);
      g_assert_cmpstr (x->sha256, ==, y->sha256);
    }
}

static gint64
rows_of (GPtrArray *digests, const char *table)
{
  for (guint i = 0; i < digests->len; i++)
    if (g_str_equal (((GembaTableDigest *) digests->pdata[i])->table, table))
      return ((GembaTableDigest *) digests->pdata[i])->rows;
  g_assert_not_reached ();
}

/* A new project folder with the frame and model files of @f, but no database. */
static char *
copy_frames (Fixture *f, const char *name)
{
  g_autofree char *target = g_build_filename (f->dir, name, NULL);
  g_autofree char *command = g_strdup_printf ("cp -r '%s/frames' '%s/models' '%s/'",
                                              f->project, f->project, target);
  int status;

  g_assert_cmpint (g_mkdir (target, 0755), ==, 0);
  g_assert_true (g_spawn_command_line_sync (command, NULL, NULL, &status, NULL));
  g_assert_cmpint (status, ==, 0);
  return g_steal_pointer (&target);
}

static void
progress_cb (guint64 done, guint64 total, gpointer user_data)
{
  guint64 *last = user_data;

  g_assert_cmpuint (done, >=, last[0]);
  g_assert_cmpuint (done, <=, total);
  last[0] = done;
  last[1] = total;
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  g_autofree char *uri = new_database ();
  g_autofree char *back = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) original = gemba_store_digest (f->project, &error);
  g_autoptr(GPtrArray) on_server = NULL;
  g_autoptr(GPtrArray) copied = NULL;
  g_autoptr(GPtrArray) digest_back = NULL;
  g_autoptr(GPtrArray) history = NULL;
  g_autoptr(GPtrArray) history_back = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autofree float *probs = NULL, *probs_back = NULL;
  guint n, n_back;
  gint64 verdict, verdict_back;
  double confidence, confidence_back;
  guint64 progress[2] = { 0, 0 };

  /* More rows than one INSERT carries (BATCH_ROWS), and not a multiple of it. */
  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *subject = g_strdup_printf ("note %u", i);
      g_assert_true (gemba_store_audit (f->store, "note", subject, i % 2 ? NULL : "x", &error));
    }
  g_clear_pointer (&original, g_ptr_array_unref);
  original = gemba_store_digest (f->project, &error);
  g_assert_no_error (error);
  g_assert_cmpint (rows_of (original, "audit"), >, 300);
  g_assert_cmpint (rows_of (original, "predictions"), ==, 6);
  g_assert_cmpint (rows_of (original, "runs"), ==, 1);
  g_assert_cmpint (rows_of (original, "labels"), >=, 10);
  /* A frame of the review queue held (the cleared one): leases are transient, neither copied
   * nor compared, and not in the digests. */
  {
    g_autoptr(GArray) queue = g_array_new (FALSE, FALSE, sizeof (gint64));
    g_autoptr(GArray) claimed = NULL;
    g_autoptr(GPtrArray) held = NULL;

    g_array_append_vals (queue, f->frames, G_N_ELEMENTS (f->frames));
    claimed = gemba_store_claim_frames (f->store, queue, 6, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (claimed->len, ==, 1);
    g_assert_cmpint (g_array_index (claimed, gint64, 0), ==, f->frames[5]);
    held = gemba_store_list_leases (f->store, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (held->len, ==, 1);
    for (guint i = 0; i < original->len; i++)
      g_assert_cmpstr (((GembaTableDigest *) original->pdata[i])->table, !=, "leases");
  }

  /* SQLite → server: the same digests, computed on the server itself. */
  on_server = gemba_store_migrate (f->project, uri, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  assert_digests_equal (original, on_server);
  copied = gemba_store_digest (uri, &error);
  g_assert_no_error (error);
  assert_digests_equal (original, copied);
  {
    g_autoptr(GembaDb) db = gemba_db_open_server (uri, &error);
    g_autoptr(GembaDbStmt) stmt = NULL;
    g_assert_no_error (error);
    stmt = gemba_db_prepare (db, "SELECT count(*) FROM leases", &error);
    g_assert_no_error (error);
    g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
    g_assert_cmpint (gemba_db_column_int64 (stmt, 0), ==, 0);
  }

  /* Server → a new folder with the frame files: the same project again. */
  back = copy_frames (f, "back");
  digest_back = gemba_store_migrate (uri, back, progress_cb, progress, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (progress[1], >, 300);
  g_assert_cmpuint (progress[0], ==, progress[1]);
  assert_digests_equal (original, digest_back);
  g_clear_pointer (&digest_back, g_ptr_array_unref);
  digest_back = gemba_store_digest (back, &error);
  g_assert_no_error (error);
  assert_digests_equal (original, digest_back);

  /* And Gemba opens it and reads the same history and probabilities, bit for bit. */
  store = gemba_store_open (back, &error);
  g_assert_no_error (error);
  history = gemba_store_list_label_history (f->store, f->frames[4], &error);
  history_back = gemba_store_list_label_history (store, f->frames[4], &error);
  g_assert_no_error (error);
  g_assert_cmpuint (history->len, ==, 4);
  g_assert_cmpuint (history_back->len, ==, history->len);
  for (guint i = 0; i < history->len; i++)
    {
      GembaLabel *a = history->pdata[i], *b = history_back->pdata[i];
      g_assert_cmpint (a->kind, ==, b->kind);
      g_assert_cmpint (a->class_id, ==, b->class_id);
      g_assert_cmpint (a->refers_to, ==, b->refers_to);
      g_assert_cmpint (a->created_at, ==, b->created_at);
      g_assert_cmpstr (a->author, ==, b->author);
    }
  g_assert_true (gemba_store_get_prediction (f->store, 0, f->frames[3], &verdict, &confidence,
                                             &probs, &n, &error));
  g_assert_true (gemba_store_get_prediction (store, 0, f->frames[3], &verdict_back,
                                             &confidence_back, &probs_back, &n_back, &error));
  g_assert_cmpint (verdict, ==, verdict_back);
  g_assert_true (confidence == confidence_back);
  g_assert_cmpuint (n, ==, n_back);
  g_assert_cmpmem (probs, n * sizeof (float), probs_back, n_back * sizeof (float));
  {
    g_autoptr(GPtrArray) held = gemba_store_list_leases (store, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (held->len, ==, 0);
  }
}

/* A team database of schema 3 (before leases) is brought to schema 4 when a member opens
 * it: the leases table, with its team rights, so that an annotator can claim at once. */
static void
test_schema_v4 (Fixture *f, gconstpointer data)
{
  const char *classes[] = { "ok", "dent", NULL };
  g_autofree char *uri = new_database ();
  g_autofree char *team = g_build_filename (f->dir, "team", NULL);
  g_autoptr(GembaStore) store = gemba_store_create_team (team, uri, classes, NULL);
  g_autoptr(GembaDb) db = NULL;
  g_autoptr(GembaDbStmt) stmt = NULL;
  g_autoptr(GArray) queue = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) claimed = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (store);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GBytes) bytes = gemba_test_make_jpeg (16, 12, 100 + i);
      g_autoptr(GembaFrame) frame = gemba_store_add_frame (store, bytes, "jpg", 16, 12, NULL,
                                                           NULL, &error);
      g_assert_no_error (error);
      g_array_append_val (queue, frame->id);
    }
  g_clear_object (&store);
  db = gemba_db_open_server (uri, &error);
  g_assert_no_error (error);
  g_assert_true (gemba_db_exec (db, "DROP TABLE leases; UPDATE gemba_schema SET version = 3",
                                &error));
  g_assert_no_error (error);

  store = gemba_store_open (team, &error);
  g_assert_no_error (error);
  stmt = gemba_db_prepare (db, "SELECT version FROM gemba_schema", &error);
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
  g_assert_cmpint (gemba_db_column_int64 (stmt, 0), ==, GEMBA_STORE_SCHEMA_VERSION);
  g_clear_pointer (&stmt, gemba_db_stmt_free);
  /* The annotator role may claim, renew and release. */
  stmt = gemba_db_prepare (db, "SELECT has_table_privilege(current_database() || "
                               "'_annotator', 'leases', 'SELECT, INSERT, UPDATE, DELETE')",
                           &error);
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
  g_assert_cmpint (gemba_db_column_int64 (stmt, 0), ==, 1);
  claimed = gemba_store_claim_frames (store, queue, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (claimed->len, ==, 2);
}

static void
test_refuses_non_empty (Fixture *f, gconstpointer data)
{
  g_autofree char *uri = new_database ();
  g_autofree char *other = new_database ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) first = gemba_store_migrate (f->project, uri, NULL, NULL, NULL, &error);
  g_autoptr(GPtrArray) again = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GPtrArray) before_local = NULL;
  g_autoptr(GPtrArray) after_local = NULL;
  g_autoptr(GembaDb) db = NULL;
  g_autoptr(GembaClass) klass = NULL;

  g_assert_no_error (error);

  /* Into the same database again: refused, and the server copy is as it was even though
   * the project has changed since. */
  klass = gemba_store_add_class (f->store, "crack", NULL, -1, &error);
  g_assert_no_error (error);
  again = gemba_store_migrate (f->project, uri, NULL, NULL, NULL, &error);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
  g_assert_null (again);
  g_clear_error (&error);
  after = gemba_store_digest (uri, &error);
  g_assert_no_error (error);
  assert_digests_equal (first, after);

  /* Into a database that holds anything at all. */
  db = gemba_db_open_server (other, &error);
  g_assert_no_error (error);
  g_assert_true (gemba_db_exec (db, "CREATE TABLE notes (t TEXT)", &error));
  again = gemba_store_migrate (f->project, other, NULL, NULL, NULL, &error);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
  g_clear_error (&error);

  /* Back into a folder that already has a project: refused, the project untouched. */
  before_local = gemba_store_digest (f->project, &error);
  g_assert_no_error (error);
  again = gemba_store_migrate (uri, f->project, NULL, NULL, NULL, &error);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
  g_clear_error (&error);
  after_local = gemba_store_digest (f->project, &error);
  g_assert_no_error (error);
  assert_digests_equal (before_local, after_local);

  /* From a database that holds no project. */
  again = gemba_store_migrate (other, f->project, NULL, NULL, NULL, &error);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_A_PROJECT);
}

/* A value SQLite took in a column of another type cannot be copied losslessly: refused,
 * and nothing is left on the server, which takes the project once it is repaired. */
static void
test_refuses_mistyped (Fixture *f, gconstpointer data)
{
  g_autofree char *uri = new_database ();
  g_autofree char *db_path = g_build_filename (f->project, GEMBA_STORE_DB_NAME, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) digests = NULL;
  sqlite3 *db;

  g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "UPDATE frames SET width = 'wide' WHERE id = 1", NULL,
                                 NULL, NULL), ==, SQLITE_OK);
  digests = gemba_store_migrate (f->project, uri, NULL, NULL, NULL, &error);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "frames.width"));
  g_assert_null (digests);
  g_clear_error (&error);

  g_assert_cmpint (sqlite3_exec (db, "UPDATE frames SET width = 16 WHERE id = 1", NULL,
                                 NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  digests = gemba_store_migrate (f->project, uri, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (digests);
}

static void
test_cancel (Fixture *f, gconstpointer data)
{
  g_autofree char *uri = new_database ();
  g_autofree char *back = copy_frames (f, "cancelled");
  g_autofree char *back_db = g_build_filename (back, GEMBA_STORE_DB_NAME, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) digests = NULL;

  g_cancellable_cancel (cancellable);
  digests = gemba_store_migrate (f->project, uri, NULL, NULL, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  /* Nothing was left: the database is still empty and takes the project. */
  digests = gemba_store_migrate (f->project, uri, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&digests, g_ptr_array_unref);

  /* Cancelled on the way back: no database file is left in the folder. */
  digests = gemba_store_migrate (uri, back, NULL, NULL, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (g_file_test (back_db, G_FILE_TEST_EXISTS));
}

/* Back into a folder that lacks the files: refused, no database left in it. */
static void
test_missing_files (Fixture *f, gconstpointer data)
{
  g_autofree char *uri = new_database ();
  g_autofree char *empty = g_build_filename (f->dir, "empty", NULL);
  g_autofree char *empty_db = g_build_filename (empty, GEMBA_STORE_DB_NAME, NULL);
  g_autofree char *no_models = copy_frames (f, "no-models");
  g_autofree char *models = g_build_filename (no_models, "models", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) digests = gemba_store_migrate (f->project, uri, NULL, NULL, NULL, &error);

  g_assert_no_error (error);
  g_clear_pointer (&digests, g_ptr_array_unref);
  g_assert_cmpint (g_mkdir (empty, 0755), ==, 0);
  digests = gemba_store_migrate (uri, empty, NULL, NULL, NULL, &error);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/frames/"));
  g_assert_false (g_file_test (empty_db, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  _gemba_remove_tree (models);
  digests = gemba_store_migrate (uri, no_models, NULL, NULL, NULL, &error);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/models/"));
}

/* What the server enforces itself, as SQLite does: the locked test split, unique class
 * names; and ids it hands out follow the copied ones. */
static void
test_server_rules (Fixture *f, gconstpointer data)
{
  g_autofree char *uri = new_database ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) digests = gemba_store_migrate (f->project, uri, NULL, NULL, NULL, &error);
  g_autoptr(GembaDb) db = NULL;
  g_autoptr(GembaDbStmt) stmt = NULL;
  gint64 max_id;

  g_assert_no_error (error);
  db = gemba_db_open_server (uri, &error);
  g_assert_no_error (error);

  g_assert_false (gemba_db_exec (db, "UPDATE frames SET split = 1 WHERE split = 3", &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_LOCKED);
  g_assert_nonnull (strstr (error->message, "test split is locked"));
  g_clear_error (&error);
  g_assert_false (gemba_db_exec (db, "INSERT INTO classes (name, color, position, created_at)"
                                     " VALUES ('ok', '#000000', 9, 0)", &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_LOCKED);
  g_clear_error (&error);

  stmt = gemba_db_prepare (db, "SELECT max(id) FROM audit", &error);
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
  max_id = gemba_db_column_int64 (stmt, 0);
  g_clear_pointer (&stmt, gemba_db_stmt_free);
  stmt = gemba_db_prepare (db, "INSERT INTO audit (at, author, action) VALUES (?, ?, ?)"
                               " RETURNING id", &error);
  gemba_db_bind_int64 (stmt, 1, 1);
  gemba_db_bind_text (stmt, 2, "tester");
  gemba_db_bind_text (stmt, 3, "note");
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
  g_assert_no_error (error);
  g_assert_cmpint (gemba_db_column_int64 (stmt, 0), ==, max_id + 1);
}

/* The seam: "?" and "?N" become "$n" outside quotes; values of every type round-trip. */
static void
test_statements (void)
{
  const char *server = g_getenv ("GEMBA_TEST_SERVER");
  const guint8 blob[] = { 0, 1, 0xff, '\\', 'x', 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaDb) db = gemba_db_open_server (server, &error);
  g_autoptr(GembaDbStmt) stmt = NULL;
  const guint8 *data;
  gsize size;

  g_assert_no_error (error);
  stmt = gemba_db_prepare (db, "SELECT ?2::bigint, ?1::text, '?' || 'it''s ?', ?3::float8,"
                               " ?4::bytea, ?5::text, ''::bytea", &error);
  gemba_db_bind_text (stmt, 1, "première ?");
  gemba_db_bind_int64 (stmt, 2, G_MININT64);
  gemba_db_bind_double (stmt, 3, 0.1 + 0.2);
  gemba_db_bind_blob (stmt, 4, blob, sizeof blob);
  gemba_db_bind_null (stmt, 5);
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
  g_assert_no_error (error);
  g_assert_cmpint (gemba_db_column_type (stmt, 0), ==, GEMBA_DB_INTEGER);
  g_assert_cmpint (gemba_db_column_int64 (stmt, 0), ==, G_MININT64);
  g_assert_cmpstr (gemba_db_column_text (stmt, 1), ==, "première ?");
  g_assert_cmpstr (gemba_db_column_text (stmt, 2), ==, "?it's ?");
  g_assert_cmpint (gemba_db_column_type (stmt, 3), ==, GEMBA_DB_REAL);
  g_assert_true (gemba_db_column_double (stmt, 3) == 0.1 + 0.2);
  g_assert_cmpint (gemba_db_column_type (stmt, 4), ==, GEMBA_DB_BLOB);
  data = gemba_db_column_blob (stmt, 4, &size);
  g_assert_cmpmem (data, size, blob, sizeof blob);
  g_assert_cmpint (gemba_db_column_type (stmt, 5), ==, GEMBA_DB_NULL);
  data = gemba_db_column_blob (stmt, 6, &size);
  g_assert_cmpuint (size, ==, 0);
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_DONE);

  /* Run again after a reset, with the same binds. */
  gemba_db_reset (stmt);
  g_assert_cmpint (gemba_db_step (stmt, &error), ==, GEMBA_DB_STEP_ROW);
  g_assert_cmpint (gemba_db_column_int64 (stmt, 0), ==, G_MININT64);
}

static void
test_unreachable (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) digests =
    gemba_store_digest ("postgresql:///gemba?host=/nonexistent-gemba-socket", &error);

  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent-gemba-socket"));
  g_assert_null (digests);
}

/* The command line: the round trip, the refusal, the exit statuses. */
static void
test_cli (Fixture *f, gconstpointer data)
{
  g_autofree char *uri = new_database ();
  g_autofree char *gemba = g_build_filename (g_getenv ("GEMBA_BUILD_ROOT"), "src", "cli",
                                             "gemba", NULL);
  g_autofree char *back = copy_frames (f, "cli-back");
  g_autofree char *out = NULL, *err = NULL;
  int status;
  const char *to_server[] = { gemba, "migrate", "-q", f->project, "--to", uri, NULL };
  const char *to_sqlite[] = { gemba, "migrate", "-q", back, "--from", uri, "--to", "sqlite",
                              NULL };
  const char *wrong[] = { gemba, "migrate", f->project, "--to", "sqlite", NULL };

  g_assert_true (g_spawn_sync (NULL, (char **) to_server, NULL, 0, NULL, NULL, &out, &err,
                               &status, NULL));
  g_assert_cmpstr (err, ==, "");
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "predictions"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_true (g_spawn_sync (NULL, (char **) to_server, NULL, 0, NULL, NULL, &out, &err,
                               &status, NULL));
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 1);
  g_assert_nonnull (strstr (err, "not empty"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_true (g_spawn_sync (NULL, (char **) to_sqlite, NULL, 0, NULL, NULL, &out, &err,
                               &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_true (g_spawn_sync (NULL, (char **) wrong, NULL, 0, NULL, NULL, &out, &err,
                               &status, NULL));
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 2);

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) a = gemba_store_digest (f->project, &error);
    g_autoptr(GPtrArray) b = gemba_store_digest (back, &error);
    g_assert_no_error (error);
    assert_digests_equal (a, b);
  }
}

int
main (int argc, char **argv)
{
  if (!g_getenv ("GEMBA_TEST_SERVER"))
    {
      /* Start a throwaway server and run again under it. */
      g_autofree char *script = g_build_filename (g_getenv ("GEMBA_SOURCE_ROOT"), "tests",
                                                  "server", "with-server.sh", NULL);
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
      g_auto(GStrv) args = NULL;

      g_strv_builder_add (builder, script);
      for (int i = 0; i < argc; i++)
        g_strv_builder_add (builder, argv[i]);
      args = g_strv_builder_end (builder);
      execv (script, args);
      g_printerr ("%s: %s\n", script, g_strerror (errno));
      return 1;
    }

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/server/statements", test_statements);
  g_test_add_func ("/server/unreachable", test_unreachable);
  g_test_add ("/server/migrate/round-trip", Fixture, NULL, fixture_setup, test_round_trip,
              fixture_teardown);
  g_test_add ("/server/migrate/refuses-non-empty", Fixture, NULL, fixture_setup,
              test_refuses_non_empty, fixture_teardown);
  g_test_add ("/server/migrate/refuses-mistyped", Fixture, NULL, fixture_setup,
              test_refuses_mistyped, fixture_teardown);
  g_test_add ("/server/migrate/cancel", Fixture, NULL, fixture_setup, test_cancel,
              fixture_teardown);
  g_test_add ("/server/migrate/missing-files", Fixture, NULL, fixture_setup, test_missing_files,
              fixture_teardown);
  g_test_add ("/server/migrate/schema-v4", Fixture, NULL, fixture_setup, test_schema_v4,
              fixture_teardown);
  g_test_add ("/server/rules", Fixture, NULL, fixture_setup, test_server_rules,
              fixture_teardown);
  g_test_add ("/server/cli", Fixture, NULL, fixture_setup, test_cli, fixture_teardown);
  return g_test_run ();
}
