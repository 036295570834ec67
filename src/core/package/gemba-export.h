/* gemba-export.h: a project's model version as a signed package, behind the regression gate;
 * and the production side: a classifier loaded from a verified package
 *
 * The regression gate compares the model with the production model frame by frame on the
 * locked test split, both classified now with GembaClassifier (the code `gemba infer` and
 * production run), and on the corrections; see gemba-gate.h for when it refuses.
 * A refusal (GEMBA_ERROR_REFUSED) names the frames and classes. With
 * @force and a written @reason the package is exported anyway; the reason goes into the audit
 * trail, the manifest ("gate") and the model card. Without a production model (or when the
 * model is production) there is nothing to compare with, and the manifest says so.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "gemba-types.h"
#include "gemba-keys.h"
#include "gemba-package.h"
#include "gemba-classifier.h"
#include "gemba-gate.h"

G_BEGIN_DECLS

/**
 * GembaExportOptions:
 * @name: (nullable): the model's name in the package (default: the project's name)
 * @version: (nullable): the version (default: the model's number, "5")
 * @key: signs the package
 * @force: export even when the gate refuses
 * @reason: (nullable): why; required with @force
 * @n_threads: classifier threads (0: all cores)
 * @gate_result: (out) (nullable): receives the gate's frames fixed and broken per class when
 *   there was a production model to compare with (free with gemba_gate_result_free())
 */
typedef struct {
  const char *name;
  const char *version;
  GembaSecretKey *key;
  gboolean force;
  const char *reason;
  int n_threads;
  GembaGateResult **gate_result;
} GembaExportOptions;

/* Gates, builds (weights, ONNX, manifest, model card), signs and writes model @model_id of
 * @store to @path (atomically), and records it in the audit trail. From a read-only project
 * it exports without the audit record, and refuses a forced export (it must be recorded). */
GEMBA_API gboolean gemba_package_export (GembaStore *store, gint64 model_id, const char *path,
                                         const GembaExportOptions *options, GError **error);

/* Runs the regression gate alone, writing nothing: @failures receives one line per failure
 * (an empty list when the model passes) and @result (nullable; NULL when there is no
 * production model to compare with) the frames fixed and broken per class. What
 * gemba_package_export() would refuse, so that a user can see it before choosing to write or
 * to force. */
GEMBA_API gboolean gemba_package_check_gate (GembaStore *store, gint64 model_id, int n_threads,
                                             char ***failures, GembaGateResult **result,
                                             GError **error);

/* The model a verified package holds (classes, preprocessing, architecture, weights). */
GEMBA_API GembaModel *gemba_package_get_model (GembaPackage *package, GError **error);

/**
 * gemba_package_classifier_load:
 * @path: a package file
 * @trust: the public keys this line accepts
 *
 * Loads @path, refusing it unless its signature verifies against @trust and every member
 * matches the manifest, and returns a classifier that preprocesses frames exactly as the model
 * was trained (gemba_classifier_classify_rgb(), gemba_classifier_classify_file()), on all
 * cores. For another thread count: gemba_package_get_model(), then
 * gemba_classifier_new_from_model().
 *
 *   g_autoptr(GembaTrust) trust = gemba_trust_new ();
 *   if (!gemba_trust_add_path (trust, "/etc/gemba/line-keys", &error)) …
 *   g_autoptr(GembaClassifier) c = gemba_package_classifier_load ("washer.gemba", trust, &error);
 *   int verdict = gemba_classifier_classify_rgb (c, rgb, width, height, stride, probs, &error);
 */
GEMBA_API GembaClassifier *gemba_package_classifier_load (const char *path, GembaTrust *trust,
                                                          GError **error);

G_END_DECLS
