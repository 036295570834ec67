/* gemba-onnx.h: a Gemba network as an ONNX model, for ONNX Runtime, OpenVINO or TensorRT
 *
 * The model (IR version 7, opset 13, written with protobuf-c from the official field numbers
 * of onnx.proto, see onnx-subset.proto) has:
 *
 *   input  "input"          float [N, C, H, W]: the preprocessed image, channels first, exactly
 *                           what Gemba feeds its own network (see the manifest's "input": resize,
 *                           then value × scale, then (value − mean) / std per channel)
 *   output "logits"         float [N, classes]
 *   output "probabilities"  float [N, classes]: Softmax of the logits, in the manifest's class
 *                           order
 *
 * Batch-norms that follow a convolution are folded into it, with the same arithmetic as
 * gemba_layer_fold_batch_norm(); the network itself is not changed. A batch-norm elsewhere
 * becomes BatchNormalization. Convolutions (grouped and depthwise included) become Conv,
 * ReLU Relu, ReLU6 Clip(0, 6), pools MaxPool / AveragePool (count_include_pad, as Gemba) /
 * GlobalAveragePool + Flatten, linear layers Gemm, residual additions Add; dropout is dropped.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "gemba-types.h"
#include "gemba-net.h"

G_BEGIN_DECLS

#define GEMBA_ONNX_OPSET 13
#define GEMBA_ONNX_IR_VERSION 7

/**
 * gemba_onnx_export:
 * @net: the network, with trained parameters (folded or not)
 * @model_name: (nullable): the graph's name, e.g. "washer-inspect 1.4.0"
 * @classes: (nullable): class names in output order, stored in the model's metadata ("classes",
 *   one per line)
 *
 * Returns: the serialised ModelProto, or NULL with UNSUPPORTED for a layer ONNX cannot express
 * as Gemba computes it.
 */
GEMBA_API GBytes *gemba_onnx_export (GembaNet *net, const char *model_name,
                                     const char * const *classes, GError **error);

G_END_DECLS
