/* gemba-classifier.h: inference — load a model, classify RGB buffers or image files
 *
 * Usable without the rest of Gemba: only a model folder is needed. Batch-norm is folded into
 * the convolutions when the classifier is made. A classifier may be used from several threads
 * (calls are serialised); make one per thread for parallel inference.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>
#include "gemba-types.h"
#include "gemba-model.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_CLASSIFIER (gemba_classifier_get_type ())
GEMBA_API G_DECLARE_FINAL_TYPE (GembaClassifier, gemba_classifier, GEMBA, CLASSIFIER, GObject)

/* A classifier with a copy of @model's network (the model is not modified). @n_threads: 0 for
 * one per processor. */
GEMBA_API GembaClassifier *gemba_classifier_new_from_model (GembaModel *model, int n_threads,
                                                            GError **error);
/* Loads the model folder @dir (see gemba_model_load()). */
GEMBA_API GembaClassifier *gemba_classifier_new_from_dir (const char *dir, int n_threads,
                                                          GError **error);

GEMBA_API int gemba_classifier_get_n_classes (GembaClassifier *self);
GEMBA_API const char *gemba_classifier_get_class_name (GembaClassifier *self, int index);
GEMBA_API GembaModel *gemba_classifier_get_model (GembaClassifier *self);

/* Classifies an RGB frame (@stride bytes per row) exactly as the model was trained; fills
 * @probs_out (n_classes floats, may be NULL) and returns the verdict (the most probable
 * class), or -1 with @error set. */
GEMBA_API int gemba_classifier_classify_rgb (GembaClassifier *self, const guint8 *rgb,
                                             int width, int height, int stride,
                                             float *probs_out, GError **error);
/* The same for an image file; errors name the file. */
GEMBA_API int gemba_classifier_classify_file (GembaClassifier *self, const char *path,
                                              float *probs_out, GError **error);
/* Many files at once, decoded in parallel and run in batches. @verdicts[i] is -1 for a file
 * that could not be read, with its error in @errors[i] when @errors is not NULL (free each).
 * @probs_out holds n × n_classes floats (may be NULL). Returns the number classified. */
GEMBA_API guint gemba_classifier_classify_files (GembaClassifier *self, const char *const *paths,
                                                 guint n, int *verdicts, float *probs_out,
                                                 GError **errors);

G_END_DECLS
