/* Model folders (save, load, damaged files, class mismatches) and the classifier.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <string.h>
#include <glib/gstdio.h>

#include "gemba-classifier.h"
#include "gemba-error.h"
#include "gemba-metrics.h"
#include "gemba-model.h"
#include "nn-test-data.h"

static const char *const classes[] = { "ok", "scratch", "dent", NULL };

typedef struct {
  char *tmp;
  GembaModel *model;
} Fixture;

static GembaModel *
make_model (GembaArch arch, int size)
{
  GembaNetConfig cfg;
  GembaPreprocess pp;
  g_autoptr(GError) error = NULL;
  GembaModel *model;
  GembaParam *params;
  guint n;
  GembaRng rng;

  gemba_net_config_init (&cfg, arch, 3);
  cfg.input_h = cfg.input_w = size;
  cfg.width_mult = 0.35f;
  gemba_preprocess_init (&pp, size);
  model = gemba_model_new (&cfg, &pp, classes, 11, &error);
  g_assert_no_error (error);
  /* batch-norm statistics as after training, so that folding matters */
  gemba_rng_init (&rng, 3);
  params = gemba_net_get_params (gemba_model_get_net (model), &n);
  for (guint i = 0; i < n; i++)
    for (gsize k = 0; k < params[i].n; k++)
      if (g_str_has_suffix (params[i].name, "running_var"))
        params[i].data[k] = 0.5f + gemba_rng_uniform (&rng);
      else if (g_str_has_suffix (params[i].name, "running_mean"))
        params[i].data[k] = 0.3f * gemba_rng_normal (&rng);
      else if (g_str_has_suffix (params[i].name, "bias"))
        params[i].data[k] = 0.1f * gemba_rng_normal (&rng);
  return model;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tmp = g_dir_make_tmp ("gemba-nn-XXXXXX", NULL);
  g_assert_nonnull (f->tmp);
  f->model = make_model (GEMBA_ARCH_SMALL_CNN, 32);
}

static void
rm_rf (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir)
    {
      while ((name = g_dir_read_name (dir)))
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          rm_rf (child);
        }
      g_dir_close (dir);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  rm_rf (f->tmp);
  g_free (f->tmp);
  g_object_unref (f->model);
}

static char *
save (Fixture *f, const char *name)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_build_filename (f->tmp, name, NULL);

  g_assert_true (gemba_model_save (f->model, dir, &error));
  g_assert_no_error (error);
  return dir;
}

static void
test_roundtrip (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = save (f, "m1");
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModel) loaded = gemba_model_load (dir, &error);
  GembaParam *a, *b;
  guint na, nb;
  g_autoptr(GDir) d = NULL;
  const char *name;

  g_assert_no_error (error);
  g_assert_nonnull (loaded);
  g_assert_cmpint (gemba_model_get_n_classes (loaded), ==, 3);
  g_assert_cmpstr (gemba_model_get_class_names (loaded)[1], ==, "scratch");
  g_assert_cmpint (gemba_model_get_preprocess (loaded)->width, ==, 32);
  g_assert_cmpstr (gemba_model_get_weights_sha256 (loaded), ==,
                   gemba_model_get_weights_sha256 (f->model));
  a = gemba_net_get_params (gemba_model_get_net (f->model), &na);
  b = gemba_net_get_params (gemba_model_get_net (loaded), &nb);
  g_assert_cmpuint (na, ==, nb);
  for (guint i = 0; i < na; i++)
    g_assert_cmpint (memcmp (a[i].data, b[i].data, a[i].n * sizeof (float)), ==, 0);

  /* no temporary folder is left behind */
  d = g_dir_open (f->tmp, 0, NULL);
  while ((name = g_dir_read_name (d)))
    g_assert_cmpstr (name, ==, "m1");

  /* an existing folder is never overwritten */
  g_assert_false (gemba_model_save (f->model, dir, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
}

static void
test_mobilenet_roundtrip (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaModel) m = make_model (GEMBA_ARCH_MOBILENET_V2, 64);
  g_autofree char *dir = g_build_filename (f->tmp, "mnv2", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModel) loaded = NULL;

  g_assert_true (gemba_model_save (m, dir, &error));
  loaded = gemba_model_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gemba_model_get_config (loaded)->arch, ==, GEMBA_ARCH_MOBILENET_V2);
  g_assert_cmpfloat_with_epsilon (gemba_model_get_config (loaded)->width_mult, 0.35, 1e-6);
}

static void
expect_corrupt (const char *dir, const char *file)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModel) m = gemba_model_load (dir, &error);

  g_assert_null (m);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, file));
}

static void
test_corrupt (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = save (f, "m");
  g_autofree char *wpath = g_build_filename (dir, "weights.bin", NULL);
  g_autofree char *jpath = g_build_filename (dir, "model.json", NULL);
  g_autofree char *w = NULL;
  g_autofree char *j = NULL;
  gsize wlen, jlen;

  g_assert_true (g_file_get_contents (wpath, &w, &wlen, NULL));
  g_assert_true (g_file_get_contents (jpath, &j, &jlen, NULL));

  /* one flipped bit */
  w[wlen / 2] ^= 0x10;
  g_assert_true (g_file_set_contents (wpath, w, wlen, NULL));
  expect_corrupt (dir, "weights.bin");
  w[wlen / 2] ^= 0x10;

  /* truncated */
  g_assert_true (g_file_set_contents (wpath, w, wlen - 100, NULL));
  expect_corrupt (dir, "weights.bin");

  /* empty, and missing */
  g_assert_true (g_file_set_contents (wpath, "", 0, NULL));
  expect_corrupt (dir, "weights.bin");
  g_unlink (wpath);
  expect_corrupt (dir, "weights.bin");
  g_assert_true (g_file_set_contents (wpath, w, wlen, NULL));

  /* model.json: garbage, and an architecture the weights do not fit */
  g_assert_true (g_file_set_contents (jpath, "{ not json", -1, NULL));
  expect_corrupt (dir, "model.json");
  {
    g_autoptr(GString) other = g_string_new (j);

    g_string_replace (other, "\"sha256\"", "\"sha256-unchecked\"", 1);
    g_string_replace (other, "16,", "24,", 1);
    g_assert_true (g_file_set_contents (jpath, other->str, -1, NULL));
    expect_corrupt (dir, "weights.bin");
  }
  g_assert_true (g_file_set_contents (jpath, j, jlen, NULL));
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GembaModel) ok = gemba_model_load (dir, &error);

    g_assert_no_error (error);
  }

  /* not a model folder */
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *none = g_build_filename (f->tmp, "none", NULL);

    g_assert_null (gemba_model_load (none, &error));
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  }
}

static void
test_classes (Fixture *f, gconstpointer data)
{
  static const char *const same[] = { "ok", "scratch", "dent", NULL };
  static const char *const changed[] = { "ok", "scratch", "crack", NULL };
  static const char *const reordered[] = { "scratch", "ok", "dent", NULL };
  g_autoptr(GError) error = NULL;

  g_assert_true (gemba_model_check_classes (f->model, same, &error));
  g_assert_false (gemba_model_check_classes (f->model, changed, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "dent"));
  g_assert_nonnull (strstr (error->message, "crack"));
  g_clear_error (&error);
  g_assert_false (gemba_model_check_classes (f->model, reordered, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_assert_cmpint (gemba_model_find_class (f->model, "dent"), ==, 2);
  g_assert_cmpint (gemba_model_find_class (f->model, "crack"), ==, -1);

  /* duplicate names are refused */
  {
    static const char *const dup[] = { "a", "b", "a", NULL };
    GembaNetConfig cfg;
    GembaPreprocess pp;

    g_clear_error (&error);
    gemba_net_config_init (&cfg, GEMBA_ARCH_SMALL_CNN, 3);
    cfg.input_h = cfg.input_w = 32;
    gemba_preprocess_init (&pp, 32);
    g_assert_null (gemba_model_new (&cfg, &pp, dup, 1, &error));
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  }
}

/* The classifier (folded batch-norm) agrees with the network in inference mode, from a buffer
 * with padded rows, from a file, and in a batch. */
static void
test_classifier (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = save (f, "m");
  g_autoptr(GembaClassifier) cls = gemba_classifier_new_from_dir (dir, 2, &error);
  g_autoptr(GembaPool) pool = gemba_pool_new (1);
  const GembaPreprocess *pp = gemba_model_get_preprocess (f->model);
  const char *paths[4];
  char *files[3] = { NULL };
  int verdicts[4];
  float probs[4 * 3];
  GembaRng rng;

  g_assert_no_error (error);
  g_assert_cmpint (gemba_classifier_get_n_classes (cls), ==, 3);
  g_assert_cmpstr (gemba_classifier_get_class_name (cls, 2), ==, "dent");
  gemba_rng_init (&rng, 9);

  for (int i = 0; i < 3; i++)
    {
      g_autoptr(GembaImage) img = nn_test_pattern (i, 48, &rng);
      g_autofree guint8 *padded = g_malloc0 (48 * 160);
      guint8 *bytes = g_malloc (gemba_preprocess_bytes (pp));
      float *x = gemba_floats_new (gemba_preprocess_bytes (pp));
      float p[3], ref[3];
      const float *logits;
      int v;

      for (int y = 0; y < 48; y++)
        memcpy (padded + y * 160, img->pixels + y * 48 * 3, 48 * 3);
      v = gemba_classifier_classify_rgb (cls, padded, 48, 48, 160, p, &error);
      g_assert_no_error (error);

      /* the reference: unfolded network, inference mode */
      g_assert_true (gemba_preprocess_rgb (pp, img->pixels, 48, 48, 48 * 3, bytes, NULL));
      gemba_preprocess_normalize (pp, bytes, x);
      logits = gemba_net_forward (gemba_model_get_net (f->model), pool, x, 1, FALSE, 0);
      memcpy (ref, logits, sizeof ref);
      gemba_softmax (ref, 1, 3);
      for (int k = 0; k < 3; k++)
        g_assert_cmpfloat_with_epsilon (p[k], ref[k], 1e-4);
      g_assert_cmpint (v, ==, ref[1] > ref[0] ? (ref[2] > ref[1] ? 2 : 1) : (ref[2] > ref[0] ? 2 : 0));

      /* a lossless file gives the same */
      files[i] = g_strdup_printf ("%s/frame%d.png", f->tmp, i);
      g_assert_true (gemba_image_save (img, files[i], &error));
      g_assert_no_error (error);
      v = gemba_classifier_classify_file (cls, files[i], p, &error);
      g_assert_no_error (error);
      for (int k = 0; k < 3; k++)
        g_assert_cmpfloat_with_epsilon (p[k], ref[k], 1e-4);
      paths[i] = files[i];
      g_free (bytes);
      gemba_floats_free (x);
    }

  /* a batch with one unreadable file */
  paths[3] = "/nonexistent/frame.png";
  {
    GError *errors[4] = { NULL };
    float p[3];

    g_assert_cmpuint (gemba_classifier_classify_files (cls, paths, 4, verdicts, probs, errors),
                      ==, 3);
    for (int i = 0; i < 3; i++)
      {
        g_assert_null (errors[i]);
        g_assert_cmpint (verdicts[i], ==, gemba_classifier_classify_file (cls, paths[i], p, NULL));
        for (int k = 0; k < 3; k++)
          g_assert_cmpfloat_with_epsilon (probs[i * 3 + k], p[k], 1e-5);
      }
    g_assert_cmpint (verdicts[3], ==, -1);
    g_assert_nonnull (errors[3]);
    g_assert_nonnull (strstr (errors[3]->message, "/nonexistent/frame.png"));
    g_error_free (errors[3]);
  }

  /* a bad buffer */
  {
    guint8 px[3] = { 0 };

    g_assert_cmpint (gemba_classifier_classify_rgb (cls, px, 1, 1, 1, NULL, &error), ==, -1);
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  }
  for (int i = 0; i < 3; i++)
    g_free (files[i]);
}

/* A region of interest and centre crop are applied the same way for buffers and files. */
static void
test_preprocess (void)
{
  GembaPreprocess pp, back;
  g_autoptr(GembaImage) img = gemba_image_new (40, 20);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  guint8 out[8 * 8];

  gemba_preprocess_init (&pp, 8);
  pp.channels = 1;
  pp.mean[0] = 0.5f;
  pp.std[0] = 0.25f;
  pp.crop_x = 10;
  pp.crop_y = 4;
  pp.crop_w = 16;
  pp.crop_h = 16;
  /* white inside the region of interest, black outside */
  for (int y = 0; y < 20; y++)
    for (int x = 0; x < 40; x++)
      for (int c = 0; c < 3; c++)
        img->pixels[(y * 40 + x) * 3 + c] =
          (x >= 10 && x < 26 && y >= 4) ? 255 : 0;
  g_assert_true (gemba_preprocess_rgb (&pp, img->pixels, 40, 20, 120, out, &error));
  for (int i = 0; i < 64; i++)
    g_assert_cmpint (out[i], ==, 255);

  pp.crop_x = 30;
  g_assert_false (gemba_preprocess_rgb (&pp, img->pixels, 40, 20, 120, out, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);

  node = gemba_preprocess_to_json (&pp);
  g_clear_error (&error);
  g_assert_true (gemba_preprocess_from_json (&back, node, &error));
  g_assert_cmpint (back.channels, ==, 1);
  g_assert_cmpint (back.crop_x, ==, 30);
  g_assert_cmpint (back.crop_h, ==, 16);
  g_assert_cmpfloat (back.std[0], ==, 0.25f);
}

static void
test_metrics (void)
{
  g_autoptr(GembaMetrics) m = gemba_metrics_new (2);
  g_autoptr(JsonNode) json = NULL;
  const char *names[] = { "ok", "ng", NULL };

  gemba_metrics_add (m, 0, 0);
  gemba_metrics_add (m, 0, 0);
  gemba_metrics_add (m, 0, 1);
  gemba_metrics_add (m, 1, 1);
  g_assert_cmpfloat_with_epsilon (gemba_metrics_accuracy (m), 0.75, 1e-9);
  g_assert_cmpfloat_with_epsilon (gemba_metrics_precision (m, 1), 0.5, 1e-9);
  g_assert_cmpfloat_with_epsilon (gemba_metrics_recall (m, 0), 2.0 / 3, 1e-9);
  g_assert_cmpfloat_with_epsilon (gemba_metrics_recall (m, 1), 1.0, 1e-9);
  json = gemba_metrics_to_json (m, names);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (json), "total"), ==, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/nn/model/roundtrip", Fixture, NULL, fixture_setup, test_roundtrip,
              fixture_teardown);
  g_test_add ("/nn/model/mobilenet-roundtrip", Fixture, NULL, fixture_setup,
              test_mobilenet_roundtrip, fixture_teardown);
  g_test_add ("/nn/model/corrupt", Fixture, NULL, fixture_setup, test_corrupt, fixture_teardown);
  g_test_add ("/nn/model/classes", Fixture, NULL, fixture_setup, test_classes, fixture_teardown);
  g_test_add ("/nn/model/classifier", Fixture, NULL, fixture_setup, test_classifier,
              fixture_teardown);
  g_test_add_func ("/nn/model/preprocess", test_preprocess);
  g_test_add_func ("/nn/model/metrics", test_metrics);

  return g_test_run ();
}
