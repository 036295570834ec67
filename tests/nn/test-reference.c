/* Forward outputs and gradients against PyTorch (files made by make-reference.py).
 *
 * Tolerances: relative error (max |gemba - torch| / max |torch| per tensor) at most 1e-4 for
 * forward outputs and 1e-3 for gradients; SGD losses within 1e-3.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <math.h>
#include <string.h>

#include "gemba-layers.h"
#include "gemba-net.h"
#include "gemba-optim.h"

#define FWD_TOL 1e-4
#define BWD_TOL 1e-3

typedef struct {
  float *v;
  guint n;
} Array;

static void
array_free (gpointer p)
{
  Array *a = p;

  g_free (a->v);
  g_free (a);
}

static GHashTable *
load_ref (const char *file)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "nn", "reference", file, NULL);
  g_autofree char *data = NULL;
  g_autoptr(GError) error = NULL;
  GHashTable *t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, array_free);
  gsize len, off = 8;
  guint32 count;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len, >=, 8);
  g_assert_cmpint (memcmp (data, "GMBR", 4), ==, 0);
  memcpy (&count, data + 4, 4);
  count = GUINT32_FROM_LE (count);
  for (guint32 i = 0; i < count; i++)
    {
      guint32 nlen, n;
      char *name;
      Array *a = g_new0 (Array, 1);

      g_assert_cmpuint (off + 4, <=, len);
      memcpy (&nlen, data + off, 4);
      nlen = GUINT32_FROM_LE (nlen);
      off += 4;
      g_assert_cmpuint (off + nlen + 4, <=, len);
      name = g_strndup (data + off, nlen);
      off += nlen;
      memcpy (&n, data + off, 4);
      n = GUINT32_FROM_LE (n);
      off += 4;
      g_assert_cmpuint (off + (gsize) n * 4, <=, len);
      a->n = n;
      a->v = g_new (float, MAX (n, 1));
      for (guint32 k = 0; k < n; k++)
        {
          guint32 bits;

          memcpy (&bits, data + off + (gsize) k * 4, 4);
          bits = GUINT32_FROM_LE (bits);
          memcpy (&a->v[k], &bits, 4);
        }
      off += (gsize) n * 4;
      g_hash_table_insert (t, name, a);
    }
  g_assert_cmpuint (off, ==, len);
  return t;
}

static Array *
get (GHashTable *t, const char *prefix, const char *what)
{
  g_autofree char *key = g_strconcat (prefix, what, NULL);
  Array *a = g_hash_table_lookup (t, key);

  if (a == NULL)
    g_error ("reference entry %s is missing", key);
  return a;
}

/* max |a - b| / max (max |b|, @floor): the floor is for tensors whose true values are zero
 * (e.g. the bias of a batch-norm whose output feeds another batch-norm), where only rounding
 * noise is left to compare */
static void
compare_floor (const char *what, const float *mine, const float *ref, gsize n, double tol,
               double floor)
{
  double maxdiff = 0, maxref = floor;

  for (gsize i = 0; i < n; i++)
    {
      maxdiff = MAX (maxdiff, fabs ((double) mine[i] - ref[i]));
      maxref = MAX (maxref, fabs ((double) ref[i]));
    }
  if (maxref == 0)
    maxref = 1;
  g_test_message ("%-28s relative error %.2e", what, maxdiff / maxref);
  if (maxdiff / maxref > tol)
    {
      g_test_message ("FAILED: %s: relative error %.3g exceeds %.0e", what, maxdiff / maxref,
                      tol);
      g_test_fail ();
    }
}

static void
compare (const char *what, const float *mine, const float *ref, gsize n, double tol)
{
  compare_floor (what, mine, ref, n, tol, 0.0);
}

/* The counter-based values of make-reference.py's hash_uniform(). */
static double
hash_uniform (guint64 seed, guint64 i)
{
  guint64 h = (i * G_GUINT64_CONSTANT (2654435761) + seed * 97531 + 12345) & 0xffffffff;

  h ^= h >> 16;
  h = (h * 0x45d9f3b) & 0xffffffff;
  h ^= h >> 16;
  h = (h * 0x45d9f3b) & 0xffffffff;
  h ^= h >> 16;
  return (double) h / 4294967296.0;
}

static float
sym (guint64 seed, guint64 i, double scale)
{
  return (float) ((hash_uniform (seed, i) * 2 - 1) * scale);
}

/* ---- layers ---------------------------------------------------------------------------------- */

static void
check_layer_case (GHashTable *t, const char *name, GembaLayer *l, gboolean training)
{
  g_autofree char *prefix = g_strconcat (name, ".", NULL);
  g_autoptr(GembaPool) pool = gemba_pool_new (2);
  Array *x = get (t, prefix, "x"), *dy = get (t, prefix, "dy");
  Array *x2 = l->kind == GEMBA_LAYER_ADD ? get (t, prefix, "x2") : NULL;
  int batch = (int) (x->n / gemba_layer_in_size (l));
  gsize ny = (gsize) batch * gemba_layer_out_size (l);
  float *y = gemba_floats_new (ny);
  float *dx = gemba_floats_new (x->n);
  float *dx2 = gemba_floats_new (x->n);
  g_autofree char *label = NULL;

  g_assert_cmpuint (dy->n, ==, ny);
  if (l->w && l->kind != GEMBA_LAYER_BATCH_NORM)
    memcpy (l->w, get (t, prefix, "w")->v, l->n_w * sizeof (float));
  if (l->b && l->kind != GEMBA_LAYER_BATCH_NORM)
    memcpy (l->b, get (t, prefix, "b")->v, l->n_b * sizeof (float));
  if (l->kind == GEMBA_LAYER_BATCH_NORM)
    {
      memcpy (l->w, get (t, prefix, "w")->v, l->n_w * sizeof (float));
      memcpy (l->b, get (t, prefix, "b")->v, l->n_b * sizeof (float));
      memcpy (l->running_mean, get (t, prefix, "rm")->v, l->in_c * sizeof (float));
      memcpy (l->running_var, get (t, prefix, "rv")->v, l->in_c * sizeof (float));
    }
  gemba_layer_zero_grad (l);
  gemba_layer_forward (l, pool, batch, x->v, x2 ? x2->v : NULL, y, training, 0);
  gemba_layer_backward (l, pool, batch, training, x->v, x2 ? x2->v : NULL, y, dy->v, dx, FALSE,
                        x2 ? dx2 : NULL, FALSE);

  label = g_strdup_printf ("%s y", name);
  compare (label, y, get (t, prefix, "y")->v, ny, FWD_TOL);
  g_free (label);
  label = g_strdup_printf ("%s dx", name);
  compare (label, dx, get (t, prefix, "dx")->v, x->n, BWD_TOL);
  if (x2)
    compare ("add dx2", dx2, get (t, prefix, "dx2")->v, x->n, BWD_TOL);
  if (l->gw)
    {
      g_free (label);
      label = g_strdup_printf ("%s dw", name);
      compare (label, l->gw, get (t, prefix, "dw")->v, l->n_w, BWD_TOL);
    }
  if (l->gb)
    {
      g_free (label);
      label = g_strdup_printf ("%s db", name);
      compare (label, l->gb, get (t, prefix, "db")->v, l->n_b, BWD_TOL);
    }
  if (l->kind == GEMBA_LAYER_BATCH_NORM)
    {
      compare ("running mean", l->running_mean, get (t, prefix, "rm-after")->v, l->in_c, FWD_TOL);
      compare ("running var", l->running_var, get (t, prefix, "rv-after")->v, l->in_c, FWD_TOL);
    }
  gemba_floats_free (y);
  gemba_floats_free (dx);
  gemba_floats_free (dx2);
  gemba_layer_free (l);
}

static void
test_layers (void)
{
  g_autoptr(GHashTable) t = load_ref ("layers.bin");
  const char *convs[] = { "conv3x3", "conv3x3s2", "conv1x1", "conv5x5", "grouped", "depthwise",
                          "depthwise-s2" };
  const char *pools[] = { "relu", "relu6", "maxpool2", "maxpool3", "avgpool2", "avgpool3",
                          "gap" };

  for (guint i = 0; i < G_N_ELEMENTS (convs); i++)
    {
      float *c = get (t, convs[i], ".config")->v;

      check_layer_case (t, convs[i],
                        gemba_layer_new_conv ((int) c[0], (int) c[1], (int) c[2], (int) c[3],
                                              (int) c[4], (int) c[5], (int) c[6], (int) c[7],
                                              (int) c[8], c[9] != 0),
                        TRUE);
    }
  for (int training = 1; training >= 0; training--)
    {
      const char *name = training ? "bn-train" : "bn-eval";
      float *c = get (t, name, ".config")->v;

      check_layer_case (t, name, gemba_layer_new_batch_norm ((int) c[0], (int) c[1], (int) c[2]),
                        training);
    }
  for (guint i = 0; i < G_N_ELEMENTS (pools); i++)
    {
      float *c = get (t, pools[i], ".config")->v;
      int h = (int) c[0], w = (int) c[1], ch = (int) c[2];
      GembaLayer *l;

      if (g_str_equal (pools[i], "relu") || g_str_equal (pools[i], "relu6"))
        l = gemba_layer_new_relu (h, w, ch, g_str_equal (pools[i], "relu6"));
      else if (g_str_equal (pools[i], "gap"))
        l = gemba_layer_new_global_avg_pool (h, w, ch);
      else
        l = gemba_layer_new_pool (g_str_has_prefix (pools[i], "max") ? GEMBA_LAYER_MAX_POOL
                                                                    : GEMBA_LAYER_AVG_POOL,
                                  h, w, ch, (int) c[3], (int) c[4], (int) c[5]);
      check_layer_case (t, pools[i], l, TRUE);
    }
  check_layer_case (t, "linear", gemba_layer_new_linear (7, 4, TRUE), TRUE);
  check_layer_case (t, "add", gemba_layer_new_add (3, 4, 5), TRUE);
}

static void
test_cross_entropy (void)
{
  g_autoptr(GHashTable) t = load_ref ("layers.bin");
  Array *logits = get (t, "ce.", "logits"), *labels_f = get (t, "ce.", "labels");
  int n = (int) labels_f->n, k = (int) (logits->n / labels_f->n);
  g_autofree int *labels = g_new (int, n);
  g_autofree float *grad = g_new (float, logits->n);
  float loss;

  for (int i = 0; i < n; i++)
    labels[i] = (int) labels_f->v[i];
  loss = (float) gemba_softmax_cross_entropy (logits->v, n, k, labels, get (t, "ce.", "cw")->v,
                                              get (t, "ce.", "sw")->v, NULL, grad);
  compare ("cross-entropy loss", &loss, get (t, "ce.", "loss")->v, 1, FWD_TOL);
  compare ("cross-entropy dlogits", grad, get (t, "ce.", "dlogits")->v, logits->n, BWD_TOL);
  loss = (float) gemba_softmax_cross_entropy (logits->v, n, k, labels, get (t, "ce.", "cw")->v,
                                              NULL, NULL, NULL);
  compare ("cross-entropy (torch weight)", &loss, get (t, "ce.", "loss-torch")->v, 1, FWD_TOL);
}

/* ---- networks ------------------------------------------------------------------------------- */

/* See init_params() in make-reference.py, @kink_free included. */
static void
init_params (GembaNet *net, gboolean kink_free)
{
  GembaParam *p;
  guint n;

  p = gemba_net_get_params (net, &n);
  for (guint j = 0; j < n; j++)
    {
      guint64 seed = 1000 + j;
      guint node = (guint) g_ascii_strtoull (p[j].name, NULL, 10);
      gboolean before_relu6 = kink_free && node + 1 < gemba_net_get_n_layers (net)
                              && gemba_net_get_layer (net, node + 1)->kind == GEMBA_LAYER_RELU6;

      for (gsize i = 0; i < p[j].n; i++)
        {
          float v;

          if (p[j].ndims == 4)
            v = sym (seed, i, sqrt (6.0 / (p[j].shape[1] * p[j].shape[2] * p[j].shape[3])));
          else if (p[j].ndims == 2)
            v = sym (seed, i, 1.0 / sqrt (p[j].shape[1]));
          else if (g_str_has_suffix (p[j].name, "running_var"))
            v = (float) (1 + 0.5 * (float) hash_uniform (seed, i));
          else if (g_str_has_suffix (p[j].name, "running_mean"))
            v = sym (seed, i, 0.1);
          else if (g_str_has_suffix (p[j].name, "bias"))
            v = sym (seed, i, 0.1) + (before_relu6 ? 3.0f : 0.0f);
          else
            v = (1 + sym (seed, i, 0.2)) * (before_relu6 ? 0.3f : 1.0f);
          p[j].data[i] = v;
        }
    }
}

static void
check_net (const char *file, const char *prefix, GembaNetConfig *cfg, int batch,
           gboolean kink_free)
{
  g_autoptr(GHashTable) t = load_ref (file);
  g_autoptr(GembaNet) net = gemba_net_new (cfg, NULL);
  g_autoptr(GembaNet) folded = gemba_net_new (cfg, NULL);
  g_autoptr(GembaPool) pool = gemba_pool_new (2);
  g_autoptr(GembaOptimizer) opt = NULL;
  gsize nx = (gsize) batch * cfg->input_h * cfg->input_w * cfg->input_c;
  float *x = gemba_floats_new (nx);
  g_autofree int *labels = g_new (int, batch);
  g_autofree float *dlogits = g_new (float, (gsize) batch * cfg->n_classes);
  g_autofree char *pre = g_strconcat (prefix, ".", NULL);
  const float *logits;
  Array *losses;
  GembaParam *p;
  guint n;
  float loss;
  double grad_max = 0;

  for (gsize i = 0; i < nx; i++)
    x[i] = sym (7, i, 1.0);
  for (int i = 0; i < batch; i++)
    labels[i] = i % cfg->n_classes;
  init_params (net, kink_free);

  /* inference mode, plain and with batch-norm folded */
  logits = gemba_net_forward (net, pool, x, batch, FALSE, 0);
  compare ("eval logits", logits, get (t, pre, "eval-logits")->v,
           (gsize) batch * cfg->n_classes, FWD_TOL);
  gemba_net_copy_params (folded, net);
  gemba_net_fold_batch_norm (folded);
  logits = gemba_net_forward (folded, pool, x, batch, FALSE, 0);
  compare ("folded eval logits", logits, get (t, pre, "eval-logits")->v,
           (gsize) batch * cfg->n_classes, FWD_TOL);

  /* training mode: logits, loss, gradients, batch statistics */
  logits = gemba_net_forward (net, pool, x, batch, TRUE, 0);
  compare ("logits", logits, get (t, pre, "logits")->v, (gsize) batch * cfg->n_classes, FWD_TOL);
  loss = (float) gemba_softmax_cross_entropy (logits, batch, cfg->n_classes, labels, NULL, NULL,
                                              NULL, dlogits);
  compare ("loss", &loss, get (t, pre, "loss")->v, 1, FWD_TOL);
  gemba_net_zero_grad (net);
  gemba_net_backward (net, pool, dlogits);
  p = gemba_net_get_params (net, &n);
  for (guint j = 0; j < n; j++)
    if (p[j].grad)
      {
        g_autofree char *key = g_strconcat ("grad.", p[j].name, NULL);
        Array *ref = get (t, pre, key);

        for (guint k = 0; k < ref->n; k++)
          grad_max = MAX (grad_max, fabsf (ref->v[k]));
      }
  for (guint j = 0; j < n; j++)
    {
      g_autofree char *key = g_strconcat (p[j].grad ? "grad." : "after.", p[j].name, NULL);
      Array *ref = get (t, pre, key);
      g_autofree float *mine = g_new (float, ref->n);
      const float *src = p[j].grad ? p[j].grad : p[j].data;

      for (guint k = 0; k < ref->n; k++)
        mine[k] = src[((gsize) k * 7919) % p[j].n];
      if (p[j].grad)
        compare_floor (key, mine, ref->v, ref->n, BWD_TOL, 1e-4 * grad_max);
      else
        compare (key, mine, ref->v, ref->n, FWD_TOL);
    }

  /* five SGD steps from the same weights */
  init_params (net, kink_free);
  opt = gemba_optimizer_new (GEMBA_OPTIMIZER_SGD, net, 0.9f, 1e-4f);
  losses = get (t, pre, "sgd-losses");
  for (guint s = 0; s < losses->n; s++)
    {
      logits = gemba_net_forward (net, pool, x, batch, TRUE, 0);
      loss = (float) gemba_softmax_cross_entropy (logits, batch, cfg->n_classes, labels, NULL,
                                                  NULL, NULL, dlogits);
      gemba_net_zero_grad (net);
      gemba_net_backward (net, pool, dlogits);
      gemba_optimizer_step (opt, get (t, pre, "sgd-lr")->v[0]);
      g_test_message ("SGD step %u: loss %.6f (PyTorch %.6f)", s + 1, loss, losses->v[s]);
      g_assert_cmpfloat_with_epsilon (loss, losses->v[s], 1e-3);
    }
  gemba_floats_free (x);
}

static void
test_small_cnn (void)
{
  GembaNetConfig cfg;

  gemba_net_config_init (&cfg, GEMBA_ARCH_SMALL_CNN, 3);
  cfg.input_h = cfg.input_w = 24;
  cfg.widths[0] = 8;
  cfg.widths[1] = 16;
  cfg.widths[2] = 32;
  cfg.n_widths = 3;
  cfg.depth = 2;
  check_net ("small-cnn.bin", "small", &cfg, 4, FALSE);
}

static void
test_mobilenet_v2 (void)
{
  GembaNetConfig cfg;

  gemba_net_config_init (&cfg, GEMBA_ARCH_MOBILENET_V2, 3);
  cfg.input_h = cfg.input_w = 96;
  cfg.width_mult = 0.35f;
  cfg.dropout = 0.0f;
  check_net ("mobilenetv2.bin", "mnv2", &cfg, 16, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/nn/reference/layers", test_layers);
  g_test_add_func ("/nn/reference/cross-entropy", test_cross_entropy);
  g_test_add_func ("/nn/reference/small-cnn", test_small_cnn);
  g_test_add_func ("/nn/reference/mobilenetv2", test_mobilenet_v2);

  return g_test_run ();
}
