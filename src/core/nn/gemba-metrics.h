/* gemba-metrics.h: accuracy, per-class precision and recall, confusion matrix
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include "gemba-types.h"

G_BEGIN_DECLS

/**
 * GembaMetrics:
 * @n_classes: classes
 * @confusion: [truth][prediction] counts, @n_classes × @n_classes
 * @total: samples counted
 */
typedef struct {
  int n_classes;
  guint *confusion;
  guint total;
} GembaMetrics;

GEMBA_API GembaMetrics *gemba_metrics_new (int n_classes);
GEMBA_API void gemba_metrics_free (GembaMetrics *m);
GEMBA_API void gemba_metrics_add (GembaMetrics *m, int truth, int prediction);
/* Fraction correct (0 when empty). */
GEMBA_API double gemba_metrics_accuracy (const GembaMetrics *m);
/* Of the samples predicted as @cls, the fraction that are @cls (NAN when none). */
GEMBA_API double gemba_metrics_precision (const GembaMetrics *m, int cls);
/* Of the samples of @cls, the fraction predicted as @cls (NAN when none). */
GEMBA_API double gemba_metrics_recall (const GembaMetrics *m, int cls);
GEMBA_API guint gemba_metrics_count (const GembaMetrics *m, int truth, int prediction);
/* {"accuracy", "total", "classes": [{"name", "precision", "recall", "support"}],
 *  "confusion": [[...]]}; @class_names may be NULL. */
GEMBA_API JsonNode *gemba_metrics_to_json (const GembaMetrics *m, const char *const *class_names);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaMetrics, gemba_metrics_free)

G_END_DECLS
