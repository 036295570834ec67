/* gemba-store-models.h: model versions, training runs and predictions of a project
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "gemba-store.h"

G_BEGIN_DECLS

/**
 * GembaModelRecord:
 * One trained model version as the project records it. Its weights live in
 * gemba_store_dup_model_dir().
 */
typedef struct {
  gint64 id;
  char *name;                /* "Model 4" unless named */
  gint64 parent_id;          /* the version it was fine-tuned from, 0 for none */
  gint64 created_at;         /* µs since the epoch */
  char *author;              /* who trained it */
  char *architecture;        /* "small-cnn", "mobilenetv2" */
  char **classes;            /* output order */
  char *settings;            /* training settings, JSON */
  guint64 seed;
  gint64 dataset_revision;
  gint64 n_train, n_val, n_test;
  char *metrics;             /* metrics on the locked test split, JSON, may be NULL */
  double test_accuracy;      /* -1 when not evaluated */
  double duration;           /* seconds of training */
  char *weights_sha256;
  gboolean production;
} GembaModelRecord;

GEMBA_API void gemba_model_record_free (GembaModelRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaModelRecord, gemba_model_record_free)

/* Records a trained model: moves the finished folder @staging_dir (written by the trainer
 * under the project, e.g. models/.staging-XXXXXX) to models/<id>/ and inserts its row, in one
 * transaction; @record->id is ignored and the new record is returned. A crash leaves either
 * no model or a whole one. */
GEMBA_API GembaModelRecord *gemba_store_add_model (GembaStore *self,
                                                   const GembaModelRecord *record,
                                                   const char *staging_dir, GError **error);
/* A fresh staging folder under the project for a model being written. */
GEMBA_API char *gemba_store_make_staging_dir (GembaStore *self, GError **error);

/* All model versions, newest first. Array of GembaModelRecord. */
GEMBA_API GPtrArray *gemba_store_list_models (GembaStore *self, GError **error);
GEMBA_API GembaModelRecord *gemba_store_get_model (GembaStore *self, gint64 model_id,
                                                   GError **error);
/* A model by number, or "production" / "latest". */
GEMBA_API GembaModelRecord *gemba_store_find_model (GembaStore *self, const char *spec,
                                                    GError **error);
/* Stores the metrics (JSON) and test accuracy of an evaluation. */
GEMBA_API gboolean gemba_store_set_model_metrics (GembaStore *self, gint64 model_id,
                                                  const char *metrics, double test_accuracy,
                                                  GError **error);
/* Makes @model_id production (audited); the review queue and false readings follow it. */
GEMBA_API gboolean gemba_store_promote_model (GembaStore *self, gint64 model_id, GError **error);
/* The production model's id, or 0. */
GEMBA_API gint64 gemba_store_get_production_model_id (GembaStore *self);

/* Stores one model's predictions for @n frames (replacing older ones of the same model), in
 * one transaction. @probabilities holds @n rows of @n_classes floats in the model's output
 * order; @class_ids maps those outputs to project classes (0 where the class no longer
 * exists). The verdict is the most probable output. */
GEMBA_API gboolean gemba_store_save_predictions (GembaStore *self, gint64 model_id, guint n,
                                                 const gint64 *frame_ids,
                                                 const float *probabilities, guint n_classes,
                                                 const gint64 *class_ids, GError **error);
/* One frame's prediction by @model_id (0: production): verdict class, confidence and the
 * probabilities in the model's output order (free with g_free). FALSE without error when the
 * model has not seen the frame. */
GEMBA_API gboolean gemba_store_get_prediction (GembaStore *self, gint64 model_id,
                                               gint64 frame_id, gint64 *class_id,
                                               double *confidence, float **probabilities,
                                               guint *n_classes, GError **error);
/* How many frames @model_id has predictions for. */
GEMBA_API gint64 gemba_store_count_predictions (GembaStore *self, gint64 model_id,
                                                GError **error);

/* Frames whose current label is a correction: a person's label that the production model's
 * stored verdict disagreed with when it was given (imported labels never are). Fine-tuning
 * weighs them up; the export gate refuses a model that gets one wrong that production gets
 * right. Row ids, oldest correction first. */
GEMBA_API GArray *gemba_store_list_corrections (GembaStore *self, GError **error);

/* Training runs: the record of every attempt, cancelled and failed ones included. */
GEMBA_API gint64 gemba_store_begin_run (GembaStore *self, gint64 parent_id,
                                        const char *settings, GError **error);
/* @status: "done", "cancelled" or "failed"; @model_id 0 when no model came of it. */
GEMBA_API gboolean gemba_store_finish_run (GembaStore *self, gint64 run_id, const char *status,
                                           gint64 model_id, const char *log, GError **error);

G_END_DECLS
