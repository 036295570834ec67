/* gemba-conv-direct-private.h: convolutions without im2col, and batch-norm passes (AVX-512)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "gemba-layers.h"

G_BEGIN_DECLS

/* Whether this CPU has AVX-512 and GEMBA_NN_NO_DIRECT is not set. */
gboolean _gemba_nn_avx512 (void);
/* Whether this CPU and this convolution (groups 1, or depthwise) can use the direct kernels. */
gboolean _gemba_conv_direct_usable (const GembaLayer *l);
/* The weights [block of 32 outputs][kh][kw][in][32] then the bias [blocks × 32], zero-padded
 * (depthwise: see below);
 * free with gemba_floats_free(). */
float *_gemba_conv_direct_pack (const GembaLayer *l);
/* Not depthwise: its size in floats, and the packing into a buffer of that size (64-byte
 * aligned) */
gsize _gemba_conv_direct_packed_size (const GembaLayer *l);
void _gemba_conv_direct_pack_into (const GembaLayer *l, float *p);
/* The weights of the transposed convolution that gives the dx of @l (groups 1, square
 * kernel: in and out swapped, the kernel flipped, no bias), packed as above from l->w, into
 * a buffer of the transposed layer's _gemba_conv_direct_packed_size(). */
void _gemba_conv_direct_pack_transposed_into (const GembaLayer *l, float *p);
int _gemba_conv_direct_n_blocks (const GembaLayer *l);
/* y = act (conv (x) + b) [+ res] for output pixels [p0, p1) of the batch and output channel
 * blocks [nb0, nb1); @act: 0 none, 1 ReLU, 2 ReLU6; @res: NULL, or a residual of y's shape
 * added after the activation (a fused residual connection). */
void _gemba_conv_direct_run (const GembaLayer *l, const float *packed, const float *x,
                             const float *res, float *y, gsize p0, gsize p1, int nb0, int nb1,
                             int act);

/* The same from a copy of the input with its zero border of l->pad pixels in memory,
 * [batch][in_h + 2 pad][in_w + 2 pad][in_c]: no partial windows at the edges. */
void _gemba_conv_direct_run_padded (const GembaLayer *l, const float *packed, const float *xpad,
                                    const float *res, float *y, gsize p0, gsize p1, int nb0,
                                    int nb1, int act);
/* Depthwise: output rows [r0, r1) of the batch, from _gemba_conv_direct_pack()'s
 * [kh][kw][C rounded up to 16] weights and bias. */
void _gemba_conv_direct_run_depthwise (const GembaLayer *l, const float *packed, const float *x,
                                       float *y, gsize r0, gsize r1, int act);
/* The same for output rows [oy0, oy1) of one image, from its input rows that start at row
 * @row0 at @x (those the rows' windows read), to @y (row oy0's first pixel). */
void _gemba_conv_direct_run_depthwise_band (const GembaLayer *l, const float *packed,
                                            const float *x, int row0, float *y, int oy0,
                                            int oy1, int act);

/* Training: adds to @gw, laid out as _gemba_conv_direct_pack() lays the weights ([block of 32
 * outputs][kh][kw][in][32], no bias), the weight gradient of images [i0, i1) of the batch:
 * the sum over their output pixels of dy times the inputs of the pixel's window. @gw is
 * 64-byte aligned. Groups 1. */
void _gemba_conv_direct_weight_grad (const GembaLayer *l, const float *x, const float *dy,
                                     float *gw, int i0, int i1);

/* Batch-norm in training with channels a multiple of 16 (the loops of gemba-layers.c, 16
 * channels to a register; the same results). */
typedef struct {
  const float *scale, *beta, *fmean;   /* the forward pass's: y = (x - fmean) * scale + beta */
  const float *mean;                   /* the batch mean of the backward pass's sums */
  const float *ka, *kb, *kc;           /* dx = ka * dy + kb * (x - mean) + kc */
  float lo, hi;                        /* the fused activation's clamp: dy passes inside */
} BnCoef;

/* Sums of (x - shift) and its square over rows [r0, r1), in float over blocks of 32 rows,
 * added to @sum and @sq. */
void _gemba_bn_stats16 (const float *x, const float *shift, gsize r0, gsize r1, int C,
                        double *sum, double *sq);
/* Sums of the masked dy and of it times (x - mean), the same way. */
void _gemba_bn_bwd_sums16 (const float *x, const float *dy, const BnCoef *k, gsize r0,
                           gsize r1, int C, double *sdy, double *sdyx);
/* dx (=, or += with @accumulate) of rows [r0, r1); @dx may be @dy. */
void _gemba_bn_bwd_apply16 (const float *x, const float *dy, const BnCoef *k, gsize r0,
                            gsize r1, int C, float *dx, gboolean accumulate);

G_END_DECLS
