/* gemba-workflow.h: train, evaluate and predict with a project's models
 *
 * What `gemba train/eval/predict` and the workbench's training and models pages do: the
 * project's labels and splits go in, model versions, metrics and per-frame predictions come
 * out, recorded in the store. Every function may run in a worker thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "gemba-types.h"
#include "gemba-metrics.h"
#include "gemba-store.h"
#include "gemba-store-models.h"
#include "gemba-train.h"

G_BEGIN_DECLS

/* Corrections (gemba_store_list_corrections()) weigh this much more than other frames when
 * training a new model. */
#define GEMBA_WORKFLOW_FALSE_READING_WEIGHT 3.0f

/* A fine-tune instead trains on each frame labeled since its parent this many times on average
 * (weight 1), mixed in every batch with the frames its parent learned (bench/loop: a loss weight
 * collapsed on error-dense corrections); the repeats follow the class mix of the training split,
 * so each frame gets between 1 and twice this many. Over a fine-tune's whole schedule 10
 * repeats learned the queue's 50 frames by heart (bench/loop's dev seeds, old / new lighting:
 * 85.7 / 85.2 % against 86.9 / 86.2 % with 3). */
#define GEMBA_WORKFLOW_FINETUNE_CORRECTION_REPEATS 3

/* With @pseudo_labels, a fine-tune also trains once on each unlabeled frame (outside the test
 * split) of the sources its corrections come from that production classified with at least
 * this probability, labeled with production's verdict. */
#define GEMBA_WORKFLOW_PSEUDO_LABEL_CONFIDENCE 0.95

/**
 * GembaWorkflowTrainOptions:
 * @parent_id: the model to fine-tune, 0 to train from scratch
 * @settings: training settings (architecture, input, epochs, …); for a fine-tune the
 *   parent's architecture and input recipe win
 * @false_reading_weight: loss weight of corrections (labels a person gave against
 *   production's verdict) when training a new model; a fine-tune repeats them (and every frame
 *   labeled since its parent) GEMBA_WORKFLOW_FINETUNE_CORRECTION_REPEATS times on average
 *   instead, in the training split's class mix
 * @adapt_to_data: size the batch and the number of epochs to the data set, so that a few
 *   hundred frames still get enough optimiser steps (gemba_workflow_adapt_schedule());
 *   early stopping still applies
 * @auto_input_size: a new small CNN's input size comes from the frames
 *   (gemba_workflow_input_size_for_frames()) instead of @settings.input; a fine-tune always
 *   keeps its parent's
 * @pseudo_labels: a fine-tune adds production's confident verdicts on unlabeled frames of the
 *   corrections' sources (GEMBA_WORKFLOW_PSEUDO_LABEL_CONFIDENCE) to its training frames
 */
typedef struct {
  gint64 parent_id;
  GembaTrainSettings settings;
  float false_reading_weight;
  gboolean adapt_to_data;
  gboolean auto_input_size;
  gboolean pseudo_labels;
} GembaWorkflowTrainOptions;

#define GEMBA_WORKFLOW_MIN_STEPS 600

/* A fine-tune starts from weights that already know the frames: it trains for half a new
 * model's schedule, this many epochs (more on small data sets, so that it gets
 * GEMBA_WORKFLOW_MIN_STEPS / 2 steps). On bench/loop's dev frames, old / new lighting after the queue's 50: 84.5 / 84.3 % in 10
 * epochs, 85.5 / 83.2 % in 20, 83.6 / 81.2 % in 7. */
#define GEMBA_WORKFLOW_FINETUNE_EPOCHS 10

/* Sizes @settings to @n_train training samples (@adapt_to_data): batch 16 below 1,000, and
 * enough epochs for GEMBA_WORKFLOW_MIN_STEPS steps (half for a @fine_tune), never fewer than
 * @settings asks, at most 80 (40 for a fine-tune). */
GEMBA_API void gemba_workflow_adapt_schedule (GembaTrainSettings *settings, guint n_train,
                                              gboolean fine_tune);

/* Bounds of the input size picked from the frames, in pixels. */
#define GEMBA_WORKFLOW_MIN_AUTO_SIZE 32
#define GEMBA_WORKFLOW_MAX_AUTO_SIZE 128

/* The input size that fits the labeled frames: the largest multiple of 32 not above their
 * median short side, between GEMBA_WORKFLOW_MIN_AUTO_SIZE and _MAX_AUTO_SIZE (the maximum
 * when nothing is labeled). Upscaling small frames adds no detail, only time. */
GEMBA_API int gemba_workflow_input_size_for_frames (GembaStore *store, GError **error);

/* Defaults: a new small CNN whose input size fits the frames, 20 epochs at most with early
 * stopping (a first model on 1,000 frames of 64 × 64 trains in under 30 s on two cores), or
 * (with @parent_id) the same recipe from the parent's weights for
 * GEMBA_WORKFLOW_FINETUNE_EPOCHS; both adapted to the data set's size. */
GEMBA_API void gemba_workflow_train_options_init (GembaWorkflowTrainOptions *options,
                                                  gint64 parent_id);

/* Trains a model on the labeled frames of the train split (validation on val), evaluates it
 * on the locked test split, and records it as a new version with its metrics and its
 * predictions for the test frames and the corrections. Frames without a split
 * are assigned first (test 0.2, val 0.1). A run cancelled or failed before its model is
 * saved leaves no model, only an entry in the runs table; once saved (the progress report
 * with @saved_model_id), cancelling skips the evaluation and returns the model unevaluated
 * (test_accuracy < 0). Clear errors for: no labeled frames to train on, fewer than two
 * classes, a class without training examples, a parent whose files are damaged. */
GEMBA_API GembaModelRecord *gemba_workflow_train (GembaStore *store,
                                                  const GembaWorkflowTrainOptions *options,
                                                  GCancellable *cancellable,
                                                  GembaTrainProgressFunc progress,
                                                  gpointer user_data, GError **error);

/**
 * GembaEvaluation:
 * What a model makes of the labeled frames of the locked test split.
 * @metrics: confusion matrix over the model's classes
 * @class_names: the model's classes, in output order
 * @n_frames: test frames evaluated
 * @frame_ids: their row ids
 * @truth: their labels as model output indices
 * @verdicts: the model's verdicts
 * @probabilities: @n_frames rows of @metrics->n_classes
 * @n_unknown: test frames skipped because their class is not one of the model's
 */
typedef struct {
  GembaMetrics *metrics;
  char **class_names;
  guint n_frames;
  gint64 *frame_ids;
  int *truth;
  int *verdicts;
  float *probabilities;
  guint n_unknown;
} GembaEvaluation;

GEMBA_API void gemba_evaluation_free (GembaEvaluation *evaluation);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaEvaluation, gemba_evaluation_free)

/* Evaluates @model_id on the locked test split, stores its metrics and its predictions for
 * those frames. */
GEMBA_API GembaEvaluation *gemba_workflow_evaluate (GembaStore *store, gint64 model_id,
                                                    GCancellable *cancellable, GError **error);

typedef void (*GembaWorkflowProgressFunc) (guint done, guint total, gpointer user_data);

/* Classifies the frames matching @query (NULL: every frame) with @model_id and stores the
 * predictions, in batches; returns how many frames were classified. Frames whose file cannot
 * be read are reported in @error only if none could be classified. */
GEMBA_API gint64 gemba_workflow_predict (GembaStore *store, gint64 model_id,
                                         const GembaFrameQuery *query, GCancellable *cancellable,
                                         GembaWorkflowProgressFunc progress, gpointer user_data,
                                         GError **error);

/* Promote: classifies every frame with @model_id (storing the predictions, with progress) and
 * makes it production (audited), so that the review queue, the false readings and the suspect
 * labels follow it. What `gemba promote` and the Models page's Promote do. Returns how many
 * frames were classified, -1 on error or cancellation (production unchanged). */
GEMBA_API gint64 gemba_workflow_promote (GembaStore *store, gint64 model_id,
                                         GCancellable *cancellable,
                                         GembaWorkflowProgressFunc progress, gpointer user_data,
                                         GError **error);

/**
 * GembaChangedFrame:
 * A frame two models read differently.
 * @label: the person's verdict
 * @verdict_a, @verdict_b: the two models' verdicts
 * @test: in the locked test split (else a correction, from the stored predictions)
 */
typedef struct {
  GembaFrame *frame;
  char *label;
  char *verdict_a;
  char *verdict_b;
  gboolean test;
} GembaChangedFrame;

/**
 * GembaComparison:
 * Two model versions side by side: what the Models page and `gemba compare` show.
 * @ea, @eb: their evaluations on the locked test split (@eb NULL when @a is @b)
 * @change: gemba_workflow_describe_change() of @b when @a is production, else NULL
 * @changed: GembaChangedFrame, test frames first
 * @n_compared: test frames both evaluated
 */
typedef struct {
  GembaModelRecord *a, *b;
  GembaEvaluation *ea, *eb;
  char *change;
  GPtrArray *changed;
  guint n_compared;
} GembaComparison;

GEMBA_API void gemba_comparison_free (GembaComparison *comparison);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaComparison, gemba_comparison_free)

/**
 * GembaComparisonClass:
 * One class of a comparison, as the Models page and `gemba compare` list it.
 * @name: the class (borrowed from the comparison)
 * @precision_a, @precision_b, @recall_a, @recall_b: NAN when the model does not know the class
 *   (and the @b values when the comparison has one evaluation)
 * @n_test: labeled test frames of the class
 */
typedef struct {
  const char *name;
  double precision_a, precision_b;
  double recall_a, recall_b;
  guint n_test;
} GembaComparisonClass;

/**
 * GembaChange:
 * What a changed frame's new reading (@verdict_b) did against the old (@verdict_a).
 * @GEMBA_CHANGE_FIXED: now right, wrong before
 * @GEMBA_CHANGE_BROKEN: now wrong, right before
 * @GEMBA_CHANGE_STILL_WRONG: wrong before and now, differently
 */
typedef enum {
  GEMBA_CHANGE_FIXED,
  GEMBA_CHANGE_BROKEN,
  GEMBA_CHANGE_STILL_WRONG,
} GembaChange;

/* Whether @frame's verdict from @b fixed, broke or still misses its label. */
GEMBA_API GembaChange gemba_changed_frame_get_change (const GembaChangedFrame *frame);

/* Counts the changed frames of @comparison that @b fixed and broke (either may be NULL). */
GEMBA_API void gemba_comparison_count_changes (const GembaComparison *comparison,
                                               guint *n_fixed, guint *n_broken);

/* The classes of @a, then those only @b knows, with their metrics in both. Array of
 * GembaComparisonClass. */
GEMBA_API GArray *gemba_comparison_list_classes (const GembaComparison *comparison);

/* Compare: evaluates models @a and @b on the locked test split (storing their metrics) and
 * lists the frames they read differently, test frames and corrections. */
GEMBA_API GembaComparison *gemba_workflow_compare (GembaStore *store, gint64 a, gint64 b,
                                                   GCancellable *cancellable, GError **error);

/* One sentence on what @model_id changes against production, e.g. "Model 5 fixes 31 of 50
 * corrections and keeps test accuracy at 97.8 % (production: 96.1 %)." Needs the model's
 * metrics (gemba_workflow_evaluate) and predictions for the corrections. */
GEMBA_API char *gemba_workflow_describe_change (GembaStore *store, gint64 model_id,
                                                GError **error);

G_END_DECLS
