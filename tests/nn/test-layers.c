/* Finite-difference checks of every layer's backward pass, and thread consistency.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <math.h>
#include <string.h>

#include "gemba-layers.h"

#define BATCH 3
#define N_CHECK 40

typedef struct {
  GembaLayer *l;
  int batch;
  float *x, *x2, *y, *r;
  gboolean training;
} Case;

static double
loss_of (Case *c, GembaPool *pool)
{
  double s = 0;
  gsize ny = (gsize) c->batch * gemba_layer_out_size (c->l);

  gemba_layer_forward (c->l, pool, c->batch, c->x, c->x2, c->y, c->training, 42);
  for (gsize i = 0; i < ny; i++)
    s += (double) c->y[i] * c->r[i];
  return s;
}

static void
fill (float *p, gsize n, GembaRng *rng, float scale)
{
  for (gsize i = 0; i < n; i++)
    p[i] = scale * gemba_rng_normal (rng);
}

/* Each of @got's @n values is @want's within @rel × (1 + |want|). */
static void
assert_close (const float *got, const float *want, gsize n, double rel)
{
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (got[i], want[i], rel * (1 + fabsf (want[i])));
}

/* Central differences on a few entries of @v against the analytic gradient @g. */
static void
check_entries (Case *c, GembaPool *pool, float *v, const float *g, gsize n, const char *what,
               GembaRng *rng)
{
  const float h = 1e-2f;
  double max_err = 0;

  for (int k = 0; k < N_CHECK && (gsize) k < n; k++)
    {
      gsize i = n <= N_CHECK ? (gsize) k : gemba_rng_below (rng, (guint32) n);
      float saved = v[i];
      double lp, lm, num, err;

      v[i] = saved + h;
      lp = loss_of (c, pool);
      v[i] = saved - h;
      lm = loss_of (c, pool);
      v[i] = saved;
      num = (lp - lm) / (2 * h);
      err = fabs (num - g[i]) / MAX (1.0, fabs (num) + fabs (g[i]));
      max_err = MAX (max_err, err);
      if (err > 5e-3)
        g_error ("%s %s[%" G_GSIZE_FORMAT "]: numeric %.6f, analytic %.6f",
                 gemba_layer_kind_name (c->l->kind), what, i, num, g[i]);
    }
  g_test_message ("%s %s: max relative error %.2e", gemba_layer_kind_name (c->l->kind), what,
                  max_err);
}

/* Runs backward with dy = r and checks dx, dx2 and parameter gradients by finite differences.
 * @x_fn shapes the input (to stay away from kinks) when not NULL. */
static void
check_layer (GembaLayer *l, gboolean training, void (*x_fn) (float *x, gsize n, GembaRng *rng))
{
  g_autoptr(GembaPool) pool = gemba_pool_new (1);
  GembaRng rng;
  Case c = { .l = l, .batch = BATCH, .training = training };
  gsize nx = (gsize) BATCH * gemba_layer_in_size (l);
  gsize ny = (gsize) BATCH * gemba_layer_out_size (l);
  float *dx = gemba_floats_new (nx);
  float *dx2 = gemba_floats_new (nx);

  gemba_rng_init (&rng, 7);
  c.x = gemba_floats_new (nx);
  c.x2 = gemba_floats_new (nx);
  c.y = gemba_floats_new (ny);
  c.r = gemba_floats_new (ny);
  if (x_fn)
    x_fn (c.x, nx, &rng);
  else
    fill (c.x, nx, &rng, 1.0f);
  fill (c.x2, nx, &rng, 1.0f);
  fill (c.r, ny, &rng, 1.0f);
  gemba_layer_init_params (l, &rng);
  if (l->kind == GEMBA_LAYER_BATCH_NORM)
    {
      /* non-trivial affine parameters and running statistics */
      for (int i = 0; i < l->in_c; i++)
        {
          l->w[i] = 0.5f + gemba_rng_uniform (&rng);
          l->b[i] = gemba_rng_normal (&rng);
          l->running_mean[i] = 0.3f * gemba_rng_normal (&rng);
          l->running_var[i] = 0.5f + gemba_rng_uniform (&rng);
        }
    }
  else if (l->b)
    fill (l->b, l->n_b, &rng, 0.3f);

  loss_of (&c, pool);
  gemba_layer_zero_grad (l);
  gemba_layer_backward (l, pool, BATCH, training, c.x, c.x2, c.y, c.r, dx, FALSE,
                        l->kind == GEMBA_LAYER_ADD ? dx2 : NULL, FALSE);

  if (l->kind == GEMBA_LAYER_BATCH_NORM && training)
    {
      /* forward in training mode moves the running statistics; freeze them for the check */
      l->momentum = 0.0f;
    }

  check_entries (&c, pool, c.x, dx, nx, "dx", &rng);
  if (l->kind == GEMBA_LAYER_ADD)
    check_entries (&c, pool, c.x2, dx2, nx, "dx2", &rng);
  if (l->w)
    check_entries (&c, pool, l->w, l->gw, l->n_w, "dw", &rng);
  if (l->b)
    check_entries (&c, pool, l->b, l->gb, l->n_b, "db", &rng);

  /* accumulate mode adds to what is there */
  {
    float *acc = gemba_floats_new (nx);

    for (gsize i = 0; i < nx; i++)
      acc[i] = 1.0f;
    loss_of (&c, pool);
    gemba_layer_backward (l, pool, BATCH, training, c.x, c.x2, c.y, c.r, acc, TRUE,
                          l->kind == GEMBA_LAYER_ADD ? dx2 : NULL, TRUE);
    for (gsize i = 0; i < nx; i++)
      g_assert_cmpfloat_with_epsilon (acc[i], dx[i] + 1.0f, 1e-4 * (1 + fabsf (dx[i])));
    gemba_floats_free (acc);
  }

  gemba_floats_free (dx);
  gemba_floats_free (dx2);
  gemba_floats_free (c.x);
  gemba_floats_free (c.x2);
  gemba_floats_free (c.y);
  gemba_floats_free (c.r);
  gemba_layer_free (l);
}

/* values far from 0 and 6 (ReLU kinks) */
static void
x_away_from_kinks (float *x, gsize n, GembaRng *rng)
{
  for (gsize i = 0; i < n; i++)
    {
      float v = 0.1f + 7.5f * gemba_rng_uniform (rng);

      if (fabsf (v - 6.0f) < 0.1f)
        v += 0.3f;
      x[i] = gemba_rng_uniform (rng) < 0.3f ? -v : v;
    }
}

/* distinct values at least 0.05 apart, so that each pooling window has one clear maximum */
static void
x_distinct (float *x, gsize n, GembaRng *rng)
{
  for (gsize i = 0; i < n; i++)
    x[i] = 0.05f * (float) i;
  for (gsize i = n - 1; i > 0; i--)
    {
      gsize j = gemba_rng_below (rng, (guint32) (i + 1));
      float t = x[i];

      x[i] = x[j];
      x[j] = t;
    }
}

static void
test_conv (void)
{
  check_layer (gemba_layer_new_conv (5, 6, 3, 4, 3, 3, 1, 1, 1, TRUE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (7, 6, 4, 6, 3, 3, 2, 1, 1, FALSE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (4, 5, 8, 5, 1, 1, 1, 0, 1, TRUE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (6, 5, 4, 3, 1, 1, 2, 0, 1, FALSE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (6, 7, 3, 4, 2, 3, 1, 1, 1, TRUE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (9, 9, 2, 3, 5, 5, 2, 2, 1, TRUE), TRUE, NULL);
  /* few inputs per output: computed directly, without im2col */
  check_layer (gemba_layer_new_conv (5, 6, 3, 8, 3, 3, 1, 1, 1, TRUE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (9, 7, 3, 16, 3, 3, 2, 1, 1, FALSE), TRUE, NULL);
}

/* The first layer has no dx: its weight gradient comes from the direct path then, and must
 * equal the one computed with dx. */
static void
test_conv_first_layer (void)
{
  const int cfg[][7] = { { 12, 10, 3, 16, 3, 1, 1 }, { 11, 9, 3, 8, 3, 2, 1 },
                         { 8, 8, 1, 8, 5, 1, 2 } };

  for (guint k = 0; k < G_N_ELEMENTS (cfg); k++)
    {
      g_autoptr(GembaPool) pool = gemba_pool_new (2);
      GembaLayer *l = gemba_layer_new_conv (cfg[k][0], cfg[k][1], cfg[k][2], cfg[k][3], cfg[k][4],
                                            cfg[k][4], cfg[k][5], cfg[k][6], 1, TRUE);
      const int batch = 5;
      gsize nx = batch * gemba_layer_in_size (l), ny = batch * gemba_layer_out_size (l);
      float *x = gemba_floats_new (nx), *y = gemba_floats_new (ny), *dy = gemba_floats_new (ny);
      float *dx = gemba_floats_new (nx);
      g_autofree float *gw = NULL;
      g_autofree float *gb = NULL;
      GembaRng rng;

      gemba_rng_init (&rng, 21);
      gemba_layer_init_params (l, &rng);
      fill (x, nx, &rng, 1.0f);
      fill (dy, ny, &rng, 1.0f);
      fill (l->b, l->n_b, &rng, 0.5f);
      gemba_layer_forward (l, pool, batch, x, NULL, y, TRUE, 0);
      gemba_layer_zero_grad (l);
      gemba_layer_backward (l, pool, batch, TRUE, x, NULL, y, dy, dx, FALSE, NULL, FALSE);
      gw = g_memdup2 (l->gw, l->n_w * sizeof (float));
      gb = g_memdup2 (l->gb, l->n_b * sizeof (float));
      gemba_layer_zero_grad (l);
      gemba_layer_backward (l, pool, batch, TRUE, x, NULL, y, dy, NULL, FALSE, NULL, FALSE);
      assert_close (l->gw, gw, l->n_w, 1e-4);
      assert_close (l->gb, gb, l->n_b, 1e-4);
      gemba_floats_free (x);
      gemba_floats_free (y);
      gemba_floats_free (dy);
      gemba_floats_free (dx);
      gemba_layer_free (l);
    }
}

/* A convolution in training, as the direct kernels (AVX-512) or im2col + GEMM (without, or
 * with GEMBA_NN_NO_DIRECT) compute it, against the sums written out: y, dx, dW and db, with
 * edges, strides, pads, input channels that fill no tile, output channels that are not a
 * multiple of 16 or 32, images split over 1 and 2 threads, with and without dx. */
static void
test_conv_training_reference (void)
{
  static const int convs[][8] = {
    /* in_h in_w in_c out_c k stride pad bias */
    { 12, 10, 3, 16, 3, 1, 1, 0 },
    { 9, 7, 16, 32, 3, 1, 1, 1 },
    { 8, 8, 32, 40, 3, 1, 1, 0 },
    { 11, 13, 5, 17, 3, 2, 1, 1 },
    { 4, 4, 8, 130, 3, 1, 1, 0 },
    { 10, 9, 4, 16, 5, 1, 2, 1 },
    { 7, 7, 6, 8, 5, 2, 0, 0 },
    { 3, 30, 7, 33, 3, 1, 1, 1 },
    { 6, 5, 1, 3, 2, 1, 0, 0 },
    { 2, 2, 12, 20, 3, 1, 1, 0 },
    /* the small CNN's shapes: chunks of whole rows, edge columns as columns */
    { 16, 16, 32, 64, 3, 1, 1, 0 },
    { 8, 8, 64, 128, 3, 1, 1, 0 },
    { 17, 15, 8, 24, 3, 1, 1, 1 },
  };
  GembaRng rng;

  gemba_rng_init (&rng, 13);
  for (int threads = 1; threads <= 2; threads++)
    for (guint k = 0; k < G_N_ELEMENTS (convs); k++)
      for (int with_dx = 0; with_dx < 2; with_dx++)
        {
          const int *c = convs[k];
          g_autoptr(GembaPool) pool = gemba_pool_new (threads);
          GembaLayer *l = gemba_layer_new_conv (c[0], c[1], c[2], c[3], c[4], c[4], c[5], c[6],
                                                1, c[7]);
          const int batch = 5, K = c[4] * c[4] * c[2];
          gsize nx = batch * gemba_layer_in_size (l), ny = batch * gemba_layer_out_size (l);
          float *x = gemba_floats_new (nx), *y = gemba_floats_new (ny);
          float *dy = gemba_floats_new (ny), *dx = gemba_floats_new (nx);
          g_autofree double *gw = g_new0 (double, l->n_w);
          g_autofree double *gb = g_new0 (double, l->out_c);
          g_autofree double *yr = g_new0 (double, ny);
          g_autofree double *dxr = g_new0 (double, nx);
          double scale = 0;

          gemba_layer_init_params (l, &rng);
          fill (x, nx, &rng, 1.0f);
          fill (dy, ny, &rng, 1.0f);
          if (l->b)
            fill (l->b, l->n_b, &rng, 0.5f);
          for (int i = 0; i < batch; i++)
            for (int oy = 0; oy < l->out_h; oy++)
              for (int ox = 0; ox < l->out_w; ox++)
                {
                  gsize o = (((gsize) i * l->out_h + oy) * l->out_w + ox) * l->out_c;
                  const float *g = dy + o;

                  for (int co = 0; co < l->out_c; co++)
                    {
                      gb[co] += g[co];
                      yr[o + co] = l->b ? l->b[co] : 0.0;
                    }
                  for (int ky = 0; ky < l->kh; ky++)
                    for (int kx = 0; kx < l->kw; kx++)
                      {
                        int iy = oy * l->stride - l->pad + ky, ix = ox * l->stride - l->pad + kx;

                        if (iy < 0 || iy >= l->in_h || ix < 0 || ix >= l->in_w)
                          continue;
                        for (int co = 0; co < l->out_c; co++)
                          for (int ci = 0; ci < l->in_c; ci++)
                            {
                              gsize w = (gsize) co * K + (ky * l->kw + kx) * l->in_c + ci;
                              gsize xo = (((gsize) i * l->in_h + iy) * l->in_w + ix) * l->in_c;

                              gw[w] += (double) g[co] * x[xo + ci];
                              yr[o + co] += (double) l->w[w] * x[xo + ci];
                              dxr[xo + ci] += (double) l->w[w] * g[co];
                            }
                      }
                }
          for (gsize i = 0; i < l->n_w; i++)
            scale = MAX (scale, fabs (gw[i]));
          gemba_layer_forward (l, pool, batch, x, NULL, y, TRUE, 0);
          for (gsize i = 0; i < ny; i++)
            if (fabs (y[i] - yr[i]) > 1e-4 * (1 + fabs (yr[i])))
              g_error ("conv %u (%d threads): y[%" G_GSIZE_FORMAT "] %.6f, not %.6f", k, threads,
                       i, y[i], yr[i]);
          gemba_layer_zero_grad (l);
          /* twice: the gradients add up */
          for (int pass = 0; pass < 2; pass++)
            gemba_layer_backward (l, pool, batch, TRUE, x, NULL, y, dy, with_dx ? dx : NULL,
                                  FALSE, NULL, FALSE);
          for (gsize i = 0; with_dx && i < nx; i++)
            if (fabs (dx[i] - dxr[i]) > 1e-4 * (1 + fabs (dxr[i])))
              g_error ("conv %u (%d threads): dx[%" G_GSIZE_FORMAT "] %.6f, not %.6f", k, threads,
                       i, dx[i], dxr[i]);
          for (gsize i = 0; i < l->n_w; i++)
            if (fabs (l->gw[i] - 2 * gw[i]) > 1e-4 * (1 + scale))
              g_error ("conv %u (%d threads, dx %d): dw[%" G_GSIZE_FORMAT "] %.6f, not %.6f", k,
                       threads, with_dx, i, l->gw[i], 2 * gw[i]);
          for (int co = 0; l->gb && co < l->out_c; co++)
            g_assert_cmpfloat_with_epsilon (l->gb[co], 2 * gb[co], 1e-4 * (1 + fabs (gb[co])));
          gemba_floats_free (x);
          gemba_floats_free (y);
          gemba_floats_free (dy);
          gemba_floats_free (dx);
          gemba_layer_free (l);
        }
}

static void
test_conv_grouped (void)
{
  check_layer (gemba_layer_new_conv (5, 5, 4, 6, 3, 3, 1, 1, 2, TRUE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (6, 6, 6, 3, 1, 1, 1, 0, 3, FALSE), TRUE, NULL);
}

static void
test_conv_depthwise (void)
{
  check_layer (gemba_layer_new_conv (5, 6, 8, 8, 3, 3, 1, 1, 8, FALSE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (7, 7, 5, 5, 3, 3, 2, 1, 5, TRUE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (6, 6, 4, 4, 5, 5, 1, 2, 4, TRUE), TRUE, NULL);
  /* two blocks of 16 channels and a tail */
  check_layer (gemba_layer_new_conv (5, 5, 40, 40, 3, 3, 1, 1, 40, TRUE), TRUE, NULL);
  check_layer (gemba_layer_new_conv (8, 7, 40, 40, 3, 3, 2, 1, 40, FALSE), TRUE, NULL);
}

static void
test_batch_norm (void)
{
  check_layer (gemba_layer_new_batch_norm (4, 3, 5), TRUE, NULL);
  check_layer (gemba_layer_new_batch_norm (4, 3, 5), FALSE, NULL);
  check_layer (gemba_layer_new_batch_norm (1, 1, 7), TRUE, NULL);
  /* channels a multiple of 16: 16 at a time */
  check_layer (gemba_layer_new_batch_norm (4, 3, 16), TRUE, NULL);
  check_layer (gemba_layer_new_batch_norm (4, 3, 16), FALSE, NULL);
  check_layer (gemba_layer_new_batch_norm (3, 3, 48), TRUE, NULL);
}

static void
test_relu (void)
{
  check_layer (gemba_layer_new_relu (3, 4, 5, FALSE), TRUE, x_away_from_kinks);
  check_layer (gemba_layer_new_relu (3, 4, 5, TRUE), TRUE, x_away_from_kinks);
}

static void
test_pool (void)
{
  check_layer (gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, 6, 6, 3, 2, 2, 0), TRUE, x_distinct);
  check_layer (gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, 7, 5, 3, 3, 2, 1), TRUE, x_distinct);
  /* windows that leave a row and a column uncovered */
  check_layer (gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, 7, 5, 3, 2, 2, 0), TRUE, x_distinct);
  /* 2×2 over channels a multiple of 16: 16 at a time */
  check_layer (gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, 6, 6, 16, 2, 2, 0), TRUE, x_distinct);
  check_layer (gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, 5, 7, 32, 2, 2, 0), TRUE, x_distinct);
  check_layer (gemba_layer_new_pool (GEMBA_LAYER_AVG_POOL, 6, 6, 3, 2, 2, 0), TRUE, NULL);
  check_layer (gemba_layer_new_pool (GEMBA_LAYER_AVG_POOL, 5, 5, 2, 3, 1, 1), TRUE, NULL);
  check_layer (gemba_layer_new_global_avg_pool (4, 5, 6), TRUE, NULL);
}

/* A 2×2 max-pool in training against the maxima written out: the first maximum of a window
 * wins (ties, as PyTorch), dx goes to it, the rows and columns no window covers get none;
 * with dx accumulated or not. */
static void
test_max_pool_reference (void)
{
  static const int shapes[][3] = { { 8, 8, 16 }, { 7, 5, 32 }, { 6, 9, 48 }, { 4, 4, 8 } };
  GembaRng rng;

  gemba_rng_init (&rng, 17);
  for (guint k = 0; k < G_N_ELEMENTS (shapes); k++)
    {
      g_autoptr(GembaPool) pool = gemba_pool_new (2);
      GembaLayer *l = gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, shapes[k][0], shapes[k][1],
                                            shapes[k][2], 2, 2, 0);
      const int batch = 3, C = l->in_c;
      gsize nx = batch * gemba_layer_in_size (l), ny = batch * gemba_layer_out_size (l);
      float *x = gemba_floats_new (nx), *y = gemba_floats_new (ny), *dy = gemba_floats_new (ny);
      float *dx = gemba_floats_new (nx), *dxr = gemba_floats_new (nx);

      /* few distinct values: many ties */
      for (gsize i = 0; i < nx; i++)
        x[i] = (float) gemba_rng_below (&rng, 4);
      fill (dy, ny, &rng, 1.0f);
      for (int i = 0; i < batch; i++)
        for (int oy = 0; oy < l->out_h; oy++)
          for (int ox = 0; ox < l->out_w; ox++)
            for (int c = 0; c < C; c++)
              {
                gsize o = (((gsize) i * l->out_h + oy) * l->out_w + ox) * C + c;
                gsize best = 0;
                float m = -INFINITY;

                for (int ky = 0; ky < 2; ky++)
                  for (int kx = 0; kx < 2; kx++)
                    {
                      gsize in = (((gsize) i * l->in_h + 2 * oy + ky) * l->in_w + 2 * ox + kx)
                                 * C + c;

                      if (x[in] > m)
                        {
                          m = x[in];
                          best = in;
                        }
                    }
                dxr[best] = dy[o];
                y[o] = m;
              }
      {
        float *yl = gemba_floats_new (ny);

        gemba_layer_forward (l, pool, batch, x, NULL, yl, TRUE, 0);
        for (gsize i = 0; i < ny; i++)
          g_assert_cmpfloat (yl[i], ==, y[i]);
        gemba_floats_free (yl);
      }
      for (gsize i = 0; i < nx; i++)
        dx[i] = 5.0f;
      gemba_layer_backward (l, pool, batch, TRUE, x, NULL, y, dy, dx, FALSE, NULL, FALSE);
      for (gsize i = 0; i < nx; i++)
        g_assert_cmpfloat (dx[i], ==, dxr[i]);
      gemba_layer_backward (l, pool, batch, TRUE, x, NULL, y, dy, dx, TRUE, NULL, TRUE);
      for (gsize i = 0; i < nx; i++)
        g_assert_cmpfloat (dx[i], ==, 2 * dxr[i]);
      gemba_floats_free (x);
      gemba_floats_free (y);
      gemba_floats_free (dy);
      gemba_floats_free (dx);
      gemba_floats_free (dxr);
      gemba_layer_free (l);
    }
}

static void
test_linear (void)
{
  check_layer (gemba_layer_new_linear (7, 4, TRUE), TRUE, NULL);
  check_layer (gemba_layer_new_linear (5, 3, FALSE), TRUE, NULL);
}

static void
test_dropout (void)
{
  GembaLayer *l = gemba_layer_new_dropout (4, 4, 8, 0.5f);
  g_autoptr(GembaPool) pool = gemba_pool_new (1);
  gsize n = (gsize) BATCH * gemba_layer_in_size (l);
  float *x = gemba_floats_new (n);
  float *y = gemba_floats_new (n);
  int zeros = 0;

  for (gsize i = 0; i < n; i++)
    x[i] = 1.0f;
  gemba_layer_forward (l, pool, BATCH, x, NULL, y, TRUE, 3);
  for (gsize i = 0; i < n; i++)
    {
      g_assert_true (y[i] == 0.0f || y[i] == 2.0f);
      zeros += y[i] == 0.0f;
    }
  /* about half are dropped */
  g_assert_cmpint (zeros, >, (int) n / 4);
  g_assert_cmpint (zeros, <, (int) (3 * n / 4));
  /* inference passes the input through */
  gemba_layer_forward (l, pool, BATCH, x, NULL, y, FALSE, 3);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat (y[i], ==, 1.0f);
  gemba_floats_free (x);
  gemba_floats_free (y);
  gemba_layer_free (l);

  check_layer (gemba_layer_new_dropout (3, 3, 4, 0.3f), TRUE, NULL);
}

static void
test_add (void)
{
  check_layer (gemba_layer_new_add (3, 3, 4), TRUE, NULL);
}

static void
test_cross_entropy (void)
{
  const int n = 5, k = 4;
  int labels[] = { 0, 3, 1, 1, 2 };
  float cw[] = { 1.0f, 2.0f, 0.5f, 3.0f };
  float sw[] = { 1.0f, 1.0f, 4.0f, 1.0f, 0.5f };
  float logits[20], grad[20], probs[20];
  GembaRng rng;
  double loss;

  gemba_rng_init (&rng, 3);
  for (int i = 0; i < n * k; i++)
    logits[i] = 2.0f * gemba_rng_normal (&rng);
  loss = gemba_softmax_cross_entropy (logits, n, k, labels, cw, sw, probs, grad);
  g_assert_true (loss > 0);
  for (int i = 0; i < n; i++)
    {
      float s = 0;

      for (int j = 0; j < k; j++)
        s += probs[i * k + j];
      g_assert_cmpfloat_with_epsilon (s, 1.0f, 1e-5);
    }
  for (int i = 0; i < n * k; i++)
    {
      float saved = logits[i];
      double lp, lm;

      logits[i] = saved + 1e-2f;
      lp = gemba_softmax_cross_entropy (logits, n, k, labels, cw, sw, NULL, NULL);
      logits[i] = saved - 1e-2f;
      lm = gemba_softmax_cross_entropy (logits, n, k, labels, cw, sw, NULL, NULL);
      logits[i] = saved;
      g_assert_cmpfloat_with_epsilon ((lp - lm) / 2e-2, grad[i], 1e-3);
    }

  /* without weights: the mean negative log-likelihood */
  {
    float one[] = { 0.0f, 0.0f };
    int lab[] = { 1 };

    loss = gemba_softmax_cross_entropy (one, 1, 2, lab, NULL, NULL, NULL, NULL);
    g_assert_cmpfloat_with_epsilon (loss, log (2.0), 1e-6);
  }
}

/* Two threads give the same results as one (bit for bit on the forward pass, and within
 * rounding for the reduced gradients). */
static void
test_threads (void)
{
  GembaLayer *layers[] = {
    gemba_layer_new_conv (16, 16, 8, 16, 3, 3, 1, 1, 1, TRUE),
    gemba_layer_new_conv (16, 16, 16, 16, 3, 3, 2, 1, 16, TRUE),
    gemba_layer_new_conv (16, 16, 8, 12, 1, 1, 1, 0, 1, FALSE),
    gemba_layer_new_batch_norm (16, 16, 8),
    gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, 16, 16, 8, 2, 2, 0),
  };
  g_autoptr(GembaPool) p1 = gemba_pool_new (1);
  g_autoptr(GembaPool) p2 = gemba_pool_new (2);
  const int batch = 9;
  GembaRng rng;

  gemba_rng_init (&rng, 11);
  for (guint k = 0; k < G_N_ELEMENTS (layers); k++)
    {
      GembaLayer *l = layers[k];
      gsize nx = (gsize) batch * gemba_layer_in_size (l);
      gsize ny = (gsize) batch * gemba_layer_out_size (l);
      float *x = gemba_floats_new (nx), *dy = gemba_floats_new (ny);
      float *y1 = gemba_floats_new (ny), *y2 = gemba_floats_new (ny);
      float *dx1 = gemba_floats_new (nx), *dx2 = gemba_floats_new (nx);
      g_autofree float *gw1 = NULL;

      gemba_layer_init_params (l, &rng);
      fill (x, nx, &rng, 1.0f);
      fill (dy, ny, &rng, 1.0f);
      gemba_layer_zero_grad (l);
      gemba_layer_forward (l, p1, batch, x, NULL, y1, TRUE, 1);
      gemba_layer_backward (l, p1, batch, TRUE, x, NULL, y1, dy, dx1, FALSE, NULL, FALSE);
      if (l->gw)
        gw1 = g_memdup2 (l->gw, l->n_w * sizeof (float));
      gemba_layer_zero_grad (l);
      gemba_layer_forward (l, p2, batch, x, NULL, y2, TRUE, 1);
      gemba_layer_backward (l, p2, batch, TRUE, x, NULL, y2, dy, dx2, FALSE, NULL, FALSE);
      assert_close (y2, y1, ny, 1e-5);
      assert_close (dx2, dx1, nx, 1e-4);
      if (gw1)
        assert_close (l->gw, gw1, l->n_w, 1e-3);
      gemba_floats_free (x);
      gemba_floats_free (dy);
      gemba_floats_free (y1);
      gemba_floats_free (y2);
      gemba_floats_free (dx1);
      gemba_floats_free (dx2);
      gemba_layer_free (l);
    }
}

/* A batch-norm with a fused ReLU/ReLU6 equals batch-norm then the activation, both ways
 * (the mask taken from y, or from x with channels a multiple of 16). */
static void
test_fused_activation (void)
{
  GembaLayerKind acts[] = { GEMBA_LAYER_RELU, GEMBA_LAYER_RELU6 };

  for (guint a = 0; a < G_N_ELEMENTS (acts); a++)
    for (int training = 0; training < 2; training++)
      for (int C = 20; C <= 32; C += 12)
        {
          g_autoptr(GembaPool) pool = gemba_pool_new (2);
          GembaLayer *fused = gemba_layer_new_batch_norm (6, 5, C);
          GembaLayer *bn = gemba_layer_new_batch_norm (6, 5, C);
          GembaLayer *act = gemba_layer_new_relu (6, 5, C, acts[a] == GEMBA_LAYER_RELU6);
          const int batch = 4;
          gsize n = batch * gemba_layer_in_size (bn);
          float *x = gemba_floats_new (n), *dy = gemba_floats_new (n);
          float *y1 = gemba_floats_new (n), *y2 = gemba_floats_new (n), *t = gemba_floats_new (n);
          float *dx1 = gemba_floats_new (n), *dx2 = gemba_floats_new (n);
          float *dt = gemba_floats_new (n);
          GembaRng rng;

          gemba_rng_init (&rng, 31);
          fill (x, n, &rng, 4.0f);
          fill (dy, n, &rng, 1.0f);
          for (int c = 0; c < C; c++)
            {
              bn->w[c] = fused->w[c] = 1.0f + 2.0f * gemba_rng_uniform (&rng);
              bn->b[c] = fused->b[c] = 2.0f * gemba_rng_normal (&rng);
              bn->running_mean[c] = fused->running_mean[c] = gemba_rng_normal (&rng);
            }
          fused->act = acts[a];
          gemba_layer_zero_grad (fused);
          gemba_layer_zero_grad (bn);
          gemba_layer_forward (fused, pool, batch, x, NULL, y1, training, 0);
          gemba_layer_backward (fused, pool, batch, training, x, NULL, y1, dy, dx1, FALSE, NULL,
                                FALSE);
          gemba_layer_forward (bn, pool, batch, x, NULL, t, training, 0);
          gemba_layer_forward (act, pool, batch, t, NULL, y2, training, 0);
          gemba_layer_backward (act, pool, batch, training, t, NULL, y2, dy, dt, FALSE, NULL,
                                FALSE);
          gemba_layer_backward (bn, pool, batch, training, x, NULL, t, dt, dx2, FALSE, NULL, FALSE);
          assert_close (y1, y2, n, 1e-5);
          assert_close (dx1, dx2, n, 1e-4);
          assert_close (fused->gw, bn->gw, C, 1e-3);
          assert_close (fused->gb, bn->gb, C, 1e-3);
          gemba_floats_free (x);
          gemba_floats_free (dy);
          gemba_floats_free (y1);
          gemba_floats_free (y2);
          gemba_floats_free (t);
          gemba_floats_free (dx1);
          gemba_floats_free (dx2);
          gemba_floats_free (dt);
          gemba_layer_free (fused);
          gemba_layer_free (bn);
          gemba_layer_free (act);
        }
}

/* A convolution that trained (its packed weights for the direct kernels were in l->aux) and
 * is then frozen must not take that buffer for its input's zero-bordered copy: here of the
 * same size (1 image of 2×71×8 with a border of 1 is 4 × 73 × 8 floats, the packed weights
 * 73 × 32). */
static void
test_frozen_after_training (void)
{
  g_autoptr(GembaPool) pool = gemba_pool_new (1);
  GembaLayer *l = gemba_layer_new_conv (2, 71, 8, 8, 3, 3, 1, 1, 1, FALSE);
  gsize nx = gemba_layer_in_size (l), ny = gemba_layer_out_size (l);
  float *x = gemba_floats_new (nx), *y = gemba_floats_new (ny), *yf = gemba_floats_new (ny);
  float *dx = gemba_floats_new (nx);
  GembaRng rng;

  gemba_rng_init (&rng, 23);
  gemba_layer_init_params (l, &rng);
  fill (x, nx, &rng, 1.0f);
  gemba_layer_forward (l, pool, 1, x, NULL, y, TRUE, 0);
  gemba_layer_backward (l, pool, 1, TRUE, x, NULL, y, y, dx, FALSE, NULL, FALSE);
  gemba_layer_forward (l, pool, 1, x, NULL, y, FALSE, 0);
  gemba_layer_freeze (l, GEMBA_LAYER_CONV);
  gemba_layer_forward (l, pool, 1, x, NULL, yf, FALSE, 0);
  assert_close (yf, y, ny, 1e-4);
  gemba_floats_free (x);
  gemba_floats_free (y);
  gemba_floats_free (yf);
  gemba_floats_free (dx);
  gemba_layer_free (l);
}

/* Folding an inference batch-norm into the convolution gives the same output. */
static void
test_fold (void)
{
  g_autoptr(GembaPool) pool = gemba_pool_new (1);
  GembaLayer *conv = gemba_layer_new_conv (6, 6, 3, 5, 3, 3, 1, 1, 1, FALSE);
  GembaLayer *bn = gemba_layer_new_batch_norm (6, 6, 5);
  gsize nx = 2 * gemba_layer_in_size (conv), ny = 2 * gemba_layer_out_size (conv);
  float *x = gemba_floats_new (nx), *t = gemba_floats_new (ny);
  float *y = gemba_floats_new (ny), *yf = gemba_floats_new (ny);
  GembaRng rng;

  gemba_rng_init (&rng, 5);
  gemba_layer_init_params (conv, &rng);
  fill (x, nx, &rng, 1.0f);
  for (int c = 0; c < 5; c++)
    {
      bn->w[c] = 0.5f + gemba_rng_uniform (&rng);
      bn->b[c] = gemba_rng_normal (&rng);
      bn->running_mean[c] = gemba_rng_normal (&rng);
      bn->running_var[c] = 0.2f + gemba_rng_uniform (&rng);
    }
  gemba_layer_forward (conv, pool, 2, x, NULL, t, FALSE, 0);
  gemba_layer_forward (bn, pool, 2, t, NULL, y, FALSE, 0);
  gemba_layer_fold_batch_norm (conv, bn);
  gemba_layer_forward (conv, pool, 2, x, NULL, yf, FALSE, 0);
  assert_close (yf, y, ny, 1e-4);
  gemba_floats_free (x);
  gemba_floats_free (t);
  gemba_floats_free (y);
  gemba_floats_free (yf);
  gemba_layer_free (conv);
  gemba_layer_free (bn);
}

/* A frozen layer (direct kernels where the CPU has them, fused activation, max-pool without
 * argmax) gives the output of the same layer in training form followed by its activation:
 * odd sizes, strides, output channels that are not a multiple of 16, depthwise, 1 and 2
 * threads. */
static void
test_frozen (void)
{
  static const int convs[][8] = {
    /* in_h in_w in_c out_c k stride pad groups */
    { 6, 6, 3, 5, 3, 1, 1, 1 },
    { 9, 7, 16, 24, 3, 1, 1, 1 },
    { 11, 13, 3, 40, 3, 2, 1, 1 },
    { 5, 5, 20, 33, 1, 1, 0, 1 },
    { 16, 16, 8, 8, 1, 1, 0, 1 },
    { 4, 4, 8, 130, 3, 1, 1, 1 },
    { 10, 10, 4, 16, 5, 1, 2, 1 },
    { 3, 30, 7, 17, 3, 1, 1, 1 },
    { 7, 9, 48, 48, 3, 1, 1, 48 },
    { 8, 8, 20, 20, 3, 2, 1, 20 },
    { 15, 14, 32, 32, 3, 1, 1, 32 },
  };
  static const GembaLayerKind acts[] = { GEMBA_LAYER_CONV, GEMBA_LAYER_RELU,
                                         GEMBA_LAYER_RELU6 };
  GembaRng rng;

  gemba_rng_init (&rng, 11);
  for (int threads = 1; threads <= 2; threads++)
    {
      g_autoptr(GembaPool) pool = gemba_pool_new (threads);

      for (guint i = 0; i < G_N_ELEMENTS (convs); i++)
        for (guint a = 0; a < G_N_ELEMENTS (acts); a++)
          {
            const int *c = convs[i];
            GembaLayer *l = gemba_layer_new_conv (c[0], c[1], c[2], c[3], c[4], c[4], c[5],
                                                  c[6], c[7], TRUE);
            GembaLayer *f = gemba_layer_new_conv (c[0], c[1], c[2], c[3], c[4], c[4], c[5],
                                                  c[6], c[7], TRUE);
            gsize nx = BATCH * gemba_layer_in_size (l), ny = BATCH * gemba_layer_out_size (l);
            float *x = gemba_floats_new (nx), *y = gemba_floats_new (ny);
            float *yf = gemba_floats_new (ny);

            gemba_layer_init_params (l, &rng);
            fill (l->b, l->n_b, &rng, 1.0f);
            fill (x, nx, &rng, 2.0f);
            memcpy (f->w, l->w, sizeof (float) * l->n_w);
            memcpy (f->b, l->b, sizeof (float) * l->n_b);
            gemba_layer_freeze (f, acts[a]);
            gemba_layer_forward (l, pool, BATCH, x, NULL, y, FALSE, 0);
            /* twice: buffers kept from the first call must not change the second */
            gemba_layer_forward (f, pool, BATCH, x, NULL, yf, FALSE, 0);
            gemba_layer_forward (f, pool, BATCH, x, NULL, yf, FALSE, 0);
            for (gsize k = 0; k < ny; k++)
              {
                float want = y[k];

                if (acts[a] != GEMBA_LAYER_CONV)
                  want = MAX (want, 0.0f);
                if (acts[a] == GEMBA_LAYER_RELU6)
                  want = MIN (want, 6.0f);
                g_assert_cmpfloat_with_epsilon (want, yf[k], 1e-4 * (1 + fabsf (want)));
              }
            gemba_floats_free (x);
            gemba_floats_free (y);
            gemba_floats_free (yf);
            gemba_layer_free (l);
            gemba_layer_free (f);
          }

      /* 20 channels, and 32 (whole vectors: the frozen pool's other loop) */
      for (int pc = 20; pc <= 32; pc += 12)
        {
          GembaLayer *l = gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, 9, 7, pc, 2, 2, 0);
          GembaLayer *f = gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, 9, 7, pc, 2, 2, 0);
          gsize nx = BATCH * gemba_layer_in_size (l), ny = BATCH * gemba_layer_out_size (l);
          float *x = gemba_floats_new (nx), *y = gemba_floats_new (ny);
          float *yf = gemba_floats_new (ny);

          fill (x, nx, &rng, 1.0f);
          gemba_layer_freeze (f, GEMBA_LAYER_CONV);
          gemba_layer_forward (l, pool, BATCH, x, NULL, y, FALSE, 0);
          gemba_layer_forward (f, pool, BATCH, x, NULL, yf, FALSE, 0);
          g_assert_cmpmem (y, ny * sizeof (float), yf, ny * sizeof (float));
          gemba_floats_free (x);
          gemba_floats_free (y);
          gemba_floats_free (yf);
          gemba_layer_free (l);
          gemba_layer_free (f);
        }
    }
}

/* A frozen inverted residual block (expansion 1×1 + ReLU6, depthwise 3×3 + ReLU6, projection
 * 1×1 [+ residual]) run in bands of rows gives what its layers give one after the other: odd
 * sizes, strides 1 and 2, with and without the expansion, 1 and 2 threads, batch 1 and 3. */
static void
test_fused_block (void)
{
  static const int blocks[][6] = {
    /* size in_c hidden out_c stride expand */
    { 37, 8, 48, 8, 1, 1 },
    { 37, 16, 96, 24, 2, 1 },
    { 37, 24, 144, 24, 1, 1 },
    { 37, 12, 20, 7, 2, 1 },
    { 37, 32, 32, 16, 1, 0 },
    { 37, 20, 20, 33, 2, 0 },
    { 5, 40, 240, 40, 1, 1 },
    { 3, 16, 96, 16, 2, 1 },
  };
  GembaRng rng;

  gemba_rng_init (&rng, 13);
  for (int threads = 1; threads <= 2; threads++)
    for (guint i = 0; i < G_N_ELEMENTS (blocks); i++)
      for (int batch = 1; batch <= BATCH; batch += BATCH - 1)
        {
          const int *b = blocks[i];
          const int n = b[0], hidden = b[2];
          g_autoptr(GembaPool) pool = gemba_pool_new (threads);
          GembaLayer *e = b[5] ? gemba_layer_new_conv (n, n, b[1], hidden, 1, 1, 1, 0, 1, TRUE)
                               : NULL;
          GembaLayer *d = gemba_layer_new_conv (n, n, hidden, hidden, 3, 3, b[4], 1, hidden,
                                                TRUE);
          GembaLayer *p = gemba_layer_new_conv (d->out_h, d->out_w, hidden, b[3], 1, 1, 1, 0, 1,
                                                TRUE);
          const gboolean residual = b[1] == b[3] && b[4] == 1;
          gsize nx = (gsize) batch * n * n * (e ? b[1] : hidden);
          gsize ny = (gsize) batch * gemba_layer_out_size (p);
          float *x = gemba_floats_new (nx), *y = gemba_floats_new (ny);
          float *yf = gemba_floats_new (ny), *res = gemba_floats_new (ny);
          float *t1 = e ? gemba_floats_new ((gsize) batch * gemba_layer_out_size (e)) : NULL;
          float *t2 = gemba_floats_new ((gsize) batch * gemba_layer_out_size (d));

          GembaLayer *layers[3] = { e, d, p };

          for (int k = 0; k < 3; k++)
            if (layers[k])
              {
                gemba_layer_init_params (layers[k], &rng);
                fill (layers[k]->b, layers[k]->n_b, &rng, 1.0f);
                gemba_layer_freeze (layers[k], k == 2 ? GEMBA_LAYER_CONV : GEMBA_LAYER_RELU6);
              }
          fill (x, nx, &rng, 2.0f);
          fill (res, ny, &rng, 1.0f);
          if (!gemba_layer_can_fuse_block (e, d, p))
            {
              /* only where the direct kernels are not (no AVX-512, GEMBA_NN_NO_DIRECT) */
              g_assert_null (d->packed);
              g_test_message ("no direct kernels: the fused block is not tested");
            }
          else
            {
              if (e)
                gemba_layer_forward (e, pool, batch, x, NULL, t1, FALSE, 0);
              gemba_layer_forward (d, pool, batch, e ? t1 : x, NULL, t2, FALSE, 0);
              if (residual)
                gemba_layer_forward_residual (p, pool, batch, t2, res, y);
              else
                gemba_layer_forward (p, pool, batch, t2, NULL, y, FALSE, 0);
              memset (yf, 0xff, sizeof (float) * ny);   /* NaN: every output is written */
              gemba_layer_forward_block (e, d, p, pool, batch, x, residual ? res : NULL, yf);
              for (gsize k = 0; k < ny; k++)
                g_assert_cmpfloat_with_epsilon (y[k], yf[k], 1e-5 * (1 + fabsf (y[k])));
            }
          gemba_floats_free (x);
          gemba_floats_free (y);
          gemba_floats_free (yf);
          gemba_floats_free (res);
          gemba_floats_free (t1);
          gemba_floats_free (t2);
          gemba_layer_free (e);
          gemba_layer_free (d);
          gemba_layer_free (p);
        }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/nn/layers/conv", test_conv);
  g_test_add_func ("/nn/layers/conv-first-layer", test_conv_first_layer);
  g_test_add_func ("/nn/layers/conv-training-reference", test_conv_training_reference);
  g_test_add_func ("/nn/layers/conv-grouped", test_conv_grouped);
  g_test_add_func ("/nn/layers/conv-depthwise", test_conv_depthwise);
  g_test_add_func ("/nn/layers/batch-norm", test_batch_norm);
  g_test_add_func ("/nn/layers/relu", test_relu);
  g_test_add_func ("/nn/layers/pool", test_pool);
  g_test_add_func ("/nn/layers/max-pool-reference", test_max_pool_reference);
  g_test_add_func ("/nn/layers/linear", test_linear);
  g_test_add_func ("/nn/layers/dropout", test_dropout);
  g_test_add_func ("/nn/layers/add", test_add);
  g_test_add_func ("/nn/layers/cross-entropy", test_cross_entropy);
  g_test_add_func ("/nn/layers/threads", test_threads);
  g_test_add_func ("/nn/layers/fold-batch-norm", test_fold);
  g_test_add_func ("/nn/layers/fused-activation", test_fused_activation);
  g_test_add_func ("/nn/layers/frozen", test_frozen);
  g_test_add_func ("/nn/layers/frozen-after-training", test_frozen_after_training);
  g_test_add_func ("/nn/layers/fused-block", test_fused_block);

  return g_test_run ();
}
