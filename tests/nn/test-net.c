/* Whole-network gradients, batch-norm folding, optimizers and an overfitting run.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <math.h>
#include <string.h>

#include "gemba-error.h"
#include "gemba-net.h"
#include "gemba-optim.h"

static double
net_loss (GembaNet *net, GembaPool *pool, const float *x, int batch, const int *labels,
          float *dlogits)
{
  const float *logits = gemba_net_forward (net, pool, x, batch, TRUE, 9);

  return gemba_softmax_cross_entropy (logits, batch, gemba_net_get_config (net)->n_classes,
                                      labels, NULL, NULL, NULL, dlogits);
}

/* Finite differences on a sample of every parameter tensor of the network. The loss is the
 * cross-entropy, computed in double from float activations, so the step is moderate. */
static void
check_net_gradients (GembaNetConfig *cfg, int batch, float h, double tol, double max_bad)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaNet) net = gemba_net_new (cfg, &error);
  g_autoptr(GembaPool) pool = gemba_pool_new (1);
  gsize nx = (gsize) batch * cfg->input_h * cfg->input_w * cfg->input_c;
  float *x = gemba_floats_new (nx);
  float *dlogits = gemba_floats_new ((gsize) batch * cfg->n_classes);
  int *labels = g_new (int, batch);
  GembaParam *params;
  guint n_params;
  GembaRng rng;
  int checked = 0, n_bad = 0;

  g_assert_no_error (error);
  gemba_net_init_params (net, 3);
  gemba_rng_init (&rng, 4);
  for (gsize i = 0; i < nx; i++)
    x[i] = gemba_rng_normal (&rng);
  for (int i = 0; i < batch; i++)
    labels[i] = i % cfg->n_classes;

  /* batch-norm running statistics must not drift between the evaluations: momentum 0 */
  for (guint i = 0; i < gemba_net_get_n_layers (net); i++)
    gemba_net_get_layer (net, i)->momentum = 0.0f;

  gemba_net_zero_grad (net);
  net_loss (net, pool, x, batch, labels, dlogits);
  gemba_net_backward (net, pool, dlogits);

  params = gemba_net_get_params (net, &n_params);
  for (guint p = 0; p < n_params; p++)
    {
      GembaParam *par = &params[p];
      g_autofree float *grad = NULL;

      if (par->grad == NULL)
        continue;
      grad = g_memdup2 (par->grad, par->n * sizeof (float));
      for (int k = 0; k < 3; k++)
        {
          gsize i = gemba_rng_below (&rng, (guint32) par->n);
          float saved = par->data[i];
          double lp, lm, num, err;

          par->data[i] = saved + h;
          lp = net_loss (net, pool, x, batch, labels, NULL);
          par->data[i] = saved - h;
          lm = net_loss (net, pool, x, batch, labels, NULL);
          par->data[i] = saved;
          num = (lp - lm) / (2 * h);
          err = fabs (num - grad[i]) / MAX (1e-2, fabs (num) + fabs (grad[i]));
          if (g_getenv ("NN_DEBUG"))
            g_printerr ("%s[%" G_GSIZE_FORMAT "]: numeric %.6g analytic %.6g\n", par->name, i,
                        num, grad[i]);
          if (err > tol)
            g_test_message ("%s[%" G_GSIZE_FORMAT "]: numeric %.6g analytic %.6g", par->name,
                            i, num, grad[i]);
          n_bad += err > tol;
          checked++;
        }
    }
  /* ReLU, ReLU6 and max-pool kinks make some central differences cross a switching point
   * (and batch-norm over few values is steep); those may be off, but only a few. The layers
   * themselves are checked strictly in test-layers, and the whole networks against PyTorch
   * in test-reference. */
  g_test_message ("checked %d parameter entries, %d above %g", checked, n_bad, tol);
  g_assert_cmpfloat ((double) n_bad / checked, <=, max_bad);
  gemba_floats_free (x);
  gemba_floats_free (dlogits);
  g_free (labels);
}

static void
test_small_cnn_gradients (void)
{
  GembaNetConfig cfg;

  gemba_net_config_init (&cfg, GEMBA_ARCH_SMALL_CNN, 3);
  cfg.input_h = 10;
  cfg.input_w = 8;
  cfg.widths[0] = 4;
  cfg.widths[1] = 6;
  cfg.widths[2] = 8;
  cfg.n_widths = 3;
  cfg.depth = 2;
  /* PyTorch's default initialisation: weights in ±1/sqrt(fan-in), 0.1–0.2 here, so a small
   * step (at 5e-4, 14 of 60 central differences crossed a kink) */
  check_net_gradients (&cfg, 4, 1e-4f, 2e-2, 0.1);
}

static void
test_mobilenet_gradients (void)
{
  GembaNetConfig cfg;

  gemba_net_config_init (&cfg, GEMBA_ARCH_MOBILENET_V2, 3);
  /* at least 2×2 pixels at the end, so that batch-norm sees more than a couple of values */
  cfg.input_h = cfg.input_w = 64;
  cfg.width_mult = 0.35f;
  cfg.dropout = 0.0f;
  check_net_gradients (&cfg, 4, 5e-4f, 0.1, 0.3);
}

static void
test_mobilenet_shape (void)
{
  GembaNetConfig cfg;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaNet) net = NULL;

  gemba_net_config_init (&cfg, GEMBA_ARCH_MOBILENET_V2, 1000);
  net = gemba_net_new (&cfg, &error);
  g_assert_no_error (error);
  /* torchvision's mobilenet_v2() has 3,504,872 parameters (weights, biases, BN affine) */
  g_assert_cmpuint (gemba_net_count_weights (net), ==, 3504872);
  g_assert_cmpfloat (gemba_net_forward_macs (net), >, 290e6);
  g_assert_cmpfloat (gemba_net_forward_macs (net), <, 320e6);
  /* a residual add joins the block's projection and the block input (the output of the
   * previous block: its projection batch-norm, or its own add) */
  {
    int adds = 0;

    for (guint i = 0; i < gemba_net_get_n_layers (net); i++)
      if (gemba_net_get_layer (net, i)->kind == GEMBA_LAYER_ADD)
        {
          int in1, in2;

          gemba_net_get_layer_inputs (net, i, &in1, &in2);
          g_assert_cmpint (in1, ==, (int) i - 1);
          g_assert_cmpint (in2, >=, 0);
          g_assert_true (gemba_net_get_layer (net, in2)->kind == GEMBA_LAYER_BATCH_NORM
                         || gemba_net_get_layer (net, in2)->kind == GEMBA_LAYER_ADD);
          adds++;
        }
    /* torchvision's MobileNetV2 has 10 residual connections */
    g_assert_cmpint (adds, ==, 10);
  }

  cfg.width_mult = 5.0f;
  g_clear_pointer (&net, gemba_net_free);
  net = gemba_net_new (&cfg, &error);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_assert_null (net);
}

/* Eval-mode outputs are unchanged by folding (and the fusions it enables: residual adds, max-
 * pools, shared buffers; 37 pixels make odd sizes for the pools), and do not depend on the
 * thread count. */
static void
test_fold_and_threads (void)
{
  GembaArch archs[] = { GEMBA_ARCH_SMALL_CNN, GEMBA_ARCH_MOBILENET_V2 };

  for (guint a = 0; a < 2 * G_N_ELEMENTS (archs); a++)
    {
      const int size = a < G_N_ELEMENTS (archs) ? 40 : 37;
      GembaNetConfig cfg;
      g_autoptr(GembaNet) net = NULL;
      g_autoptr(GembaPool) p1 = gemba_pool_new (1);
      g_autoptr(GembaPool) p2 = gemba_pool_new (2);
      const int batch = 5;
      gsize nx;
      float *x;
      g_autofree float *ref = NULL;
      const float *out;
      GembaRng rng;
      GembaParam *params;
      guint n_params;

      gemba_net_config_init (&cfg, archs[a % G_N_ELEMENTS (archs)], 4);
      cfg.input_h = cfg.input_w = size;
      cfg.width_mult = 0.5f;
      net = gemba_net_new (&cfg, NULL);
      gemba_net_init_params (net, 1);
      gemba_rng_init (&rng, 2);
      /* random batch-norm statistics so that folding has something to do */
      params = gemba_net_get_params (net, &n_params);
      for (guint p = 0; p < n_params; p++)
        if (g_str_has_suffix (params[p].name, "running_var"))
          for (gsize i = 0; i < params[p].n; i++)
            params[p].data[i] = 0.5f + gemba_rng_uniform (&rng);
        else if (g_str_has_suffix (params[p].name, "running_mean"))
          for (gsize i = 0; i < params[p].n; i++)
            params[p].data[i] = 0.2f * gemba_rng_normal (&rng);
      nx = (gsize) batch * size * size * 3;
      x = gemba_floats_new (nx);
      for (gsize i = 0; i < nx; i++)
        x[i] = gemba_rng_normal (&rng);

      out = gemba_net_forward (net, p1, x, batch, FALSE, 0);
      ref = g_memdup2 (out, sizeof (float) * batch * 4);
      out = gemba_net_forward (net, p2, x, batch, FALSE, 0);
      for (int i = 0; i < batch * 4; i++)
        g_assert_cmpfloat_with_epsilon (out[i], ref[i], 1e-4 * (1 + fabsf (ref[i])));
      gemba_net_fold_batch_norm (net);
      out = gemba_net_forward (net, p2, x, batch, FALSE, 0);
      for (int i = 0; i < batch * 4; i++)
        g_assert_cmpfloat_with_epsilon (out[i], ref[i], 1e-3 * (1 + fabsf (ref[i])));
      out = gemba_net_forward (net, p1, x, batch, FALSE, 0);
      for (int i = 0; i < batch * 4; i++)
        g_assert_cmpfloat_with_epsilon (out[i], ref[i], 1e-3 * (1 + fabsf (ref[i])));
      /* batch 1 gives the same as the batch */
      out = gemba_net_forward (net, p2, x + 2 * size * size * 3, 1, FALSE, 0);
      for (int i = 0; i < 4; i++)
        g_assert_cmpfloat_with_epsilon (out[i], ref[8 + i], 1e-3 * (1 + fabsf (ref[8 + i])));
      gemba_floats_free (x);
    }
}

static void
test_optimizers (void)
{
  GembaNetConfig cfg;
  g_autoptr(GembaNet) net = NULL;
  g_autoptr(GembaOptimizer) sgd = NULL;
  g_autoptr(GembaOptimizer) adamw = NULL;
  GembaParam *w, *b;
  float w0, b0, v;

  gemba_net_config_init (&cfg, GEMBA_ARCH_SMALL_CNN, 2);
  cfg.input_h = cfg.input_w = 4;
  cfg.widths[0] = 2;
  cfg.n_widths = 1;
  net = gemba_net_new (&cfg, NULL);
  gemba_net_init_params (net, 1);
  w = gemba_net_find_param (net, "0.weight");
  b = gemba_net_find_param (net, "1.bias");
  g_assert_nonnull (w);
  g_assert_nonnull (b);
  g_assert_true (w->decay);
  g_assert_false (b->decay);

  /* SGD: v = g + wd w; w -= lr v; then v = m v + g + wd w */
  sgd = gemba_optimizer_new (GEMBA_OPTIMIZER_SGD, net, 0.9f, 0.1f);
  w0 = w->data[0];
  b0 = b->data[0];
  w->grad[0] = 0.5f;
  b->grad[0] = 0.25f;
  gemba_optimizer_step (sgd, 0.1f);
  v = 0.5f + 0.1f * w0;
  g_assert_cmpfloat_with_epsilon (w->data[0], w0 - 0.1f * v, 1e-6);
  g_assert_cmpfloat_with_epsilon (b->data[0], b0 - 0.1f * 0.25f, 1e-6);
  w0 = w->data[0];
  gemba_optimizer_step (sgd, 0.1f);
  v = 0.9f * v + 0.5f + 0.1f * w0;
  g_assert_cmpfloat_with_epsilon (w->data[0], w0 - 0.1f * v, 1e-6);

  /* AdamW: the first step moves by lr (sign of g) after decoupled decay */
  adamw = gemba_optimizer_new (GEMBA_OPTIMIZER_ADAMW, net, 0.0f, 0.01f);
  w0 = w->data[0];
  w->grad[0] = -3.0f;
  gemba_optimizer_step (adamw, 0.01f);
  g_assert_cmpfloat_with_epsilon (w->data[0], w0 * (1 - 0.01f * 0.01f) + 0.01f, 1e-5);

  /* schedule: warm-up then cosine to zero */
  g_assert_cmpfloat_with_epsilon (gemba_lr_schedule (1.0f, 0, 100, 10), 0.1f, 1e-6);
  g_assert_cmpfloat_with_epsilon (gemba_lr_schedule (1.0f, 9, 100, 10), 1.0f, 1e-6);
  g_assert_cmpfloat_with_epsilon (gemba_lr_schedule (1.0f, 10, 100, 10), 1.0f, 1e-6);
  g_assert_cmpfloat_with_epsilon (gemba_lr_schedule (1.0f, 55, 100, 10), 0.5f, 1e-6);
  g_assert_cmpfloat (gemba_lr_schedule (1.0f, 99, 100, 10), <, 0.001f);
}

/* A small network learns 32 random images with random labels by heart. */
static void
test_overfit (void)
{
  GembaNetConfig cfg;
  g_autoptr(GembaNet) net = NULL;
  g_autoptr(GembaPool) pool = gemba_pool_new (2);
  g_autoptr(GembaOptimizer) opt = NULL;
  const int n = 32, k = 4;
  gsize per = 16 * 16 * 3;
  float *x = gemba_floats_new (n * per);
  float dlogits[32 * 4];
  int labels[32];
  GembaRng rng;
  int correct = 0;
  double loss = 0;

  gemba_net_config_init (&cfg, GEMBA_ARCH_SMALL_CNN, k);
  cfg.input_h = cfg.input_w = 16;
  cfg.widths[0] = 16;
  cfg.widths[1] = 32;
  cfg.widths[2] = 64;
  cfg.n_widths = 3;
  net = gemba_net_new (&cfg, NULL);
  gemba_net_init_params (net, 1);
  opt = gemba_optimizer_new (GEMBA_OPTIMIZER_ADAMW, net, 0.0f, 0.0f);
  gemba_rng_init (&rng, 8);
  for (gsize i = 0; i < n * per; i++)
    x[i] = gemba_rng_normal (&rng);
  for (int i = 0; i < n; i++)
    labels[i] = (int) gemba_rng_below (&rng, k);

  for (int step = 0; step < 150; step++)
    {
      loss = net_loss (net, pool, x, n, labels, dlogits);
      gemba_net_zero_grad (net);
      gemba_net_backward (net, pool, dlogits);
      gemba_optimizer_step (opt, 0.01f);
    }
  {
    const float *logits = gemba_net_forward (net, pool, x, n, FALSE, 0);

    for (int i = 0; i < n; i++)
      {
        int best = 0;

        for (int j = 1; j < k; j++)
          if (logits[i * k + j] > logits[i * k + best])
            best = j;
        correct += best == labels[i];
      }
  }
  g_test_message ("final training loss %.4f, %d/%d correct", loss, correct, n);
  g_assert_cmpint (correct, ==, n);
  gemba_floats_free (x);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/nn/net/small-cnn-gradients", test_small_cnn_gradients);
  g_test_add_func ("/nn/net/mobilenet-gradients", test_mobilenet_gradients);
  g_test_add_func ("/nn/net/mobilenet-shape", test_mobilenet_shape);
  g_test_add_func ("/nn/net/fold-and-threads", test_fold_and_threads);
  g_test_add_func ("/nn/net/optimizers", test_optimizers);
  g_test_add_func ("/nn/net/overfit", test_overfit);

  return g_test_run ();
}
