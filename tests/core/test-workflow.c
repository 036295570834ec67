#define G_LOG_DOMAIN "gemba-test-workflow"

#include "config.h"

/* test-workflow.c: where a training run can be cancelled, and what each cancel leaves
 *
 * Before the model is saved a cancel leaves nothing; after (the report with saved_model_id)
 * the model stays and only its evaluation is skipped, so that a Cancel that comes late never
 * reports "no model" while one exists.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <math.h>

#include "gemba.h"
#include "gemba-test-store.h"

typedef struct {
  char *dir;
  char *project;
  GembaStore *store;
} Fixture;

typedef struct {
  GCancellable *cancellable;
  gboolean cancel_in_training;  /* at the first epoch's end */
  gboolean cancel_when_saved;
  guint n_saved;
  gint64 saved_id;
  guint n_after_saved;          /* reports that came after the saved one: must be none */
} Run;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->project = gemba_test_project_path ("gemba-test-workflow-XXXXXX", "demo-line", &f->dir);
  g_assert_true (gemba_demo_create (f->project, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  f->store = gemba_store_open (f->project, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  gemba_test_project_clear (&f->store, &f->project, &f->dir);
}

static void
progress_cb (const GembaTrainProgress *p, gpointer user_data)
{
  Run *run = user_data;

  if (run->n_saved)
    run->n_after_saved++;
  if (p->saved_model_id)
    {
      run->n_saved++;
      run->saved_id = p->saved_model_id;
      if (run->cancel_when_saved)
        g_cancellable_cancel (run->cancellable);
    }
  else if (p->epoch_done && run->cancel_in_training)
    g_cancellable_cancel (run->cancellable);
}

/* A short run: one epoch at 32 × 32. */
static GembaModelRecord *
train (Fixture *f, Run *run, GError **error)
{
  GembaWorkflowTrainOptions options;

  gemba_workflow_train_options_init (&options, 0);
  options.adapt_to_data = FALSE;
  options.settings.epochs = 1;
  gemba_preprocess_init (&options.settings.input, 32);
  run->cancellable = g_cancellable_new ();
  return gemba_workflow_train (f->store, &options, run->cancellable, progress_cb, run, error);
}

static guint
n_models (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) models = gemba_store_list_models (f->store, &error);

  g_assert_no_error (error);
  return models->len;
}

/* Nothing but the saved models' folders under models/: no staging folder left behind. */
static void
assert_models_folder (Fixture *f, guint n_expected)
{
  g_autofree char *path = g_build_filename (f->project, "models", NULL);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir && (name = g_dir_read_name (dir)))
    {
      g_assert_false (g_str_has_prefix (name, "."));
      n++;
    }
  g_assert_cmpuint (n, ==, n_expected);
}

static void
test_finished (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  Run run = { 0 };

  record = train (f, &run, &error);
  g_assert_no_error (error);
  g_assert_nonnull (record);
  /* One report says the model is saved, the last one, with the id it was saved as. */
  g_assert_cmpuint (run.n_saved, ==, 1);
  g_assert_cmpuint (run.n_after_saved, ==, 0);
  g_assert_cmpint (run.saved_id, ==, record->id);
  g_assert_cmpfloat (record->test_accuracy, >=, 0);
  g_assert_cmpfloat (record->test_accuracy, <=, 1);
  g_assert_cmpuint (n_models (f), ==, 1);
  assert_models_folder (f, 1);
  g_object_unref (run.cancellable);
}

static void
test_cancel_in_training (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  Run run = { .cancel_in_training = TRUE };

  record = train (f, &run, &error);
  g_assert_null (record);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CANCELLED);
  g_assert_cmpuint (run.n_saved, ==, 0);
  g_assert_cmpuint (n_models (f), ==, 0);
  assert_models_folder (f, 0);
  g_object_unref (run.cancellable);
}

static void
test_cancel_after_saved (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaModelRecord) stored = NULL;
  g_autoptr(GembaEvaluation) evaluation = NULL;
  g_autofree char *dir = NULL;
  Run run = { .cancel_when_saved = TRUE };

  /* The model stays, whole and listed; only the evaluation was skipped, without a warning
   * (warnings are fatal here). */
  record = train (f, &run, &error);
  g_assert_no_error (error);
  g_assert_nonnull (record);
  g_assert_cmpint (run.saved_id, ==, record->id);
  g_assert_cmpfloat (record->test_accuracy, <, 0);
  g_assert_cmpuint (n_models (f), ==, 1);
  assert_models_folder (f, 1);
  dir = gemba_store_dup_model_dir (f->store, record->id);
  g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));

  /* It can be evaluated later, as the CLI's message says. */
  evaluation = gemba_workflow_evaluate (f->store, record->id, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (evaluation);
  stored = gemba_store_get_model (f->store, record->id, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (stored->test_accuracy, >=, 0);
  g_object_unref (run.cancellable);
}

/* A cancelled evaluation stops, with the cancellation error, and stores no metrics. */
static void
test_cancel_evaluation (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaModelRecord) stored = NULL;
  g_autoptr(GembaEvaluation) evaluation = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Run run = { .cancel_when_saved = TRUE };

  record = train (f, &run, &error);
  g_assert_no_error (error);
  g_cancellable_cancel (cancellable);
  evaluation = gemba_workflow_evaluate (f->store, record->id, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (evaluation);
  stored = gemba_store_get_model (f->store, record->id, NULL);
  g_assert_cmpfloat (stored->test_accuracy, <, 0);
  g_object_unref (run.cancellable);
}

/* Adds a labeled (or, with @klass 0, unlabeled) frame of @width × @height. */
static void
add_frame (GembaStore *store, guint width, guint height, gint64 klass, guint shade)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = gemba_image_new (width, height);
  g_autoptr(GBytes) png = NULL;
  g_autoptr(GembaFrame) frame = NULL;
  GembaFrameInfo info = { 0 };

  memset (image->pixels, shade, (gsize) width * height * 3);
  png = gemba_image_encode_png (image, &error);
  g_assert_no_error (error);
  frame = gemba_store_add_frame (store, png, "png", width, height, &info, NULL, &error);
  g_assert_no_error (error);
  if (klass)
    {
      g_autoptr(GembaLabel) label = gemba_store_set_label (store, frame->id, klass,
                                                           GEMBA_LABEL_IMPORT, &error);
      g_assert_no_error (error);
    }
}

/* The input size follows the labeled frames' median short side, rounded down to a multiple
 * of 32, within 32–128; unlabeled frames do not count. */
static void
test_input_size (Fixture *f, gconstpointer data)
{
  const char *const classes[] = { "ok", "bad", NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "sizes", NULL);
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaClass) ok = NULL;
  guint shade = 0;

  /* The demo's 320 × 240 frames: 224 is above the maximum. */
  g_assert_cmpint (gemba_workflow_input_size_for_frames (f->store, &error), ==,
                   GEMBA_WORKFLOW_MAX_AUTO_SIZE);
  g_assert_no_error (error);

  store = gemba_store_create (path, classes, &error);
  g_assert_no_error (error);
  /* Nothing labeled yet: the maximum. */
  g_assert_cmpint (gemba_workflow_input_size_for_frames (store, &error), ==, 128);
  ok = gemba_store_find_class (store, "ok", &error);
  g_assert_no_error (error);
  add_frame (store, 64, 64, ok->id, shade++);
  add_frame (store, 80, 70, ok->id, shade++);
  add_frame (store, 96, 100, ok->id, shade++);
  for (guint i = 0; i < 5; i++)
    add_frame (store, 640, 480, 0, shade++);  /* unlabeled: ignored */
  g_assert_cmpint (gemba_workflow_input_size_for_frames (store, &error), ==, 64);
  add_frame (store, 120, 100, ok->id, shade++);
  add_frame (store, 200, 100, ok->id, shade++);
  /* Median short side 96: 96. */
  g_assert_cmpint (gemba_workflow_input_size_for_frames (store, &error), ==, 96);
  for (guint i = 0; i < 6; i++)
    add_frame (store, 20, 24, ok->id, shade++);
  /* Median 20: raised to the minimum. */
  g_assert_cmpint (gemba_workflow_input_size_for_frames (store, &error), ==,
                   GEMBA_WORKFLOW_MIN_AUTO_SIZE);
  g_assert_no_error (error);
}

/* A new model's defaults take the size from the frames and record it in the model; an
 * explicit size wins. */
static void
test_input_size_recorded (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaModelRecord) second = NULL;
  GembaWorkflowTrainOptions options;

  gemba_workflow_train_options_init (&options, 0);
  g_assert_true (options.auto_input_size);
  options.adapt_to_data = FALSE;
  options.settings.epochs = 1;
  record = gemba_workflow_train (f->store, &options, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (record->settings, "\"width\":128,\"height\":128"));

  gemba_workflow_train_options_init (&options, 0);
  options.adapt_to_data = FALSE;
  options.auto_input_size = FALSE;
  options.settings.epochs = 1;
  gemba_preprocess_init (&options.settings.input, 32);
  second = gemba_workflow_train (f->store, &options, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (second->settings, "\"width\":32,\"height\":32"));

  /* A fine-tune keeps its parent's size. */
  gemba_workflow_train_options_init (&options, second->id);
  g_assert_false (options.auto_input_size);
}

/* A frame of class @klass (0: dark, 1: light) with a pattern of its own from @i, labeled
 * @class_id (0: unlabeled); returns its row id. */
static gint64
add_pattern_frame (GembaStore *store, gint64 class_id, int klass, guint i)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = gemba_image_new (40, 40);
  g_autoptr(GBytes) png = NULL;
  g_autoptr(GembaFrame) frame = NULL;
  g_autoptr(GembaLabel) label = NULL;
  GembaFrameInfo info = { 0 };

  for (gsize j = 0; j < 40 * 40 * 3; j++)
    image->pixels[j] = (guint8) ((klass ? 150 : 40) + (j * 7 + i * 13) % 61);
  png = gemba_image_encode_png (image, &error);
  g_assert_no_error (error);
  frame = gemba_store_add_frame (store, png, "png", 40, 40, &info, NULL, &error);
  g_assert_no_error (error);
  if (class_id)
    {
      label = gemba_store_set_label (store, frame->id, class_id, GEMBA_LABEL_IMPORT, &error);
      g_assert_no_error (error);
    }
  return frame->id;
}

/* A new project of 48 labeled frames, added in order or in reverse. */
static GembaStore *
pattern_project (Fixture *f, const char *name, gboolean reverse)
{
  const char *const classes[] = { "dark", "light", NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  g_autoptr(GembaClass) dark = NULL;
  g_autoptr(GembaClass) light = NULL;
  GembaStore *store = gemba_store_create (path, classes, &error);

  g_assert_no_error (error);
  dark = gemba_store_find_class (store, "dark", &error);
  light = gemba_store_find_class (store, "light", &error);
  g_assert_no_error (error);
  for (guint n = 0; n < 48; n++)
    {
      guint i = reverse ? 47 - n : n;

      add_pattern_frame (store, i % 2 ? light->id : dark->id, (int) (i % 2), i);
    }
  return store;
}

static char *
train_pattern (GembaStore *store, guint64 seed)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  GembaWorkflowTrainOptions options;

  gemba_workflow_train_options_init (&options, 0);
  options.adapt_to_data = FALSE;
  options.settings.epochs = 2;
  options.settings.batch_size = 8;
  options.settings.threads = 2;
  options.settings.seed = seed;
  record = gemba_workflow_train (store, &options, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  return g_strdup (record->weights_sha256);
}

/* `gemba train --seed N` is reproducible: the same frames and seed give the same weights, bit
 * for bit, even when the frames were imported in another order (other row ids); another seed
 * gives other weights. */
static void
test_reproducible (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaStore) a = pattern_project (f, "in-order", FALSE);
  g_autoptr(GembaStore) b = pattern_project (f, "reversed", TRUE);
  g_autofree char *wa = train_pattern (a, 7);
  g_autofree char *wb = train_pattern (b, 7);
  g_autofree char *wa_again = train_pattern (a, 7);
  g_autofree char *other = train_pattern (b, 8);

  g_assert_cmpstr (wa, ==, wa_again);
  g_assert_cmpstr (wa, ==, wb);
  g_assert_cmpstr (wa, !=, other);
}

/* What a changed frame's new verdict did, as the Models page and `gemba compare` tell it. */
static void
test_changed_frames (void)
{
  GembaChangedFrame frames[] = {
    { .label = (char *) "ok", .verdict_a = (char *) "scratch", .verdict_b = (char *) "ok" },
    { .label = (char *) "ok", .verdict_a = (char *) "ok", .verdict_b = (char *) "dent" },
    { .label = (char *) "ok", .verdict_a = (char *) "dent", .verdict_b = (char *) "scratch" },
    { .label = (char *) "dent", .verdict_a = (char *) "ok", .verdict_b = (char *) "dent" },
  };
  GembaComparison c = { .changed = g_ptr_array_new () };
  guint n_fixed = 99, n_broken = 99;

  g_assert_cmpint (gemba_changed_frame_get_change (&frames[0]), ==, GEMBA_CHANGE_FIXED);
  g_assert_cmpint (gemba_changed_frame_get_change (&frames[1]), ==, GEMBA_CHANGE_BROKEN);
  g_assert_cmpint (gemba_changed_frame_get_change (&frames[2]), ==, GEMBA_CHANGE_STILL_WRONG);
  gemba_comparison_count_changes (&c, &n_fixed, &n_broken);
  g_assert_cmpuint (n_fixed, ==, 0);
  g_assert_cmpuint (n_broken, ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    g_ptr_array_add (c.changed, &frames[i]);
  gemba_comparison_count_changes (&c, &n_fixed, &n_broken);
  g_assert_cmpuint (n_fixed, ==, 2);
  g_assert_cmpuint (n_broken, ==, 1);
  g_ptr_array_unref (c.changed);
}

static gint64
train_images (GembaStore *store, gint64 model_id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = gemba_store_dup_model_dir (store, model_id);
  g_autoptr(GembaModel) model = gemba_model_load (dir, &error);

  g_assert_no_error (error);
  return json_object_get_int_member (gemba_model_get_training (model), "train-images");
}

static GembaModelRecord *
fine_tune (GembaStore *store, gint64 parent_id, gboolean pseudo_labels)
{
  g_autoptr(GError) error = NULL;
  GembaModelRecord *record;
  GembaWorkflowTrainOptions options;

  gemba_workflow_train_options_init (&options, parent_id);
  options.adapt_to_data = FALSE;
  options.settings.epochs = 1;
  options.settings.threads = 2;
  options.pseudo_labels = pseudo_labels;
  record = gemba_workflow_train (store, &options, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  return record;
}

/* A new model of @epochs in batches of 8, promoted to production: the parent of a fine-tune. */
static GembaModelRecord *
train_production (GembaStore *store, int epochs)
{
  g_autoptr(GError) error = NULL;
  GembaModelRecord *record;
  GembaWorkflowTrainOptions options;

  gemba_workflow_train_options_init (&options, 0);
  options.adapt_to_data = FALSE;
  options.settings.epochs = epochs;
  options.settings.batch_size = 8;
  options.settings.threads = 2;
  record = gemba_workflow_train (store, &options, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gemba_workflow_promote (store, record->id, NULL, NULL, NULL, &error), >, 0);
  g_assert_no_error (error);
  return record;
}

/* A fine-tune repeats every frame labeled since its parent (the review's picks, whether
 * production got them right or not) GEMBA_WORKFLOW_FINETUNE_CORRECTION_REPEATS times; with
 * pseudo_labels it also trains once on each unlabeled frame production is sure of. */
static void
test_finetune_samples (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaStore) store = pattern_project (f, "since-parent", FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaClass) dark = gemba_store_find_class (store, "dark", &error);
  g_autoptr(GembaModelRecord) parent = NULL;
  g_autoptr(GembaModelRecord) tuned = NULL;
  g_autoptr(GembaModelRecord) pseudo = NULL;
  g_autoptr(GembaLabel) label = NULL;
  g_autoptr(GPtrArray) unlabeled = NULL;
  GembaFrameQuery query = { .filter = GEMBA_FILTER_UNLABELED };
  gint64 ids[6];
  guint sure = 0;

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    ids[i] = add_pattern_frame (store, 0, 0, 48 + i);   /* dark, unlabeled, unlike the 48 */
  /* long enough that production is sure of some unlabeled frames (its best epoch is one of
   * the second half's) */
  parent = train_production (store, 16);
  g_assert_cmpint (train_images (store, parent->id), ==, parent->n_train);

  /* a person labels two frames after seeing production's verdicts */
  for (guint i = 0; i < 2; i++)
    {
      g_clear_pointer (&label, gemba_label_free);
      label = gemba_store_set_label (store, ids[i], dark->id, GEMBA_LABEL_SET, &error);
      g_assert_no_error (error);
    }
  tuned = fine_tune (store, parent->id, FALSE);
  g_assert_cmpint (tuned->n_train, ==, parent->n_train + 2);
  g_assert_cmpint (train_images (store, tuned->id), ==,
                   parent->n_train + 2 * GEMBA_WORKFLOW_FINETUNE_CORRECTION_REPEATS);

  unlabeled = gemba_store_list_frames (store, &query, 0, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (unlabeled->len, ==, 4);
  for (guint i = 0; i < unlabeled->len; i++)
    {
      GembaFrame *frame = unlabeled->pdata[i];
      sure += frame->pred_confidence >= GEMBA_WORKFLOW_PSEUDO_LABEL_CONFIDENCE;
    }
  g_assert_cmpuint (sure, >, 0);
  pseudo = fine_tune (store, parent->id, TRUE);
  g_assert_cmpint (train_images (store, pseudo->id), ==,
                   parent->n_train + 2 * GEMBA_WORKFLOW_FINETUNE_CORRECTION_REPEATS + sure);
}

/* A fine-tune repeats the frames new to its parent in the class mix of the training split, not
 * as they come: five new "dark" frames and one "light" one (the review queue's picks are
 * mostly of a few classes) get GEMBA_WORKFLOW_FINETUNE_CORRECTION_REPEATS × 6 repeats in all,
 * about half of them for the one light frame, capped at twice the average per frame. */
static void
test_finetune_class_mix (Fixture *f, gconstpointer data)
{
  g_autoptr(GembaStore) store = pattern_project (f, "class-mix", FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaClass) dark = gemba_store_find_class (store, "dark", &error);
  g_autoptr(GembaClass) light = gemba_store_find_class (store, "light", &error);
  g_autoptr(GembaModelRecord) parent = NULL;
  g_autoptr(GembaModelRecord) tuned = NULL;
  g_autoptr(GPtrArray) trained = NULL;
  GembaFrameQuery query = { .filter = GEMBA_FILTER_SPLIT, .split = GEMBA_SPLIT_TRAIN };
  const guint repeats = GEMBA_WORKFLOW_FINETUNE_CORRECTION_REPEATS;
  gint64 ids[6];
  guint n_dark = 0, n_light = 0;
  long dark_copies, light_copies;

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    ids[i] = add_pattern_frame (store, 0, i == 0, 48 + i);
  parent = train_production (store, 1);

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_autoptr(GembaLabel) label = gemba_store_set_label (store, ids[i],
                                                           i == 0 ? light->id : dark->id,
                                                           GEMBA_LABEL_SET, &error);
      g_assert_no_error (error);
    }
  tuned = fine_tune (store, parent->id, FALSE);
  g_assert_cmpint (tuned->n_train, ==, parent->n_train + 6);

  /* the class mix of the training split's distinct frames, the new ones included */
  trained = gemba_store_list_frames (store, &query, 0, -1, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < trained->len; i++)
    {
      GembaFrame *frame = trained->pdata[i];
      n_dark += frame->label_class_id == dark->id;
      n_light += frame->label_class_id == light->id;
    }
  g_assert_cmpuint (n_dark + n_light, ==, tuned->n_train);
  dark_copies = CLAMP (lround (repeats * 6.0 * n_dark / (n_dark + n_light) / 5), 1, 2 * repeats);
  light_copies = CLAMP (lround (repeats * 6.0 * n_light / (n_dark + n_light)), 1, 2 * repeats);
  g_assert_cmpint (dark_copies, <, repeats);
  g_assert_cmpint (light_copies, ==, 2 * repeats);
  g_assert_cmpint (train_images (store, tuned->id), ==,
                   parent->n_train + 5 * dark_copies + light_copies);
}

/* The schedule fits the data set: about GEMBA_WORKFLOW_MIN_STEPS steps for a new model, half
 * for a fine-tune, never fewer epochs than asked, within the caps. */
static void
test_adapt_schedule (void)
{
  GembaWorkflowTrainOptions fresh, tune;

  gemba_workflow_train_options_init (&fresh, 0);
  gemba_workflow_train_options_init (&tune, 7);
  g_assert_cmpint (fresh.settings.epochs, ==, 20);
  g_assert_cmpint (tune.settings.epochs, ==, GEMBA_WORKFLOW_FINETUNE_EPOCHS);
  g_assert_cmpint (fresh.settings.batch_size, ==, 32);

  /* bench/loop: 630 frames, 40 steps of 16 an epoch: 15 epochs reach 600 steps, 20 asked. */
  gemba_workflow_adapt_schedule (&fresh.settings, 630, FALSE);
  g_assert_cmpint (fresh.settings.batch_size, ==, 16);
  g_assert_cmpint (fresh.settings.epochs, ==, 20);
  /* Its fine-tune: 780 samples, 49 steps an epoch; 7 reach 300 steps, 10 asked. */
  gemba_workflow_adapt_schedule (&tune.settings, 780, TRUE);
  g_assert_cmpint (tune.settings.epochs, ==, 10);
  /* 100 frames, 7 steps an epoch: 86 epochs for 600 steps, capped at 80; 43 for 300, at 40. */
  gemba_workflow_adapt_schedule (&fresh.settings, 100, FALSE);
  g_assert_cmpint (fresh.settings.epochs, ==, 80);
  gemba_workflow_adapt_schedule (&tune.settings, 100, TRUE);
  g_assert_cmpint (tune.settings.epochs, ==, 40);
  /* 200 frames, 13 steps: 47 epochs; a fine-tune 24. */
  fresh.settings.epochs = 20;
  tune.settings.epochs = GEMBA_WORKFLOW_FINETUNE_EPOCHS;
  gemba_workflow_adapt_schedule (&fresh.settings, 200, FALSE);
  gemba_workflow_adapt_schedule (&tune.settings, 200, TRUE);
  g_assert_cmpint (fresh.settings.epochs, ==, 47);
  g_assert_cmpint (tune.settings.epochs, ==, 24);
  /* From 1,000 frames the batch stays at 32: 5,000 frames take 157 steps an epoch. */
  gemba_workflow_train_options_init (&fresh, 0);
  gemba_workflow_adapt_schedule (&fresh.settings, 5000, FALSE);
  g_assert_cmpint (fresh.settings.batch_size, ==, 32);
  g_assert_cmpint (fresh.settings.epochs, ==, 20);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/workflow/train/finished", test_finished);
  ADD ("/workflow/train/cancel-in-training", test_cancel_in_training);
  ADD ("/workflow/train/cancel-after-saved", test_cancel_after_saved);
  ADD ("/workflow/train/cancel-evaluation", test_cancel_evaluation);
  ADD ("/workflow/input-size/from-frames", test_input_size);
  ADD ("/workflow/input-size/recorded", test_input_size_recorded);
  ADD ("/workflow/train/reproducible", test_reproducible);
  ADD ("/workflow/train/fine-tune-samples", test_finetune_samples);
  ADD ("/workflow/train/fine-tune-class-mix", test_finetune_class_mix);
#undef ADD
  g_test_add_func ("/workflow/compare/changed-frames", test_changed_frames);
  g_test_add_func ("/workflow/train/adapt-schedule", test_adapt_schedule);

  return g_test_run ();
}
