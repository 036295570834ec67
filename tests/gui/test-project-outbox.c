/* test-project-outbox.c: a team project's labels while its server is away (no display)
 *
 * Runs with a throwaway server it may stop and start (tests/server/with-server.sh, which sets
 * GEMBA_TEST_SERVER and GEMBA_TEST_SERVER_CTL); skips without one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>

#include "gemba-project.h"
#include "gemba-test-store.h"
#include "gemba-util-private.h"

typedef struct {
  char *dir;
  char *project_path;
  gint64 frames[2];
  gint64 classes[2];
  GembaProject *project;
} Fixture;

static void
server_ctl (const char *action)
{
  g_autofree char *command = g_strdup_printf ("%s %s", g_getenv ("GEMBA_TEST_SERVER_CTL"),
                                              action);
  g_autoptr(GError) error = NULL;
  int status;

  g_assert_true (g_spawn_command_line_sync (command, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
}

/* Iterates the main context until *@done or @timeout_us passed; FALSE on timeout. */
static gboolean
wait_for (gboolean (*done) (Fixture *f), Fixture *f, gint64 timeout_us)
{
  gint64 end = g_get_monotonic_time () + timeout_us;

  while (!done (f))
    {
      g_autoptr(GSource) tick = NULL;

      if (g_get_monotonic_time () > end)
        return FALSE;
      tick = g_timeout_source_new (10);
      g_source_set_dummy_callback (tick);
      g_source_attach (tick, NULL);
      g_main_context_iteration (NULL, TRUE);
      g_source_destroy (tick);
    }
  return TRUE;
}

static void
opened_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;
  g_autoptr(GError) error = NULL;

  f->project = gemba_project_open_finish (result, &error);
  g_assert_no_error (error);
}

static gboolean
is_open (Fixture *f)
{
  return f->project != NULL;
}

static void
open_project (Fixture *f)
{
  gemba_project_open_async (f->project_path, GEMBA_PROJECT_OPEN, "anna", NULL, opened_cb, f);
  g_assert_true (wait_for (is_open, f, 30 * G_USEC_PER_SEC));
}

static void
close_project (Fixture *f)
{
  gemba_project_close (f->project);
  g_clear_object (&f->project);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const char *names[] = { "ok", "scratch", NULL };
  g_autoptr(GembaStore) store = gemba_test_project_create ("gemba-outbox-XXXXXX", names,
                                                           &f->dir, &f->project_path);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GBytes) jpeg = gemba_test_make_jpeg (32, 24, 700 + i);
      g_autoptr(GembaFrame) frame = NULL;
      g_autoptr(GembaClass) klass = gemba_store_find_class (store, names[i], &error);
      GembaFrameInfo info;

      g_assert_no_error (error);
      gemba_frame_info_init (&info);
      frame = gemba_store_add_frame (store, jpeg, "jpg", 32, 24, &info, NULL, &error);
      g_assert_no_error (error);
      f->frames[i] = frame->id;
      f->classes[i] = klass->id;
    }
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  if (f->project)
    close_project (f);
  _gemba_remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->project_path);
}

typedef struct {
  Fixture *f;
  GembaLabelResult *result;
  gboolean done;
} Labeled;

static void
labeled_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  Labeled *labeled = user_data;
  g_autoptr(GError) error = NULL;

  labeled->result = gemba_project_label_finish (GEMBA_PROJECT (object), result, &error);
  g_assert_no_error (error);
  labeled->done = TRUE;
}

static Labeled *pending_labeled;

static gboolean
label_done (Fixture *f)
{
  return pending_labeled->done;
}

/* Labels through the project as the labeler does; the result, once written or queued. */
static GembaLabelResult *
label (Fixture *f, gint64 frame_id, gint64 class_id)
{
  Labeled labeled = { f, NULL, FALSE };
  GembaLabelResult *result;

  pending_labeled = &labeled;
  gemba_project_label_async (f->project, frame_id, class_id, GEMBA_LABEL_SET, labeled_cb,
                             &labeled);
  g_assert_true (wait_for (label_done, f, 30 * G_USEC_PER_SEC));
  pending_labeled = NULL;
  result = labeled.result;
  g_assert_nonnull (result);
  return result;
}

static gboolean
back_and_sent (Fixture *f)
{
  return !gemba_project_get_reconnecting (f->project) &&
         gemba_project_get_n_waiting (f->project) == 0;
}

/* The classes of @frame_id's history, newest last, and who gave them. */
static GPtrArray *
history (Fixture *f, gint64 frame_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = gemba_store_open (f->project_path, &error);
  GPtrArray *labels;

  g_assert_no_error (error);
  labels = gemba_store_list_label_history (store, frame_id, &error);
  g_assert_no_error (error);
  return labels;
}

static guint
count_lines (const char *path)
{
  g_autofree char *text = NULL;
  guint n = 0;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  for (const char *p = text; *p; p++)
    n += *p == '\n';
  return n;
}

/* Two labels of one frame given while the server is stopped wait, in order, and are sent
 * when it is back; meanwhile the project says it is reconnecting. */
static void
test_outbox (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaLabelResult) first = NULL;
  g_autoptr(GembaLabelResult) second = NULL;
  g_autoptr(GembaLabelResult) third = NULL;
  g_autoptr(GPtrArray) labels = NULL;
  GembaLabel *a, *b;
  gint64 start;

  open_project (f);
  g_assert_false (gemba_project_get_reconnecting (f->project));
  first = label (f, f->frames[0], f->classes[0]);
  g_assert_false (first->queued);
  g_assert_nonnull (first->label);

  server_ctl ("stop fast");
  second = label (f, f->frames[0], f->classes[1]);
  third = label (f, f->frames[0], f->classes[0]);
  g_assert_true (second->queued);
  g_assert_true (second->disconnected);
  g_assert_true (third->queued);
  g_assert_null (second->label);
  g_assert_true (gemba_project_get_reconnecting (f->project));
  g_assert_cmpuint (gemba_project_get_n_waiting (f->project), ==, 2);
  g_assert_cmpuint (count_lines (gemba_project_get_outbox_path (f->project)), ==, 2);

  server_ctl ("start");
  start = g_get_monotonic_time ();
  /* The project retries by itself, at most 5 s apart. */
  g_assert_true (wait_for (back_and_sent, f, 30 * G_USEC_PER_SEC));
  g_test_message ("sent %.0f ms after the server was back",
                  (g_get_monotonic_time () - start) / 1000.0);
  g_assert_false (g_file_test (gemba_project_get_outbox_path (f->project), G_FILE_TEST_EXISTS));

  /* In the order given, by the person who gave them. */
  labels = history (f, f->frames[0]);
  g_assert_cmpuint (labels->len, ==, 3);
  a = labels->pdata[1];
  b = labels->pdata[2];
  g_assert_cmpint (a->class_id, ==, f->classes[1]);
  g_assert_cmpint (b->class_id, ==, f->classes[0]);
  g_assert_cmpint (a->created_at, <, b->created_at);
  g_assert_cmpstr (a->author, ==, "anna");
  g_assert_cmpstr (b->author, ==, "anna");
}

/* A label that waits when the workbench is closed is kept in the outbox file and sent when
 * the project is opened again. */
static void
test_outbox_survives_close (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaLabelResult) queued = NULL;
  g_autoptr(GPtrArray) labels = NULL;
  g_autofree char *outbox = NULL;

  open_project (f);
  server_ctl ("stop immediate");
  queued = label (f, f->frames[1], f->classes[1]);
  g_assert_true (queued->queued);
  outbox = g_strdup (gemba_project_get_outbox_path (f->project));
  close_project (f);
  g_assert_cmpuint (count_lines (outbox), ==, 1);

  server_ctl ("start");
  open_project (f);
  g_assert_true (wait_for (back_and_sent, f, 30 * G_USEC_PER_SEC));
  g_assert_false (g_file_test (outbox, G_FILE_TEST_EXISTS));
  labels = history (f, f->frames[1]);
  g_assert_cmpuint (labels->len, ==, 1);
  g_assert_cmpint (((GembaLabel *) labels->pdata[0])->class_id, ==, f->classes[1]);
}

int
main (int argc, char **argv)
{
  g_autofree char *cache = NULL;

  g_test_init (&argc, &argv, NULL);
  /* The project's watch warns that it lost its connection when the server stops, as it
   * should: warnings are not fatal here, criticals still are. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  /* The outbox lives in the user's cache folder: a throwaway one. */
  cache = g_dir_make_tmp ("gemba-outbox-cache-XXXXXX", NULL);
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  if (!gemba_test_server () || !g_getenv ("GEMBA_TEST_SERVER_CTL"))
    {
      g_test_skip ("needs a server it may stop (tests/server/with-server.sh)");
      return g_test_run ();
    }
  g_test_add ("/gui/project/outbox", Fixture, NULL, fixture_setup, test_outbox,
              fixture_teardown);
  g_test_add ("/gui/project/outbox-survives-close", Fixture, NULL, fixture_setup,
              test_outbox_survives_close, fixture_teardown);
  {
    int status = g_test_run ();
    _gemba_remove_tree (cache);
    return status;
  }
}
