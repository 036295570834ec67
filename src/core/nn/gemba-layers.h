/* gemba-layers.h: the layers of an inspection CNN, forward and backward, on NHWC batches
 *
 * Every layer works on a whole batch and splits it over a GembaPool. Parameter gradients are
 * accumulated (+=) into the layer's gradient buffers; call gemba_layer_zero_grad() per step.
 * Work is assigned to threads statically, so that results are identical from run to run for
 * the same thread count.
 *
 * Weight layouts: convolution [out][kh][kw][in / groups] (PyTorch's OIHW permuted to OHWI),
 * linear [out][in] (as PyTorch).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "gemba-types.h"
#include "gemba-tensor.h"

G_BEGIN_DECLS

typedef enum {
  GEMBA_LAYER_CONV,
  GEMBA_LAYER_BATCH_NORM,
  GEMBA_LAYER_RELU,
  GEMBA_LAYER_RELU6,
  GEMBA_LAYER_MAX_POOL,
  GEMBA_LAYER_AVG_POOL,
  GEMBA_LAYER_GLOBAL_AVG_POOL,
  GEMBA_LAYER_LINEAR,
  GEMBA_LAYER_DROPOUT,
  GEMBA_LAYER_ADD,
} GembaLayerKind;

/**
 * GembaLayer:
 *
 * One layer with its shapes (per image), parameters and their gradients. @w/@b are the
 * weight and bias of a convolution or linear layer, and gamma/beta of a batch-norm.
 */
typedef struct {
  GembaLayerKind kind;
  int in_h, in_w, in_c;
  int out_h, out_w, out_c;
  int kh, kw, stride, pad, groups; /* convolution and pooling */
  float p;                          /* dropout probability */
  float eps, momentum;              /* batch-norm */
  GembaLayerKind act;               /* batch-norm, and convolutions after
                                     * gemba_layer_freeze(): GEMBA_LAYER_RELU or _RELU6 applied
                                     * to its output (fused, one pass less), else none */
  gsize n_w, n_b;                   /* parameter counts (n_b == 0: no bias) */
  float *w, *b;
  float *gw, *gb;
  float *running_mean, *running_var; /* batch-norm statistics */
  float *save_mean, *save_invstd;    /* batch-norm: statistics of the last training batch */
  /* private */
  float *aux;                        /* dropout mask, depthwise weights transposed */
  gsize aux_size;
  double *partial;
  gsize partial_size;
  gboolean frozen;                   /* gemba_layer_freeze(): inference only */
  float *packed;                     /* frozen convolution: weights for the direct kernels */
} GembaLayer;

GEMBA_API GembaLayer *gemba_layer_new_conv (int in_h, int in_w, int in_c, int out_c,
                                            int kh, int kw, int stride, int pad, int groups,
                                            gboolean bias);
GEMBA_API GembaLayer *gemba_layer_new_batch_norm (int h, int w, int c);
GEMBA_API GembaLayer *gemba_layer_new_relu (int h, int w, int c, gboolean relu6);
GEMBA_API GembaLayer *gemba_layer_new_pool (GembaLayerKind kind, int in_h, int in_w, int c,
                                            int k, int stride, int pad);
GEMBA_API GembaLayer *gemba_layer_new_global_avg_pool (int in_h, int in_w, int c);
GEMBA_API GembaLayer *gemba_layer_new_linear (int in, int out, gboolean bias);
GEMBA_API GembaLayer *gemba_layer_new_dropout (int h, int w, int c, float p);
GEMBA_API GembaLayer *gemba_layer_new_add (int h, int w, int c);
GEMBA_API void gemba_layer_free (GembaLayer *l);

/* "conv", "batch-norm", ...; used in saved models and messages. */
GEMBA_API const char *gemba_layer_kind_name (GembaLayerKind kind);
/* Floats per image of the input and output. */
GEMBA_API gsize gemba_layer_in_size (const GembaLayer *l);
GEMBA_API gsize gemba_layer_out_size (const GembaLayer *l);
/* Whether the layer may write its output over its input (elementwise layers). */
GEMBA_API gboolean gemba_layer_can_run_in_place (const GembaLayer *l);
/* Floats of per-thread scratch the layer needs for a batch of @batch images. */
GEMBA_API gsize gemba_layer_scratch_floats (const GembaLayer *l, int batch, int n_threads);
/* He-normal (convolution, linear) or unit/zero (batch-norm) initialisation. */
GEMBA_API void gemba_layer_init_params (GembaLayer *l, GembaRng *rng);
GEMBA_API void gemba_layer_zero_grad (GembaLayer *l);

/* y = layer (x [, x2]) for @batch images. @training selects batch statistics (batch-norm) and
 * enables dropout, whose mask is drawn from @seed (per image, independent of threads). */
GEMBA_API void gemba_layer_forward (GembaLayer *l, GembaPool *pool, int batch,
                                    const float *x, const float *x2, float *y,
                                    gboolean training, guint64 seed);
/* From dy, accumulates parameter gradients and computes dx (and dx2 for add). @dx may be NULL
 * (first layer). With @accumulate (@accumulate2) dx (dx2) is added to, else overwritten. The
 * forward pass must have been run with the same inputs just before (@y is its output). */
GEMBA_API void gemba_layer_backward (GembaLayer *l, GembaPool *pool, int batch, gboolean training,
                                     const float *x, const float *x2, const float *y,
                                     const float *dy, float *dx, gboolean accumulate,
                                     float *dx2, gboolean accumulate2);

/* From now on the layer only runs inference with its current weights (later changes to them are
 * not seen; backward is not possible): a max-pool keeps no argmax, a convolution packs its weights for the direct kernels where the CPU has them, and
 * applies @act (GEMBA_LAYER_RELU or _RELU6; anything else: none) to its output. */
GEMBA_API void gemba_layer_freeze (GembaLayer *l, GembaLayerKind act);

/* Internal (not exported): a convolution's forward pass with @res (the output's shape) added
 * to its output, after the activation: a residual connection fused in (inference; backward
 * knows nothing of it). */
void gemba_layer_forward_residual (GembaLayer *conv, GembaPool *pool, int batch,
                                   const float *x, const float *res, float *y);
/* Internal: whether gemba_layer_forward_pooled() can run @conv (frozen, with packed weights)
 * and the max-pool @pool (frozen, windows that do not overlap) that follows it as one; and
 * running them so: @y_pool = pool (conv (x)), @y (the convolution's output) used as scratch,
 * the rows no window reads left unwritten. With @next (a convolution for which
 * gemba_layer_can_take_padded() is true) the pool's output goes into @next's zero-bordered
 * copy of its input instead of @y_pool, and @next then runs with
 * gemba_layer_forward_padded(). @x NULL: @conv's input is already there in the same way. */
gboolean gemba_layer_can_fuse_pool (const GembaLayer *conv, const GembaLayer *pool);
gboolean gemba_layer_can_take_padded (const GembaLayer *conv, const GembaLayer *pool);
void gemba_layer_forward_pooled (GembaLayer *conv, const GembaLayer *pool, GembaPool *gpool,
                                 int batch, const float *x, float *y, float *y_pool,
                                 GembaLayer *next);
void gemba_layer_forward_padded (GembaLayer *conv, GembaPool *pool, int batch, float *y);

/* Internal: whether gemba_layer_forward_block() can run @expand (a pointwise convolution, or
 * NULL: none), the depthwise convolution @dw and the pointwise @project (all frozen, with packed
 * weights) as one; and running them so, y = project (dw (expand (x))) [+ res], in bands of rows
 * whose intermediate activations stay in each thread's cache and never go to memory. */
gboolean gemba_layer_can_fuse_block (const GembaLayer *expand, const GembaLayer *dw,
                                     const GembaLayer *project);
void gemba_layer_forward_block (const GembaLayer *expand, const GembaLayer *dw,
                                const GembaLayer *project, GembaPool *pool, int batch,
                                const float *x, const float *res, float *y);

/* Folds an inference-mode batch-norm into the convolution before it (adds a bias if needed). */
GEMBA_API void gemba_layer_fold_batch_norm (GembaLayer *conv, const GembaLayer *bn);

/**
 * gemba_softmax_cross_entropy:
 * @logits: [n][k]
 * @labels: class of each sample
 * @class_weights: (nullable): per-class weights (PyTorch's `weight`)
 * @sample_weights: (nullable): per-sample weights
 * @probs: (nullable): receives the softmax [n][k]
 * @dlogits: (nullable): receives d loss / d logits
 *
 * Returns the weighted mean loss: sum_i s_i w_{y_i} nll_i / sum_i s_i w_{y_i}, which is
 * PyTorch's cross_entropy with class weights when every s_i is 1.
 */
GEMBA_API double gemba_softmax_cross_entropy (const float *logits, int n, int k, const int *labels,
                                              const float *class_weights,
                                              const float *sample_weights,
                                              float *probs, float *dlogits);
/* Softmax of each row, in place. */
GEMBA_API void gemba_softmax (float *logits, int n, int k);

G_END_DECLS
