#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

/* gemba-conv-direct.c: inference convolutions as an implicit GEMM with an AVX-512 micro-kernel
 *
 * At batch 1 the GEMMs of a small CNN are skinny (16–128 output channels), and OpenBLAS's
 * sgemm plus im2col reaches a third of what the FMA units can do. Here a tile of up to 12
 * consecutive output pixels of one row × 32 output channels is summed in registers straight
 * from the NHWC input (no im2col: each kernel tap of a tile reads a strided run of input
 * pixels), starting from the bias, and the ReLU/ReLU6 that follows is applied as the tile is
 * stored. Weights are packed once, when the network is folded for inference.
 *
 * Training uses the same kernels (weights packed each pass) for the forward pass and the
 * transposed convolution of dx, and has its own here: the weight gradient, and batch-norm's
 * passes over channels a multiple of 16.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3")
#endif

#include <string.h>

#include "gemba-conv-direct-private.h"

#define NB 32        /* output channels per packed block */
#define MAX_TAPS 49

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_DIRECT 1
#else
#define HAVE_DIRECT 0
#endif

static gboolean
is_depthwise (const GembaLayer *l)
{
  return l->groups > 1 && l->groups == l->in_c && l->out_c == l->in_c;
}

gboolean
_gemba_nn_avx512 (void)
{
#if HAVE_DIRECT
  static int cpu = -1;

  if (cpu < 0)
    {
      __builtin_cpu_init ();
      cpu = __builtin_cpu_supports ("avx512f") && g_getenv ("GEMBA_NN_NO_DIRECT") == NULL;
    }
  return cpu;
#else
  return FALSE;
#endif
}

gboolean
_gemba_conv_direct_usable (const GembaLayer *l)
{
  return _gemba_nn_avx512 () && l->kind == GEMBA_LAYER_CONV && l->kh * l->kw <= MAX_TAPS
         && (l->groups == 1 || is_depthwise (l));
}

static int
n_blocks (const GembaLayer *l)
{
  return (l->out_c + NB - 1) / NB;
}

static gsize
conv_k (const GembaLayer *l)
{
  return (gsize) l->kh * l->kw * l->in_c;
}

/* Depthwise: [kh][kw][C rounded up to 16] then the bias [C rounded up]. */
static float *
pack_depthwise (const GembaLayer *l)
{
  const int kk = l->kh * l->kw;
  const gsize cp = ((gsize) l->in_c + 15) / 16 * 16;
  float *p = gemba_floats_new ((gsize) (kk + 1) * cp);

  for (int c = 0; c < l->in_c; c++)
    {
      for (int k = 0; k < kk; k++)
        p[k * cp + c] = l->w[(gsize) c * kk + k];
      p[kk * cp + c] = l->b ? l->b[c] : 0.0f;
    }
  return p;
}

gsize
_gemba_conv_direct_packed_size (const GembaLayer *l)
{
  return (gsize) n_blocks (l) * (conv_k (l) + 1) * NB;
}

void
_gemba_conv_direct_pack_into (const GembaLayer *l, float *p)
{
  const gsize K = conv_k (l);
  const int nb = n_blocks (l);
  float *bias = p + (gsize) nb * K * NB;

  g_assert (!is_depthwise (l));
  /* the padding channels of the last block are zeros */
  if (l->out_c % NB)
    memset (p, 0, sizeof (float) * _gemba_conv_direct_packed_size (l));
  for (int co = 0; co < l->out_c; co++)
    {
      float *dst = p + (gsize) (co / NB) * K * NB + co % NB;
      const float *src = l->w + (gsize) co * K;

      for (gsize k = 0; k < K; k++)
        dst[k * NB] = src[k];
      bias[co] = l->b ? l->b[co] : 0.0f;
    }
}

/* W'[ci][k-1-ky][k-1-kx][co] = W[co][ky][kx][ci], packed: each run of input channels of a
 * tap of W is a run of outputs of W' (no transposed copy of W first, whose stores went
 * out_c floats apart). */
void
_gemba_conv_direct_pack_transposed_into (const GembaLayer *l, float *p)
{
  const int k = l->kh, ci_n = l->in_c, co_n = l->out_c;
  const gsize K = (gsize) k * k * co_n;   /* the transposed convolution's */
  const int nb = (ci_n + NB - 1) / NB;

  g_assert (l->groups == 1 && l->kh == l->kw);
  if (ci_n % NB)
    memset (p, 0, sizeof (float) * nb * (K + 1) * NB);
  else
    memset (p + (gsize) nb * K * NB, 0, sizeof (float) * nb * NB);   /* no bias */
  for (int co = 0; co < co_n; co++)
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++)
        {
          const float *src = l->w + (((gsize) co * k + ky) * k + kx) * ci_n;
          gsize kt = ((gsize) (k - 1 - ky) * k + (k - 1 - kx)) * co_n + co;

          for (int ci = 0; ci < ci_n; ci++)
            p[((gsize) (ci / NB) * K + kt) * NB + ci % NB] = src[ci];
        }
}

float *
_gemba_conv_direct_pack (const GembaLayer *l)
{
  float *p;

  if (is_depthwise (l))
    return pack_depthwise (l);
  p = gemba_floats_new (_gemba_conv_direct_packed_size (l));
  _gemba_conv_direct_pack_into (l, p);
  return p;
}

#if HAVE_DIRECT

/* The next tile of a run of @n pixels, tiles of at most @max: as even as can be (49 = 10 + 10 +
 * 10 + 10 + 9, not 4 × 12 + 1), because a tile of few pixels has too few accumulators to hide
 * the FMA latency. */
static inline int
tile_len (int n, int max)
{
  int tiles = (n + max - 1) / max;

  return (n + tiles - 1) / tiles;
}

typedef struct {
  const float *a[MAX_TAPS];   /* first pixel's input at each tap */
  const float *w[MAX_TAPS];   /* the block's weights at each tap, [C][NB] */
  int n_taps;
  int C;
  gsize step;                 /* floats between the inputs of neighbouring output pixels */
  const float *bias;          /* [NB] */
  float *y;                   /* first pixel's output, channel 0 of the block */
  const float *res;           /* NULL, or the residual added to y (same layout) */
  gsize y_stride;             /* floats between neighbouring outputs: out_c, or a row's */
  int n_valid;                /* channels of the block that exist (1–32) */
  int act;                    /* 0, 1: ReLU, 2: ReLU6 */
} Tile;

#define AVX512 __attribute__ ((target ("avx512f")))

static inline AVX512 __attribute__ ((always_inline)) __m512
apply_act (__m512 v, int act)
{
  if (act)
    v = _mm512_max_ps (v, _mm512_setzero_ps ());
  if (act == 2)
    v = _mm512_min_ps (v, _mm512_set1_ps (6.0f));
  return v;
}

/* R pixels × V vectors of 16 channels; R and V are constants after inlining. */
static inline AVX512 __attribute__ ((always_inline)) void
tile_body (const Tile *t, const int R, const int V)
{
  __m512 acc[12][2];
  const gsize step = t->step;
  const int C = t->C;

#pragma GCC unroll 12
  for (int r = 0; r < R; r++)
#pragma GCC unroll 2
    for (int v = 0; v < V; v++)
      acc[r][v] = _mm512_load_ps (t->bias + 16 * v);

  for (int k = 0; k < t->n_taps; k++)
    {
      const float *restrict a = t->a[k];
      const float *restrict w = t->w[k];

      for (int c = 0; c < C; c++)
        {
          __m512 w0 = _mm512_load_ps (w + (gsize) c * NB);
          __m512 w1 = V > 1 ? _mm512_load_ps (w + (gsize) c * NB + 16) : w0;

#pragma GCC unroll 12
          for (int r = 0; r < R; r++)
            {
              __m512 b = _mm512_set1_ps (a[r * step + c]);

              acc[r][0] = _mm512_fmadd_ps (b, w0, acc[r][0]);
              if (V > 1)
                acc[r][1] = _mm512_fmadd_ps (b, w1, acc[r][1]);
            }
        }
    }

  {
    const int n0 = MIN (t->n_valid, 16);
    const int n1 = t->n_valid - n0;
    const __mmask16 m0 = (__mmask16) ((1u << n0) - 1);
    const __mmask16 m1 = (__mmask16) (n1 > 0 ? (1u << n1) - 1 : 0);

    if (t->res)
#pragma GCC unroll 12
      for (int r = 0; r < R; r++)
        {
          const float *res = t->res + (gsize) r * t->y_stride;

          acc[r][0] = _mm512_add_ps (apply_act (acc[r][0], t->act),
                                     _mm512_maskz_loadu_ps (m0, res));
          if (V > 1)
            acc[r][1] = _mm512_add_ps (apply_act (acc[r][1], t->act),
                                       _mm512_maskz_loadu_ps (m1, res + 16));
        }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
      {
        float *y = t->y + (gsize) r * t->y_stride;

        if (t->res)
          {
            /* the activation came before the residual */
            _mm512_mask_storeu_ps (y, m0, acc[r][0]);
            if (V > 1)
              _mm512_mask_storeu_ps (y + 16, m1, acc[r][1]);
            continue;
          }
        if (n0 == 16)
          _mm512_storeu_ps (y, apply_act (acc[r][0], t->act));
        else
          _mm512_mask_storeu_ps (y, m0, apply_act (acc[r][0], t->act));
        if (V > 1)
          {
            if (n1 == 16)
              _mm512_storeu_ps (y + 16, apply_act (acc[r][1], t->act));
            else
              _mm512_mask_storeu_ps (y + 16, m1, apply_act (acc[r][1], t->act));
          }
      }
  }
}

#define TILE_FN(R, V) \
  AVX512 __attribute__ ((noinline)) static void \
  tile_##R##_##V (const Tile *t) { tile_body (t, R, V); }

TILE_FN (1, 1) TILE_FN (2, 1) TILE_FN (3, 1) TILE_FN (4, 1) TILE_FN (5, 1) TILE_FN (6, 1)
TILE_FN (7, 1) TILE_FN (8, 1) TILE_FN (9, 1) TILE_FN (10, 1) TILE_FN (11, 1) TILE_FN (12, 1)
TILE_FN (1, 2) TILE_FN (2, 2) TILE_FN (3, 2) TILE_FN (4, 2) TILE_FN (5, 2) TILE_FN (6, 2)
TILE_FN (7, 2) TILE_FN (8, 2) TILE_FN (9, 2) TILE_FN (10, 2) TILE_FN (11, 2) TILE_FN (12, 2)

typedef void (*TileFn) (const Tile *t);

static const TileFn tile_fns[2][13] = {
  { NULL, tile_1_1, tile_2_1, tile_3_1, tile_4_1, tile_5_1, tile_6_1, tile_7_1, tile_8_1,
    tile_9_1, tile_10_1, tile_11_1, tile_12_1 },
  { NULL, tile_1_2, tile_2_2, tile_3_2, tile_4_2, tile_5_2, tile_6_2, tile_7_2, tile_8_2,
    tile_9_2, tile_10_2, tile_11_2, tile_12_2 },
};

/* Points @t at block @nb of @packed (its bias, the channels that exist); returns the block's
 * weights. */
static const float *
tile_block (Tile *t, const GembaLayer *l, const float *packed, int nb)
{
  const gsize K = conv_k (l);

  t->n_valid = MIN (NB, l->out_c - nb * NB);
  t->bias = packed + (gsize) n_blocks (l) * K * NB + nb * NB;
  return packed + (gsize) nb * K * NB;
}

/* Adds to @t the tap (@ky, @kx) of the block's weights @wb, at input pixel (@iy, @ix) of the
 * image @xi. */
static void
tile_add_tap (Tile *t, const GembaLayer *l, const float *xi, const float *wb, int iy, int ix,
              int ky, int kx)
{
  t->a[t->n_taps] = xi + ((gsize) iy * l->in_w + ix) * l->in_c;
  t->w[t->n_taps] = wb + (gsize) (ky * l->kw + kx) * l->in_c * NB;
  t->n_taps++;
}

/* Runs @t on @R output pixels of block @nb, the first at (@oy, @ox) of image @img. */
static void
tile_run (Tile *t, const GembaLayer *l, float *y, const float *res, int img, int oy, int ox,
          int nb, int R)
{
  t->y = y + (((gsize) img * l->out_h + oy) * l->out_w + ox) * l->out_c + nb * NB;
  t->res = res ? res + (t->y - y) : NULL;
  tile_fns[t->n_valid > 16 ? 1 : 0][R] (t);
}

/* Output pixels [ox0, ox1) of row @oy of image @img, all of whose windows share the column
 * taps [kx0, kx1), for blocks [nb0, nb1). */
static void
run_segment (const GembaLayer *l, const float *packed, const float *x, const float *res,
             float *y, int img, int oy, int ox0, int ox1, int kx0, int kx1, int nb0, int nb1,
             int act)
{
  const float *xi = x + (gsize) img * l->in_h * l->in_w * l->in_c;
  Tile t;
  int ky0 = MAX (0, l->pad - oy * l->stride);
  int ky1 = MIN (l->kh, l->in_h + l->pad - oy * l->stride);

  t.C = l->in_c;
  t.step = (gsize) l->stride * l->in_c;
  t.y_stride = l->out_c;
  t.act = act;

  for (int nb = nb0; nb < nb1; nb++)
    {
      const float *wb = tile_block (&t, l, packed, nb);

      for (int ox = ox0; ox < ox1;)
        {
          int R = tile_len (ox1 - ox, 12);
          int ix0 = ox * l->stride - l->pad;

          t.n_taps = 0;
          for (int ky = ky0; ky < ky1; ky++)
            for (int kx = kx0; kx < kx1; kx++)
              tile_add_tap (&t, l, xi, wb, oy * l->stride - l->pad + ky, ix0 + kx, ky, kx);
          tile_run (&t, l, y, res, img, oy, ox, nb, R);
          ox += R;
        }
    }
}

/* Output column @ox of rows [oy0, oy1) of image @img, whose windows miss columns of the input
 * (at the left or right edge): tiles of pixels one above the other, the rows whose windows
 * share the row taps together. One pixel at a time, the tiles had only two accumulators
 * (32 channels) for the FMA latency: at 8×8 the two edge columns took as long as the other 6.
 * The sums are in the same order as by rows. */
static void
run_column (const GembaLayer *l, const float *packed, const float *x, const float *res,
            float *y, int img, int ox, int oy0, int oy1, int nb0, int nb1, int act)
{
  const float *xi = x + (gsize) img * l->in_h * l->in_w * l->in_c;
  const int s = l->stride;
  const int ix0 = ox * s - l->pad;
  const int kx0 = MAX (0, -ix0), kx1 = MIN (l->kw, l->in_w - ix0);
  Tile t;

  t.C = l->in_c;
  t.step = (gsize) s * l->in_w * l->in_c;
  t.y_stride = (gsize) l->out_w * l->out_c;
  t.act = act;
  for (int oy = oy0; oy < oy1;)
    {
      int ky0 = MAX (0, l->pad - oy * s);
      int ky1 = MIN (l->kh, l->in_h + l->pad - oy * s);
      int end = oy + 1;

      while (end < oy1 && MAX (0, l->pad - end * s) == ky0
             && MIN (l->kh, l->in_h + l->pad - end * s) == ky1)
        end++;
      for (int nb = nb0; nb < nb1; nb++)
        {
          const float *wb = tile_block (&t, l, packed, nb);

          for (int r = oy; r < end;)
            {
              int R = tile_len (end - r, 12);

              t.n_taps = 0;
              for (int ky = ky0; ky < ky1; ky++)
                for (int kx = kx0; kx < kx1; kx++)
                  tile_add_tap (&t, l, xi, wb, r * s - l->pad + ky, ix0 + kx, ky, kx);
              tile_run (&t, l, y, res, img, r, ox, nb, R);
              r += R;
            }
        }
      oy = end;
    }
}

/* Whole rows [oy0, oy1) of image @img: the columns whose windows lie inside the image by
 * rows, the others by columns. */
static void
run_rows (const GembaLayer *l, const float *packed, const float *x, const float *res, float *y,
          int img, int oy0, int oy1, int nb0, int nb1, int act)
{
  const int s = l->stride;
  /* interior columns: ox * s - pad >= 0 and ox * s - pad + kw <= in_w */
  const int cx0 = MIN (l->out_w, (l->pad + s - 1) / s);
  const int cx1 = l->in_w + l->pad - l->kw < 0 ? 0
                  : MIN (l->out_w, (l->in_w + l->pad - l->kw) / s + 1);

  if (cx0 < cx1)
    for (int oy = oy0; oy < oy1; oy++)
      run_segment (l, packed, x, res, y, img, oy, cx0, cx1, 0, l->kw, nb0, nb1, act);
  for (int ox = 0; ox < l->out_w; ox++)
    if (ox < cx0 || ox >= cx1)
      run_column (l, packed, x, res, y, img, ox, oy0, oy1, nb0, nb1, act);
}

void
_gemba_conv_direct_run (const GembaLayer *l, const float *packed, const float *x,
                        const float *res, float *y, gsize p0, gsize p1, int nb0, int nb1,
                        int act)
{
  const gsize hw = (gsize) l->out_h * l->out_w;

  if (l->kh == 1 && l->kw == 1 && l->stride == 1 && l->pad == 0)
    {
      /* pointwise: the pixels of the whole batch are one long row */
      GembaLayer row = *l;

      row.in_h = row.out_h = 1;
      row.in_w = row.out_w = (int) (p1 - p0);
      run_segment (&row, packed, x + p0 * l->in_c, res ? res + p0 * l->out_c : NULL,
                   y + p0 * l->out_c, 0, 0, 0, (int) (p1 - p0), 0, 1, nb0, nb1, act);
      return;
    }

  while (p0 < p1)
    {
      int img = (int) (p0 / hw);
      int oy = (int) (p0 % hw / l->out_w);
      int ox0 = (int) (p0 % l->out_w);
      int ox1 = (int) MIN ((gsize) l->out_w, ox0 + (p1 - p0));
      int ox = ox0;

      if (ox0 == 0 && p1 - p0 >= (gsize) l->out_w * 2)
        {
          int oy1 = (int) MIN ((gsize) l->out_h, oy + (p1 - p0) / l->out_w);

          run_rows (l, packed, x, res, y, img, oy, oy1, nb0, nb1, act);
          p0 += (gsize) (oy1 - oy) * l->out_w;
          continue;
        }
      /* columns whose windows lie inside the image get every column tap; the others (at most
       * pad / stride + 1 on each side) one pixel at a time with the taps that exist */
      while (ox < ox1)
        {
          int ix0 = ox * l->stride - l->pad;
          int kx0 = MAX (0, -ix0);
          int kx1 = MIN (l->kw, l->in_w - ix0);
          int end = ox + 1;

          if (kx0 == 0 && kx1 == l->kw)
            while (end < ox1 && end * l->stride - l->pad + l->kw <= l->in_w)
              end++;
          run_segment (l, packed, x, res, y, img, oy, ox, end, kx0, kx1, nb0, nb1, act);
          ox = end;
        }
      p0 += ox1 - ox0;
    }
}

/* ---- depthwise: blocks of 16 channels, up to 8 pixels of a row at a time ---------------- */

typedef struct {
  const float *a[MAX_TAPS];   /* first pixel's input at each tap, channel 0 */
  const float *w[MAX_TAPS];   /* weights of each tap, [C rounded up] */
  int n_taps;
  int C;
  gsize step;                 /* floats between the inputs of neighbouring output pixels */
  const float *bias;
  float *y;                   /* first pixel's output */
  int act;
  gsize wstep;                /* dw3: floats between the weights of neighbouring taps */
} DwTile;

static inline AVX512 __attribute__ ((always_inline)) void
dw_tile_body (const DwTile *t, const int R)
{
  const gsize step = t->step;

  for (int c0 = 0; c0 < t->C; c0 += 16)
    {
      const __mmask16 m = (__mmask16) (t->C - c0 >= 16 ? 0xffff : (1u << (t->C - c0)) - 1);
      __m512 acc[8];

#pragma GCC unroll 8
      for (int r = 0; r < R; r++)
        acc[r] = _mm512_load_ps (t->bias + c0);
      for (int k = 0; k < t->n_taps; k++)
        {
          const float *a = t->a[k] + c0;
          __m512 w = _mm512_load_ps (t->w[k] + c0);

#pragma GCC unroll 8
          for (int r = 0; r < R; r++)
            acc[r] = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, a + r * step), w, acc[r]);
        }
#pragma GCC unroll 8
      for (int r = 0; r < R; r++)
        _mm512_mask_storeu_ps (t->y + (gsize) r * t->C + c0, m, apply_act (acc[r], t->act));
    }
}

#define DW_TILE_FN(R) \
  AVX512 __attribute__ ((noinline)) static void \
  dw_tile_##R (const DwTile *t) { dw_tile_body (t, R); }

DW_TILE_FN (1) DW_TILE_FN (2) DW_TILE_FN (3) DW_TILE_FN (4) DW_TILE_FN (5) DW_TILE_FN (6)
DW_TILE_FN (7) DW_TILE_FN (8)

typedef void (*DwTileFn) (const DwTile *t);

static const DwTileFn dw_tile_fns[9] = {
  NULL, dw_tile_1, dw_tile_2, dw_tile_3, dw_tile_4, dw_tile_5, dw_tile_6, dw_tile_7, dw_tile_8,
};

/* 3 taps a row, all inside the image: the R pixels' windows overlap, so each input pixel of a
 * kernel row is loaded once for every tap that reads it. t->a / t->w are per kernel row, the
 * row's taps t->wstep floats apart in the weights. */
static inline AVX512 __attribute__ ((always_inline)) void
dw3_tile_body (const DwTile *t, const int R, const int S)
{
  const int C = t->C;

  for (int c0 = 0; c0 < C; c0 += 16)
    {
      const __mmask16 m = (__mmask16) (C - c0 >= 16 ? 0xffff : (1u << (C - c0)) - 1);
      __m512 acc[8];

#pragma GCC unroll 8
      for (int r = 0; r < R; r++)
        acc[r] = _mm512_load_ps (t->bias + c0);
      for (int k = 0; k < t->n_taps; k++)
        {
          const float *a = t->a[k] + c0;
          __m512 w0 = _mm512_load_ps (t->w[k] + c0);
          __m512 w1 = _mm512_load_ps (t->w[k] + t->wstep + c0);
          __m512 w2 = _mm512_load_ps (t->w[k] + 2 * t->wstep + c0);
          __m512 in[17];

#pragma GCC unroll 17
          for (int i = 0; i < (R - 1) * S + 3; i++)
            in[i] = m == 0xffff ? _mm512_loadu_ps (a + (gsize) i * C)
                                : _mm512_maskz_loadu_ps (m, a + (gsize) i * C);
#pragma GCC unroll 8
          for (int r = 0; r < R; r++)
            {
              acc[r] = _mm512_fmadd_ps (in[r * S], w0, acc[r]);
              acc[r] = _mm512_fmadd_ps (in[r * S + 1], w1, acc[r]);
              acc[r] = _mm512_fmadd_ps (in[r * S + 2], w2, acc[r]);
            }
        }
#pragma GCC unroll 8
      for (int r = 0; r < R; r++)
        _mm512_mask_storeu_ps (t->y + (gsize) r * C + c0, m, apply_act (acc[r], t->act));
    }
}

#define DW3_TILE_FN(R, S) \
  AVX512 __attribute__ ((noinline)) static void \
  dw3_tile_##R##_##S (const DwTile *t) { dw3_tile_body (t, R, S); }

DW3_TILE_FN (1, 1) DW3_TILE_FN (2, 1) DW3_TILE_FN (3, 1) DW3_TILE_FN (4, 1) DW3_TILE_FN (5, 1)
DW3_TILE_FN (6, 1) DW3_TILE_FN (7, 1) DW3_TILE_FN (8, 1)
DW3_TILE_FN (1, 2) DW3_TILE_FN (2, 2) DW3_TILE_FN (3, 2) DW3_TILE_FN (4, 2) DW3_TILE_FN (5, 2)
DW3_TILE_FN (6, 2) DW3_TILE_FN (7, 2) DW3_TILE_FN (8, 2)

static const DwTileFn dw3_tile_fns[2][9] = {
  { NULL, dw3_tile_1_1, dw3_tile_2_1, dw3_tile_3_1, dw3_tile_4_1, dw3_tile_5_1, dw3_tile_6_1,
    dw3_tile_7_1, dw3_tile_8_1 },
  { NULL, dw3_tile_1_2, dw3_tile_2_2, dw3_tile_3_2, dw3_tile_4_2, dw3_tile_5_2, dw3_tile_6_2,
    dw3_tile_7_2, dw3_tile_8_2 },
};

/* Output pixels [ox0, ox1) of row @oy, to @yrow (that row's first pixel), from the input rows
 * of one image that start at row @row0 at @xi. */
static void
dw_segment (const GembaLayer *l, const float *packed, const float *xi, int row0, float *yrow,
            int oy, int ox0, int ox1, int kx0, int kx1, int act)
{
  const int C = l->in_c;
  const gsize cp = ((gsize) C + 15) / 16 * 16;
  int ky0 = MAX (0, l->pad - oy * l->stride);
  int ky1 = MIN (l->kh, l->in_h + l->pad - oy * l->stride);
  DwTile t;

  t.C = C;
  t.step = (gsize) l->stride * C;
  t.bias = packed + (gsize) l->kh * l->kw * cp;
  t.act = act;
  t.wstep = cp;
  if (l->kw == 3 && kx0 == 0 && kx1 == 3 && (l->stride == 1 || l->stride == 2))
    {
      for (int ox = ox0; ox < ox1;)
        {
          int R = tile_len (ox1 - ox, 8);
          int ix0 = ox * l->stride - l->pad;

          t.n_taps = 0;
          for (int ky = ky0; ky < ky1; ky++)
            {
              int iy = oy * l->stride - l->pad + ky - row0;

              t.a[t.n_taps] = xi + ((gsize) iy * l->in_w + ix0) * C;
              t.w[t.n_taps] = packed + (gsize) (ky * l->kw) * cp;
              t.n_taps++;
            }
          t.y = yrow + (gsize) ox * C;
          dw3_tile_fns[l->stride - 1][R] (&t);
          ox += R;
        }
      return;
    }
  for (int ox = ox0; ox < ox1;)
    {
      int R = tile_len (ox1 - ox, 8);
      int ix0 = ox * l->stride - l->pad;

      t.n_taps = 0;
      for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++)
          {
            int iy = oy * l->stride - l->pad + ky - row0;

            t.a[t.n_taps] = xi + ((gsize) iy * l->in_w + ix0 + kx) * C;
            t.w[t.n_taps] = packed + (gsize) (ky * l->kw + kx) * cp;
            t.n_taps++;
          }
      t.y = yrow + (gsize) ox * C;
      dw_tile_fns[R] (&t);
      ox += R;
    }
}

static void
dw_row (const GembaLayer *l, const float *packed, const float *xi, int row0, float *yrow, int oy,
        int act)
{
  for (int ox = 0; ox < l->out_w;)
    {
      int ix0 = ox * l->stride - l->pad;
      int kx0 = MAX (0, -ix0);
      int kx1 = MIN (l->kw, l->in_w - ix0);
      int end = ox + 1;

      if (kx0 == 0 && kx1 == l->kw)
        while (end < l->out_w && end * l->stride - l->pad + l->kw <= l->in_w)
          end++;
      dw_segment (l, packed, xi, row0, yrow, oy, ox, end, kx0, kx1, act);
      ox = end;
    }
}

void
_gemba_conv_direct_run_depthwise (const GembaLayer *l, const float *packed, const float *x,
                                  float *y, gsize r0, gsize r1, int act)
{
  const gsize in_img = (gsize) l->in_h * l->in_w * l->in_c, out_row = (gsize) l->out_w * l->out_c;

  for (gsize r = r0; r < r1; r++)
    dw_row (l, packed, x + r / l->out_h * in_img, 0, y + r * out_row, (int) (r % l->out_h), act);
}

void
_gemba_conv_direct_run_depthwise_band (const GembaLayer *l, const float *packed, const float *x,
                                       int row0, float *y, int oy0, int oy1, int act)
{
  const gsize out_row = (gsize) l->out_w * l->out_c;

  for (int oy = oy0; oy < oy1; oy++)
    dw_row (l, packed, x, row0, y + (gsize) (oy - oy0) * out_row, oy, act);
}

void
_gemba_conv_direct_run_padded (const GembaLayer *l, const float *packed, const float *xpad,
                               const float *res, float *y, gsize p0, gsize p1, int nb0,
                               int nb1, int act)
{
  const gsize K = conv_k (l);
  const float *bias = packed + (gsize) n_blocks (l) * K * NB;
  const int hp = l->in_h + 2 * l->pad, wp = l->in_w + 2 * l->pad, C = l->in_c;
  const gsize hw = (gsize) l->out_h * l->out_w;
  Tile t;

  /* with the zero border in memory every window is whole, and the kw taps of a kernel row
   * are kw * C contiguous floats of the input and kw * C rows of the packed weights: one tap */
  t.n_taps = l->kh;
  t.C = l->kw * C;
  t.step = (gsize) l->stride * C;
  t.y_stride = l->out_c;
  t.act = act;
  while (p0 < p1)
    {
      int img = (int) (p0 / hw);
      int oy = (int) (p0 % hw / l->out_w);
      int ox0 = (int) (p0 % l->out_w);
      int ox1 = (int) MIN ((gsize) l->out_w, ox0 + (p1 - p0));
      const float *xi = xpad + (gsize) img * hp * wp * C;

      for (int nb = nb0; nb < nb1; nb++)
        {
          const float *wb = packed + (gsize) nb * K * NB;
          int V;

          t.n_valid = MIN (NB, l->out_c - nb * NB);
          V = t.n_valid > 16 ? 2 : 1;
          t.bias = bias + nb * NB;
          for (int ky = 0; ky < l->kh; ky++)
            t.w[ky] = wb + (gsize) ky * l->kw * C * NB;
          for (int ox = ox0; ox < ox1;)
            {
              int R = tile_len (ox1 - ox, 12);

              for (int ky = 0; ky < l->kh; ky++)
                t.a[ky] = xi + ((gsize) (oy * l->stride + ky) * wp + (gsize) ox * l->stride) * C;
              t.y = y + (((gsize) img * l->out_h + oy) * l->out_w + ox) * l->out_c + nb * NB;
              t.res = res ? res + (t.y - y) : NULL;
              tile_fns[V - 1][R] (&t);
              ox += R;
            }
        }
      p0 += ox1 - ox0;
    }
}


/* ---- weight gradients: dW[tap][in][out] summed over the output pixels ------------------- */

/* A tile of R consecutive inputs of a window row (kx * C + c, contiguous in NHWC) × 32 output
 * channels, summed in registers over a rectangle of output pixels: for each, R broadcasts of
 * the input and one or two vectors of dy. */
typedef struct {
  const float *a;             /* the first pixel's first input */
  const float *g;             /* the first pixel's dy, channel 0 of the block */
  float *gw;                  /* [R][NB] sums, added to */
  int rows, cols;
  gsize a_col, a_row;         /* floats between the inputs of neighbouring pixels, rows */
  gsize g_col, g_row;         /* the same in dy */
  int n_valid;                /* channels of the block that exist (1–32) */
} GwTile;

static inline AVX512 __attribute__ ((always_inline)) void
gw_tile_body (const GwTile *t, const int R, const int V)
{
  const int n0 = MIN (t->n_valid, 16);
  const __mmask16 m0 = (__mmask16) ((1u << n0) - 1);
  const __mmask16 m1 = (__mmask16) (t->n_valid > 16 ? (1u << (t->n_valid - 16)) - 1 : 0);
  __m512 acc[12][2];

#pragma GCC unroll 12
  for (int r = 0; r < R; r++)
#pragma GCC unroll 2
    for (int v = 0; v < V; v++)
      acc[r][v] = _mm512_load_ps (t->gw + (gsize) r * NB + 16 * v);

  for (int y = 0; y < t->rows; y++)
    {
      const float *restrict a = t->a + (gsize) y * t->a_row;
      const float *restrict g = t->g + (gsize) y * t->g_row;

      for (int x = 0; x < t->cols; x++, a += t->a_col, g += t->g_col)
        {
          __m512 g0 = _mm512_maskz_loadu_ps (m0, g);
          __m512 g1 = V > 1 ? _mm512_maskz_loadu_ps (m1, g + 16) : g0;

#pragma GCC unroll 12
          for (int r = 0; r < R; r++)
            {
              __m512 b = _mm512_set1_ps (a[r]);

              acc[r][0] = _mm512_fmadd_ps (b, g0, acc[r][0]);
              if (V > 1)
                acc[r][1] = _mm512_fmadd_ps (b, g1, acc[r][1]);
            }
        }
    }

#pragma GCC unroll 12
  for (int r = 0; r < R; r++)
#pragma GCC unroll 2
    for (int v = 0; v < V; v++)
      _mm512_store_ps (t->gw + (gsize) r * NB + 16 * v, acc[r][v]);
}

#define GW_TILE_FN(R, V) \
  AVX512 __attribute__ ((noinline)) static void \
  gw_tile_##R##_##V (const GwTile *t) { gw_tile_body (t, R, V); }

GW_TILE_FN (1, 1) GW_TILE_FN (2, 1) GW_TILE_FN (3, 1) GW_TILE_FN (4, 1) GW_TILE_FN (5, 1)
GW_TILE_FN (6, 1) GW_TILE_FN (7, 1) GW_TILE_FN (8, 1) GW_TILE_FN (9, 1) GW_TILE_FN (10, 1)
GW_TILE_FN (11, 1) GW_TILE_FN (12, 1)
GW_TILE_FN (1, 2) GW_TILE_FN (2, 2) GW_TILE_FN (3, 2) GW_TILE_FN (4, 2) GW_TILE_FN (5, 2)
GW_TILE_FN (6, 2) GW_TILE_FN (7, 2) GW_TILE_FN (8, 2) GW_TILE_FN (9, 2) GW_TILE_FN (10, 2)
GW_TILE_FN (11, 2) GW_TILE_FN (12, 2)

typedef void (*GwTileFn) (const GwTile *t);

static const GwTileFn gw_tile_fns[2][13] = {
  { NULL, gw_tile_1_1, gw_tile_2_1, gw_tile_3_1, gw_tile_4_1, gw_tile_5_1, gw_tile_6_1,
    gw_tile_7_1, gw_tile_8_1, gw_tile_9_1, gw_tile_10_1, gw_tile_11_1, gw_tile_12_1 },
  { NULL, gw_tile_1_2, gw_tile_2_2, gw_tile_3_2, gw_tile_4_2, gw_tile_5_2, gw_tile_6_2,
    gw_tile_7_2, gw_tile_8_2, gw_tile_9_2, gw_tile_10_2, gw_tile_11_2, gw_tile_12_2 },
};

/* The output rows [*oy0, *oy1) whose windows read input row oy * stride - pad + @ky. */
static void
tap_rows (const GembaLayer *l, int ky, int *oy0, int *oy1)
{
  int lo = l->pad - ky, hi = l->in_h - 1 + l->pad - ky;   /* oy * stride in [lo, hi] */

  *oy0 = lo <= 0 ? 0 : (lo + l->stride - 1) / l->stride;
  *oy1 = hi < 0 ? 0 : MIN (l->out_h, hi / l->stride + 1);
}

void
_gemba_conv_direct_weight_grad (const GembaLayer *l, const float *x, const float *dy,
                                float *gw, int i0, int i1)
{
  const int C = l->in_c, s = l->stride;
  const gsize K = conv_k (l);
  const int nbk = n_blocks (l);
  GwTile t;

  t.a_col = (gsize) s * C;
  t.a_row = (gsize) s * l->in_w * C;
  t.g_col = (gsize) l->out_c;
  t.g_row = (gsize) l->out_w * l->out_c;
  for (int img = i0; img < i1; img++)
    {
      const float *xi = x + (gsize) img * l->in_h * l->in_w * C;
      const float *gi = dy + (gsize) img * l->out_h * l->out_w * l->out_c;

      for (int nb = 0; nb < nbk; nb++)
        {
          int V;

          t.n_valid = MIN (NB, l->out_c - nb * NB);
          V = t.n_valid > 16 ? 2 : 1;
          for (int ky = 0; ky < l->kh; ky++)
            {
              int oy0, oy1;

              tap_rows (l, ky, &oy0, &oy1);
              if (oy0 >= oy1)
                continue;
              t.rows = oy1 - oy0;
              /* columns whose window rows lie inside the image take all kw * C inputs of the
               * row; the others (at most pad / stride + 1 on each side) one column at a time,
               * with the taps that exist */
              for (int ox = 0; ox < l->out_w;)
                {
                  int ix0 = ox * s - l->pad;
                  int kx0 = MAX (0, -ix0);
                  int kx1 = MIN (l->kw, l->in_w - ix0);
                  int end = ox + 1;
                  gsize row = (gsize) (oy0 * s - l->pad + ky) * l->in_w;

                  if (kx0 == 0 && kx1 == l->kw)
                    while (end < l->out_w && end * s - l->pad + l->kw <= l->in_w)
                      end++;
                  t.cols = end - ox;
                  t.g = gi + ((gsize) oy0 * l->out_w + ox) * l->out_c + nb * NB;
                  for (int j = kx0 * C; j < kx1 * C;)
                    {
                      int R = tile_len (kx1 * C - j, 12);

                      /* input (row, ix0) + j: ix0 may be negative, ix0 * C + j is not */
                      t.a = xi + row * C + (gsize) ((gssize) ix0 * C + j);
                      t.gw = gw + ((gsize) nb * K + (gsize) ky * l->kw * C + j) * NB;
                      gw_tile_fns[V - 1][R] (&t);
                      j += R;
                    }
                  ox = end;
                }
            }
        }
    }
}


/* ---- batch-norm in training, 16 channels to a register -------------------------------- */

/* Channels a multiple of 16: the partial sums of 32 rows stay in registers (the loops over C
 * kept them in memory, a load and a store per row), and the backward pass takes the
 * activation's mask from the output before clamping, recomputed from x with the forward
 * pass's scale, shift and mean, instead of reading y: a third less memory traffic. No FMA,
 * and the same operations in the same order as the loops of gemba-layers.c: the same
 * results. */

static inline AVX512 __attribute__ ((always_inline)) __mmask16
bn_mask (const float *in, const BnCoef *k, int c, __m512 lo, __m512 hi)
{
  __m512 v = _mm512_add_ps (_mm512_mul_ps (_mm512_sub_ps (_mm512_loadu_ps (in),
                                                          _mm512_loadu_ps (k->fmean + c)),
                                           _mm512_loadu_ps (k->scale + c)),
                            _mm512_loadu_ps (k->beta + c));

  return _mm512_cmp_ps_mask (v, lo, _CMP_GT_OQ) & _mm512_cmp_ps_mask (v, hi, _CMP_LT_OQ);
}

static inline AVX512 void
add_to_doubles (double *d, __m512 v)
{
  __m256 hi = _mm256_castpd_ps (_mm512_extractf64x4_pd (_mm512_castps_pd (v), 1));

  _mm512_storeu_pd (d, _mm512_add_pd (_mm512_loadu_pd (d),
                                      _mm512_cvtps_pd (_mm512_castps512_ps256 (v))));
  _mm512_storeu_pd (d + 8, _mm512_add_pd (_mm512_loadu_pd (d + 8), _mm512_cvtps_pd (hi)));
}

AVX512 void
_gemba_bn_stats16 (const float *x, const float *shift, gsize r0, gsize r1, int C, double *sum,
                   double *sq)
{
  for (gsize r = r0; r < r1; r += 32)
    {
      gsize re = MIN (r + 32, r1);

      for (int c = 0; c < C; c += 16)
        {
          __m512 sh = _mm512_loadu_ps (shift + c);
          __m512 fs = _mm512_setzero_ps (), fq = _mm512_setzero_ps ();

          for (gsize i = r; i < re; i++)
            {
              __m512 d = _mm512_sub_ps (_mm512_loadu_ps (x + i * C + c), sh);

              fs = _mm512_add_ps (fs, d);
              fq = _mm512_add_ps (fq, _mm512_mul_ps (d, d));
            }
          add_to_doubles (sum + c, fs);
          add_to_doubles (sq + c, fq);
        }
    }
}

AVX512 void
_gemba_bn_bwd_sums16 (const float *x, const float *dy, const BnCoef *k, gsize r0, gsize r1,
                      int C, double *sdy, double *sdyx)
{
  const __m512 lo = _mm512_set1_ps (k->lo), hi = _mm512_set1_ps (k->hi);

  for (gsize r = r0; r < r1; r += 32)
    {
      gsize re = MIN (r + 32, r1);

      for (int c = 0; c < C; c += 16)
        {
          __m512 mean = _mm512_loadu_ps (k->mean + c);
          __m512 fs = _mm512_setzero_ps (), fq = _mm512_setzero_ps ();

          for (gsize i = r; i < re; i++)
            {
              const float *in = x + i * C + c;
              __m512 gc = _mm512_maskz_loadu_ps (bn_mask (in, k, c, lo, hi), dy + i * C + c);

              fs = _mm512_add_ps (fs, gc);
              fq = _mm512_add_ps (fq, _mm512_mul_ps (gc, _mm512_sub_ps (_mm512_loadu_ps (in),
                                                                        mean)));
            }
          add_to_doubles (sdy + c, fs);
          add_to_doubles (sdyx + c, fq);
        }
    }
}

AVX512 void
_gemba_bn_bwd_apply16 (const float *x, const float *dy, const BnCoef *k, gsize r0, gsize r1,
                       int C, float *dx, gboolean accumulate)
{
  const __m512 lo = _mm512_set1_ps (k->lo), hi = _mm512_set1_ps (k->hi);

  /* dx may alias dy: each vector is read before it is written */
  for (gsize r = r0; r < r1; r++)
    for (int c = 0; c < C; c += 16)
      {
        gsize o = r * C + c;
        __m512 in = _mm512_loadu_ps (x + o);
        __m512 gc = _mm512_maskz_loadu_ps (bn_mask (x + o, k, c, lo, hi), dy + o);
        __m512 v = _mm512_add_ps (
          _mm512_add_ps (_mm512_mul_ps (_mm512_loadu_ps (k->ka + c), gc),
                         _mm512_mul_ps (_mm512_loadu_ps (k->kb + c),
                                        _mm512_sub_ps (in, _mm512_loadu_ps (k->mean + c)))),
          _mm512_loadu_ps (k->kc + c));

        if (accumulate)
          v = _mm512_add_ps (_mm512_loadu_ps (dx + o), v);
        _mm512_storeu_ps (dx + o, v);
      }
}

#else

void
_gemba_bn_stats16 (const float *x, const float *shift, gsize r0, gsize r1, int C, double *sum,
                   double *sq)
{
  (void) x; (void) shift; (void) r0; (void) r1; (void) C; (void) sum; (void) sq;
  g_assert_not_reached ();
}

void
_gemba_bn_bwd_sums16 (const float *x, const float *dy, const BnCoef *k, gsize r0, gsize r1,
                      int C, double *sdy, double *sdyx)
{
  (void) x; (void) dy; (void) k; (void) r0; (void) r1; (void) C; (void) sdy; (void) sdyx;
  g_assert_not_reached ();
}

void
_gemba_bn_bwd_apply16 (const float *x, const float *dy, const BnCoef *k, gsize r0, gsize r1,
                       int C, float *dx, gboolean accumulate)
{
  (void) x; (void) dy; (void) k; (void) r0; (void) r1; (void) C; (void) dx; (void) accumulate;
  g_assert_not_reached ();
}

void
_gemba_conv_direct_weight_grad (const GembaLayer *l, const float *x, const float *dy,
                                float *gw, int i0, int i1)
{
  (void) l; (void) x; (void) dy; (void) gw; (void) i0; (void) i1;
  g_assert_not_reached ();
}

void
_gemba_conv_direct_run_padded (const GembaLayer *l, const float *packed, const float *xpad,
                               const float *res, float *y, gsize p0, gsize p1, int nb0,
                               int nb1, int act)
{
  (void) l; (void) packed; (void) xpad; (void) res; (void) y; (void) p0; (void) p1; (void) nb0;
  (void) nb1; (void) act;
  g_assert_not_reached ();
}

void
_gemba_conv_direct_run_depthwise (const GembaLayer *l, const float *packed, const float *x,
                                  float *y, gsize r0, gsize r1, int act)
{
  (void) l; (void) packed; (void) x; (void) y; (void) r0; (void) r1; (void) act;
  g_assert_not_reached ();
}

void
_gemba_conv_direct_run_depthwise_band (const GembaLayer *l, const float *packed, const float *x,
                                       int row0, float *y, int oy0, int oy1, int act)
{
  (void) l; (void) packed; (void) x; (void) row0; (void) y; (void) oy0; (void) oy1; (void) act;
  g_assert_not_reached ();
}

void
_gemba_conv_direct_run (const GembaLayer *l, const float *packed, const float *x,
                        const float *res, float *y, gsize p0, gsize p1, int nb0, int nb1,
                        int act)
{
  (void) l; (void) packed; (void) x; (void) res; (void) y; (void) p0; (void) p1; (void) nb0; (void) nb1;
  (void) act;
  g_assert_not_reached ();
}

#endif

int
_gemba_conv_direct_n_blocks (const GembaLayer *l)
{
  return n_blocks (l);
}
