#define G_LOG_DOMAIN "gemba-test-export"

#include "config.h"

/* test-export.c: export from a project behind the regression gate, and production loading
 *
 * A small project (rendered demo frames) gets model versions made here without training: a
 * production model A, a copy of it C (no worse), and B, A with one class pushed down (worse).
 * The test split's labels are set to A's verdicts, so A is perfect there and B's loss is
 * certain. Then: C exports; B is refused, naming the class, and exports with --force and a
 * reason that reaches the manifest, the model card and the audit trail; after a false reading
 * is corrected, C (which repeats it) is refused, naming the frame. The exported package loads
 * through gemba_package_classifier_load() and `gemba infer` with exactly the verdicts and
 * probabilities of the model in the project.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <sqlite3.h>
#include <sys/wait.h>
#include <string.h>

#include <glib/gstdio.h>

#include "gemba.h"
#include "gemba-export.h"
#include "gemba-util-private.h"

#define N_FRAMES 36

typedef struct {
  char *dir;
  char *project;
  GembaStore *store;
  GembaSecretKey *key;
  GembaTrust *trust;
  char *public_path;
  gint64 a, b, c;            /* model ids */
  int favourite;             /* A's most frequent verdict on the test split */
} Fixture;

static const char *classes[] = { "ok", "scratch", "dent", NULL };

static gint64
add_model (Fixture *f, GembaModel *model, gint64 parent)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *staging = gemba_store_make_staging_dir (f->store, &error);
  g_autoptr(GembaModelRecord) added = NULL;
  g_autoptr(JsonNode) settings = NULL;
  g_autofree char *settings_text = NULL;
  GembaModelRecord record = { 0 };
  GembaStats stats;

  g_assert_no_error (error);
  /* gemba_model_save() makes the folder itself. */
  g_assert_cmpint (g_rmdir (staging), ==, 0);
  g_assert_true (gemba_model_save (model, staging, &error));
  g_assert_no_error (error);
  g_assert_true (gemba_store_get_stats (f->store, &stats, NULL));
  settings = json_from_string ("{\"epochs\": 3, \"lr\": 0.002}", NULL);
  settings_text = json_to_string (settings, FALSE);

  record.parent_id = parent;
  record.created_at = g_get_real_time ();
  record.author = (char *) "ana";
  record.architecture = (char *) "small-cnn";
  record.classes = (char **) classes;
  record.settings = settings_text;
  record.seed = 42;
  record.dataset_revision = stats.revision;
  record.n_train = 20;
  record.test_accuracy = -1;
  record.duration = 1.5;
  record.weights_sha256 = (char *) gemba_model_get_weights_sha256 (model);
  added = gemba_store_add_model (f->store, &record, staging, &error);
  g_assert_no_error (error);
  return added->id;
}

static GembaModel *
load_model (Fixture *f, gint64 id)
{
  g_autofree char *dir = gemba_store_dup_model_dir (f->store, id);
  g_autoptr(GError) error = NULL;
  GembaModel *model = gemba_model_load (dir, &error);

  g_assert_no_error (error);
  return model;
}

static GPtrArray *
test_frames (Fixture *f)
{
  GembaFrameQuery query = { .filter = GEMBA_FILTER_SPLIT, .split = GEMBA_SPLIT_TEST };
  g_autoptr(GError) error = NULL;
  GPtrArray *frames = gemba_store_list_frames (f->store, &query, 0, -1, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (frames->len, >=, 6);
  return frames;
}

static char **
frame_paths (Fixture *f, GPtrArray *frames)
{
  char **paths = g_new0 (char *, frames->len + 1);

  for (guint i = 0; i < frames->len; i++)
    paths[i] = gemba_store_dup_frame_path (f->store, g_ptr_array_index (frames, i));
  return paths;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModel) a = NULL;
  g_autoptr(GembaModel) b = NULL;
  g_autoptr(GembaModel) c = NULL;
  g_autoptr(GembaClassifier) classifier = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  g_auto(GStrv) paths = NULL;
  g_autofree char *key_dir = NULL;
  g_autofree char *secret = NULL;
  g_autofree char *id = NULL;
  g_autofree int *verdicts = NULL;
  int votes[3] = { 0 };
  GembaNetConfig config;
  GembaPreprocess pp;
  gint64 assigned[4];
  GembaLayer *last;
  GembaNet *net;

  f->dir = g_dir_make_tmp ("gemba-test-export-XXXXXX", &error);
  g_assert_no_error (error);
  f->project = g_build_filename (f->dir, "washer-line", NULL);
  f->store = gemba_store_create (f->project, classes, &error);
  g_assert_no_error (error);
  gemba_store_set_author (f->store, "ben");

  for (guint i = 0; i < N_FRAMES; i++)
    {
      g_autoptr(GembaImage) image = gemba_demo_render (i % 2, (GembaDemoClass) (i % 3), i + 1);
      g_autoptr(GBytes) png = gemba_image_encode_png (image, &error);
      g_autoptr(GembaFrame) frame = NULL;
      GembaFrameInfo info;
      gboolean duplicate = FALSE;

      g_assert_no_error (error);
      gemba_frame_info_init (&info);
      info.label_class = classes[i % 3];
      frame = gemba_store_add_frame (f->store, png, "png", image->width, image->height, &info,
                                     &duplicate, &error);
      g_assert_no_error (error);
    }
  g_assert_true (gemba_store_assign_splits (f->store, 0.5, 0.1, 1, assigned, &error));
  g_assert_no_error (error);

  key_dir = g_build_filename (f->dir, "keys", NULL);
  id = gemba_keys_generate (key_dir, &error);
  g_assert_no_error (error);
  secret = g_build_filename (key_dir, "secret", NULL);
  f->public_path = g_build_filename (key_dir, "public", NULL);
  f->key = gemba_secret_key_load (secret, &error);
  g_assert_no_error (error);
  f->trust = gemba_trust_new ();
  g_assert_true (gemba_trust_add_path (f->trust, f->public_path, &error));

  gemba_net_config_init (&config, GEMBA_ARCH_SMALL_CNN, 3);
  config.input_h = config.input_w = 32;
  config.widths[0] = 8;
  config.widths[1] = 16;
  config.n_widths = 2;
  gemba_preprocess_init (&pp, 32);
  a = gemba_model_new (&config, &pp, classes, 7, &error);
  g_assert_no_error (error);
  f->a = add_model (f, a, 0);
  g_assert_true (gemba_store_promote_model (f->store, f->a, &error));
  g_assert_no_error (error);

  /* The test split's labels become A's verdicts: A is perfect there. */
  frames = test_frames (f);
  paths = frame_paths (f, frames);
  {
    g_autofree char *dir = gemba_store_dup_model_dir (f->store, f->a);
    classifier = gemba_classifier_new_from_dir (dir, 1, &error);
    g_assert_no_error (error);
  }
  verdicts = g_new0 (int, frames->len);
  g_assert_cmpuint (gemba_classifier_classify_files (classifier, (const char * const *) paths,
                                                     frames->len, verdicts, NULL, NULL),
                    ==, frames->len);
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = g_ptr_array_index (frames, i);
      g_autoptr(GembaClass) klass = gemba_store_find_class (f->store, classes[verdicts[i]],
                                                            &error);
      g_autoptr(GembaLabel) label = NULL;
      g_assert_no_error (error);
      label = gemba_store_set_label (f->store, frame->id, klass->id, GEMBA_LABEL_SET, &error);
      g_assert_no_error (error);
      votes[verdicts[i]]++;
    }
  f->favourite = votes[1] > votes[f->favourite] ? 1 : f->favourite;
  f->favourite = votes[2] > votes[f->favourite] ? 2 : f->favourite;

  /* C: the same weights. B: A with its favourite class pushed far down. */
  c = load_model (f, f->a);
  f->c = add_model (f, c, f->a);
  b = load_model (f, f->a);
  net = gemba_model_get_net (b);
  last = gemba_net_get_layer (net, gemba_net_get_n_layers (net) - 1);
  g_assert_cmpint (last->kind, ==, GEMBA_LAYER_LINEAR);
  last->b[f->favourite] -= 1000.0f;
  f->b = add_model (f, b, f->a);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->store);
  gemba_secret_key_free (f->key);
  gemba_trust_unref (f->trust);
  _gemba_remove_tree (f->dir);
  g_free (f->public_path);
  g_free (f->project);
  g_free (f->dir);
}

static char *
audit_detail (Fixture *f, const char *action)
{
  g_autofree char *db_path = g_build_filename (f->project, GEMBA_STORE_DB_NAME, NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *detail = NULL;

  g_assert_cmpint (sqlite3_open_v2 (db_path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT detail FROM audit WHERE action = ? "
                                           "ORDER BY id DESC LIMIT 1", -1, &stmt, NULL),
                   ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, action, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    detail = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return detail;
}

static void
test_gate (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *good = g_build_filename (f->dir, "washer-1.0.gemba", NULL);
  g_autofree char *worse = g_build_filename (f->dir, "washer-1.1.gemba", NULL);
  g_autoptr(GembaPackage) pkg = NULL;
  g_autoptr(GembaPackage) forced = NULL;
  g_autofree char *needle = NULL;
  g_autofree char *detail = NULL;
  const char *reason = "line 3 changes camera on Monday; accepted by QA (ticket 1234)";
  GembaExportOptions options = { .key = f->key, .name = "washer-inspect", .n_threads = 1 };
  JsonObject *gate;

  /* C is A: nothing to refuse. */
  options.version = "1.0.0";
  g_assert_true (gemba_store_set_setting (f->store, "package.threshold.dent", "0.8", &error));
  g_assert_true (gemba_package_export (f->store, f->c, good, &options, &error));
  g_assert_no_error (error);
  pkg = gemba_package_load (good, f->trust, &error);
  g_assert_no_error (error);
  gate = json_object_get_object_member (gemba_package_get_manifest (pkg), "gate");
  g_assert_true (json_object_get_boolean_member (gate, "checked"));
  g_assert_false (json_object_get_boolean_member (gate, "forced"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (gate, "failures")), ==,
                    0);
  g_assert_cmpstr (json_object_get_string_member (
                     json_object_get_object_member (gemba_package_get_manifest (pkg), "model"),
                     "exported_by"), ==, "ben");
  g_assert_nonnull (strstr (gemba_package_get_model_card (pkg), "## How well"));
  {
    JsonArray *t = json_object_get_array_member (gemba_package_get_manifest (pkg),
                                                 "thresholds");
    g_assert_cmpfloat (json_array_get_double_element (t, 0), ==, 0.5);
    g_assert_cmpfloat (json_array_get_double_element (t, 2), ==, 0.8);
  }
  g_assert_nonnull (gemba_package_get_member (pkg, GEMBA_PACKAGE_ONNX));

  /* B loses its favourite class: refused, naming it; no file written. */
  options.version = "1.1.0";
  g_assert_false (gemba_package_export (f->store, f->b, worse, &options, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_REFUSED);
  g_test_message ("%s", error->message);
  needle = g_strdup_printf ("significantly worse on class “%s”", classes[f->favourite]);
  g_assert_nonnull (strstr (error->message, needle));
  g_assert_nonnull (strstr (error->message, "significantly worse on the test split"));
  g_assert_false (g_file_test (worse, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  /* Forcing needs a reason, then records it everywhere. */
  options.force = TRUE;
  options.reason = "  ";
  g_assert_false (gemba_package_export (f->store, f->b, worse, &options, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_clear_error (&error);
  options.reason = reason;
  g_assert_true (gemba_package_export (f->store, f->b, worse, &options, &error));
  g_assert_no_error (error);
  forced = gemba_package_load (worse, f->trust, &error);
  g_assert_no_error (error);
  gate = json_object_get_object_member (gemba_package_get_manifest (forced), "gate");
  g_assert_true (json_object_get_boolean_member (gate, "forced"));
  g_assert_cmpstr (json_object_get_string_member (gate, "reason"), ==, reason);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (gate, "failures")), >,
                    0);
  g_assert_nonnull (strstr (gemba_package_get_model_card (forced),
                            "Exported despite the regression gate"));
  g_assert_nonnull (strstr (gemba_package_get_model_card (forced), reason));
  detail = audit_detail (f, "export-forced");
  g_assert_nonnull (detail);
  g_assert_nonnull (strstr (detail, reason));

  /* The project sets the gate: at a significance level of 0 nothing is significant, and B
   * passes unforced. */
  g_assert_true (gemba_store_set_setting (f->store, "gate.alpha", "0", &error));
  options.force = FALSE;
  options.reason = NULL;
  g_assert_true (gemba_package_export (f->store, f->b, worse, &options, &error));
  g_assert_no_error (error);
}

static void
test_false_readings (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "washer-1.2.gemba", NULL);
  GembaFrameQuery query = { .filter = GEMBA_FILTER_SPLIT, .split = GEMBA_SPLIT_TRAIN };
  g_autoptr(GPtrArray) frames = gemba_store_list_frames (f->store, &query, 0, 2, &error);
  g_auto(GStrv) paths = frame_paths (f, frames);
  g_autoptr(GembaClassifier) classifier = NULL;
  g_autofree char *dir = gemba_store_dup_model_dir (f->store, f->a);
  g_autofree char *short_id = NULL;
  gint64 frame_ids[2];
  gint64 class_ids[3];
  float probs[2 * 3];
  int verdicts[2];
  GembaExportOptions options = { .key = f->key, .version = "1.2.0", .n_threads = 1 };

  g_assert_no_error (error);
  g_assert_cmpuint (frames->len, ==, 2);
  classifier = gemba_classifier_new_from_dir (dir, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (gemba_classifier_classify_files (classifier, (const char * const *) paths, 2,
                                                     verdicts, probs, NULL), ==, 2);
  for (guint k = 0; k < 3; k++)
    {
      g_autoptr(GembaClass) klass = gemba_store_find_class (f->store, classes[k], &error);
      class_ids[k] = klass->id;
    }
  /* Production read these two frames as it does; a person corrects them. */
  for (guint i = 0; i < 2; i++)
    frame_ids[i] = ((GembaFrame *) g_ptr_array_index (frames, i))->id;
  g_assert_true (gemba_store_save_predictions (f->store, f->a, 2, frame_ids, probs, 3, class_ids,
                                               &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GembaLabel) label = gemba_store_set_label (f->store, frame_ids[i],
                                                           class_ids[(verdicts[i] + 1) % 3],
                                                           GEMBA_LABEL_SET, &error);
      g_assert_no_error (error);
    }

  /* C reads them as A did: both wrong, which is no regression; the gate counts them. */
  g_assert_cmpint (gemba_store_get_production_model_id (f->store), ==, f->a);
  g_assert_true (gemba_package_export (f->store, f->c, path, &options, &error));
  g_assert_no_error (error);
  {
    g_autoptr(GembaPackage) pkg = gemba_package_load (path, f->trust, &error);
    JsonObject *gate;
    g_assert_no_error (error);
    gate = json_object_get_object_member (gemba_package_get_manifest (pkg), "gate");
    g_assert_cmpint (json_object_get_int_member (gate, "corrections"), ==, 2);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (gate,
                                                                           "broken_corrections")),
                      ==, 0);
    g_assert_nonnull (strstr (gemba_package_get_model_card (pkg), "## Against production"));
  }
  short_id = g_strndup (((GembaFrame *) g_ptr_array_index (frames, 0))->sha256, 12);
  g_assert_nonnull (short_id);
}

/* The package gives exactly what the model in the project gives, through the C API and
 * through `gemba infer --json`; and refuses to load for an untrusted line. */
static void
test_infer (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "washer-1.0.gemba", NULL);
  g_autofree char *dir = gemba_store_dup_model_dir (f->store, f->c);
  g_autoptr(GembaClassifier) project = NULL;
  g_autoptr(GembaClassifier) production = NULL;
  g_autoptr(GPtrArray) frames = test_frames (f);
  g_auto(GStrv) paths = frame_paths (f, frames);
  g_autofree float *expected = g_new (float, frames->len * 3);
  g_autofree int *expected_v = g_new (int, frames->len);
  GembaExportOptions options = { .key = f->key, .version = "1.0.0", .n_threads = 1 };
  guint n = frames->len;

  g_assert_true (gemba_package_export (f->store, f->c, path, &options, &error));
  g_assert_no_error (error);
  project = gemba_classifier_new_from_dir (dir, 1, &error);
  g_assert_no_error (error);
  gemba_classifier_classify_files (project, (const char * const *) paths, n, expected_v,
                                   expected, NULL);

  /* The production API, on all cores: same verdicts; probabilities equal up to the order of
   * summation a different thread count implies. */
  production = gemba_package_classifier_load (path, f->trust, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < n; i++)
    {
      float probs[3];
      int v = gemba_classifier_classify_file (production, paths[i], probs, &error);
      g_assert_no_error (error);
      g_assert_cmpint (v, ==, expected_v[i]);
      for (guint k = 0; k < 3; k++)
        g_assert_cmpfloat_with_epsilon (probs[k], expected[3 * i + k], 1e-6);
    }

  /* With the same thread count, bit for bit: batches and single frames. */
  {
    g_autoptr(GembaPackage) pkg = gemba_package_load (path, f->trust, &error);
    g_autoptr(GembaModel) model = gemba_package_get_model (pkg, &error);
    g_autoptr(GembaClassifier) one = gemba_classifier_new_from_model (model, 1, &error);
    g_autofree float *got = g_new (float, n * 3);
    g_autofree int *got_v = g_new (int, n);

    g_assert_no_error (error);
    gemba_classifier_classify_files (one, (const char * const *) paths, n, got_v, got, NULL);
    g_assert_cmpmem (got_v, n * sizeof (int), expected_v, n * sizeof (int));
    g_assert_cmpmem (got, n * 3 * sizeof (float), expected, n * 3 * sizeof (float));
    for (guint i = 0; i < n; i++)
      {
        float probs[3];
        float single[3];
        gemba_classifier_classify_file (one, paths[i], probs, &error);
        g_assert_no_error (error);
        gemba_classifier_classify_file (project, paths[i], single, &error);
        g_assert_no_error (error);
        g_assert_cmpmem (probs, sizeof probs, single, sizeof single);
      }
  }

  /* gemba infer --json (all cores, as a user runs it) gives exactly what gemba eval computed
   * and stored in the project, frame by frame. */
  {
    g_autoptr(GembaEvaluation) eval = gemba_workflow_evaluate (f->store, f->c, NULL, &error);
    g_autofree char *gemba = g_build_filename (g_getenv ("GEMBA_BUILD_ROOT"), "src", "cli",
                                               "gemba", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) lines = NULL;
    int status;

    g_assert_no_error (error);
    g_assert_cmpuint (eval->n_frames, ==, n);
    g_ptr_array_add (argv, g_strdup (gemba));
    g_ptr_array_add (argv, g_strdup ("infer"));
    g_ptr_array_add (argv, g_strdup (path));
    for (guint i = 0; i < eval->n_frames; i++)
      {
        g_autoptr(GembaFrame) frame = gemba_store_get_frame (f->store, eval->frame_ids[i],
                                                             &error);
        g_assert_no_error (error);
        g_ptr_array_add (argv, gemba_store_dup_frame_path (f->store, frame));
      }
    g_ptr_array_add (argv, g_strdup ("--json"));
    g_ptr_array_add (argv, g_strdup ("--trust"));
    g_ptr_array_add (argv, g_strdup (f->public_path));
    g_ptr_array_add (argv, NULL);
    g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, 0, NULL, NULL, &out, &err,
                                 &status, &error));
    g_assert_no_error (error);
    if (!g_spawn_check_wait_status (status, NULL))
      g_error ("gemba infer failed: %s", err);
    lines = g_strsplit (g_strstrip (out), "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, eval->n_frames);
    for (guint i = 0; i < eval->n_frames; i++)
      {
        g_autoptr(JsonNode) node = json_from_string (lines[i], &error);
        JsonObject *o, *p;
        g_assert_no_error (error);
        o = json_node_get_object (node);
        g_assert_cmpstr (json_object_get_string_member (o, "file"), ==, argv->pdata[3 + i]);
        g_assert_cmpstr (json_object_get_string_member (o, "verdict"), ==,
                         eval->class_names[eval->verdicts[i]]);
        p = json_object_get_object_member (o, "probabilities");
        for (guint k = 0; k < 3; k++)
          g_assert_cmpfloat ((float) json_object_get_double_member (p, eval->class_names[k]),
                             ==, eval->probabilities[3 * i + k]);
      }
  }

  /* Another line's keys: refused, nothing classified. */
  {
    g_autofree char *other_dir = g_build_filename (f->dir, "other-keys", NULL);
    g_autofree char *other_public = g_build_filename (other_dir, "public", NULL);
    g_autofree char *id = gemba_keys_generate (other_dir, &error);
    g_autoptr(GembaTrust) other = gemba_trust_new ();
    g_autoptr(GembaClassifier) refused = NULL;

    g_assert_no_error (error);
    g_assert_true (gemba_trust_add_path (other, other_public, &error));
    refused = gemba_package_classifier_load (path, other, &error);
    g_assert_null (refused);
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY);
    g_assert_nonnull (strstr (error->message, "not a trusted key"));
  }
}

/* model.onnx from the package, fed the manifest's preprocessing of each test frame, run in ONNX
 * Runtime: the same verdict as gemba eval on every frame, probabilities within 1e-4. */
static void
test_onnx_test_split (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "washer-1.0.gemba", NULL);
  g_autofree char *model_path = g_build_filename (f->dir, "model.onnx", NULL);
  g_autofree char *in_path = g_build_filename (f->dir, "input.bin", NULL);
  g_autofree char *out_path = g_build_filename (f->dir, "output.bin", NULL);
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "package", "onnx-run.js", NULL);
  g_autofree char *node = g_find_program_in_path ("node");
  const char *modules = g_getenv ("GEMBA_ORT_NODE_MODULES");
  g_autoptr(GembaEvaluation) eval = NULL;
  g_autoptr(GembaPackage) pkg = NULL;
  g_autoptr(GembaModel) model = NULL;
  g_autofree float *nchw = NULL;
  g_autofree guint8 *bytes = NULL;
  g_autofree float *nhwc = NULL;
  g_autofree char *probs = NULL;
  g_autofree char *ort_module = NULL;
  GembaExportOptions options = { .key = f->key, .version = "1.0.0", .n_threads = 1 };
  const GembaPreprocess *pp;
  gsize len = 0;
  int C, H, W;

  g_assert_true (gemba_package_export (f->store, f->c, path, &options, &error));
  g_assert_no_error (error);
  eval = gemba_workflow_evaluate (f->store, f->c, NULL, &error);
  g_assert_no_error (error);
  pkg = gemba_package_load (path, f->trust, &error);
  g_assert_no_error (error);
  model = gemba_package_get_model (pkg, &error);
  g_assert_no_error (error);
  pp = gemba_model_get_preprocess (model);
  C = pp->channels, H = pp->height, W = pp->width;

  ort_module = modules ? g_build_filename (modules, "onnxruntime-node", "package.json", NULL)
                       : NULL;
  if (node == NULL || ort_module == NULL || !g_file_test (ort_module, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("node or onnxruntime-node not found (tests/package/setup-onnxruntime.sh)");
      return;
    }

  bytes = g_malloc (gemba_preprocess_bytes (pp));
  nhwc = g_new (float, (gsize) C * H * W);
  nchw = g_new (float, (gsize) eval->n_frames * C * H * W);
  for (guint i = 0; i < eval->n_frames; i++)
    {
      g_autoptr(GembaFrame) frame = gemba_store_get_frame (f->store, eval->frame_ids[i], &error);
      g_autofree char *file = gemba_store_dup_frame_path (f->store, frame);
      g_assert_true (gemba_preprocess_file (pp, file, bytes, &error));
      g_assert_no_error (error);
      gemba_preprocess_normalize (pp, bytes, nhwc);
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          for (int c = 0; c < C; c++)
            nchw[(((gsize) i * C + c) * H + y) * W + x] = nhwc[((gsize) y * W + x) * C + c];
    }
  g_assert_true (g_file_set_contents (model_path,
                                      g_bytes_get_data (gemba_package_get_member (pkg, "model.onnx"),
                                                        NULL),
                                      g_bytes_get_size (gemba_package_get_member (pkg, "model.onnx")),
                                      NULL));
  g_assert_true (g_file_set_contents (in_path, (char *) nchw,
                                      sizeof (float) * eval->n_frames * C * H * W, NULL));
  {
    g_autofree char *n = g_strdup_printf ("%u", eval->n_frames);
    g_autofree char *cs = g_strdup_printf ("%d", C);
    g_autofree char *hs = g_strdup_printf ("%d", H);
    g_autofree char *ws = g_strdup_printf ("%d", W);
    g_autofree char *err = NULL;
    g_auto(GStrv) env = g_environ_setenv (g_get_environ (), "NODE_PATH", modules, TRUE);
    const char *argv[] = { node, script, model_path, in_path, n, cs, hs, ws, out_path, NULL };
    int status;

    g_assert_true (g_spawn_sync (NULL, (char **) argv, env, 0, NULL, NULL, NULL, &err, &status,
                                 &error));
    g_assert_no_error (error);
    if (!g_spawn_check_wait_status (status, NULL))
      g_error ("onnx-run.js failed: %s", err);
  }
  g_assert_true (g_file_get_contents (out_path, &probs, &len, NULL));
  g_assert_cmpuint (len, ==, sizeof (float) * eval->n_frames * 3);
  for (guint i = 0; i < eval->n_frames; i++)
    {
      const float *p = (const float *) probs + 3 * i;
      int best = 0;
      for (int k = 1; k < 3; k++)
        if (p[k] > p[best])
          best = k;
      g_assert_cmpint (best, ==, eval->verdicts[i]);
      for (int k = 0; k < 3; k++)
        g_assert_cmpfloat_with_epsilon (p[k], eval->probabilities[3 * i + k], 1e-4);
    }
}

static int
run_gemba (const char * const *args, char **out, char **err)
{
  g_autofree char *gemba = g_build_filename (g_getenv ("GEMBA_BUILD_ROOT"), "src", "cli",
                                             "gemba", NULL);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  int status = 0;

  g_ptr_array_add (argv, gemba);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, 0, NULL, NULL, out, err,
                               &status, &error));
  g_assert_no_error (error);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* keygen, verify and show from the command line: exit statuses and what a person reads. */
static void
test_cli (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "washer-1.0.gemba", NULL);
  g_autofree char *keys = g_build_filename (f->dir, "cli-keys", NULL);
  g_autofree char *other_public = g_build_filename (keys, "public", NULL);
  GembaExportOptions options = { .key = f->key, .version = "1.0.0", .n_threads = 1 };
  char *out = NULL, *err = NULL;

  g_assert_true (gemba_package_export (f->store, f->c, path, &options, &error));
  g_assert_no_error (error);

  {
    const char *args[] = { "keygen", "--out", keys, NULL };
    g_assert_cmpint (run_gemba (args, &out, &err), ==, 0);
    g_assert_nonnull (strstr (out, "Created key pair"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    g_assert_cmpint (run_gemba (args, &out, &err), ==, 1);
    g_assert_nonnull (strstr (err, "refusing to overwrite"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "verify", path, "--trust", f->public_path, NULL };
    g_assert_cmpint (run_gemba (args, &out, &err), ==, 0);
    g_assert_nonnull (strstr (out, ": OK: "));
    g_assert_nonnull (strstr (out, gemba_secret_key_get_id (f->key)));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "verify", path, "--trust", other_public, NULL };
    g_assert_cmpint (run_gemba (args, &out, &err), ==, 1);
    g_assert_nonnull (strstr (err, "which is not a trusted key; refused"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "verify", path, NULL };
    g_assert_cmpint (run_gemba (args, &out, &err), ==, 2);
    g_assert_nonnull (strstr (err, "--trust"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "show", path, NULL };
    g_assert_cmpint (run_gemba (args, &out, &err), ==, 0);
    g_assert_nonnull (strstr (out, "Classes:   ok, scratch, dent"));
    g_assert_nonnull (strstr (out, "NOT verified"));
    g_assert_nonnull (strstr (out, "## How well"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "show", path, "--trust", f->public_path, NULL };
    g_assert_cmpint (run_gemba (args, &out, &err), ==, 0);
    g_assert_nonnull (strstr (out, "Signature: verified"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/package/export/gate", Fixture, NULL, fixture_setup, test_gate,
              fixture_teardown);
  g_test_add ("/package/export/false-readings", Fixture, NULL, fixture_setup,
              test_false_readings, fixture_teardown);
  g_test_add ("/package/export/infer", Fixture, NULL, fixture_setup, test_infer,
              fixture_teardown);
  g_test_add ("/package/export/onnx-test-split", Fixture, NULL, fixture_setup,
              test_onnx_test_split, fixture_teardown);
  g_test_add ("/package/export/cli", Fixture, NULL, fixture_setup, test_cli, fixture_teardown);
  return g_test_run ();
}
