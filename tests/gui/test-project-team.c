/* test-project-team.c: GembaProject on a team project turns other members' changes into its
 * signals, at most one per kind every 100 ms; its review-queue leases; labels that cross
 * another member's are told (no display needed). Runs under
 * tests/server/with-server.sh; "another member" is this program run again as a child process,
 * since the project ignores what its own process writes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "gemba-project.h"
#include "gemba-test-store.h"

#define N_FRAMES 30

typedef struct
{
  guint frames_changed;
  guint classes_changed;
  guint production_changed;
  gint64 production;
  GArray *models;               /* gint64 ids, in the order signalled */
  gint64 first;                 /* µs of the first signal since reset, 0: none */
  gint64 last;
} Heard;

static void
heard_reset (Heard *heard)
{
  heard->frames_changed = heard->classes_changed = heard->production_changed = 0;
  heard->production = 0;
  g_array_set_size (heard->models, 0);
  heard->first = heard->last = 0;
}

static void
heard_now (Heard *heard)
{
  heard->last = g_get_monotonic_time ();
  if (!heard->first)
    heard->first = heard->last;
}

static void
frames_changed_cb (GembaProject *project, Heard *heard)
{
  heard->frames_changed++;
  heard_now (heard);
}

static void
classes_changed_cb (GembaProject *project, Heard *heard)
{
  heard->classes_changed++;
  heard_now (heard);
}

static void
model_added_cb (GembaProject *project, gint64 model_id, Heard *heard)
{
  g_array_append_val (heard->models, model_id);
  heard_now (heard);
}

static void
production_changed_cb (GembaProject *project, gint64 model_id, Heard *heard)
{
  heard->production_changed++;
  heard->production = model_id;
  heard_now (heard);
}

/* Runs the main loop for @ms milliseconds. */
static void
spin (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

static gboolean
run_writer (const char *project, const char *what, GError **error)
{
  const char *argv[5] = { NULL };
  g_autofree char *self = g_file_read_link ("/proc/self/exe", error);
  int status;

  if (!self)
    return FALSE;
  argv[0] = self;
  argv[1] = "--write";
  argv[2] = project;
  argv[3] = what;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                     &status, error))
    return FALSE;
  return g_spawn_check_wait_status (status, error);
}

/* The other member: "burst" labels every frame, renames a class, adds two models and promotes
 * the second, in one transaction (delivered together at its commit); "label" labels one
 * frame "ok". */
static int
writer_main (const char *path, const char *what)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = gemba_store_open (path, &error);
  g_autoptr(GPtrArray) frames = NULL;
  GembaFrameQuery query = { .filter = GEMBA_FILTER_ALL };
  char *names[] = { (char *) "ok", (char *) "scratch", NULL };
  GembaModelRecord record = { .architecture = (char *) "small-cnn", .classes = names,
                              .seed = 7, .test_accuracy = -1 };
  g_autoptr(GembaClass) scratch = NULL;
  g_autoptr(GembaModelRecord) second = NULL;
  gboolean one_label = g_str_equal (what, "label");

  /* "cross:ID": Ben labels frame ID "scratch". */
  if (store && g_str_has_prefix (what, "cross:"))
    {
      g_autoptr(GembaLabel) label = NULL;

      gemba_store_set_author (store, "ben");
      if (!(scratch = gemba_store_find_class (store, "scratch", &error)) ||
          !(label = gemba_store_set_label (store, g_ascii_strtoll (what + 6, NULL, 10),
                                           scratch->id, GEMBA_LABEL_SET, &error)))
        goto failed;
      return 0;
    }
  if (!store ||
      !(frames = gemba_store_list_frames (store, &query, 0, -1, &error)) ||
      !(scratch = gemba_store_find_class (store, one_label ? "ok" : "scratch", &error)))
    goto failed;
  if (one_label)
    {
      const GembaFrame *frame = g_ptr_array_index (frames, 0);
      g_autoptr(GembaLabel) label = gemba_store_set_label (store, frame->id, scratch->id,
                                                           GEMBA_LABEL_SET, &error);
      if (!label)
        goto failed;
      return 0;
    }
  if (!gemba_store_begin_batch (store, &error))
    goto failed;
  for (guint i = 0; i < frames->len; i++)
    {
      const GembaFrame *frame = g_ptr_array_index (frames, i);
      g_autoptr(GembaLabel) label = gemba_store_set_label (store, frame->id, scratch->id,
                                                           GEMBA_LABEL_SET, &error);
      if (!label)
        goto rollback;
    }
  if (!gemba_store_rename_class (store, scratch->id, "scratched", &error))
    goto rollback;
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *staging = gemba_store_make_staging_dir (store, &error);
      g_autoptr(GembaModelRecord) model = NULL;

      if (!staging || !(model = gemba_store_add_model (store, &record, staging, &error)))
        goto rollback;
      g_clear_pointer (&second, gemba_model_record_free);
      second = g_steal_pointer (&model);
    }
  if (!gemba_store_promote_model (store, second->id, &error) ||
      !gemba_store_commit_batch (store, &error))
    goto rollback;
  return 0;

rollback:
  gemba_store_rollback_batch (store);
failed:
  g_printerr ("writer: %s\n", error ? error->message : "failed");
  return 1;
}

static void
opened_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  GembaProject **project = user_data;
  g_autoptr(GError) error = NULL;

  *project = gemba_project_open_finish (result, &error);
  g_assert_no_error (error);
}

static void
test_coalesced (void)
{
  const char *classes[] = { "ok", "scratch", NULL };
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaProject) project = NULL;
  g_autoptr(GError) error = NULL;
  Heard heard = { .models = g_array_new (FALSE, FALSE, sizeof (gint64)) };
  gint64 written, deadline;

  store = gemba_test_project_create ("gemba-project-team-XXXXXX", classes, &dir, &path);
  g_assert_nonnull (gemba_store_get_server (store));
  g_assert_true (gemba_store_begin_batch (store, &error));
  for (guint i = 0; i < N_FRAMES; i++)
    {
      g_autoptr(GBytes) bytes = gemba_test_make_jpeg (32, 24, i + 1);
      g_autoptr(GembaFrame) frame = NULL;
      GembaFrameInfo info;

      gemba_frame_info_init (&info);
      info.source_name = "Line 1";
      info.captured_at = 1700000000000000 + i * G_USEC_PER_SEC;
      frame = gemba_store_add_frame (store, bytes, "jpg", 32, 24, &info, NULL, &error);
      g_assert_no_error (error);
    }
  g_assert_true (gemba_store_commit_batch (store, &error));
  g_assert_no_error (error);

  gemba_project_open_async (path, GEMBA_PROJECT_OPEN, "tester", NULL, opened_cb, &project);
  while (!project)
    g_main_context_iteration (NULL, TRUE);
  g_signal_connect (project, "frames-changed", G_CALLBACK (frames_changed_cb), &heard);
  g_signal_connect (project, "classes-changed", G_CALLBACK (classes_changed_cb), &heard);
  g_signal_connect (project, "model-added", G_CALLBACK (model_added_cb), &heard);
  g_signal_connect (project, "production-changed", G_CALLBACK (production_changed_cb), &heard);

  /* 30 labels, a class renamed, two models and a promotion, all at once: each kind once. */
  g_assert_true (run_writer (path, "burst", &error));
  g_assert_no_error (error);
  written = g_get_monotonic_time ();
  deadline = written + G_USEC_PER_SEC;
  while (!heard.production_changed && g_get_monotonic_time () < deadline)
    spin (5);
  spin (500);   /* and nothing more afterwards */
  g_test_message ("burst: first signal %.0f ms after the writer exited, last %.0f ms",
                  (heard.first - written) / 1000.0, (heard.last - written) / 1000.0);
  g_assert_cmpuint (heard.classes_changed, ==, 1);
  g_assert_cmpuint (heard.models->len, ==, 2);
  g_assert_cmpint (g_array_index (heard.models, gint64, 0), <,
                   g_array_index (heard.models, gint64, 1));
  g_assert_cmpuint (heard.production_changed, ==, 1);
  g_assert_cmpint (heard.production, ==, g_array_index (heard.models, gint64, 1));
  /* A promotion changes the verdicts, so the frames follow it: frames-changed once, for the
   * labels and the promotion together. */
  g_assert_cmpuint (heard.frames_changed, ==, 1);
  g_assert_cmpint (heard.last - written, <=, G_USEC_PER_SEC);
  /* The project's own classes followed the rename. */
  {
    const GembaClass *klass = gemba_project_class_for_key (project, 2);

    g_assert_nonnull (klass);
    g_assert_cmpstr (klass->name, ==, "scratched");
  }

  /* The project idles; one label from the other member: one frames-changed, nothing else. */
  spin (300);
  heard_reset (&heard);
  g_assert_true (run_writer (path, "label", &error));
  g_assert_no_error (error);
  written = g_get_monotonic_time ();
  deadline = written + G_USEC_PER_SEC;
  while (!heard.frames_changed && g_get_monotonic_time () < deadline)
    spin (5);
  spin (300);
  g_test_message ("one label: heard %.0f ms after the writer exited",
                  (heard.first - written) / 1000.0);
  g_assert_cmpuint (heard.frames_changed, ==, 1);
  g_assert_cmpuint (heard.classes_changed, ==, 0);
  g_assert_cmpuint (heard.models->len, ==, 0);
  g_assert_cmpuint (heard.production_changed, ==, 0);

  gemba_project_close (project);
  g_array_unref (heard.models);
  gemba_test_project_clear (&store, &path, &dir);
}

static void
claimed_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  GembaProjectClaim **claim = user_data;
  g_autoptr(GError) error = NULL;

  *claim = gemba_project_claim_finish (GEMBA_PROJECT (object), result, &error);
  g_assert_no_error (error);
}

static void
labeled_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  GembaLabelResult **labeled = user_data;
  g_autoptr(GError) error = NULL;

  *labeled = gemba_project_label_finish (GEMBA_PROJECT (object), result, &error);
  g_assert_no_error (error);
}

static void
crossed_cb (GembaProject *project, const GembaLabelCrossing *c, GPtrArray *told)
{
  GembaLabelCrossing *copy = g_memdup2 (c, sizeof *c);

  copy->frame_name = g_strdup (c->frame_name);
  copy->other_author = g_strdup (c->other_author);
  copy->other_class = g_strdup (c->other_class);
  copy->own_class = g_strdup (c->own_class);
  copy->current_author = g_strdup (c->current_author);
  copy->current_class = g_strdup (c->current_class);
  g_ptr_array_add (told, copy);
}

/* Labels @frame as the project's author (as the person saw it), waits for the write. */
static void
label_and_wait (GembaProject *project, GembaStore *store, gint64 frame_id, const char *klass)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaFrame) frame = gemba_store_get_frame (store, frame_id, &error);
  g_autoptr(GembaClass) found = gemba_store_find_class (store, klass, &error);
  g_autoptr(GembaLabelResult) labeled = NULL;

  g_assert_no_error (error);
  gemba_project_label_frame_async (project, frame, found->id, GEMBA_LABEL_SET, labeled_cb,
                                   &labeled);
  while (!labeled)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (labeled->label);
}

static GembaLabelCrossing *
wait_crossing (GPtrArray *told)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (told->len == 0 && g_get_monotonic_time () < deadline)
    spin (5);
  g_assert_cmpuint (told->len, ==, 1);
  return g_ptr_array_steal_index (told, 0);
}

/* The review queue: a claim takes frames nobody else holds and closing gives them back; and
 * another member's label just after or just before this person's is told, once. */
static void
test_leases_and_crossing (void)
{
  const char *classes[] = { "ok", "scratch", NULL };
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaStore) other = NULL;
  g_autoptr(GembaProject) project = NULL;
  g_autoptr(GembaProjectClaim) claim = NULL;
  g_autoptr(GArray) queue = NULL;
  g_autoptr(GArray) theirs = NULL;
  g_autoptr(GPtrArray) leases = NULL;
  g_autoptr(GPtrArray) told = g_ptr_array_new_with_free_func ((GDestroyNotify)
                                                               gemba_label_crossing_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaLabelCrossing) c = NULL;
  g_autofree char *writer = NULL;
  gint64 f, g;

  store = gemba_test_project_create ("gemba-project-leases-XXXXXX", classes, &dir, &path);
  g_assert_true (gemba_store_begin_batch (store, &error));
  for (guint i = 0; i < N_FRAMES; i++)
    {
      g_autoptr(GBytes) bytes = gemba_test_make_jpeg (32, 24, i + 1);
      g_autoptr(GembaFrame) frame = NULL;
      GembaFrameInfo info;

      gemba_frame_info_init (&info);
      info.source_name = "Line 1";
      info.captured_at = 1700000000000000 + i * 10 * G_USEC_PER_SEC;
      frame = gemba_store_add_frame (store, bytes, "jpg", 32, 24, &info, NULL, &error);
      g_assert_no_error (error);
    }
  g_assert_true (gemba_store_commit_batch (store, &error));
  g_assert_no_error (error);
  queue = gemba_store_list_review_queue (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (queue->len, >=, 12);

  gemba_project_open_async (path, GEMBA_PROJECT_OPEN, "anna", NULL, opened_cb, &project);
  while (!project)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (gemba_project_get_is_team (project));
  g_signal_connect (project, "labels-crossed", G_CALLBACK (crossed_cb), told);

  /* Anna's workbench claims 5; another holder then gets the next 5, none of hers. */
  gemba_project_claim_async (project, queue, 5, claimed_cb, &claim);
  while (!claim)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (claim->claimed->len, ==, 5);
  g_assert_cmpuint (g_hash_table_size (claim->others), ==, 0);
  other = gemba_store_open (path, &error);
  g_assert_no_error (error);
  theirs = gemba_store_claim_frames (other, queue, 5, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (theirs->len, ==, 5);
  for (guint i = 0; i < 5; i++)
    for (guint j = 0; j < 5; j++)
      g_assert_cmpint (g_array_index (theirs, gint64, i), !=,
                       g_array_index (claim->claimed, gint64, j));
  g_assert_cmpint (g_array_index (theirs, gint64, 0), ==, g_array_index (queue, gint64, 5));
  g_clear_pointer (&claim, gemba_project_claim_free);
  /* Asked again, Anna's own come first, and the other holder's are named. */
  gemba_project_claim_async (project, queue, 5, claimed_cb, &claim);
  while (!claim)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (g_array_index (claim->claimed, gint64, 0), ==,
                   g_array_index (queue, gint64, 0));
  g_assert_cmpuint (g_hash_table_size (claim->others), ==, 5);

  /* Ben labels frame f just after Anna: told, and his is the label now. */
  f = g_array_index (queue, gint64, 0);
  label_and_wait (project, store, f, "ok");
  writer = g_strdup_printf ("cross:%" G_GINT64_FORMAT, f);
  g_assert_true (run_writer (path, writer, &error));
  g_assert_no_error (error);
  c = wait_crossing (told);
  g_assert_cmpint (c->frame_id, ==, f);
  g_assert_cmpstr (c->other_author, ==, "ben");
  g_assert_cmpstr (c->other_class, ==, "scratch");
  g_assert_cmpstr (c->own_class, ==, "ok");
  g_assert_false (c->other_first);
  g_assert_false (c->own_current);
  g_clear_pointer (&c, gemba_label_crossing_free);

  /* Ben labels frame g; Anna, who saw it unlabeled, labels it just after: told, hers is
   * the label now. Told once only. */
  g = g_array_index (queue, gint64, 1);
  g_free (writer);
  writer = g_strdup_printf ("cross:%" G_GINT64_FORMAT, g);
  {
    g_autoptr(GembaFrame) seen = gemba_store_get_frame (store, g, &error);
    g_autoptr(GembaClass) ok = gemba_store_find_class (store, "ok", &error);
    g_autoptr(GembaLabelResult) labeled = NULL;

    g_assert_true (run_writer (path, writer, &error));
    g_assert_no_error (error);
    gemba_project_label_frame_async (project, seen, ok->id, GEMBA_LABEL_SET, labeled_cb,
                                     &labeled);
    while (!labeled)
      g_main_context_iteration (NULL, TRUE);
  }
  c = wait_crossing (told);
  g_assert_cmpint (c->frame_id, ==, g);
  g_assert_cmpstr (c->other_author, ==, "ben");
  g_assert_true (c->other_first);
  g_assert_true (c->own_current);
  spin (500);
  g_assert_cmpuint (told->len, ==, 0);

  /* Closing gives back what Anna's workbench held (the labeled frames' leases ended with
   * their labels). */
  gemba_project_close (project);
  leases = gemba_store_list_leases (store, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < leases->len; i++)
    g_assert_cmpstr (((GembaLease *) leases->pdata[i])->holder, ==,
                     gemba_store_get_lease_holder (other));
  g_assert_cmpuint (leases->len, ==, 5);
  g_clear_object (&other);
  gemba_test_project_clear (&store, &path, &dir);
}

int
main (int argc, char **argv)
{
  if (argc == 4 && g_str_equal (argv[1], "--write"))
    return writer_main (argv[2], argv[3]);
  g_test_init (&argc, &argv, NULL);
  if (gemba_test_server ())
    {
      g_test_add_func ("/gui/project/team-coalesced", test_coalesced);
      g_test_add_func ("/gui/project/team-leases-and-crossing", test_leases_and_crossing);
    }
  return g_test_run ();
}
