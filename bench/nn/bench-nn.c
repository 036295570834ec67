/* bench-nn: images per second of Gemba's training and inference, and the sgemm peak
 *
 * Usage: bench-nn [--arch small-cnn|mobilenetv2] [--size N] [--batch N] [--threads N]
 *                 [--width-mult F] [--mode train|infer] [--seconds S]
 * Prints one line "gemba key=value ...": images per second, the GFLOP/s of the convolutions
 * (each run again alone) and the cblas_sgemm peak of the machine measured in the same run.
 * bench/nn/run.sh compares it with PyTorch.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-bench"

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cblas.h>

#include "gemba.h"

static double
now (void)
{
  return g_get_monotonic_time () / 1e6;
}

typedef struct {
  int m, n, k, iters;
  float *a, *b, *c;
} PeakJob;

static void
peak_task (gpointer data, int task, int thread)
{
  PeakJob *job = data;

  for (int it = 0; it < job->iters; it++)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, job->m, job->n, job->k, 1.0f, job->a,
                 job->k, job->b, job->k, 0.0f, job->c + (gsize) task * job->m * job->n, job->n);
}

/* cblas_sgemm GFLOP/s of the whole machine: one single-threaded GEMM per worker at once, at a
 * size typical of the convolutions (best of five). */
static double
sgemm_peak (GembaPool *pool)
{
  int nt = gemba_pool_get_n_threads (pool);
  PeakJob job = { 1024, 128, 576, 20, NULL, NULL, NULL };
  double best = 0;

  job.a = gemba_floats_new ((gsize) job.m * job.k);
  job.b = gemba_floats_new ((gsize) job.n * job.k);
  job.c = gemba_floats_new ((gsize) job.m * job.n * nt);
  for (gsize i = 0; i < (gsize) job.m * job.k; i++)
    job.a[i] = (float) (i % 7) * 0.1f;
  for (gsize i = 0; i < (gsize) job.n * job.k; i++)
    job.b[i] = (float) (i % 5) * 0.1f;
  for (int rep = 0; rep < 5; rep++)
    {
      double t0 = now ();

      gemba_pool_run (pool, nt, peak_task, &job);
      best = MAX (best, 2.0 * job.m * job.n * job.k * job.iters * nt / (now () - t0) / 1e9);
    }
  gemba_floats_free (job.a);
  gemba_floats_free (job.b);
  gemba_floats_free (job.c);
  return best;
}

int
main (int argc, char **argv)
{
  g_autofree char *arch_name = g_strdup ("small-cnn");
  g_autofree char *mode = g_strdup ("train");
  int size = 64, batch = 32, threads = 2, classes = 10;
  double width_mult = 1.0, seconds = 4.0;
  gboolean peak = FALSE;
  GOptionEntry entries[] = {
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch_name, "small-cnn or mobilenetv2", NULL },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode, "train or infer", NULL },
    { "size", 0, 0, G_OPTION_ARG_INT, &size, "input side", NULL },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "batch size", NULL },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "threads", NULL },
    { "width-mult", 0, 0, G_OPTION_ARG_DOUBLE, &width_mult, "MobileNetV2 width", NULL },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "time per measurement", NULL },
    { "peak", 0, 0, G_OPTION_ARG_NONE, &peak, "measure the sgemm peak", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- Gemba training benchmark");
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaPool) pool = NULL;
  g_autoptr(GembaNet) net = NULL;
  g_autoptr(GembaOptimizer) opt = NULL;
  GembaNetConfig cfg;
  GembaArch arch;
  gboolean train;
  float *input, *dlogits;
  int *labels;
  double t0, elapsed, conv_time = 0, conv_flops = 0, macs, peak_gflops;
  int iters = 0;
  GembaRng rng;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)
      || !gemba_arch_from_string (arch_name, &arch))
    {
      g_printerr ("bench-nn: %s\n", error ? error->message : "unknown architecture");
      return 2;
    }
  train = g_str_equal (mode, "train");
  pool = gemba_pool_new (threads);

  if (peak)
    {
      printf ("sgemm_peak_gflops=%.1f threads=%d\n", sgemm_peak (pool), threads);
      return 0;
    }

  gemba_net_config_init (&cfg, arch, classes);
  cfg.input_h = cfg.input_w = size;
  cfg.width_mult = (float) width_mult;
  net = gemba_net_new (&cfg, &error);
  if (net == NULL)
    {
      g_printerr ("bench-nn: %s\n", error->message);
      return 1;
    }
  gemba_net_init_params (net, 1);
  opt = gemba_optimizer_new (GEMBA_OPTIMIZER_SGD, net, 0.9f, 1e-4f);

  input = gemba_floats_new ((gsize) batch * size * size * 3);
  dlogits = gemba_floats_new ((gsize) batch * classes);
  labels = g_new0 (int, batch);
  gemba_rng_init (&rng, 1);
  for (gsize i = 0; i < (gsize) batch * size * size * 3; i++)
    input[i] = gemba_rng_normal (&rng);
  for (int i = 0; i < batch; i++)
    labels[i] = i % classes;
  if (!train)
    gemba_net_fold_batch_norm (net);

  /* warm up (allocations, caches), then measure */
  for (int phase = 0; phase < 2; phase++)
    {
      double limit = phase == 0 ? MIN (1.0, seconds / 4) : seconds;

      iters = 0;
      conv_time = 0;
      t0 = now ();
      do
        {
          const float *logits = gemba_net_forward (net, pool, input, batch, train, iters);

          if (train)
            {
              gemba_softmax_cross_entropy (logits, batch, classes, labels, NULL, NULL, NULL,
                                           dlogits);
              gemba_net_zero_grad (net);
              gemba_net_backward (net, pool, dlogits);
              gemba_optimizer_step (opt, 0.01f);
            }
          iters++;
        }
      while ((elapsed = now () - t0) < limit);
    }

  /* time spent in the convolutions alone: each convolution again, on its real input */
  {
    guint n = gemba_net_get_n_layers (net);
    int reps = 3;
    gsize most = 0;
    float *y, *dy, *dx;

    for (guint i = 0; i < n; i++)
      {
        GembaLayer *l = gemba_net_get_layer (net, i);

        most = MAX (most, MAX (gemba_layer_out_size (l), gemba_layer_in_size (l)));
      }
    y = gemba_floats_new ((gsize) batch * most);
    dy = gemba_floats_new ((gsize) batch * most);
    dx = gemba_floats_new ((gsize) batch * most);
    for (guint i = 0; i < n; i++)
      {
        GembaLayer *l = gemba_net_get_layer (net, i);
        const float *x = NULL;
        double ts;

        if (l->kind != GEMBA_LAYER_CONV)
          continue;
        /* the input is the output of the closest earlier layer of that shape */
        for (int j = (int) i - 1; j >= 0 && x == NULL; j--)
          {
            GembaLayer *p = gemba_net_get_layer (net, (guint) j);

            if (p->out_h == l->in_h && p->out_w == l->in_w && p->out_c == l->in_c)
              x = gemba_net_get_activation (net, (guint) j);
          }
        if (x == NULL)
          x = input;
        ts = now ();
        for (int r = 0; r < reps; r++)
          {
            gemba_layer_forward (l, pool, batch, x, NULL, y, train, 0);
            if (train)
              gemba_layer_backward (l, pool, batch, TRUE, x, NULL, y, dy, x == input ? NULL : dx,
                                    FALSE, NULL, FALSE);
          }
        conv_time += (now () - ts) / reps;
        if (train)
          conv_flops += 2.0 * l->out_h * l->out_w * l->n_w * batch * (x == input ? 2 : 3);
        else
          conv_flops += 2.0 * l->out_h * l->out_w * l->n_w * batch;
      }
    gemba_floats_free (y);
    gemba_floats_free (dy);
    gemba_floats_free (dx);
  }

  macs = gemba_net_forward_macs (net);
  peak_gflops = sgemm_peak (pool);
  {
    double ips = iters * batch / elapsed;

    printf ("gemba arch=%s size=%d batch=%d threads=%d mode=%s images_per_s=%.1f "
            "ms_per_batch=%.2f net_gflops=%.1f conv_gflops=%.1f sgemm_peak_gflops=%.1f "
            "conv_fraction_of_peak=%.2f conv_fraction_of_time=%.2f\n",
            arch_name, size, batch, threads, mode, ips, 1000.0 * elapsed / iters,
            2.0 * macs * batch * (train ? 3.0 : 1.0) * iters / elapsed / 1e9,
            conv_flops / conv_time / 1e9, peak_gflops,
            conv_flops / conv_time / 1e9 / peak_gflops, conv_time / (elapsed / iters));
  }
  gemba_floats_free (input);
  gemba_floats_free (dlogits);
  g_free (labels);
  return 0;
}
