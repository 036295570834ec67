/* gemba-train.h: training runs (cancellable, reproducible, with progress) and fine-tuning
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "gemba-types.h"
#include "gemba-net.h"
#include "gemba-optim.h"
#include "gemba-augment.h"
#include "gemba-model.h"

G_BEGIN_DECLS

/**
 * GembaTrainSettings:
 * @net: architecture; n_classes and the input size are filled in from the class list and
 *   @input when the run starts
 * @input: how frames become inputs (size, crop, colour, normalisation)
 * @augment: shop-floor augmentation (on by default)
 * @epochs: maximum epochs
 * @batch_size: images per step
 * @lr: peak learning rate
 * @optimizer: SGD (with @momentum) or AdamW
 * @momentum: SGD momentum
 * @weight_decay: applied to convolution and linear weights
 * @warmup_epochs: linear warm-up, then cosine decay to zero
 * @patience: stop when validation accuracy has not improved for this many epochs of the
 *   schedule's second half (0: never)
 * @average_weights: keep the mean of the weights at the end of each epoch of the schedule's
 *   second half (stochastic weight averaging), with batch-norm statistics measured afresh on
 *   the training frames; otherwise the second half's best epoch on the validation frames (the
 *   last epoch without validation frames)
 * @balance_classes: weight classes by inverse frequency in the loss
 * @seed: the run is reproducible from it (for the same thread count)
 * @threads: worker threads (0: all processors)
 */
typedef struct {
  GembaNetConfig net;
  GembaPreprocess input;
  GembaAugment augment;
  int epochs;
  int batch_size;
  float lr;
  GembaOptimizerKind optimizer;
  float momentum;
  float weight_decay;
  float warmup_epochs;
  int patience;
  gboolean average_weights;
  gboolean balance_classes;
  guint64 seed;
  int threads;
} GembaTrainSettings;

/* Defaults for @arch: small CNN at 128×128 (AdamW, lr 2e-3, 30 epochs, batch 32) or
 * MobileNetV2 1.0 at 224×224 (SGD 0.05 momentum 0.9, 40 epochs); augmentation and weight
 * averaging on. */
GEMBA_API void gemba_train_settings_init (GembaTrainSettings *settings, GembaArch arch);
GEMBA_API JsonObject *gemba_train_settings_to_json (const GembaTrainSettings *settings);
GEMBA_API gboolean gemba_train_settings_from_json (GembaTrainSettings *settings, JsonObject *o,
                                                   GError **error);

/**
 * GembaTrainSample:
 * @path: (nullable): image file (decoded with gemba-image)
 * @image: (nullable): an already decoded frame; used instead of @path when set
 * @label: class index
 * @weight: loss weight (1 normally; more for corrected false readings; 0 counts as 1)
 */
typedef struct {
  const char *path;
  const GembaImage *image;
  int label;
  float weight;
} GembaTrainSample;

/**
 * GembaTrainProgress:
 * @epoch: current epoch, from 1 (0 while images are being loaded)
 * @n_epochs: maximum epochs
 * @step: step within the epoch, from 1 (while loading: images loaded)
 * @n_steps: steps per epoch (while loading: images to load)
 * @loss: mean training loss of the epoch so far
 * @accuracy: training accuracy of the epoch so far (on augmented inputs)
 * @val_loss: validation loss after the last finished epoch (NAN before / without validation)
 * @val_accuracy: validation accuracy after the last finished epoch (NAN likewise)
 * @lr: learning rate of the step
 * @images_per_second: training throughput of the epoch so far
 * @eta_seconds: estimated time to the last epoch's end
 * @epoch_done: TRUE on the report that ends an epoch (validation figures updated)
 * @saved_model_id: 0 from the trainer; gemba_workflow_train() sends one last report with the
 *   id of the model it has just saved, before it evaluates it: from then on the model stays,
 *   and cancelling only skips the evaluation
 */
typedef struct {
  int epoch, n_epochs;
  int step, n_steps;
  double loss, accuracy;
  double val_loss, val_accuracy;
  double lr;
  double images_per_second;
  double eta_seconds;
  gboolean epoch_done;
  gint64 saved_model_id;
} GembaTrainProgress;

typedef void (*GembaTrainProgressFunc) (const GembaTrainProgress *progress, gpointer user_data);

#define GEMBA_TYPE_TRAINER (gemba_trainer_get_type ())
GEMBA_API G_DECLARE_FINAL_TYPE (GembaTrainer, gemba_trainer, GEMBA, TRAINER, GObject)

/* A trainer for @n_classes classes named @class_names (NULL-terminated). */
GEMBA_API GembaTrainer *gemba_trainer_new (const GembaTrainSettings *settings,
                                           const char *const *class_names);
/* Copies the sample arrays (not the images or paths, which must outlive the run). @val may
 * be empty (then there is no early stopping, and without weight averaging the last epoch's
 * weights are kept). */
GEMBA_API void gemba_trainer_set_samples (GembaTrainer *self, const GembaTrainSample *train,
                                          gsize n_train, const GembaTrainSample *val,
                                          gsize n_val);
/* Fine-tuning: start from @parent's weights. Its architecture and input recipe replace the
 * settings'; classes are matched by name, and classes new since the parent get fresh output
 * rows. */
GEMBA_API void gemba_trainer_set_parent (GembaTrainer *self, GembaModel *parent);
GEMBA_API const GembaTrainSettings *gemba_trainer_get_settings (GembaTrainer *self);

/* Runs the training in the calling thread; @progress_cb is called from it. Returns the model
 * (not saved anywhere) or NULL: GEMBA_ERROR_CANCELLED, or an error naming the file that could
 * not be read. */
GEMBA_API GembaModel *gemba_trainer_run (GembaTrainer *self, GCancellable *cancellable,
                                         GembaTrainProgressFunc progress_cb, gpointer user_data,
                                         GError **error);
/* The same in a worker thread; @progress_cb is invoked on the calling thread's main context. */
GEMBA_API void gemba_trainer_run_async (GembaTrainer *self, GCancellable *cancellable,
                                        GembaTrainProgressFunc progress_cb,
                                        gpointer progress_data, GDestroyNotify progress_destroy,
                                        GAsyncReadyCallback callback, gpointer user_data);
GEMBA_API GembaModel *gemba_trainer_run_finish (GembaTrainer *self, GAsyncResult *result,
                                                GError **error);

G_END_DECLS
