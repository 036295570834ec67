#define G_LOG_DOMAIN "gemba-test-onnx"

#include "config.h"

/* test-onnx.c: ONNX export of both architectures, checked against ONNX Runtime
 *
 * Each network gets random weights and random batch-norm statistics (so folding matters), runs
 * in Gemba on random images, is exported, and runs in ONNX Runtime (onnxruntime-node, through
 * onnx-run.js) on the same images in NCHW: every verdict must agree and every probability be
 * within 1e-4. The folded network (gemba_net_fold_batch_norm) must export to the same outputs.
 * When Debian's python3-onnx is installed, onnx.checker.check_model(full_check=True) must pass.
 *
 * ONNX Runtime is installed once per build tree by tests/package/setup-onnxruntime.sh; without
 * it (or without node) the comparison skips itself and says so.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "gemba.h"
#include "gemba-onnx.h"

#define BATCH 8
#define TOLERANCE 1e-4

typedef struct {
  char *dir;
  GembaPool *pool;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("gemba-test-onnx-XXXXXX", &error);
  g_assert_no_error (error);
  gemba_blas_single_thread ();
  f->pool = gemba_pool_new (1);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autoptr(GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
  gemba_pool_free (f->pool);
}

static const char *
node_modules (void)
{
  const char *dir = g_getenv ("GEMBA_ORT_NODE_MODULES");
  g_autofree char *node = g_find_program_in_path ("node");

  if (dir == NULL || node == NULL)
    return NULL;
  {
    g_autofree char *ort = g_build_filename (dir, "onnxruntime-node", "package.json", NULL);
    if (!g_file_test (ort, G_FILE_TEST_EXISTS))
      return NULL;
  }
  return dir;
}

static GembaNet *
make_net (GembaArch arch, guint64 seed)
{
  GembaNetConfig config;
  g_autoptr(GError) error = NULL;
  GembaNet *net;
  GembaRng rng;

  gemba_net_config_init (&config, arch, 3);
  if (arch == GEMBA_ARCH_SMALL_CNN)
    {
      config.input_h = 32;
      config.input_w = 40;
      config.widths[0] = 8;
      config.widths[1] = 16;
      config.widths[2] = 24;
      config.n_widths = 3;
      config.depth = 2;
    }
  else
    {
      config.input_h = config.input_w = 64;
      config.width_mult = 0.35f;
    }
  net = gemba_net_new (&config, &error);
  g_assert_no_error (error);
  gemba_net_init_params (net, seed);

  /* Trained-looking batch-norms: folding them must change the weights. */
  gemba_rng_init (&rng, seed + 1);
  for (guint i = 0; i < gemba_net_get_n_layers (net); i++)
    {
      GembaLayer *l = gemba_net_get_layer (net, i);
      if (l->kind != GEMBA_LAYER_BATCH_NORM)
        continue;
      for (int c = 0; c < l->in_c; c++)
        {
          l->w[c] = 0.5f + gemba_rng_uniform (&rng);
          l->b[c] = 0.2f * gemba_rng_normal (&rng);
          l->running_mean[c] = 0.2f * gemba_rng_normal (&rng);
          l->running_var[c] = 0.5f + gemba_rng_uniform (&rng);
        }
    }
  return net;
}

/* Gemba's probabilities for @input (NHWC). */
static float *
gemba_probabilities (Fixture *f, GembaNet *net, const float *input)
{
  const GembaNetConfig *config = gemba_net_get_config (net);
  const float *logits = gemba_net_forward (net, f->pool, input, BATCH, FALSE, 0);
  float *probs = g_memdup2 (logits, sizeof (float) * BATCH * config->n_classes);

  gemba_softmax (probs, BATCH, config->n_classes);
  return probs;
}

static float *
ort_probabilities (Fixture *f, GBytes *onnx, const GembaNetConfig *config, const float *nhwc,
                   const char *tag)
{
  g_autofree char *model = g_strdup_printf ("%s/%s.onnx", f->dir, tag);
  g_autofree char *in_path = g_strdup_printf ("%s/%s.in", f->dir, tag);
  g_autofree char *out_path = g_strdup_printf ("%s/%s.out", f->dir, tag);
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "package", "onnx-run.js", NULL);
  g_autofree char *n = g_strdup_printf ("%d", BATCH);
  g_autofree char *c = g_strdup_printf ("%d", config->input_c);
  g_autofree char *h = g_strdup_printf ("%d", config->input_h);
  g_autofree char *w = g_strdup_printf ("%d", config->input_w);
  g_autofree float *nchw = g_new (float, (gsize) BATCH * config->input_c * config->input_h *
                                           config->input_w);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = g_get_environ ();
  const char *argv[] = { "node", script, model, in_path, n, c, h, w, out_path, NULL };
  int status = 0;
  gsize len = 0;
  char *probs = NULL;
  const int C = config->input_c, H = config->input_h, W = config->input_w;

  for (int b = 0; b < BATCH; b++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        for (int ch = 0; ch < C; ch++)
          nchw[(((gsize) b * C + ch) * H + y) * W + x] = nhwc[(((gsize) b * H + y) * W + x) * C + ch];
  g_assert_true (g_file_set_contents (model, g_bytes_get_data (onnx, NULL),
                                      g_bytes_get_size (onnx), NULL));
  g_assert_true (g_file_set_contents (in_path, (char *) nchw,
                                      sizeof (float) * BATCH * C * H * W, NULL));
  env = g_environ_setenv (env, "NODE_PATH", node_modules (), TRUE);
  g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("onnx-run.js failed: %s", err);
  g_assert_true (g_file_get_contents (out_path, &probs, &len, NULL));
  g_assert_cmpuint (len, ==, sizeof (float) * BATCH * config->n_classes);
  return (float *) probs;
}

static void
python_onnx_check (Fixture *f, GBytes *onnx, const char *tag)
{
  g_autofree char *model = g_strdup_printf ("%s/%s-check.onnx", f->dir, tag);
  g_autofree char *code = g_strdup_printf ("import onnx; m = onnx.load(%s); "
                                           "onnx.checker.check_model(m, full_check=True)",
                                           "__import__('sys').argv[1]");
  const char *probe[] = { "/usr/bin/python3", "-c", "import onnx", NULL };
  const char *argv[] = { "/usr/bin/python3", "-c", code, model, NULL };
  g_autofree char *err = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) probe, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     NULL, NULL, &status, NULL) || !g_spawn_check_wait_status (status, NULL))
    {
      g_test_message ("python3-onnx is not installed: onnx.checker not run");
      return;
    }
  g_assert_true (g_file_set_contents (model, g_bytes_get_data (onnx, NULL),
                                      g_bytes_get_size (onnx), NULL));
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, NULL, &err, &status,
                               NULL));
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("onnx.checker refused the %s model: %s", tag, err);
}

static void
compare (const float *gemba, const float *ort, int n_classes, const char *tag)
{
  double worst = 0;

  for (int b = 0; b < BATCH; b++)
    {
      int best_g = 0, best_o = 0;
      for (int k = 0; k < n_classes; k++)
        {
          double d = fabs ((double) gemba[b * n_classes + k] - ort[b * n_classes + k]);
          worst = MAX (worst, d);
          if (gemba[b * n_classes + k] > gemba[b * n_classes + best_g])
            best_g = k;
          if (ort[b * n_classes + k] > ort[b * n_classes + best_o])
            best_o = k;
        }
      g_assert_cmpint (best_g, ==, best_o);
    }
  g_test_message ("%s: largest probability difference %.3g", tag, worst);
  g_assert_cmpfloat (worst, <=, TOLERANCE);
}

static void
test_export (Fixture *f, gconstpointer data)
{
  GembaArch arch = GPOINTER_TO_INT (data);
  g_autoptr(GembaNet) net = make_net (arch, 11);
  g_autoptr(GembaNet) folded = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) onnx = NULL;
  g_autoptr(GBytes) onnx_folded = NULL;
  const GembaNetConfig *config = gemba_net_get_config (net);
  const char *classes[] = { "ok", "scratch", "dent", NULL };
  gsize n_in = (gsize) BATCH * config->input_h * config->input_w * config->input_c;
  g_autofree float *input = g_new (float, n_in);
  g_autofree float *expected = NULL;
  g_autofree float *expected_folded = NULL;
  g_autofree float *got = NULL;
  g_autofree float *got_folded = NULL;
  const char *tag = gemba_arch_to_string (arch);
  GembaRng rng;

  gemba_rng_init (&rng, 5);
  for (gsize i = 0; i < n_in; i++)
    input[i] = 2.0f * gemba_rng_normal (&rng);

  onnx = gemba_onnx_export (net, "test", classes, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (onnx), >, 1000);
  expected = gemba_probabilities (f, net, input);

  /* The same weights, folded in Gemba first. */
  folded = gemba_net_new (config, &error);
  g_assert_no_error (error);
  gemba_net_copy_params (folded, net);
  gemba_net_fold_batch_norm (folded);
  onnx_folded = gemba_onnx_export (folded, "test", classes, &error);
  g_assert_no_error (error);
  expected_folded = gemba_probabilities (f, folded, input);
  compare (expected, expected_folded, config->n_classes, "gemba folded vs not");

  python_onnx_check (f, onnx, tag);
  if (node_modules () == NULL)
    {
      g_test_skip ("node or onnxruntime-node not found (run tests/package/setup-onnxruntime.sh "
                   "BUILD-DIR)");
      return;
    }
  got = ort_probabilities (f, onnx, config, input, tag);
  compare (expected, got, config->n_classes, tag);
  got_folded = ort_probabilities (f, onnx_folded, config, input, "folded");
  compare (expected, got_folded, config->n_classes, "folded");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/package/onnx/small-cnn", Fixture, GINT_TO_POINTER (GEMBA_ARCH_SMALL_CNN),
              fixture_setup, test_export, fixture_teardown);
  g_test_add ("/package/onnx/mobilenetv2", Fixture, GINT_TO_POINTER (GEMBA_ARCH_MOBILENET_V2),
              fixture_setup, test_export, fixture_teardown);
  return g_test_run ();
}
