#define G_LOG_DOMAIN "gemba-bench-infer"

#include "config.h"

/* bench-infer.c: per-frame latency of Gemba's inference against ONNX Runtime, same run, same
 * threads
 *
 *   bench-infer [--threads N] [--reps R] ONNX_RUN_JS NODE_MODULES
 *
 * For each architecture at its default size (small CNN 128×128, MobileNetV2 1.0 224×224, random
 * weights: speed does not depend on their values) it exports a signed package, then measures
 * the median latency of one frame:
 *   - C API: gemba_package_classifier_load()'s classifier (here with N threads), classify_rgb on
 *     an RGB frame of the input size (so resizing is a copy), model loaded once;
 *   - gemba infer: the CLI's path, gemba_classifier_classify_files() on one PNG file (decode
 *     included), model loaded once;
 *   - ONNX Runtime (onnxruntime-node) on the package's model.onnx, intraOpNumThreads N, on a
 *     tensor already preprocessed (no decode, no resize).
 * and the network alone (gemba_net_forward, folded, batch 1, on the same float tensor ORT gets),
 * to tell the network's time from the rest of the C API's. "ORT/network" is the like-for-like
 * figure: both sides start from a preprocessed float tensor and run the whole network (ORT
 * adds the softmax, three values, and its Node.js call; Gemba's C API adds the byte-to-float
 * normalisation and the copy that stands for resizing, which ORT is not asked to do). Each
 * figure is the median of 5 rounds' medians, the rounds of all four taken in turn (R runs in
 * all for the small CNN, R / 2 for MobileNetV2), so that a burst of other load on a shared
 * machine falls on both sides. It prints the ratios ORT / Gemba (above 1: Gemba is faster) and
 * the load average. A benchmark, never a pass/fail test.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#include "gemba.h"

/* Each side is measured in this many rounds, taken in turn (see bench_arch()). */
#define ROUNDS 5

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof *v, compare_doubles);
  return v[n / 2];
}

static double
ort_latency (const char *script, const char *node_modules, GBytes *onnx,
             const GembaNetConfig *config, int threads, int reps, const char *dir)
{
  g_autofree char *model = g_build_filename (dir, "model.onnx", NULL);
  g_autofree char *input = g_build_filename (dir, "input.bin", NULL);
  g_autofree char *output = g_build_filename (dir, "output.bin", NULL);
  g_autofree char *c = g_strdup_printf ("%d", config->input_c);
  g_autofree char *h = g_strdup_printf ("%d", config->input_h);
  g_autofree char *w = g_strdup_printf ("%d", config->input_w);
  g_autofree char *t = g_strdup_printf ("%d", threads);
  g_autofree char *r = g_strdup_printf ("%d", reps);
  gsize n = (gsize) config->input_c * config->input_h * config->input_w;
  g_autofree float *data = g_new0 (float, n);
  g_auto(GStrv) env = g_get_environ ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "node", script, model, input, "1", c, h, w, output, NULL };
  int status = 0;

  for (gsize i = 0; i < n; i++)
    data[i] = (float) ((i * 37) % 255) / 255.0f - 0.5f;
  g_file_set_contents (model, g_bytes_get_data (onnx, NULL), g_bytes_get_size (onnx), NULL);
  g_file_set_contents (input, (char *) data, n * sizeof (float), NULL);
  env = g_environ_setenv (env, "NODE_PATH", node_modules, TRUE);
  env = g_environ_setenv (env, "ORT_THREADS", t, TRUE);
  env = g_environ_setenv (env, "BENCH", r, TRUE);
  if (!g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                     &status, &error) || !g_spawn_check_wait_status (status, NULL))
    {
      g_printerr ("onnx-run.js failed: %s\n", error ? error->message : err);
      return -1;
    }
  return g_ascii_strtod (out, NULL);
}

static void
bench_arch (GembaArch arch, int threads, int reps, const char *script, const char *node_modules)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("gemba-bench-infer-XXXXXX", &error);
  g_autofree char *keys = g_build_filename (dir, "keys", NULL);
  g_autofree char *secret_path = g_build_filename (keys, "secret", NULL);
  g_autofree char *public_path = g_build_filename (keys, "public", NULL);
  g_autofree char *package_path = g_build_filename (dir, "bench.gemba", NULL);
  g_autofree char *png_path = g_build_filename (dir, "frame.png", NULL);
  g_autofree char *id = gemba_keys_generate (keys, &error);
  g_autoptr(GembaSecretKey) key = gemba_secret_key_load (secret_path, &error);
  g_autoptr(GembaTrust) trust = gemba_trust_new ();
  g_autoptr(GembaModel) model = NULL;
  g_autoptr(GembaPackage) package = NULL;
  g_autoptr(GembaModel) loaded = NULL;
  g_autoptr(GembaClassifier) classifier = NULL;
  g_autoptr(GBytes) weights = NULL;
  g_autoptr(GBytes) onnx = NULL;
  g_autoptr(GembaImage) image = NULL;
  g_autoptr(GBytes) png = NULL;
  g_autoptr(JsonNode) manifest_node = NULL;
  const char *classes[] = { "ok", "scratch", "dent", NULL };
  GembaNetConfig config;
  GembaPreprocess pp;
  g_autoptr(GembaNet) net = NULL;
  GembaPool *pool = NULL;
  g_autofree float *x = NULL;
  g_autofree double *t = g_new (double, MAX (reps, 1));
  g_autofree char *loadavg = NULL;
  double net_r[ROUNDS], c_r[ROUNDS], f_r[ROUNDS], ort_r[ROUNDS];
  gboolean ort_ok = TRUE;
  g_autofree guint8 *rgb = NULL;
  double ort, c_med, f_med, net_med;
  float probs[3];
  int verdict;
  const char *paths[1];

  g_assert_no_error (error);
  gemba_net_config_init (&config, arch, 3);
  gemba_preprocess_init (&pp, config.input_w);
  model = gemba_model_new (&config, &pp, classes, 1, &error);
  g_assert_no_error (error);
  weights = gemba_model_serialize_weights (model);
  onnx = gemba_onnx_export (gemba_model_get_net (model), "bench", classes, &error);
  g_assert_no_error (error);

  /* A package as export writes one, so that the C API path is the production one. */
  manifest_node = json_from_string (
    "{\"format\": \"gemba-package\", \"format_version\": 1, \"gemba_version\": \"" PACKAGE_VERSION
    "\", \"model\": {\"name\": \"bench\", \"version\": \"1\", \"parent\": null, "
    "\"trained_by\": \"bench\", \"exported_by\": \"bench\", \"created\": \"-\", "
    "\"exported\": \"-\"}, \"classes\": [\"ok\", \"scratch\", \"dent\"], "
    "\"thresholds\": [0.5, 0.5, 0.5], \"input\": {\"width\": 1, \"height\": 1, "
    "\"channels\": 3, \"color\": \"rgb\", \"layout\": \"nchw\", \"resize\": \"stretch\", "
    "\"crop\": null, \"scale\": 0.00392156862745098, \"mean\": [0.485, 0.456, 0.406], "
    "\"std\": [0.229, 0.224, 0.225]}, \"architecture\": {\"name\": \"x\"}, "
    "\"dataset\": {\"revision\": 0, \"counts\": {}}, \"metrics\": {\"test\": "
    "{\"accuracy\": 0}}, \"training\": {\"seed\": 1, \"settings\": {}}}", &error);
  g_assert_no_error (error);
  {
    JsonObject *m = json_node_get_object (manifest_node);
    JsonObject *input = json_object_get_object_member (m, "input");
    JsonObject *a = json_object_get_object_member (m, "architecture");
    JsonArray *widths = json_array_new ();
    json_object_set_int_member (input, "width", config.input_w);
    json_object_set_int_member (input, "height", config.input_h);
    json_object_set_string_member (a, "name", gemba_arch_to_string (arch));
    for (int i = 0; i < config.n_widths; i++)
      json_array_add_int_element (widths, config.widths[i]);
    json_object_set_array_member (a, "widths", widths);
    json_object_set_int_member (a, "depth", config.depth);
    json_object_set_double_member (a, "width_mult", config.width_mult);
    json_object_set_double_member (a, "dropout", config.dropout);
    g_assert_true (gemba_package_write (package_path, m, weights, onnx, "# bench\n", key,
                                        &error));
    g_assert_no_error (error);
  }
  g_assert_true (gemba_trust_add_path (trust, public_path, &error));

  /* Loaded once, as gemba infer and production do. */
  package = gemba_package_load (package_path, trust, &error);
  g_assert_no_error (error);
  loaded = gemba_package_get_model (package, &error);
  g_assert_no_error (error);
  classifier = gemba_classifier_new_from_model (loaded, threads, &error);
  g_assert_no_error (error);

  image = gemba_demo_render (0, GEMBA_DEMO_SCRATCH, 1);
  png = gemba_image_encode_png (image, &error);
  g_file_set_contents (png_path, g_bytes_get_data (png, NULL), g_bytes_get_size (png), NULL);
  rgb = g_new (guint8, (gsize) config.input_w * config.input_h * 3);
  for (gsize i = 0; i < (gsize) config.input_w * config.input_h * 3; i++)
    rgb[i] = (guint8) (i * 37);
  paths[0] = png_path;

  /* The network alone (folded, batch 1, same threads): what the C API adds is the rest. */
  net = gemba_net_new (&config, &error);
  g_assert_no_error (error);
  pool = gemba_pool_new (threads);
  x = g_new0 (float, (gsize) config.input_w * config.input_h * 3);
  /* the tensor ORT gets (NCHW there, NHWC here: the same values) */
  for (int c = 0; c < config.input_c; c++)
    for (int p = 0; p < config.input_h * config.input_w; p++)
      x[(gsize) p * config.input_c + c] =
        (float) ((((gsize) c * config.input_h * config.input_w + p) * 37) % 255) / 255.0f - 0.5f;
  gemba_net_copy_params (net, gemba_model_get_net (loaded));
  gemba_net_fold_batch_norm (net);

  for (int i = 0; i < 5; i++)
    {
      gemba_classifier_classify_rgb (classifier, rgb, config.input_w, config.input_h,
                                     config.input_w * 3, probs, NULL);
      gemba_net_forward (net, pool, x, 1, FALSE, 0);
    }
  /* ROUNDS rounds of each measurement in turn, ORT included, and the median of the rounds'
   * medians: the other load of a shared machine comes and goes, and each side gets its share
   * of the quiet and the busy moments instead of one side running while a build does. */
  for (int round = 0; round < ROUNDS; round++)
    {
      int n = MAX (reps / ROUNDS, 1);

      for (int i = 0; i < n; i++)
        {
          gint64 t0 = g_get_monotonic_time ();
          gemba_net_forward (net, pool, x, 1, FALSE, 0);
          t[i] = g_get_monotonic_time () - t0;
        }
      net_r[round] = median (t, n);
      for (int i = 0; i < n; i++)
        {
          gint64 t0 = g_get_monotonic_time ();
          verdict = gemba_classifier_classify_rgb (classifier, rgb, config.input_w,
                                                   config.input_h, config.input_w * 3, probs,
                                                   &error);
          t[i] = g_get_monotonic_time () - t0;
          g_assert_no_error (error);
          g_assert_cmpint (verdict, >=, 0);
        }
      c_r[round] = median (t, n);
      for (int i = 0; i < n; i++)
        {
          gint64 t0 = g_get_monotonic_time ();
          gemba_classifier_classify_files (classifier, paths, 1, &verdict, probs, NULL);
          t[i] = g_get_monotonic_time () - t0;
        }
      f_r[round] = median (t, n);
      ort_r[round] = ort_latency (script, node_modules, onnx, &config, threads, n, dir);
      if (ort_r[round] < 0)
        {
          ort_ok = FALSE;
          break;
        }
    }
  gemba_pool_free (pool);
  net_med = median (net_r, ROUNDS);
  c_med = median (c_r, ROUNDS);
  f_med = median (f_r, ROUNDS);
  ort = ort_ok ? median (ort_r, ROUNDS) : -1;
  if (!g_file_get_contents ("/proc/loadavg", &loadavg, NULL, NULL))
    loadavg = g_strdup ("?");
  g_strdelimit (loadavg, "\n", ' ');

  g_print ("%-12s %3d×%-3d threads %d | network %8.1f µs | C API %8.1f µs | gemba infer (PNG "
           "%u×%u decoded) %8.1f µs | ONNX Runtime %8.1f µs | ORT/C API %.2f× ORT/network "
           "%.2f× | load %s\n", gemba_arch_to_string (arch), config.input_w, config.input_h,
           threads, net_med, c_med, image->width, image->height, f_med, ort,
           ort > 0 ? ort / c_med : 0, ort > 0 ? ort / net_med : 0, g_strstrip (loadavg));
  {
    g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name (d)))
      {
        g_autofree char *p = g_build_filename (dir, name, NULL);
        g_unlink (p);
      }
    g_unlink (secret_path);
    g_unlink (public_path);
    g_rmdir (keys);
    g_rmdir (dir);
  }
}

int
main (int argc, char **argv)
{
  int threads = 1;
  int reps = 200;
  const GOptionEntry entries[] = {
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads for both", "N" },
    { "reps", 0, 0, G_OPTION_ARG_INT, &reps, "Timed runs", "R" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("ONNX_RUN_JS NODE_MODULES");
  g_autoptr(GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || argc != 3 || reps < 1)
    {
      g_printerr ("usage: bench-infer [--threads N] [--reps R] ONNX_RUN_JS NODE_MODULES\n");
      return 2;
    }
  gemba_blas_single_thread ();
  bench_arch (GEMBA_ARCH_SMALL_CNN, threads, reps, argv[1], argv[2]);
  bench_arch (GEMBA_ARCH_MOBILENET_V2, threads, MAX (reps / 2, 1), argv[1], argv[2]);
  return 0;
}
