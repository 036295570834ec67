/* gemba-optim.h: SGD with momentum, AdamW, and the learning-rate schedule
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "gemba-types.h"
#include "gemba-net.h"

G_BEGIN_DECLS

typedef enum {
  GEMBA_OPTIMIZER_SGD,
  GEMBA_OPTIMIZER_ADAMW,
} GembaOptimizerKind;

/* "sgd" / "adamw" */
GEMBA_API const char *gemba_optimizer_kind_to_string (GembaOptimizerKind kind);
GEMBA_API gboolean gemba_optimizer_kind_from_string (const char *name, GembaOptimizerKind *kind);

typedef struct _GembaOptimizer GembaOptimizer;

/* An optimizer over the trainable parameters of @net (those with a gradient). Weight decay
 * applies to parameters whose decay flag is set. SGD follows PyTorch (v = m v + g + wd w;
 * w -= lr v); AdamW follows PyTorch's AdamW (decoupled decay, bias-corrected moments). */
GEMBA_API GembaOptimizer *gemba_optimizer_new (GembaOptimizerKind kind, GembaNet *net,
                                               float momentum, float weight_decay);
GEMBA_API void gemba_optimizer_free (GembaOptimizer *opt);
/* One update with the gradients currently in the network. */
GEMBA_API void gemba_optimizer_step (GembaOptimizer *opt, float lr);

/* Learning rate of step @step (0-based) of @total: linear warm-up over @warmup steps, then a
 * cosine decay to zero. */
GEMBA_API float gemba_lr_schedule (float base_lr, int step, int total, int warmup);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaOptimizer, gemba_optimizer_free)

G_END_DECLS
