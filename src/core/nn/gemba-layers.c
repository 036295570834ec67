#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

/* The kernels are simple loops over the channel axis that the compiler must vectorise. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3", "no-tree-loop-distribute-patterns")
#endif

#include <math.h>
#include <string.h>
#include <cblas.h>

#include "gemba-layers.h"
#include "gemba-conv-direct-private.h"

/* Column buffers of this many floats keep a GEMM panel in L2. */
#define COL_TARGET (1 << 17)
/* Elementwise work is split in blocks of this many floats. */
#define ELT_BLOCK (1 << 15)
/* Batch-norm statistics are split in tasks of this many rows (fixed, for determinism). */
#define BN_ROWS 1024

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define GEMBA_CLONES __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GEMBA_CLONES
#endif

static GembaLayer *
layer_new (GembaLayerKind kind, int in_h, int in_w, int in_c)
{
  GembaLayer *l = g_new0 (GembaLayer, 1);

  l->kind = kind;
  l->in_h = l->out_h = in_h;
  l->in_w = l->out_w = in_w;
  l->in_c = l->out_c = in_c;
  l->kh = l->kw = l->stride = 1;
  l->groups = 1;
  return l;
}

static void
layer_alloc_params (GembaLayer *l, gsize n_w, gsize n_b)
{
  l->n_w = n_w;
  l->n_b = n_b;
  l->w = gemba_floats_new (n_w);
  l->gw = gemba_floats_new (n_w);
  if (n_b > 0)
    {
      l->b = gemba_floats_new (n_b);
      l->gb = gemba_floats_new (n_b);
    }
}

GembaLayer *
gemba_layer_new_conv (int in_h, int in_w, int in_c, int out_c, int kh, int kw, int stride,
                      int pad, int groups, gboolean bias)
{
  GembaLayer *l;

  g_return_val_if_fail (groups > 0 && in_c % groups == 0 && out_c % groups == 0, NULL);
  g_return_val_if_fail (stride > 0 && pad >= 0 && in_h + 2 * pad >= kh && in_w + 2 * pad >= kw,
                        NULL);

  l = layer_new (GEMBA_LAYER_CONV, in_h, in_w, in_c);
  l->out_c = out_c;
  l->kh = kh;
  l->kw = kw;
  l->stride = stride;
  l->pad = pad;
  l->groups = groups;
  l->out_h = (in_h + 2 * pad - kh) / stride + 1;
  l->out_w = (in_w + 2 * pad - kw) / stride + 1;
  layer_alloc_params (l, (gsize) out_c * kh * kw * (in_c / groups), bias ? out_c : 0);
  return l;
}

GembaLayer *
gemba_layer_new_batch_norm (int h, int w, int c)
{
  GembaLayer *l = layer_new (GEMBA_LAYER_BATCH_NORM, h, w, c);

  l->eps = 1e-5f;
  l->momentum = 0.1f;
  l->act = GEMBA_LAYER_BATCH_NORM;
  layer_alloc_params (l, c, c);
  l->running_mean = gemba_floats_new (c);
  l->running_var = gemba_floats_new (c);
  l->save_mean = gemba_floats_new (c);
  l->save_invstd = gemba_floats_new (c);
  for (int i = 0; i < c; i++)
    {
      l->w[i] = 1.0f;
      l->running_var[i] = 1.0f;
    }
  return l;
}

GembaLayer *
gemba_layer_new_relu (int h, int w, int c, gboolean relu6)
{
  return layer_new (relu6 ? GEMBA_LAYER_RELU6 : GEMBA_LAYER_RELU, h, w, c);
}

GembaLayer *
gemba_layer_new_pool (GembaLayerKind kind, int in_h, int in_w, int c, int k, int stride, int pad)
{
  GembaLayer *l;

  g_return_val_if_fail (kind == GEMBA_LAYER_MAX_POOL || kind == GEMBA_LAYER_AVG_POOL, NULL);
  g_return_val_if_fail (k > 0 && stride > 0 && pad >= 0 && 2 * pad <= k, NULL);
  g_return_val_if_fail (in_h + 2 * pad >= k && in_w + 2 * pad >= k, NULL);

  l = layer_new (kind, in_h, in_w, c);
  l->kh = l->kw = k;
  l->stride = stride;
  l->pad = pad;
  l->out_h = (in_h + 2 * pad - k) / stride + 1;
  l->out_w = (in_w + 2 * pad - k) / stride + 1;
  return l;
}

GembaLayer *
gemba_layer_new_global_avg_pool (int in_h, int in_w, int c)
{
  GembaLayer *l = layer_new (GEMBA_LAYER_GLOBAL_AVG_POOL, in_h, in_w, c);

  l->out_h = l->out_w = 1;
  return l;
}

GembaLayer *
gemba_layer_new_linear (int in, int out, gboolean bias)
{
  GembaLayer *l = layer_new (GEMBA_LAYER_LINEAR, 1, 1, in);

  l->out_c = out;
  layer_alloc_params (l, (gsize) in * out, bias ? out : 0);
  return l;
}

GembaLayer *
gemba_layer_new_dropout (int h, int w, int c, float p)
{
  GembaLayer *l;

  g_return_val_if_fail (p >= 0.0f && p < 1.0f, NULL);
  l = layer_new (GEMBA_LAYER_DROPOUT, h, w, c);
  l->p = p;
  return l;
}

GembaLayer *
gemba_layer_new_add (int h, int w, int c)
{
  return layer_new (GEMBA_LAYER_ADD, h, w, c);
}

void
gemba_layer_free (GembaLayer *l)
{
  if (l == NULL)
    return;
  gemba_floats_free (l->w);
  gemba_floats_free (l->b);
  gemba_floats_free (l->gw);
  gemba_floats_free (l->gb);
  gemba_floats_free (l->running_mean);
  gemba_floats_free (l->running_var);
  gemba_floats_free (l->save_mean);
  gemba_floats_free (l->save_invstd);
  gemba_floats_free (l->aux);
  gemba_floats_free (l->packed);
  g_free (l->partial);
  g_free (l);
}

const char *
gemba_layer_kind_name (GembaLayerKind kind)
{
  switch (kind)
    {
    case GEMBA_LAYER_CONV: return "conv";
    case GEMBA_LAYER_BATCH_NORM: return "batch-norm";
    case GEMBA_LAYER_RELU: return "relu";
    case GEMBA_LAYER_RELU6: return "relu6";
    case GEMBA_LAYER_MAX_POOL: return "max-pool";
    case GEMBA_LAYER_AVG_POOL: return "avg-pool";
    case GEMBA_LAYER_GLOBAL_AVG_POOL: return "global-avg-pool";
    case GEMBA_LAYER_LINEAR: return "linear";
    case GEMBA_LAYER_DROPOUT: return "dropout";
    case GEMBA_LAYER_ADD: return "add";
    default: g_assert_not_reached ();
    }
}

gsize
gemba_layer_in_size (const GembaLayer *l)
{
  return (gsize) l->in_h * l->in_w * l->in_c;
}

gsize
gemba_layer_out_size (const GembaLayer *l)
{
  return (gsize) l->out_h * l->out_w * l->out_c;
}

gboolean
gemba_layer_can_run_in_place (const GembaLayer *l)
{
  return l->kind == GEMBA_LAYER_RELU || l->kind == GEMBA_LAYER_RELU6;
}

static gboolean
conv_is_depthwise (const GembaLayer *l)
{
  return l->groups > 1 && l->groups == l->in_c && l->out_c == l->in_c;
}

static gboolean
conv_is_pointwise (const GembaLayer *l)
{
  return l->kh == 1 && l->kw == 1 && l->stride == 1 && l->pad == 0 && l->groups == 1;
}

static int
conv_k (const GembaLayer *l)
{
  return l->kh * l->kw * (l->in_c / l->groups);
}

/* Output pixels per forward task. */
static gsize
conv_fwd_chunk (const GembaLayer *l, int batch, int n_threads)
{
  gsize total = (gsize) batch * l->out_h * l->out_w;
  gsize chunk = MAX ((gsize) COL_TARGET / conv_k (l), 16);
  gsize per_thread = (total + n_threads - 1) / n_threads;

  return MAX (MIN (chunk, per_thread), 1);
}

/* Images per backward task. */
static int
conv_bwd_chunk (const GembaLayer *l, int batch, int n_threads)
{
  gsize per_image = (gsize) l->out_h * l->out_w * conv_k (l);
  int chunk = (int) MAX ((gsize) 1, (gsize) COL_TARGET * 2 / per_image);
  int per_thread = (batch + n_threads - 1) / n_threads;

  return CLAMP (MIN (chunk, per_thread), 1, 8);
}

/* For a stride-1 square convolution, dx is itself a convolution of dy with the flipped,
 * transposed kernel (padding k - 1 - pad): im2col + one GEMM, without col2im's scattered
 * additions and without clearing dx first. Fills @tl (weights not set) or returns FALSE. */
static gboolean
conv_transposed (const GembaLayer *l, GembaLayer *tl)
{
  if (l->kind != GEMBA_LAYER_CONV || l->stride != 1 || l->groups != 1 || l->kh != l->kw
      || l->pad > l->kh - 1 || (l->kh == 1 && l->pad == 0))
    return FALSE;
  memset (tl, 0, sizeof *tl);
  tl->kind = GEMBA_LAYER_CONV;
  tl->in_h = l->out_h;
  tl->in_w = l->out_w;
  tl->in_c = l->out_c;
  tl->out_c = l->in_c;
  tl->kh = l->kh;
  tl->kw = l->kw;
  tl->stride = 1;
  tl->pad = l->kh - 1 - l->pad;
  tl->groups = 1;
  tl->out_h = tl->in_h + 2 * tl->pad - tl->kh + 1;
  tl->out_w = tl->in_w + 2 * tl->pad - tl->kw + 1;
  tl->n_w = l->n_w;
  return tl->out_h == l->in_h && tl->out_w == l->in_w;
}

gsize
gemba_layer_scratch_floats (const GembaLayer *l, int batch, int n_threads)
{
  switch (l->kind)
    {
    case GEMBA_LAYER_CONV:
      if (conv_is_depthwise (l))
        return (gsize) l->kh * l->kw * l->in_c + l->in_c + 16;
      else
        {
          gsize fwd = conv_fwd_chunk (l, batch, n_threads) * conv_k (l);
          gsize bwd = (gsize) conv_bwd_chunk (l, batch, n_threads) * l->out_h * l->out_w * conv_k (l);
          GembaLayer tl;

          if (conv_transposed (l, &tl))
            fwd = MAX (fwd, conv_fwd_chunk (&tl, batch, n_threads) * conv_k (&tl));
          return MAX (fwd, bwd + l->n_w + l->out_c + 16);
        }
    case GEMBA_LAYER_LINEAR:
      return l->n_w + l->out_c + 16;
    case GEMBA_LAYER_BATCH_NORM:
    case GEMBA_LAYER_RELU:
    case GEMBA_LAYER_RELU6:
    case GEMBA_LAYER_MAX_POOL:
    case GEMBA_LAYER_AVG_POOL:
    case GEMBA_LAYER_GLOBAL_AVG_POOL:
    case GEMBA_LAYER_DROPOUT:
    case GEMBA_LAYER_ADD:
    default:
      return 0;
    }
}

void
gemba_layer_init_params (GembaLayer *l, GembaRng *rng)
{
  switch (l->kind)
    {
    case GEMBA_LAYER_CONV:
      {
        /* He (fan-out) normal, as torchvision initialises MobileNetV2 */
        float std = sqrtf (2.0f / (float) (l->out_c / l->groups * l->kh * l->kw));

        for (gsize i = 0; i < l->n_w; i++)
          l->w[i] = std * gemba_rng_normal (rng);
        if (l->b)
          memset (l->b, 0, l->n_b * sizeof (float));
      }
      break;
    case GEMBA_LAYER_LINEAR:
      {
        /* PyTorch's default: uniform in ±1/sqrt(fan_in) */
        float bound = 1.0f / sqrtf ((float) l->in_c);

        for (gsize i = 0; i < l->n_w; i++)
          l->w[i] = bound * (2.0f * gemba_rng_uniform (rng) - 1.0f);
        for (gsize i = 0; i < l->n_b; i++)
          l->b[i] = bound * (2.0f * gemba_rng_uniform (rng) - 1.0f);
      }
      break;
    case GEMBA_LAYER_BATCH_NORM:
      for (int i = 0; i < l->in_c; i++)
        {
          l->w[i] = 1.0f;
          l->b[i] = 0.0f;
          l->running_mean[i] = 0.0f;
          l->running_var[i] = 1.0f;
        }
      break;
    case GEMBA_LAYER_RELU:
    case GEMBA_LAYER_RELU6:
    case GEMBA_LAYER_MAX_POOL:
    case GEMBA_LAYER_AVG_POOL:
    case GEMBA_LAYER_GLOBAL_AVG_POOL:
    case GEMBA_LAYER_DROPOUT:
    case GEMBA_LAYER_ADD:
    default:
      break;
    }
}

void
gemba_layer_zero_grad (GembaLayer *l)
{
  if (l->gw)
    memset (l->gw, 0, l->n_w * sizeof (float));
  if (l->gb)
    memset (l->gb, 0, l->n_b * sizeof (float));
}

static float *
layer_aux (GembaLayer *l, gsize n)
{
  if (l->aux_size < n)
    {
      gemba_floats_free (l->aux);
      l->aux = gemba_floats_new (n);
      l->aux_size = n;
    }
  return l->aux;
}

static double *
layer_partial (GembaLayer *l, gsize n)
{
  if (l->partial_size < n)
    {
      g_free (l->partial);
      l->partial = g_new0 (double, n);
      l->partial_size = n;
    }
  return l->partial;
}

/* ---- convolution ---------------------------------------------------------------------- */

/* 0: none, 1: ReLU, 2: ReLU6, applied by a frozen convolution */
static int
conv_act (const GembaLayer *l)
{
  if (l->kind != GEMBA_LAYER_CONV)
    return 0;
  return l->act == GEMBA_LAYER_RELU ? 1 : l->act == GEMBA_LAYER_RELU6 ? 2 : 0;
}

GEMBA_CLONES static void
apply_act (float *y, gsize n, int act)
{
  if (act == 1)
    for (gsize i = 0; i < n; i++)
      y[i] = MAX (y[i], 0.0f);
  else if (act == 2)
    for (gsize i = 0; i < n; i++)
      y[i] = MIN (MAX (y[i], 0.0f), 6.0f);
}

typedef struct {
  GembaLayer *l;
  GembaPool *pool;
  int batch;
  const float *x;
  const float *x2;
  const float *res;   /* convolution: the residual added to its output, or NULL */
  const float *packed;   /* direct convolution: the weights as _gemba_conv_direct_pack() lays them */
  const float *y;
  const float *dy;
  float *out;
  float *dx;
  float *dx2;
  gboolean accumulate;
  gboolean accumulate2;
  gboolean training;
  gsize chunk;
  gsize total;
  guint64 seed;
  int n_tasks;
} Job;

/* col[p - p0][k] for output pixels [p0, p1) of the batch, group g. The copies are inline loops
 * (vectorised in the clones): memcpy calls of 12–256 bytes cost more than the copying. */
GEMBA_CLONES static void
im2col (const GembaLayer *l, const float *x, gsize p0, gsize p1, int g, float *col)
{
  const int cg = l->in_c / l->groups;
  const int K = conv_k (l);
  const int hw = l->out_h * l->out_w;
  const gsize in_img = (gsize) l->in_h * l->in_w * l->in_c;

  for (gsize p = p0; p < p1; p++)
    {
      int img = (int) (p / hw);
      int rem = (int) (p % hw);
      int oy = rem / l->out_w;
      int ox = rem % l->out_w;
      float *restrict dst = col + (p - p0) * K;
      const float *src = x + (gsize) img * in_img + g * cg;
      int iy0 = oy * l->stride - l->pad;
      int ix0 = ox * l->stride - l->pad;

      for (int ky = 0; ky < l->kh; ky++)
        {
          int iy = iy0 + ky;

          if (iy < 0 || iy >= l->in_h)
            {
              for (int i = 0; i < l->kw * cg; i++)
                dst[i] = 0.0f;
              dst += l->kw * cg;
              continue;
            }
          if (cg == l->in_c && ix0 >= 0 && ix0 + l->kw <= l->in_w)
            {
              /* the window's row lies inside the image: kw * cg contiguous floats */
              const float *restrict s = src + ((gsize) iy * l->in_w + ix0) * l->in_c;
              const int n = l->kw * cg;

              for (int i = 0; i < n; i++)
                dst[i] = s[i];
              dst += n;
              continue;
            }
          for (int kx = 0; kx < l->kw; kx++, dst += cg)
            {
              int ix = ix0 + kx;
              const float *restrict s;

              if (ix < 0 || ix >= l->in_w)
                {
                  for (int c = 0; c < cg; c++)
                    dst[c] = 0.0f;
                  continue;
                }
              s = src + ((gsize) iy * l->in_w + ix) * l->in_c;
              for (int c = 0; c < cg; c++)
                dst[c] = s[c];
            }
        }
    }
}

/* dx += col2im (col) for output pixels [p0, p1) (whole images only). */
GEMBA_CLONES static void
col2im (const GembaLayer *l, const float *col, gsize p0, gsize p1, int g, float *dx)
{
  const int cg = l->in_c / l->groups;
  const int K = conv_k (l);
  const int hw = l->out_h * l->out_w;

  for (gsize p = p0; p < p1; p++)
    {
      int img = (int) (p / hw);
      int rem = (int) (p % hw);
      int oy = rem / l->out_w;
      int ox = rem % l->out_w;
      const float *src = col + (p - p0) * K;
      float *base = dx + (gsize) img * l->in_h * l->in_w * l->in_c + g * cg;

      for (int ky = 0; ky < l->kh; ky++)
        {
          int iy = oy * l->stride - l->pad + ky;

          if (iy < 0 || iy >= l->in_h)
            {
              src += l->kw * cg;
              continue;
            }
          for (int kx = 0; kx < l->kw; kx++, src += cg)
            {
              int ix = ox * l->stride - l->pad + kx;
              float *d;

              if (ix < 0 || ix >= l->in_w)
                continue;
              d = base + ((gsize) iy * l->in_w + ix) * l->in_c;
              for (int c = 0; c < cg; c++)
                d[c] += src[c];
            }
        }
    }
}

static void
conv_fwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  gsize p0 = (gsize) task * job->chunk;
  gsize p1 = MIN (p0 + job->chunk, job->total);
  gsize m = p1 - p0;
  const int K = conv_k (l);
  const int cog = l->out_c / l->groups;
  float *y = job->out + p0 * l->out_c;
  float beta = job->accumulate ? 1.0f : 0.0f;

  if (l->b && !job->accumulate)
    {
      for (gsize p = 0; p < m; p++)
        memcpy (y + p * l->out_c, l->b, sizeof (float) * l->out_c);
      beta = 1.0f;
    }

  if (conv_is_pointwise (l))
    {
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int) m, l->out_c, K, 1.0f,
                   job->x + p0 * l->in_c, l->in_c, l->w, K, beta, y, l->out_c);
      apply_act (y, m * l->out_c, conv_act (l));
      return;
    }

  for (int g = 0; g < l->groups; g++)
    {
      float *col = gemba_pool_scratch (job->pool, thread);

      im2col (l, job->x, p0, p1, g, col);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int) m, cog, K, 1.0f,
                   col, K, l->w + (gsize) g * cog * K, K, beta, y + g * cog, l->out_c);
    }
  apply_act (y, m * l->out_c, conv_act (l));
}

static void
conv_bwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int hw = l->out_h * l->out_w;
  const int K = conv_k (l);
  const int cog = l->out_c / l->groups;
  int i0 = task * (int) job->chunk;
  int i1 = MIN (i0 + (int) job->chunk, job->batch);
  gsize p0 = (gsize) i0 * hw;
  gsize p1 = (gsize) i1 * hw;
  int m = (int) (p1 - p0);
  float *scratch = gemba_pool_scratch (job->pool, thread);
  float *gw = scratch;
  float *gb = gw + l->n_w;
  float *col = gb + l->out_c;
  const float *dy = job->dy + p0 * l->out_c;
  gsize in_img = gemba_layer_in_size (l);

  if (task < gemba_pool_get_n_threads (job->pool))
    memset (scratch, 0, sizeof (float) * (l->n_w + l->out_c));

  if (l->b)
    for (int p = 0; p < m; p++)
      for (int c = 0; c < l->out_c; c++)
        gb[c] += dy[(gsize) p * l->out_c + c];

  if (conv_is_pointwise (l))
    {
      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, l->out_c, K, m, 1.0f,
                   dy, l->out_c, job->x + p0 * l->in_c, l->in_c, 1.0f, gw, K);
      if (job->dx)
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, m, K, l->out_c, 1.0f,
                     dy, l->out_c, l->w, K, job->accumulate ? 1.0f : 0.0f,
                     job->dx + p0 * l->in_c, l->in_c);
      return;
    }

  if (job->dx && !job->accumulate)
    memset (job->dx + (gsize) i0 * in_img, 0, sizeof (float) * (i1 - i0) * in_img);

  for (int g = 0; g < l->groups; g++)
    {
      im2col (l, job->x, p0, p1, g, col);
      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, cog, K, m, 1.0f,
                   dy + g * cog, l->out_c, col, K, 1.0f, gw + (gsize) g * cog * K, K);
      if (job->dx)
        {
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, m, K, cog, 1.0f,
                       dy + g * cog, l->out_c, l->w + (gsize) g * cog * K, K, 0.0f, col, K);
          col2im (l, col, p0, p1, g, job->dx);
        }
    }
}

/* ---- depthwise convolution: direct loops over the channel axis ---------------------------- */

/* Depthwise kernels work on blocks of 16 channels held in registers: each output (or input
 * gradient) is written once, after summing over the kernel taps, instead of being read and
 * written once per tap. */
#define DW_BLOCK 16

typedef struct {
  const float *a;   /* activations (or output gradients) of the tap */
  const float *w;   /* kernel weights of the tap, [C] */
  int tap;          /* ky * kw + kx */
} DwTap;

/* acc (+)= sum over taps of a * w, channels [0, C) */
static inline __attribute__ ((always_inline)) void
dw_sum_taps (const DwTap *taps, int n, int C, const float *init, float *restrict out)
{
  int c0 = 0;

  for (; c0 + DW_BLOCK <= C; c0 += DW_BLOCK)
    {
      float acc[DW_BLOCK];

      for (int j = 0; j < DW_BLOCK; j++)
        acc[j] = init ? init[c0 + j] : 0.0f;
      for (int t = 0; t < n; t++)
        {
          const float *restrict a = taps[t].a + c0;
          const float *restrict w = taps[t].w + c0;

          for (int j = 0; j < DW_BLOCK; j++)
            acc[j] += a[j] * w[j];
        }
      for (int j = 0; j < DW_BLOCK; j++)
        out[c0 + j] = acc[j];
    }
  for (; c0 < C; c0++)
    {
      float acc = init ? init[c0] : 0.0f;

      for (int t = 0; t < n; t++)
        acc += taps[t].a[c0] * taps[t].w[c0];
      out[c0] = acc;
    }
}

GEMBA_CLONES static void
dw_forward_rows (const GembaLayer *l, const float *x, const float *wt, float *y, int img, int oy0,
                 int oy1)
{
  const int C = l->in_c;
  const float *xi = x + (gsize) img * l->in_h * l->in_w * C;
  const int act = conv_act (l);
  DwTap taps[l->kh * l->kw];

  for (int oy = oy0; oy < oy1; oy++)
    for (int ox = 0; ox < l->out_w; ox++)
      {
        float *out = y + (((gsize) img * l->out_h + oy) * l->out_w + ox) * C;
        int n = 0;

        for (int ky = 0; ky < l->kh; ky++)
          {
            int iy = oy * l->stride - l->pad + ky;

            if (iy < 0 || iy >= l->in_h)
              continue;
            for (int kx = 0; kx < l->kw; kx++)
              {
                int ix = ox * l->stride - l->pad + kx;

                if (ix < 0 || ix >= l->in_w)
                  continue;
                taps[n].a = xi + ((gsize) iy * l->in_w + ix) * C;
                taps[n].w = wt + (gsize) (ky * l->kw + kx) * C;
                n++;
              }
          }
        dw_sum_taps (taps, n, C, l->b, out);
        if (act == 1)
          for (int c = 0; c < C; c++)
            out[c] = MAX (out[c], 0.0f);
        else if (act == 2)
          for (int c = 0; c < C; c++)
            out[c] = MIN (MAX (out[c], 0.0f), 6.0f);
      }
}

/* dx of one image, gathered: each input pixel sums the output gradients whose windows cover
 * it (a depthwise convolution of dy with the flipped kernel). */
GEMBA_CLONES static void
dw_backward_dx_image (const GembaLayer *l, const float *wt, const float *dy, float *dx,
                      gboolean accumulate, int img)
{
  const int C = l->in_c, s = l->stride;
  const float *g = dy + (gsize) img * l->out_h * l->out_w * C;
  DwTap taps[l->kh * l->kw];

  for (int iy = 0; iy < l->in_h; iy++)
    for (int ix = 0; ix < l->in_w; ix++)
      {
        float *d = dx + (((gsize) img * l->in_h + iy) * l->in_w + ix) * C;
        int n = 0;

        for (int ky = 0; ky < l->kh; ky++)
          {
            int ny = iy + l->pad - ky;

            if (ny < 0 || ny % s != 0 || ny / s >= l->out_h)
              continue;
            for (int kx = 0; kx < l->kw; kx++)
              {
                int nx = ix + l->pad - kx;

                if (nx < 0 || nx % s != 0 || nx / s >= l->out_w)
                  continue;
                taps[n].a = g + ((gsize) (ny / s) * l->out_w + nx / s) * C;
                taps[n].w = wt + (gsize) (ky * l->kw + kx) * C;
                n++;
              }
          }
        dw_sum_taps (taps, n, C, accumulate ? d : NULL, d);
      }
}

/* Weight and bias gradients of one image: gwt [kh*kw][C], gb [C]. */
GEMBA_CLONES static void
dw_backward_dw_image (const GembaLayer *l, const float *x, const float *dy, float *gwt,
                      float *gb, int img)
{
  const int C = l->in_c;
  const float *xi = x + (gsize) img * l->in_h * l->in_w * C;

  for (int oy = 0; oy < l->out_h; oy++)
    for (int ox = 0; ox < l->out_w; ox++)
      {
        const float *restrict g = dy + (((gsize) img * l->out_h + oy) * l->out_w + ox) * C;

        for (int c = 0; c < C; c++)
          gb[c] += g[c];
        for (int ky = 0; ky < l->kh; ky++)
          {
            int iy = oy * l->stride - l->pad + ky;

            if (iy < 0 || iy >= l->in_h)
              continue;
            for (int kx = 0; kx < l->kw; kx++)
              {
                int ix = ox * l->stride - l->pad + kx;
                const float *restrict in;
                float *restrict gk;

                if (ix < 0 || ix >= l->in_w)
                  continue;
                in = xi + ((gsize) iy * l->in_w + ix) * C;
                gk = gwt + (gsize) (ky * l->kw + kx) * C;
                for (int c = 0; c < C; c++)
                  gk[c] += g[c] * in[c];
              }
          }
      }
}

static void
dw_fwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  gsize r0 = (gsize) task * job->chunk;
  gsize r1 = MIN (r0 + job->chunk, job->total);

  /* rows of the batch, possibly spanning images */
  while (r0 < r1)
    {
      int img = (int) (r0 / l->out_h);
      int oy0 = (int) (r0 % l->out_h);
      int oy1 = (int) MIN ((gsize) l->out_h, oy0 + (r1 - r0));

      dw_forward_rows (l, job->x, l->aux, job->out, img, oy0, oy1);
      r0 += oy1 - oy0;
    }
}

static void
dw_bwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  float *scratch = gemba_pool_scratch (job->pool, thread);
  gsize kk = (gsize) l->kh * l->kw * l->in_c;
  int i0 = task * (int) job->chunk;
  int i1 = MIN (i0 + (int) job->chunk, job->batch);

  if (task < gemba_pool_get_n_threads (job->pool))
    memset (scratch, 0, sizeof (float) * (kk + l->in_c));
  for (int i = i0; i < i1; i++)
    {
      dw_backward_dw_image (l, job->x, job->dy, scratch, scratch + kk, i);
      if (job->dx)
        dw_backward_dx_image (l, l->aux, job->dy, job->dx, job->accumulate, i);
    }
}

/* [c][kh*kw] -> [kh*kw][c] */
static void
dw_transpose_weights (GembaLayer *l)
{
  int kk = l->kh * l->kw;
  float *wt = layer_aux (l, (gsize) kk * l->in_c);

  for (int c = 0; c < l->in_c; c++)
    for (int k = 0; k < kk; k++)
      wt[(gsize) k * l->in_c + c] = l->w[(gsize) c * kk + k];
}

static void
direct_fwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  int n_groups = job->n_tasks;
  int nbk = _gemba_conv_direct_n_blocks (l);
  int pc = task / n_groups, g = task % n_groups;
  gsize p0 = (gsize) pc * job->chunk;
  gsize p1 = MIN (p0 + job->chunk, job->total);

  if (job->x2)   /* the padded copy */
    _gemba_conv_direct_run_padded (l, job->packed, job->x2, job->res, job->out, p0, p1,
                                   nbk * g / n_groups, nbk * (g + 1) / n_groups, conv_act (l));
  else
    _gemba_conv_direct_run (l, job->packed, job->x, job->res, job->out, p0, p1,
                            nbk * g / n_groups, nbk * (g + 1) / n_groups, conv_act (l));
}

/* Copies the input into l->aux inside a zero border of l->pad pixels (the border is zeroed
 * when the buffer is allocated and never written). */
static float *
padded_buffer (GembaLayer *l, int batch)
{
  const int hp = l->in_h + 2 * l->pad, wp = l->in_w + 2 * l->pad, C = l->in_c;
  gsize need = (gsize) batch * hp * wp * C;

  if (l->aux_size != need)
    {
      gemba_floats_free (l->aux);
      l->aux = gemba_floats_new (need);
      l->aux_size = need;
    }
  return l->aux;
}

static void
pad_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int hp = l->in_h + 2 * l->pad, wp = l->in_w + 2 * l->pad, C = l->in_c;
  const gsize row = (gsize) l->in_w * C;
  gsize r1 = job->total * (task + 1) / job->n_tasks;

  for (gsize r = job->total * task / job->n_tasks; r < r1; r++)
    {
      gsize i = r / l->in_h, iy = r % l->in_h;

      memcpy (job->out + ((i * hp + iy + l->pad) * wp + l->pad) * C, job->x + r * row,
              sizeof (float) * row);
    }
}

/* The copy is split over the threads too: done by one, it kept the others waiting (on two
 * threads MobileNetV2's first convolution, whose input comes from memory, took 133 µs, now
 * 111 µs; 138 µs on one). */
static const float *
pad_input (GembaLayer *l, GembaPool *pool, int batch, const float *x)
{
  Job job = { .l = l, .x = x, .out = padded_buffer (l, batch) };

  job.total = (gsize) batch * l->in_h;
  job.n_tasks = (int) MIN (job.total, (gsize) gemba_pool_get_n_threads (pool));
  gemba_pool_run (pool, job.n_tasks, pad_task, &job);
  return job.out;
}

static void
direct_dw_task (gpointer data, int task, int thread)
{
  Job *job = data;
  gsize r0 = (gsize) task * job->chunk;

  _gemba_conv_direct_run_depthwise (job->l, job->l->packed, job->x, job->out, r0,
                                    MIN (r0 + job->chunk, job->total), conv_act (job->l));
}

/* Frozen convolution with packed weights: pixel chunks that keep their input in L2; where the
 * image is too small to split (the last MobileNetV2 stages), output channel blocks instead. */
static gboolean
takes_padded (const GembaLayer *l)
{
  return l->kind == GEMBA_LAYER_CONV && l->packed && !conv_is_depthwise (l)
         && (l->kh > 1 || l->kw > 1 || l->pad > 0);
}

/* @x NULL: the input is already in l->aux with its border (written there by the layer
 * before, see gemba_layer_forward_pooled()). @packed: l->packed, or the weights of a layer in
 * training packed for this pass; those read the input as it is, without a padded copy (l->aux
 * holds other things during training; with one, training took as long). */
static void
direct_forward (GembaLayer *l, const float *packed, GembaPool *pool, int batch, const float *x,
                const float *res, float *y)
{
  int nt = gemba_pool_get_n_threads (pool);
  int nbk = _gemba_conv_direct_n_blocks (l);
  Job job = { .l = l, .pool = pool, .batch = batch, .x = x, .res = res, .out = y,
              .packed = packed };
  gsize chunk;
  int n_chunks;

  job.total = (gsize) batch * l->out_h * l->out_w;
  job.n_tasks = 1;   /* channel groups */
  if ((l->kh > 1 || l->kw > 1 || l->pad > 0) && packed == l->packed)
    job.x2 = x ? pad_input (l, pool, batch, x) : padded_buffer (l, batch);
  if (job.total <= 256 && nt > 1)
    {
      job.n_tasks = MIN (nbk, 4 * nt);
      /* and the pixels in a few chunks too, so that the tasks are at least two per thread and
       * as many for each thread (3 blocks on 2 threads were 2 against 1) */
      n_chunks = 1;
      while (n_chunks < 4 && ((job.n_tasks * n_chunks) % nt != 0
                              || job.n_tasks * n_chunks < 2 * nt))
        n_chunks++;
      chunk = (job.total + n_chunks - 1) / n_chunks;
    }
  else
    {
      gsize cap = MAX ((gsize) 48, (gsize) 32768 / ((gsize) l->in_c * l->kh));

      chunk = (job.total + 4 * nt - 1) / (4 * nt);
      chunk = MAX ((gsize) 48, MIN (chunk, cap));
      /* even chunks: no chunk of a few pixels left over */
      n_chunks = (int) ((job.total + chunk - 1) / chunk);
      chunk = (job.total + n_chunks - 1) / n_chunks;
      /* of whole rows, whose edge columns the kernels take a column at a time */
      if (chunk > (gsize) 2 * l->out_w)
        chunk = (chunk + l->out_w / 2) / l->out_w * l->out_w;
    }
  job.chunk = chunk;
  n_chunks = (int) ((job.total + chunk - 1) / chunk);
  gemba_pool_run_dynamic (pool, n_chunks * job.n_tasks, direct_fwd_task, &job);
}

GEMBA_CLONES static void
add_res_task (gpointer data, int task, int thread)
{
  Job *job = data;
  gsize i0 = (gsize) task * job->chunk;
  gsize i1 = MIN (i0 + job->chunk, job->total);

  for (gsize i = i0; i < i1; i++)
    job->out[i] += job->res[i];
}

static int elt_tasks (Job *job, int nt);

/* A convolution in training, whose weights change every step, takes the direct kernels too,
 * its weights packed for each pass (at most 300 kB in the small CNN): no im2col of every pixel,
 * no GEMM packing its operands: its forward pass and the transposed convolution of its dx
 * (the small CNN's training takes 11–17 % less CPU time), and its dW, summed over the pixels
 * in registers (_gemba_conv_direct_weight_grad()) where a dx does not need the im2col columns
 * anyway. */
static gboolean
direct_in_training (const GembaLayer *l)
{
  return !conv_is_depthwise (l) && l->groups == 1 && !conv_is_pointwise (l)
         && _gemba_conv_direct_usable (l);
}

/* The packed weights of a convolution in training, for its forward pass and then those of
 * its transposed convolution for dx: in l->aux, of the larger size, allocated once instead
 * of a new zeroed buffer of up to 300 kB for each pass. */
static float *
training_pack_buffer (GembaLayer *l)
{
  gsize n = _gemba_conv_direct_packed_size (l);
  GembaLayer tl;

  if (conv_transposed (l, &tl))
    n = MAX (n, _gemba_conv_direct_packed_size (&tl));
  return layer_aux (l, n);
}

/* The images of the batch in one static task per thread, each summing its dW (in the packed
 * layout) and db in its scratch; the sums are then added in thread order, as reproducible as
 * the GEMM path. */
static void
direct_gw_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const gsize packed_w = (gsize) _gemba_conv_direct_n_blocks (l) * conv_k (l) * 32;
  float *gw = gemba_pool_scratch (job->pool, thread);
  float *gb = gw + packed_w;
  int i0 = job->batch * task / job->n_tasks, i1 = job->batch * (task + 1) / job->n_tasks;

  memset (gw, 0, sizeof (float) * (packed_w + l->out_c));
  _gemba_conv_direct_weight_grad (l, job->x, job->dy, gw, i0, i1);
  if (l->b)
    {
      const gsize hw = (gsize) l->out_h * l->out_w;

      for (gsize p = (gsize) i0 * hw; p < (gsize) i1 * hw; p++)
        for (int c = 0; c < l->out_c; c++)
          gb[c] += job->dy[p * l->out_c + c];
    }
}

static void
direct_weight_grad (GembaLayer *l, GembaPool *pool, int batch, const float *x, const float *dy)
{
  const int K = conv_k (l);
  const gsize packed_w = (gsize) _gemba_conv_direct_n_blocks (l) * K * 32;
  Job job = { .l = l, .pool = pool, .batch = batch, .x = x, .dy = dy };

  job.n_tasks = MIN (batch, gemba_pool_get_n_threads (pool));
  gemba_pool_reserve (pool, packed_w + l->out_c);
  gemba_pool_run (pool, job.n_tasks, direct_gw_task, &job);
  for (int t = 0; t < job.n_tasks; t++)
    {
      const float *s = gemba_pool_scratch (pool, t);

      for (int co = 0; co < l->out_c; co++)
        {
          const float *src = s + (gsize) (co / 32) * K * 32 + co % 32;
          float *dst = l->gw + (gsize) co * K;

          for (int k = 0; k < K; k++)
            dst[k] += src[(gsize) k * 32];
          if (l->gb)
            l->gb[co] += s[packed_w + co];
        }
    }
}

/* y = act (conv (x) + b) [+ res] */
static void
conv_forward (GembaLayer *l, GembaPool *pool, int batch, const float *x, const float *res,
              float *y)
{
  int nt = gemba_pool_get_n_threads (pool);
  Job job = { .l = l, .pool = pool, .batch = batch, .x = x, .out = y };

  if (res && !(l->packed && !conv_is_depthwise (l)))
    {
      /* the paths other than the direct kernels: the residual in a pass of its own */
      Job add = { .l = l, .pool = pool, .batch = batch, .res = res, .out = y };

      conv_forward (l, pool, batch, x, NULL, y);
      add.total = (gsize) batch * gemba_layer_out_size (l);
      gemba_pool_run_dynamic (pool, elt_tasks (&add, nt), add_res_task, &add);
      return;
    }
  if (l->packed && conv_is_depthwise (l))
    {
      job.total = (gsize) batch * l->out_h;
      job.chunk = MAX ((gsize) 1, (job.total + 4 * nt - 1) / (4 * nt));
      /* few rows (14 in 7 tasks of 2: 4 against 3 on 2 threads): one row a task */
      if (job.total <= (gsize) 16 * nt)
        job.chunk = 1;
      gemba_pool_run_dynamic (pool, (int) ((job.total + job.chunk - 1) / job.chunk),
                              direct_dw_task, &job);
      return;
    }
  if (l->packed)
    {
      direct_forward (l, l->packed, pool, batch, x, res, y);
      return;
    }
  if (direct_in_training (l))
    {
      float *packed = training_pack_buffer (l);

      _gemba_conv_direct_pack_into (l, packed);
      direct_forward (l, packed, pool, batch, x, NULL, y);
      return;
    }

  gemba_pool_reserve (pool, gemba_layer_scratch_floats (l, batch, nt));
  if (conv_is_depthwise (l))
    {
      dw_transpose_weights (l);
      job.total = (gsize) batch * l->out_h;
      job.chunk = MAX ((gsize) 1, (job.total + 4 * nt - 1) / (4 * nt));
      gemba_pool_run_dynamic (pool, (int) ((job.total + job.chunk - 1) / job.chunk), dw_fwd_task, &job);
      return;
    }
  job.total = (gsize) batch * l->out_h * l->out_w;
  job.chunk = conv_fwd_chunk (l, batch, nt);
  gemba_pool_run_dynamic (pool, (int) ((job.total + job.chunk - 1) / job.chunk), conv_fwd_task, &job);
}

static void
conv_backward (GembaLayer *l, GembaPool *pool, int batch, const float *x, const float *dy,
               float *dx, gboolean accumulate)
{
  int nt = gemba_pool_get_n_threads (pool);
  Job job = { .l = l, .pool = pool, .batch = batch, .x = x, .dy = dy, .dx = dx,
              .accumulate = accumulate };
  int n_tasks, used;
  GembaLayer tl;
  gboolean use_transposed;

  gemba_pool_reserve (pool, gemba_layer_scratch_floats (l, batch, nt));
  if (conv_is_depthwise (l))
    {
      int kk = l->kh * l->kw;

      dw_transpose_weights (l);
      job.chunk = (batch + nt - 1) / nt;
      n_tasks = (int) ((batch + job.chunk - 1) / job.chunk);
      gemba_pool_run (pool, n_tasks, dw_bwd_task, &job);
      used = MIN (n_tasks, nt);
      for (int t = 0; t < used; t++)
        {
          const float *s = gemba_pool_scratch (pool, t);

          for (int c = 0; c < l->in_c; c++)
            for (int k = 0; k < kk; k++)
              l->gw[(gsize) c * kk + k] += s[(gsize) k * l->in_c + c];
          if (l->gb)
            for (int c = 0; c < l->in_c; c++)
              l->gb[c] += s[(gsize) kk * l->in_c + c];
        }
      return;
    }

  use_transposed = dx != NULL && conv_transposed (l, &tl);
  if (use_transposed)
    job.dx = NULL; /* dW and db only; dx below */
  if (job.dx == NULL && direct_in_training (l))
    direct_weight_grad (l, pool, batch, x, dy);
  else
    {
      job.chunk = conv_bwd_chunk (l, batch, nt);
      n_tasks = (int) ((batch + job.chunk - 1) / job.chunk);
      gemba_pool_run (pool, n_tasks, conv_bwd_task, &job);
      used = MIN (n_tasks, nt);
      for (int t = 0; t < used; t++)
        {
          const float *s = gemba_pool_scratch (pool, t);

          for (gsize i = 0; i < l->n_w; i++)
            l->gw[i] += s[i];
          if (l->gb)
            for (int c = 0; c < l->out_c; c++)
              l->gb[c] += s[l->n_w + c];
        }
    }

  if (use_transposed && !accumulate && direct_in_training (&tl))
    {
      float *packed = training_pack_buffer (l);

      _gemba_conv_direct_pack_transposed_into (l, packed);
      direct_forward (&tl, packed, pool, batch, dy, NULL, dx);
    }
  else if (use_transposed)
    {
      /* W[co][ky][kx][ci] -> W'[ci][k-1-ky][k-1-kx][co] */
      const int k = l->kh, ci_n = l->in_c, co_n = l->out_c;
      float *wt = layer_aux (l, l->n_w);
      Job tj = { .l = &tl, .pool = pool, .batch = batch, .x = dy, .out = dx,
                 .accumulate = accumulate };

      for (int co = 0; co < co_n; co++)
        for (int ky = 0; ky < k; ky++)
          for (int kx = 0; kx < k; kx++)
            for (int ci = 0; ci < ci_n; ci++)
              wt[(((gsize) ci * k + (k - 1 - ky)) * k + (k - 1 - kx)) * co_n + co] =
                l->w[(((gsize) co * k + ky) * k + kx) * ci_n + ci];
      tl.w = wt;
      tj.total = (gsize) batch * tl.out_h * tl.out_w;
      tj.chunk = conv_fwd_chunk (&tl, batch, nt);
      gemba_pool_run_dynamic (pool, (int) ((tj.total + tj.chunk - 1) / tj.chunk), conv_fwd_task, &tj);
    }
}

/* ---- batch-norm --------------------------------------------------------------------------- */

GEMBA_CLONES static void
bn_stats_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int C = l->in_c;
  gsize r0 = (gsize) task * BN_ROWS;
  gsize r1 = MIN (r0 + BN_ROWS, job->total);
  double *sum = l->partial + (gsize) task * 2 * C;
  double *sq = sum + C;
  /* sums of (x - x0), x0 the first row: no cancellation when the mean is large */
  const float *shift = job->x;

  memset (sum, 0, sizeof (double) * 2 * C);
  if (C % 16 == 0 && _gemba_nn_avx512 ())
    {
      _gemba_bn_stats16 (job->x, shift, r0, r1, C, sum, sq);
      return;
    }
  /* float partial sums of 32 rows, then double, for speed and accuracy */
  for (gsize r = r0; r < r1; r += 32)
    {
      gsize re = MIN (r + 32, r1);
      float fs[C], fq[C];

      memset (fs, 0, sizeof (float) * C);
      memset (fq, 0, sizeof (float) * C);
      for (gsize i = r; i < re; i++)
        {
          const float *row = job->x + i * C;

          for (int c = 0; c < C; c++)
            {
              float d = row[c] - shift[c];

              fs[c] += d;
              fq[c] += d * d;
            }
        }
      for (int c = 0; c < C; c++)
        {
          sum[c] += fs[c];
          sq[c] += fq[c];
        }
    }
}

/* y = x * scale + shift, per channel; scale/shift in l->aux */
GEMBA_CLONES static void
bn_apply_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int C = l->in_c;
  gsize r0 = (gsize) task * job->chunk;
  gsize r1 = MIN (r0 + job->chunk, job->total);
  const float *restrict scale = l->aux;
  const float *restrict beta = l->aux + C;
  const float *restrict mean = l->aux + 2 * C;

  /* (x - mean) * scale + beta: no cancellation when the mean is large; then the fused
   * activation, if any (lo = -inf, hi = +inf for none) */
  const float lo = l->act == GEMBA_LAYER_BATCH_NORM ? -INFINITY : 0.0f;
  const float hi = l->act == GEMBA_LAYER_RELU6 ? 6.0f : INFINITY;

  for (gsize r = r0; r < r1; r++)
    {
      const float *restrict in = job->x + r * C;
      float *restrict out = job->out + r * C;

      for (int c = 0; c < C; c++)
        {
          float v = (in[c] - mean[c]) * scale[c] + beta[c];

          v = v < lo ? lo : v;
          out[c] = v > hi ? hi : v;
        }
    }
}

static void
bn_forward (GembaLayer *l, GembaPool *pool, int batch, const float *x, float *y, gboolean training)
{
  const int C = l->in_c;
  gsize rows = (gsize) batch * l->in_h * l->in_w;
  Job job = { .l = l, .pool = pool, .batch = batch, .x = x, .out = y, .total = rows };
  /* the backward pass's coefficients after these, which it reads (bn_coef()) */
  float *scale = layer_aux (l, 6 * C);
  float *beta = scale + C;
  float *mean_used = scale + 2 * C;
  int nt = gemba_pool_get_n_threads (pool);

  if (training)
    {
      int n_tasks = (int) ((rows + BN_ROWS - 1) / BN_ROWS);
      double *partial = layer_partial (l, (gsize) n_tasks * 2 * C);

      gemba_pool_run_dynamic (pool, n_tasks, bn_stats_task, &job);
      for (int c = 0; c < C; c++)
        {
          double s = 0, q = 0, mean, var;

          for (int t = 0; t < n_tasks; t++)
            {
              s += partial[(gsize) t * 2 * C + c];
              q += partial[(gsize) t * 2 * C + C + c];
            }
          /* s and q are sums of x - x0 and its square */
          mean = s / rows;
          var = MAX (q / rows - mean * mean, 0.0);
          mean += x[c];
          l->save_mean[c] = (float) mean;
          l->save_invstd[c] = (float) (1.0 / sqrt (var + l->eps));
          l->running_mean[c] = (1.0f - l->momentum) * l->running_mean[c]
                               + l->momentum * (float) mean;
          l->running_var[c] = (1.0f - l->momentum) * l->running_var[c]
                              + l->momentum * (float) (rows > 1 ? var * rows / (rows - 1) : var);
          scale[c] = l->w[c] * l->save_invstd[c];
          beta[c] = l->b[c];
          mean_used[c] = (float) mean;
        }
    }
  else
    {
      for (int c = 0; c < C; c++)
        {
          float invstd = 1.0f / sqrtf (l->running_var[c] + l->eps);

          scale[c] = l->w[c] * invstd;
          beta[c] = l->b[c];
          mean_used[c] = l->running_mean[c];
        }
    }

  job.chunk = MAX ((gsize) 1, MIN ((gsize) ELT_BLOCK / C, (rows + nt - 1) / nt));
  gemba_pool_run_dynamic (pool, (int) ((rows + job.chunk - 1) / job.chunk), bn_apply_task, &job);
}

/* l->aux: the forward pass's scale, shift and mean, then the backward pass's ka, kb, kc */
static void
bn_coef (const GembaLayer *l, BnCoef *k)
{
  const int C = l->in_c;

  k->scale = l->aux;
  k->beta = l->aux + C;
  k->fmean = l->aux + 2 * C;
  k->mean = l->save_mean;
  k->ka = l->aux + 3 * C;
  k->kb = l->aux + 4 * C;
  k->kc = l->aux + 5 * C;
  k->lo = l->act == GEMBA_LAYER_BATCH_NORM ? -INFINITY : 0.0f;
  k->hi = l->act == GEMBA_LAYER_RELU6 ? 6.0f : INFINITY;
}

GEMBA_CLONES static void
bn_bwd_sums_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int C = l->in_c;
  gsize r0 = (gsize) task * BN_ROWS;
  gsize r1 = MIN (r0 + BN_ROWS, job->total);
  double *sdy = l->partial + (gsize) task * 2 * C;
  double *sdyx = sdy + C;
  const float *mean = l->save_mean;
  const float lo = l->act == GEMBA_LAYER_BATCH_NORM ? -INFINITY : 0.0f;
  const float hi = l->act == GEMBA_LAYER_RELU6 ? 6.0f : INFINITY;

  memset (sdy, 0, sizeof (double) * 2 * C);
  if (C % 16 == 0 && _gemba_nn_avx512 ())
    {
      BnCoef k;

      bn_coef (l, &k);
      _gemba_bn_bwd_sums16 (job->x, job->dy, &k, r0, r1, C, sdy, sdyx);
      return;
    }
  for (gsize r = r0; r < r1; r += 32)
    {
      gsize re = MIN (r + 32, r1);
      float fs[C], fq[C];

      memset (fs, 0, sizeof (float) * C);
      memset (fq, 0, sizeof (float) * C);
      for (gsize i = r; i < re; i++)
        {
          const float *restrict g = job->dy + i * C;
          const float *restrict in = job->x + i * C;
          const float *restrict out = job->y + i * C;

          /* a fused activation passes the gradient where its output is not clipped */
          for (int c = 0; c < C; c++)
            {
              float gc = ((out[c] > lo) & (out[c] < hi)) ? g[c] : 0.0f;

              fs[c] += gc;
              fq[c] += gc * (in[c] - mean[c]);
            }
        }
      for (int c = 0; c < C; c++)
        {
          sdy[c] += fs[c];
          sdyx[c] += fq[c];
        }
    }
}

/* dx = a * dy + b * x + c per channel (coefficients in l->aux) */
GEMBA_CLONES static void
bn_bwd_apply_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int C = l->in_c;
  gsize r0 = (gsize) task * job->chunk;
  gsize r1 = MIN (r0 + job->chunk, job->total);
  const float *restrict ka = l->aux + 3 * C;
  const float *restrict kb = l->aux + 4 * C;
  const float *restrict kc = l->aux + 5 * C;
  const float *restrict mean = l->save_mean;

  const float lo = l->act == GEMBA_LAYER_BATCH_NORM ? -INFINITY : 0.0f;
  const float hi = l->act == GEMBA_LAYER_RELU6 ? 6.0f : INFINITY;

  if (C % 16 == 0 && _gemba_nn_avx512 ())
    {
      BnCoef k;

      bn_coef (l, &k);
      _gemba_bn_bwd_apply16 (job->x, job->dy, &k, r0, r1, C, job->dx, job->accumulate);
      return;
    }

  /* dx may alias dy (a fused activation's gradient buffer): read before write, no restrict */
  for (gsize r = r0; r < r1; r++)
    {
      const float *g = job->dy + r * C;
      const float *restrict in = job->x + r * C;
      const float *restrict y = job->y + r * C;
      float *out = job->dx + r * C;

      if (job->accumulate)
        for (int c = 0; c < C; c++)
          {
            float gc = ((y[c] > lo) & (y[c] < hi)) ? g[c] : 0.0f;

            out[c] += ka[c] * gc + kb[c] * (in[c] - mean[c]) + kc[c];
          }
      else
        for (int c = 0; c < C; c++)
          {
            float gc = ((y[c] > lo) & (y[c] < hi)) ? g[c] : 0.0f;

            out[c] = ka[c] * gc + kb[c] * (in[c] - mean[c]) + kc[c];
          }
    }
}

static void
bn_backward (GembaLayer *l, GembaPool *pool, int batch, gboolean training, const float *x,
             const float *y, const float *dy, float *dx, gboolean accumulate)
{
  const int C = l->in_c;
  gsize rows = (gsize) batch * l->in_h * l->in_w;
  int n_tasks = (int) ((rows + BN_ROWS - 1) / BN_ROWS);
  double *partial = layer_partial (l, (gsize) n_tasks * 2 * C);
  Job job = { .l = l, .pool = pool, .batch = batch, .x = x, .y = y, .dy = dy, .dx = dx,
              .accumulate = accumulate, .total = rows };
  /* after the forward pass's scale, shift and mean (bn_coef()) */
  float *ka = layer_aux (l, 6 * C) + 3 * C;
  float *kb = ka + C;
  float *kc = ka + 2 * C;
  int nt = gemba_pool_get_n_threads (pool);

  if (!training)
    {
      /* statistics are constants: recompute xhat from the running values */
      for (int c = 0; c < C; c++)
        {
          l->save_mean[c] = l->running_mean[c];
          l->save_invstd[c] = 1.0f / sqrtf (l->running_var[c] + l->eps);
        }
    }

  gemba_pool_run_dynamic (pool, n_tasks, bn_bwd_sums_task, &job);
  for (int c = 0; c < C; c++)
    {
      double sdy = 0, sdyx = 0;
      double invstd = l->save_invstd[c];

      for (int t = 0; t < n_tasks; t++)
        {
          sdy += partial[(gsize) t * 2 * C + c];
          sdyx += partial[(gsize) t * 2 * C + C + c];
        }
      /* sdyx was summed with (x - mean); times invstd gives sum dy * xhat */
      sdyx *= invstd;
      l->gw[c] += (float) sdyx;
      l->gb[c] += (float) sdy;
      if (training)
        {
          /* dx = g*invstd * (dy - sdy/N - xhat * sdyx/N), xhat = (x - mean) * invstd */
          double k = l->w[c] * invstd;

          ka[c] = (float) k;
          kb[c] = (float) (-k * invstd * sdyx / rows);
          kc[c] = (float) (-k * sdy / rows);
        }
      else
        {
          ka[c] = l->w[c] * (float) invstd;
          kb[c] = 0.0f;
          kc[c] = 0.0f;
        }
    }

  if (dx)
    {
      job.chunk = MAX ((gsize) 1, MIN ((gsize) ELT_BLOCK / C, (rows + nt - 1) / nt));
      gemba_pool_run_dynamic (pool, (int) ((rows + job.chunk - 1) / job.chunk), bn_bwd_apply_task, &job);
    }
}

/* ---- elementwise ---------------------------------------------------------------------------- */

GEMBA_CLONES static void
relu_fwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  gsize i0 = (gsize) task * job->chunk;
  gsize i1 = MIN (i0 + job->chunk, job->total);
  /* may run in place (in == out): no restrict */
  const float *in = job->x;
  float *out = job->out;

  if (job->l->kind == GEMBA_LAYER_RELU6)
    for (gsize i = i0; i < i1; i++)
      out[i] = MIN (MAX (in[i], 0.0f), 6.0f);
  else
    for (gsize i = i0; i < i1; i++)
      out[i] = MAX (in[i], 0.0f);
}

GEMBA_CLONES static void
relu_bwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  gsize i0 = (gsize) task * job->chunk;
  gsize i1 = MIN (i0 + job->chunk, job->total);
  const float *restrict y = job->y;
  float hi = job->l->kind == GEMBA_LAYER_RELU6 ? 6.0f : INFINITY;

  /* branch-free loops the compiler vectorises; the in-place case (dx == dy) gets its own loop
   * so that no aliasing check sends it down the scalar path */
  if (job->dx == job->dy)
    {
      float *restrict d = job->dx;

      for (gsize i = i0; i < i1; i++)
        d[i] = ((y[i] > 0.0f) & (y[i] < hi)) ? d[i] : 0.0f;
    }
  else if (job->accumulate)
    {
      float *restrict dx = job->dx;
      const float *restrict dy = job->dy;

      for (gsize i = i0; i < i1; i++)
        dx[i] += ((y[i] > 0.0f) & (y[i] < hi)) ? dy[i] : 0.0f;
    }
  else
    {
      float *restrict dx = job->dx;
      const float *restrict dy = job->dy;

      for (gsize i = i0; i < i1; i++)
        dx[i] = ((y[i] > 0.0f) & (y[i] < hi)) ? dy[i] : 0.0f;
    }
}

GEMBA_CLONES static void
add_fwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  gsize i0 = (gsize) task * job->chunk;
  gsize i1 = MIN (i0 + job->chunk, job->total);

  for (gsize i = i0; i < i1; i++)
    job->out[i] = job->x[i] + job->x2[i];
}

static void
pass_bwd (float *dx, const float *dy, gsize i0, gsize i1, gboolean accumulate)
{
  if (dx == NULL || dx == dy)
    return;
  if (accumulate)
    for (gsize i = i0; i < i1; i++)
      dx[i] += dy[i];
  else
    memcpy (dx + i0, dy + i0, sizeof (float) * (i1 - i0));
}

GEMBA_CLONES static void
add_bwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  gsize i0 = (gsize) task * job->chunk;
  gsize i1 = MIN (i0 + job->chunk, job->total);

  pass_bwd (job->dx, job->dy, i0, i1, job->accumulate);
  pass_bwd (job->dx2, job->dy, i0, i1, job->accumulate2);
}

static void
dropout_fwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  gsize per = gemba_layer_in_size (l);
  float keep = 1.0f / (1.0f - l->p);
  GembaRng rng;

  /* one task per image: the mask depends on the seed and the image only */
  gemba_rng_init (&rng, gemba_rng_mix (job->seed, (guint64) task));
  for (gsize i = 0; i < per; i++)
    {
      gsize k = (gsize) task * per + i;

      l->aux[k] = gemba_rng_uniform (&rng) < l->p ? 0.0f : keep;
      job->out[k] = job->x[k] * l->aux[k];
    }
}

GEMBA_CLONES static void
dropout_bwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  gsize i0 = (gsize) task * job->chunk;
  gsize i1 = MIN (i0 + job->chunk, job->total);
  const float *mask = job->l->aux;

  if (job->accumulate)
    for (gsize i = i0; i < i1; i++)
      job->dx[i] += job->dy[i] * mask[i];
  else
    for (gsize i = i0; i < i1; i++)
      job->dx[i] = job->dy[i] * mask[i];
}

static int
elt_tasks (Job *job, int nt)
{
  job->chunk = MAX ((gsize) 1024, MIN ((gsize) ELT_BLOCK, (job->total + nt - 1) / nt));
  return (int) ((job->total + job->chunk - 1) / job->chunk);
}

/* ---- pooling ------------------------------------------------------------------------------ */

static inline __attribute__ ((always_inline)) void
max_update (float *restrict out, float *restrict arg, const float *restrict in, float pos, int C)
{
  for (int c = 0; c < C; c++)
    {
      float v = in[c], o = out[c];

      out[c] = v > o ? v : o;
      arg[c] = v > o ? pos : arg[c];
    }
}

static inline __attribute__ ((always_inline)) void
max_scatter (float *restrict d, const float *restrict g, const float *restrict arg, float pos,
             int C, gboolean accumulate)
{
  if (accumulate)
    for (int c = 0; c < C; c++)
      d[c] += arg[c] == pos ? g[c] : 0.0f;
  else
    for (int c = 0; c < C; c++)
      d[c] = arg[c] == pos ? g[c] : 0.0f;
}

/* The small CNN's max-pool (2×2, stride 2, channels a multiple of 16) in training: 16
 * channels at a time, a fixed trip count the compiler turns into vector compares and blends,
 * instead of a loop of C per window tap that stored the maximum and its position each time
 * (it took longer than the convolution before it). The same comparisons in the same order as
 * pool_fwd_task(), so the same maxima and positions. */
static gboolean
is_max_pool_2x2 (const GembaLayer *l)
{
  return l->kind == GEMBA_LAYER_MAX_POOL && l->kh == 2 && l->kw == 2 && l->stride == 2
         && l->pad == 0 && l->in_c % 16 == 0;
}

GEMBA_CLONES static void
max_pool_2x2_fwd (const GembaLayer *l, const float *x, float *y, float *arg, int img)
{
  const int C = l->in_c;

  for (int oy = 0; oy < l->out_h; oy++)
    {
      const float *restrict a = x + (((gsize) img * l->in_h + 2 * oy) * l->in_w) * C;
      const float *restrict b = a + (gsize) l->in_w * C;
      gsize o = (((gsize) img * l->out_h + oy) * l->out_w) * C;
      float *restrict out = y + o;
      float *restrict pos = arg + o;

      for (gsize j = 0; j < (gsize) l->out_w * C; j += 16)
        {
          gsize i = 2 * j - j % C;

#pragma GCC ivdep
          for (int c = 0; c < 16; c++)
            {
              float m = -INFINITY, p = 0.0f, v;

              v = a[i + c];
              p = v > m ? 0.0f : p;
              m = v > m ? v : m;
              v = a[i + C + c];
              p = v > m ? 1.0f : p;
              m = v > m ? v : m;
              v = b[i + c];
              p = v > m ? 2.0f : p;
              m = v > m ? v : m;
              v = b[i + C + c];
              p = v > m ? 3.0f : p;
              m = v > m ? v : m;
              out[j + c] = m;
              pos[j + c] = p;
            }
        }
    }
}

/* dx of the windows (those of the output, every input once), accumulated or not */
GEMBA_CLONES static void
max_pool_2x2_bwd (const GembaLayer *l, const float *dy, const float *arg, float *dx, int img,
                  gboolean accumulate)
{
  const int C = l->in_c;

  for (int oy = 0; oy < l->out_h; oy++)
    {
      float *restrict a = dx + (((gsize) img * l->in_h + 2 * oy) * l->in_w) * C;
      float *restrict b = a + (gsize) l->in_w * C;
      gsize o = (((gsize) img * l->out_h + oy) * l->out_w) * C;
      const float *restrict g = dy + o;
      const float *restrict pos = arg + o;

      for (gsize j = 0; j < (gsize) l->out_w * C; j += 16)
        {
          gsize i = 2 * j - j % C;

          if (accumulate)
#pragma GCC ivdep
            for (int c = 0; c < 16; c++)
              {
                a[i + c] += pos[j + c] == 0.0f ? g[j + c] : 0.0f;
                a[i + C + c] += pos[j + c] == 1.0f ? g[j + c] : 0.0f;
                b[i + c] += pos[j + c] == 2.0f ? g[j + c] : 0.0f;
                b[i + C + c] += pos[j + c] == 3.0f ? g[j + c] : 0.0f;
              }
          else
#pragma GCC ivdep
            for (int c = 0; c < 16; c++)
              {
                a[i + c] = pos[j + c] == 0.0f ? g[j + c] : 0.0f;
                a[i + C + c] = pos[j + c] == 1.0f ? g[j + c] : 0.0f;
                b[i + c] = pos[j + c] == 2.0f ? g[j + c] : 0.0f;
                b[i + C + c] = pos[j + c] == 3.0f ? g[j + c] : 0.0f;
              }
        }
    }
}

GEMBA_CLONES static void
pool_fwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int C = l->in_c;
  const gboolean is_max = l->kind == GEMBA_LAYER_MAX_POOL;
  const float inv = 1.0f / (float) (l->kh * l->kw);
  const float *xi = job->x + (gsize) task * l->in_h * l->in_w * C;

  if (is_max_pool_2x2 (l))
    {
      max_pool_2x2_fwd (l, job->x, job->out, l->aux, task);
      return;
    }

  for (int oy = 0; oy < l->out_h; oy++)
    for (int ox = 0; ox < l->out_w; ox++)
      {
        gsize o = (((gsize) task * l->out_h + oy) * l->out_w + ox) * C;
        float *restrict out = job->out + o;
        float *restrict arg = l->aux + o;

        for (int c = 0; c < C; c++)
          {
            out[c] = is_max ? -INFINITY : 0.0f;
            arg[c] = 0.0f;
          }
        for (int ky = 0; ky < l->kh; ky++)
          {
            int iy = oy * l->stride - l->pad + ky;

            if (iy < 0 || iy >= l->in_h)
              continue;
            for (int kx = 0; kx < l->kw; kx++)
              {
                int ix = ox * l->stride - l->pad + kx;
                const float *restrict in;

                if (ix < 0 || ix >= l->in_w)
                  continue;
                in = xi + ((gsize) iy * l->in_w + ix) * C;
                if (is_max)
                  {
                    /* strict >: the first maximum wins, as in PyTorch; its window position
                     * is kept for the backward pass */
                    max_update (out, arg, in, (float) (ky * l->kw + kx), C);
                  }
                else
                  for (int c = 0; c < C; c++)
                    out[c] += in[c];
              }
          }
        if (!is_max)
          for (int c = 0; c < C; c++)
            out[c] *= inv;
      }
}

/* Inference max-pool: output rows [r0, r1) of the batch, no argmax. */
GEMBA_CLONES static void
max_pool_rows_to (const GembaLayer *l, const float *x, float *y, gsize r0, gsize r1,
                  gsize row_stride, gsize img_stride)
{
  const int C = l->in_c;

  if (l->kh == 2 && l->kw == 2 && l->stride == 2 && l->pad == 0)
    {
      /* every window whole: one loop the compiler turns into vmaxps (the same comparisons, in
       * the same order, as below) */
      for (gsize r = r0; r < r1; r++)
        {
          int img = (int) (r / l->out_h), oy = (int) (r % l->out_h);
          const float *restrict a = x + (((gsize) img * l->in_h + 2 * oy) * l->in_w) * C;
          const float *restrict b = a + (gsize) l->in_w * C;
          float *restrict out = y + img * img_stride + oy * row_stride;

          if (C % 16 == 0)
            /* 16 channels at a time: a fixed trip count, one vector, no overlap checks */
            for (gsize j = 0; j < (gsize) l->out_w * C; j += 16)
              {
                gsize i = 2 * j - j % C;
#pragma GCC ivdep
                for (int c = 0; c < 16; c++)
                  {
                    float o = a[i + c];

                    o = a[i + C + c] > o ? a[i + C + c] : o;
                    o = b[i + c] > o ? b[i + c] : o;
                    o = b[i + C + c] > o ? b[i + C + c] : o;
                    out[j + c] = o;
                  }
              }
          else
            for (int ox = 0; ox < l->out_w; ox++)
              for (int c = 0; c < C; c++)
                {
                  gsize i = (gsize) 2 * ox * C + c;
                  float o = a[i];

                  o = a[i + C] > o ? a[i + C] : o;
                  o = b[i] > o ? b[i] : o;
                  o = b[i + C] > o ? b[i + C] : o;
                  out[(gsize) ox * C + c] = o;
                }
        }
      return;
    }
  for (gsize r = r0; r < r1; r++)
    {
      int img = (int) (r / l->out_h), oy = (int) (r % l->out_h);
      const float *xi = x + (gsize) img * l->in_h * l->in_w * C;

      for (int ox = 0; ox < l->out_w; ox++)
        {
          float *restrict out = y + img * img_stride + oy * row_stride + (gsize) ox * C;
          gboolean first = TRUE;

          for (int ky = 0; ky < l->kh; ky++)
            {
              int iy = oy * l->stride - l->pad + ky;

              if (iy < 0 || iy >= l->in_h)
                continue;
              for (int kx = 0; kx < l->kw; kx++)
                {
                  int ix = ox * l->stride - l->pad + kx;
                  const float *restrict in;

                  if (ix < 0 || ix >= l->in_w)
                    continue;
                  in = xi + ((gsize) iy * l->in_w + ix) * C;
                  if (first)
                    for (int c = 0; c < C; c++)
                      out[c] = in[c];
                  else
                    for (int c = 0; c < C; c++)
                      out[c] = in[c] > out[c] ? in[c] : out[c];
                  first = FALSE;
                }
            }
          if (first)
            for (int c = 0; c < C; c++)
              out[c] = -INFINITY;
        }
    }
}

/* output rows [r0, r1) of the batch into y laid out as the layer's output */
static void
max_pool_rows (const GembaLayer *l, const float *x, float *y, gsize r0, gsize r1)
{
  max_pool_rows_to (l, x, y, r0, r1, (gsize) l->out_w * l->in_c,
                    (gsize) l->out_h * l->out_w * l->in_c);
}

static void
max_pool_rows_task (gpointer data, int task, int thread)
{
  Job *job = data;
  gsize r0 = (gsize) task * job->chunk;

  max_pool_rows (job->l, job->x, job->out, r0, MIN (r0 + job->chunk, job->total));
}

gboolean
gemba_layer_can_fuse_pool (const GembaLayer *conv, const GembaLayer *pool)
{
  return conv->kind == GEMBA_LAYER_CONV && conv->packed && !conv_is_depthwise (conv)
         && pool->kind == GEMBA_LAYER_MAX_POOL && pool->frozen && pool->pad == 0
         && pool->kh == pool->stride && pool->kw == pool->stride && pool->in_h == conv->out_h
         && pool->in_w == conv->out_w && pool->in_c == conv->out_c;
}

typedef struct {
  Job job;                  /* the convolution's */
  const GembaLayer *pl;     /* the pool */
  float *pooled;            /* where its output goes, rows and images this far apart */
  gsize row_stride, img_stride;
} PoolJob;

/* Pool output rows [task * chunk, ...): for each, the convolution rows of its windows, then
 * the pool over them while they are still in L1/L2. */
static void
conv_pool_task (gpointer data, int task, int thread)
{
  PoolJob *pj = data;
  const GembaLayer *l = pj->job.l;
  const GembaLayer *pl = pj->pl;
  const gsize ow = (gsize) l->out_w;
  const int nbk = _gemba_conv_direct_n_blocks (l);
  gsize r0 = (gsize) task * pj->job.chunk;
  gsize r1 = MIN (r0 + pj->job.chunk, pj->job.total);

  for (gsize r = r0; r < r1; r++)
    {
      gsize img = r / pl->out_h, oy = r % pl->out_h;
      gsize p0 = (img * l->out_h + oy * pl->stride) * ow;
      gsize p1 = p0 + pl->kh * ow;

      if (pj->job.x2)
        _gemba_conv_direct_run_padded (l, l->packed, pj->job.x2, NULL, pj->job.out, p0, p1, 0,
                                       nbk, conv_act (l));
      else
        _gemba_conv_direct_run (l, l->packed, pj->job.x, NULL, pj->job.out, p0, p1, 0, nbk,
                                conv_act (l));
      max_pool_rows_to (pl, pj->job.out, pj->pooled, r, r + 1, pj->row_stride, pj->img_stride);
    }
}

gboolean
gemba_layer_can_take_padded (const GembaLayer *conv, const GembaLayer *pool)
{
  return takes_padded (conv) && conv->in_h == pool->out_h && conv->in_w == pool->out_w
         && conv->in_c == pool->out_c;
}

void
gemba_layer_forward_padded (GembaLayer *conv, GembaPool *pool, int batch, float *y)
{
  g_return_if_fail (takes_padded (conv));
  direct_forward (conv, conv->packed, pool, batch, NULL, NULL, y);
}

void
gemba_layer_forward_pooled (GembaLayer *conv, const GembaLayer *pool, GembaPool *gpool,
                            int batch, const float *x, float *y, float *y_pool,
                            GembaLayer *next)
{
  int nt = gemba_pool_get_n_threads (gpool);
  PoolJob pj = { .job = { .l = conv, .pool = gpool, .batch = batch, .x = x, .out = y },
                 .pl = pool, .pooled = y_pool,
                 .row_stride = (gsize) pool->out_w * pool->out_c,
                 .img_stride = (gsize) pool->out_h * pool->out_w * pool->out_c };

  g_return_if_fail (gemba_layer_can_fuse_pool (conv, pool));
  g_return_if_fail (next == NULL || gemba_layer_can_take_padded (next, pool));

  if (next)
    {
      /* straight into the next convolution's zero-bordered copy of its input */
      const gsize wp = (gsize) next->in_w + 2 * next->pad, C = (gsize) next->in_c;

      pj.row_stride = wp * C;
      pj.img_stride = ((gsize) next->in_h + 2 * next->pad) * wp * C;
      pj.pooled = padded_buffer (next, batch) + ((gsize) next->pad * wp + next->pad) * C;
    }
  if (conv->kh > 1 || conv->kw > 1 || conv->pad > 0)
    pj.job.x2 = x ? pad_input (conv, gpool, batch, x) : padded_buffer (conv, batch);
  pj.job.total = (gsize) batch * pool->out_h;
  pj.job.chunk = MAX ((gsize) 1, (pj.job.total + 4 * nt - 1) / (4 * nt));
  gemba_pool_run_dynamic (gpool, (int) ((pj.job.total + pj.job.chunk - 1) / pj.job.chunk),
                          conv_pool_task, &pj);
}

/* ---- MobileNetV2's inverted residual block in bands of rows --------------------------------- */

static gboolean
direct_pointwise (const GembaLayer *l)
{
  return l->kind == GEMBA_LAYER_CONV && l->packed && l->groups == 1 && l->kh == 1 && l->kw == 1
         && l->stride == 1 && l->pad == 0;
}

gboolean
gemba_layer_can_fuse_block (const GembaLayer *expand, const GembaLayer *dw,
                            const GembaLayer *project)
{
  if (dw->kind != GEMBA_LAYER_CONV || !dw->packed || !conv_is_depthwise (dw)
      || !direct_pointwise (project) || project->in_c != dw->out_c
      || project->in_h != dw->out_h || project->in_w != dw->out_w)
    return FALSE;
  return expand == NULL
         || (direct_pointwise (expand) && expand->out_c == dw->in_c
             && expand->out_h == dw->in_h && expand->out_w == dw->in_w);
}

typedef struct {
  const GembaLayer *e, *d, *p;  /* expansion (or NULL), depthwise, projection */
  GembaPool *pool;
  const float *x, *res;
  float *y;
  int bands;                    /* per image */
  int group;                    /* output rows per step */
  gsize ebuf_floats;
} BlockJob;

/* The input rows [*iy0, *iy1) that the depthwise convolution's output rows [oy0, oy1) read */
static void
dw_input_rows (const GembaLayer *d, int oy0, int oy1, int *iy0, int *iy1)
{
  *iy0 = MAX (0, oy0 * d->stride - d->pad);
  *iy1 = MIN (d->in_h, (oy1 - 1) * d->stride - d->pad + d->kh);
}

/* One band of output rows of one image, a group of rows at a time: the expansion's rows the
 * group's windows read (those of the group before kept, not recomputed), then the depthwise
 * rows, then the projection of them, all in the thread's scratch while it is in L2. */
static void
block_task (gpointer data, int task, int thread)
{
  BlockJob *job = data;
  const GembaLayer *e = job->e, *d = job->d, *p = job->p;
  const int img = task / job->bands, band = task % job->bands;
  const int oy0 = d->out_h * band / job->bands, oy1 = d->out_h * (band + 1) / job->bands;
  const gsize C = (gsize) d->in_c, in_row = (gsize) d->in_w * C;
  const gsize xc = e ? (gsize) e->in_c : C;
  const gsize out_pix = (gsize) p->out_c, out_w = (gsize) d->out_w;
  const float *xi = job->x + (gsize) img * d->in_h * d->in_w * xc;
  const gsize yoff = (gsize) img * d->out_h * out_w * out_pix;
  float *ebuf = gemba_pool_scratch (job->pool, thread);
  float *dbuf = ebuf + job->ebuf_floats;
  int have0 = 0, have1 = 0;   /* expanded input rows in ebuf */

  for (int oy = oy0; oy < oy1; oy += job->group)
    {
      const int g1 = MIN (oy1, oy + job->group);
      const float *rows = xi;
      int row0 = 0;
      int need0, need1;

      dw_input_rows (d, oy, g1, &need0, &need1);
      if (e)
        {
          int from = need0;

          if (need0 >= have0 && need0 < have1)
            {
              memmove (ebuf, ebuf + (gsize) (need0 - have0) * in_row,
                       sizeof (float) * (gsize) (have1 - need0) * in_row);
              from = have1;
            }
          if (from < need1)
            _gemba_conv_direct_run (e, e->packed, xi + (gsize) from * d->in_w * xc, NULL,
                                    ebuf + (gsize) (from - need0) * in_row, 0,
                                    (gsize) (need1 - from) * d->in_w, 0,
                                    _gemba_conv_direct_n_blocks (e), conv_act (e));
          have0 = need0;
          have1 = need1;
          rows = ebuf;
          row0 = need0;
        }
      _gemba_conv_direct_run_depthwise_band (d, d->packed, rows, row0, dbuf, oy, g1,
                                             conv_act (d));
      _gemba_conv_direct_run (p, p->packed, dbuf,
                              job->res ? job->res + yoff + oy * out_w * out_pix : NULL,
                              job->y + yoff + oy * out_w * out_pix, 0, (gsize) (g1 - oy) * out_w,
                              0, _gemba_conv_direct_n_blocks (p), conv_act (p));
    }
}

void
gemba_layer_forward_block (const GembaLayer *expand, const GembaLayer *dw,
                           const GembaLayer *project, GembaPool *pool, int batch, const float *x,
                           const float *res, float *y)
{
  /* the scratch of a thread (expanded rows, depthwise rows) is to stay in its L2 (1 MB or
   * more) next to the weights */
  const gsize budget = 64 * 1024;   /* floats */
  const int nt = gemba_pool_get_n_threads (pool);
  const gsize in_row = (gsize) dw->in_w * dw->in_c, out_row = (gsize) dw->out_w * dw->out_c;
  const int halo = MAX (0, dw->kh - dw->stride);
  BlockJob job = { .e = expand, .d = dw, .p = project, .pool = pool, .x = x, .res = res,
                   .y = y };
  int band_rows, n_groups;
  gsize per_row;

  g_return_if_fail (gemba_layer_can_fuse_block (expand, dw, project) && batch > 0);

  job.bands = MIN (dw->out_h, MAX (1, (nt + batch - 1) / batch));
  band_rows = (dw->out_h + job.bands - 1) / job.bands;
  per_row = (expand ? (gsize) dw->stride * in_row : 0) + out_row;
  job.group = (int) MAX ((gsize) 1, (budget - (expand ? halo * in_row : 0)) / per_row);
  if (budget < halo * in_row + per_row)
    job.group = 1;
  /* even groups: none of a row or two left over */
  n_groups = (band_rows + job.group - 1) / job.group;
  job.group = (band_rows + n_groups - 1) / n_groups;
  job.ebuf_floats = expand ? ((gsize) ((job.group - 1) * dw->stride + dw->kh) * in_row + 15)
                             / 16 * 16
                           : 0;
  gemba_pool_reserve (pool, job.ebuf_floats + (gsize) job.group * out_row);
  gemba_pool_run_dynamic (pool, batch * job.bands, block_task, &job);
}

GEMBA_CLONES static void
pool_bwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int C = l->in_c;
  const gboolean is_max = l->kind == GEMBA_LAYER_MAX_POOL;
  const float inv = 1.0f / (float) (l->kh * l->kw);
  gsize in_img = gemba_layer_in_size (l);
  float *dxi = job->dx + (gsize) task * in_img;

  if (is_max && l->stride == l->kh && l->stride == l->kw && l->pad == 0)
    {
      /* windows do not overlap: every input gets exactly one write, no clearing pass */
      const int k = l->kh;

      if (is_max_pool_2x2 (l))
        max_pool_2x2_bwd (l, job->dy, l->aux, job->dx, task, job->accumulate);
      else
        for (int oy = 0; oy < l->out_h; oy++)
          for (int ox = 0; ox < l->out_w; ox++)
            {
              gsize o = (((gsize) task * l->out_h + oy) * l->out_w + ox) * C;

              for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                  max_scatter (dxi + ((gsize) (oy * k + ky) * l->in_w + ox * k + kx) * C,
                               job->dy + o, l->aux + o, (float) (ky * k + kx), C,
                               job->accumulate);
            }
      if (!job->accumulate)
        {
          /* rows and columns no window covers */
          for (int y = 0; y < l->in_h; y++)
            {
              int x0 = y < l->out_h * k ? l->out_w * k : 0;

              if (x0 < l->in_w)
                memset (dxi + ((gsize) y * l->in_w + x0) * C, 0,
                        sizeof (float) * (l->in_w - x0) * C);
            }
        }
      return;
    }

  if (!job->accumulate)
    memset (dxi, 0, sizeof (float) * in_img);

  for (int oy = 0; oy < l->out_h; oy++)
    for (int ox = 0; ox < l->out_w; ox++)
      {
        gsize o = (((gsize) task * l->out_h + oy) * l->out_w + ox) * C;
        const float *restrict g = job->dy + o;

        if (is_max)
          {
            /* scatter to the maximum found by the forward pass */
            const float *restrict arg = l->aux + o;

            for (int c = 0; c < C; c++)
              {
                int pos = (int) arg[c];
                int iy = oy * l->stride - l->pad + pos / l->kw;
                int ix = ox * l->stride - l->pad + pos % l->kw;

                dxi[((gsize) iy * l->in_w + ix) * C + c] += g[c];
              }
            continue;
          }
        for (int ky = 0; ky < l->kh; ky++)
          {
            int iy = oy * l->stride - l->pad + ky;

            if (iy < 0 || iy >= l->in_h)
              continue;
            for (int kx = 0; kx < l->kw; kx++)
              {
                int ix = ox * l->stride - l->pad + kx;
                float *restrict d;

                if (ix < 0 || ix >= l->in_w)
                  continue;
                d = dxi + ((gsize) iy * l->in_w + ix) * C;
                for (int c = 0; c < C; c++)
                  d[c] += g[c] * inv;
              }
          }
      }
}

GEMBA_CLONES static void
gap_fwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int C = l->in_c;
  const int hw = l->in_h * l->in_w;
  const float *xi = job->x + (gsize) task * hw * C;
  float *out = job->out + (gsize) task * C;
  float acc[C];

  memset (acc, 0, sizeof (float) * C);
  for (int p = 0; p < hw; p++)
    for (int c = 0; c < C; c++)
      acc[c] += xi[(gsize) p * C + c];
  for (int c = 0; c < C; c++)
    out[c] = acc[c] / (float) hw;
}

GEMBA_CLONES static void
gap_bwd_task (gpointer data, int task, int thread)
{
  Job *job = data;
  const GembaLayer *l = job->l;
  const int C = l->in_c;
  const int hw = l->in_h * l->in_w;
  float *dxi = job->dx + (gsize) task * hw * C;
  const float *g = job->dy + (gsize) task * C;
  float gs[C];

  for (int c = 0; c < C; c++)
    gs[c] = g[c] / (float) hw;
  for (int p = 0; p < hw; p++)
    {
      if (job->accumulate)
        for (int c = 0; c < C; c++)
          dxi[(gsize) p * C + c] += gs[c];
      else
        memcpy (dxi + (gsize) p * C, gs, sizeof (float) * C);
    }
}

/* ---- linear --------------------------------------------------------------------------------- */

static void
linear_forward (GembaLayer *l, int batch, const float *x, float *y)
{
  float beta = 0.0f;

  if (l->b)
    {
      for (int i = 0; i < batch; i++)
        memcpy (y + (gsize) i * l->out_c, l->b, sizeof (float) * l->out_c);
      beta = 1.0f;
    }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, batch, l->out_c, l->in_c, 1.0f,
               x, l->in_c, l->w, l->in_c, beta, y, l->out_c);
}

static void
linear_backward (GembaLayer *l, int batch, const float *x, const float *dy, float *dx,
                 gboolean accumulate)
{
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, l->out_c, l->in_c, batch, 1.0f,
               dy, l->out_c, x, l->in_c, 1.0f, l->gw, l->in_c);
  if (l->gb)
    for (int i = 0; i < batch; i++)
      for (int c = 0; c < l->out_c; c++)
        l->gb[c] += dy[(gsize) i * l->out_c + c];
  if (dx)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, l->in_c, l->out_c, 1.0f,
                 dy, l->out_c, l->w, l->in_c, accumulate ? 1.0f : 0.0f, dx, l->in_c);
}

/* ---- dispatch ------------------------------------------------------------------------------- */

void
gemba_layer_forward_residual (GembaLayer *conv, GembaPool *pool, int batch, const float *x,
                              const float *res, float *y)
{
  g_return_if_fail (conv->kind == GEMBA_LAYER_CONV && batch > 0);
  conv_forward (conv, pool, batch, x, res, y);
}

void
gemba_layer_forward (GembaLayer *l, GembaPool *pool, int batch, const float *x, const float *x2,
                     float *y, gboolean training, guint64 seed)
{
  int nt = gemba_pool_get_n_threads (pool);
  Job job = { .l = l, .pool = pool, .batch = batch, .x = x, .x2 = x2, .out = y,
              .training = training, .seed = seed };

  g_return_if_fail (batch > 0);

  switch (l->kind)
    {
    case GEMBA_LAYER_CONV:
      conv_forward (l, pool, batch, x, NULL, y);
      break;
    case GEMBA_LAYER_BATCH_NORM:
      bn_forward (l, pool, batch, x, y, training);
      break;
    case GEMBA_LAYER_RELU:
    case GEMBA_LAYER_RELU6:
      job.total = (gsize) batch * gemba_layer_in_size (l);
      gemba_pool_run_dynamic (pool, elt_tasks (&job, nt), relu_fwd_task, &job);
      break;
    case GEMBA_LAYER_ADD:
      g_return_if_fail (x2 != NULL);
      job.total = (gsize) batch * gemba_layer_in_size (l);
      gemba_pool_run_dynamic (pool, elt_tasks (&job, nt), add_fwd_task, &job);
      break;
    case GEMBA_LAYER_DROPOUT:
      job.total = (gsize) batch * gemba_layer_in_size (l);
      if (!training || l->p == 0.0f)
        {
          if (y != x)
            memcpy (y, x, sizeof (float) * job.total);
          /* an all-ones mask, so that backward is right in both modes */
          layer_aux (l, job.total);
          for (gsize i = 0; i < job.total; i++)
            l->aux[i] = 1.0f;
          break;
        }
      layer_aux (l, job.total);
      gemba_pool_run_dynamic (pool, batch, dropout_fwd_task, &job);
      break;
    case GEMBA_LAYER_MAX_POOL:
    case GEMBA_LAYER_AVG_POOL:
      if (l->frozen && l->kind == GEMBA_LAYER_MAX_POOL)
        {
          job.total = (gsize) batch * l->out_h;
          job.chunk = MAX ((gsize) 1, (job.total + 2 * nt - 1) / (2 * nt));
          gemba_pool_run_dynamic (pool, (int) ((job.total + job.chunk - 1) / job.chunk),
                                  max_pool_rows_task, &job);
          break;
        }
      layer_aux (l, (gsize) batch * gemba_layer_out_size (l));
      gemba_pool_run_dynamic (pool, batch, pool_fwd_task, &job);
      break;
    case GEMBA_LAYER_GLOBAL_AVG_POOL:
      gemba_pool_run_dynamic (pool, batch, gap_fwd_task, &job);
      break;
    case GEMBA_LAYER_LINEAR:
      linear_forward (l, batch, x, y);
      break;
    default:
      g_assert_not_reached ();
    }
}

void
gemba_layer_backward (GembaLayer *l, GembaPool *pool, int batch, gboolean training,
                      const float *x, const float *x2, const float *y, const float *dy,
                      float *dx, gboolean accumulate, float *dx2, gboolean accumulate2)
{
  int nt = gemba_pool_get_n_threads (pool);
  Job job = { .l = l, .pool = pool, .batch = batch, .x = x, .x2 = x2, .y = y, .dy = dy,
              .dx = dx, .dx2 = dx2, .accumulate = accumulate, .accumulate2 = accumulate2,
              .training = training };

  g_return_if_fail (batch > 0);

  switch (l->kind)
    {
    case GEMBA_LAYER_CONV:
      conv_backward (l, pool, batch, x, dy, dx, accumulate);
      break;
    case GEMBA_LAYER_BATCH_NORM:
      bn_backward (l, pool, batch, training, x, y, dy, dx, accumulate);
      break;
    case GEMBA_LAYER_RELU:
    case GEMBA_LAYER_RELU6:
      if (dx == NULL)
        break;
      job.total = (gsize) batch * gemba_layer_in_size (l);
      gemba_pool_run_dynamic (pool, elt_tasks (&job, nt), relu_bwd_task, &job);
      break;
    case GEMBA_LAYER_ADD:
      job.total = (gsize) batch * gemba_layer_in_size (l);
      gemba_pool_run_dynamic (pool, elt_tasks (&job, nt), add_bwd_task, &job);
      break;
    case GEMBA_LAYER_DROPOUT:
      if (dx == NULL)
        break;
      job.total = (gsize) batch * gemba_layer_in_size (l);
      gemba_pool_run_dynamic (pool, elt_tasks (&job, nt), dropout_bwd_task, &job);
      break;
    case GEMBA_LAYER_MAX_POOL:
    case GEMBA_LAYER_AVG_POOL:
      if (dx == NULL)
        break;
      gemba_pool_run_dynamic (pool, batch, pool_bwd_task, &job);
      break;
    case GEMBA_LAYER_GLOBAL_AVG_POOL:
      if (dx == NULL)
        break;
      gemba_pool_run_dynamic (pool, batch, gap_bwd_task, &job);
      break;
    case GEMBA_LAYER_LINEAR:
      linear_backward (l, batch, x, dy, dx, accumulate);
      break;
    default:
      g_assert_not_reached ();
    }
}

void
gemba_layer_freeze (GembaLayer *l, GembaLayerKind act)
{
  l->frozen = TRUE;
  if (l->kind != GEMBA_LAYER_CONV)
    return;
  l->act = act == GEMBA_LAYER_RELU || act == GEMBA_LAYER_RELU6 ? act : GEMBA_LAYER_CONV;
  /* what training kept in l->aux (packed or transposed weights) is no zero-bordered copy of
   * the input, which padded_buffer() takes a buffer of the right size for */
  gemba_floats_free (l->aux);
  l->aux = NULL;
  l->aux_size = 0;
  gemba_floats_free (l->packed);
  l->packed = _gemba_conv_direct_usable (l) ? _gemba_conv_direct_pack (l) : NULL;
}

void
gemba_layer_fold_batch_norm (GembaLayer *conv, const GembaLayer *bn)
{
  gsize per_out;

  g_return_if_fail (conv->kind == GEMBA_LAYER_CONV && bn->kind == GEMBA_LAYER_BATCH_NORM);
  g_return_if_fail (conv->out_c == bn->in_c);

  if (conv->b == NULL)
    {
      conv->n_b = conv->out_c;
      conv->b = gemba_floats_new (conv->n_b);
      conv->gb = gemba_floats_new (conv->n_b);
    }
  per_out = conv->n_w / conv->out_c;
  for (int c = 0; c < conv->out_c; c++)
    {
      float scale = bn->w[c] / sqrtf (bn->running_var[c] + bn->eps);

      for (gsize k = 0; k < per_out; k++)
        conv->w[c * per_out + k] *= scale;
      conv->b[c] = (conv->b[c] - bn->running_mean[c]) * scale + bn->b[c];
    }
}

/* ---- loss ----------------------------------------------------------------------------------- */

void
gemba_softmax (float *logits, int n, int k)
{
  for (int i = 0; i < n; i++)
    {
      float *row = logits + (gsize) i * k;
      float mx = row[0];
      double sum = 0;

      for (int j = 1; j < k; j++)
        mx = MAX (mx, row[j]);
      for (int j = 0; j < k; j++)
        {
          row[j] = expf (row[j] - mx);
          sum += row[j];
        }
      for (int j = 0; j < k; j++)
        row[j] = (float) (row[j] / sum);
    }
}

double
gemba_softmax_cross_entropy (const float *logits, int n, int k, const int *labels,
                             const float *class_weights, const float *sample_weights,
                             float *probs, float *dlogits)
{
  double total = 0, norm = 0;
  g_autofree float *p = g_new (float, (gsize) n * k);

  memcpy (p, logits, sizeof (float) * n * k);
  gemba_softmax (p, n, k);

  for (int i = 0; i < n; i++)
    {
      double wi = (class_weights ? class_weights[labels[i]] : 1.0f)
                  * (sample_weights ? sample_weights[i] : 1.0f);

      g_return_val_if_fail (labels[i] >= 0 && labels[i] < k, NAN);
      total -= wi * log (MAX (p[(gsize) i * k + labels[i]], 1e-30f));
      norm += wi;
    }
  if (norm <= 0)
    norm = 1;

  if (dlogits)
    for (int i = 0; i < n; i++)
      {
        double wi = (class_weights ? class_weights[labels[i]] : 1.0f)
                    * (sample_weights ? sample_weights[i] : 1.0f);

        for (int j = 0; j < k; j++)
          dlogits[(gsize) i * k + j] = (float) (wi / norm * (p[(gsize) i * k + j]
                                                            - (j == labels[i] ? 1.0f : 0.0f)));
      }
  if (probs)
    memcpy (probs, p, sizeof (float) * n * k);
  return total / norm;
}
