/* gemba-model.h: a trained classifier: architecture, input recipe, classes and weights
 *
 * On disk a model is a folder with model.json (architecture, input, classes, settings,
 * training log and metrics) and weights.bin (little-endian tensors with a versioned header
 * and a SHA-256 trailer). Saving is atomic: a temporary folder is renamed into place.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>
#include "gemba-types.h"
#include "gemba-net.h"
#include "gemba-augment.h"

G_BEGIN_DECLS

#define GEMBA_MODEL_FORMAT_VERSION 1
#define GEMBA_WEIGHTS_VERSION 1

#define GEMBA_TYPE_MODEL (gemba_model_get_type ())
GEMBA_API G_DECLARE_FINAL_TYPE (GembaModel, gemba_model, GEMBA, MODEL, GObject)

/* A model with freshly initialised weights (from @seed). @class_names is NULL-terminated and
 * its length must be config->n_classes; names must be unique and non-empty. */
GEMBA_API GembaModel *gemba_model_new (const GembaNetConfig *config, const GembaPreprocess *pp,
                                       const char *const *class_names, guint64 seed,
                                       GError **error);
/* Loads and validates a model folder; damaged files are GEMBA_ERROR_CORRUPT naming the file,
 * a newer format GEMBA_ERROR_TOO_NEW. */
GEMBA_API GembaModel *gemba_model_load (const char *dir, GError **error);
/* Writes the folder atomically; GEMBA_ERROR_EXISTS if @dir exists. */
GEMBA_API gboolean gemba_model_save (GembaModel *self, const char *dir, GError **error);

GEMBA_API GembaNet *gemba_model_get_net (GembaModel *self);
GEMBA_API const GembaNetConfig *gemba_model_get_config (GembaModel *self);
GEMBA_API const GembaPreprocess *gemba_model_get_preprocess (GembaModel *self);
/* NULL-terminated class names, in output order. */
GEMBA_API const char *const *gemba_model_get_class_names (GembaModel *self);
GEMBA_API int gemba_model_get_n_classes (GembaModel *self);
/* Index of a class, or -1. */
GEMBA_API int gemba_model_find_class (GembaModel *self, const char *name);
/* GEMBA_ERROR_INVALID with the differences spelled out unless @class_names (NULL-terminated)
 * is exactly the model's classes in the same order. */
GEMBA_API gboolean gemba_model_check_classes (GembaModel *self, const char *const *class_names,
                                              GError **error);

/* Training settings (see gemba_train_settings_to_json()) and the training record (seed, log,
 * metrics, durations, parent); empty objects for an untrained model. Owned by the model. */
GEMBA_API JsonObject *gemba_model_get_settings (GembaModel *self);
GEMBA_API JsonObject *gemba_model_get_training (GembaModel *self);
GEMBA_API void gemba_model_set_settings (GembaModel *self, JsonObject *settings);
GEMBA_API void gemba_model_set_training (GembaModel *self, JsonObject *training);
/* Hex SHA-256 of weights.bin as last saved or loaded (NULL before). */
GEMBA_API const char *gemba_model_get_weights_sha256 (GembaModel *self);

/* The weights alone, for packages: serialise to / read from bytes. */
GEMBA_API GBytes *gemba_model_serialize_weights (GembaModel *self);
GEMBA_API gboolean gemba_model_deserialize_weights (GembaModel *self, GBytes *bytes,
                                                    const char *name, GError **error);

G_END_DECLS
