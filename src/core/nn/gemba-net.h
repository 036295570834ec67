/* gemba-net.h: network architectures and their forward/backward graph
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "gemba-types.h"
#include "gemba-tensor.h"
#include "gemba-layers.h"

G_BEGIN_DECLS

typedef enum {
  GEMBA_ARCH_SMALL_CNN,
  GEMBA_ARCH_MOBILENET_V2,
} GembaArch;

#define GEMBA_NET_MAX_WIDTHS 8

/**
 * GembaNetConfig:
 * @arch: the family
 * @input_h: input rows
 * @input_w: input columns
 * @input_c: input channels (3 for RGB, 1 for grey)
 * @n_classes: outputs of the classifier
 * @widths: small CNN: channels of each block (e.g. 16, 32, 64, 128)
 * @n_widths: small CNN: number of blocks
 * @depth: small CNN: 3×3 convolutions per block (each followed by batch-norm and ReLU); a
 *   2×2 max-pool ends every block but the last, which global average pooling follows
 * @width_mult: MobileNetV2: width multiplier (0.35–1.0)
 * @dropout: dropout probability before the classifier
 */
typedef struct {
  GembaArch arch;
  int input_h, input_w, input_c;
  int n_classes;
  int widths[GEMBA_NET_MAX_WIDTHS];
  int n_widths;
  int depth;
  float width_mult;
  float dropout;
} GembaNetConfig;

/* "small-cnn" / "mobilenetv2"; parse returns FALSE for an unknown name. */
GEMBA_API const char *gemba_arch_to_string (GembaArch arch);
GEMBA_API gboolean gemba_arch_from_string (const char *name, GembaArch *arch);
/* Small CNN 16-32-64-128, depth 1, 128×128 RGB; MobileNetV2 1.0 at 224×224, dropout 0.2. */
GEMBA_API void gemba_net_config_init (GembaNetConfig *config, GembaArch arch, int n_classes);

/**
 * GembaParam:
 * @name: "<node>.weight", "<node>.bias", "<node>.running_mean", "<node>.running_var"
 * @data: the values
 * @grad: (nullable): the gradient; NULL for batch-norm statistics (not trained)
 * @n: number of floats
 * @shape: dimensions (@ndims of them); convolutions are [out, kh, kw, in/groups]
 * @decay: whether weight decay applies (weights; not biases or batch-norm)
 */
typedef struct {
  char *name;
  float *data;
  float *grad;
  gsize n;
  int shape[4];
  int ndims;
  gboolean decay;
} GembaParam;

typedef struct _GembaNet GembaNet;

/* Builds the layers of @config; INVALID error for impossible shapes. */
GEMBA_API GembaNet *gemba_net_new (const GembaNetConfig *config, GError **error);
GEMBA_API void gemba_net_free (GembaNet *net);
GEMBA_API const GembaNetConfig *gemba_net_get_config (GembaNet *net);
GEMBA_API guint gemba_net_get_n_layers (GembaNet *net);
GEMBA_API GembaLayer *gemba_net_get_layer (GembaNet *net, guint index);
/* The layers whose outputs layer @index reads: @input (-1: the network input) and, for an add,
 * @input2 (else -2). For exporters (ONNX) that rebuild the graph. */
GEMBA_API void gemba_net_get_layer_inputs (GembaNet *net, guint index, int *input, int *input2);
/* Initialises every parameter from @seed: the small CNN as PyTorch's defaults, MobileNetV2 as
 * torchvision (He-normal convolutions). */
GEMBA_API void gemba_net_init_params (GembaNet *net, guint64 seed);
/* Trainable parameters and batch-norm statistics, in a fixed order. */
GEMBA_API GembaParam *gemba_net_get_params (GembaNet *net, guint *n_params);
GEMBA_API GembaParam *gemba_net_find_param (GembaNet *net, const char *name);
/* Number of trainable floats. */
GEMBA_API gsize gemba_net_count_weights (GembaNet *net);
GEMBA_API void gemba_net_zero_grad (GembaNet *net);
/* Multiply-accumulates of one forward pass of one image. */
GEMBA_API double gemba_net_forward_macs (GembaNet *net);

/* Runs the network on @batch images (NHWC, input_h × input_w × input_c each) and returns the
 * logits [batch][n_classes], valid until the next call. @input must stay unchanged until
 * gemba_net_backward(). Buffers are allocated once per batch size. */
GEMBA_API const float *gemba_net_forward (GembaNet *net, GembaPool *pool, const float *input,
                                          int batch, gboolean training, guint64 seed);
/* Back-propagates d loss / d logits through the last forward pass (which must have been a
 * training pass), accumulating parameter gradients. */
GEMBA_API void gemba_net_backward (GembaNet *net, GembaPool *pool, const float *dlogits);
/* Output of layer @index of the last forward pass, and its gradient after the last backward
 * pass (for tests; in-place layers share their input's buffers). Once the network is folded
 * only the last layer's output is sure to be kept (buffers are reused within a pass), and
 * there are no gradients (NULL). */
GEMBA_API const float *gemba_net_get_activation (GembaNet *net, guint index);
GEMBA_API const float *gemba_net_get_activation_grad (GembaNet *net, guint index);
/* Folds every batch-norm that follows a convolution into it (inference only from then on). */
GEMBA_API void gemba_net_fold_batch_norm (GembaNet *net);
/* Copies parameters and statistics from @src, which must have the same configuration. */
GEMBA_API void gemba_net_copy_params (GembaNet *dst, GembaNet *src);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaNet, gemba_net_free)

G_END_DECLS
