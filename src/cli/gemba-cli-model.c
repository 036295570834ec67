/* gemba-cli-model.c: train, models, eval, predict, promote
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-cli"

#include "config.h"

#include <inttypes.h>
#include <glib/gi18n.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "gemba-cli.h"

/* --- train ---------------------------------------------------------------------------- */

typedef struct
{
  gboolean quiet;
  gboolean tty;
  gint64 last_print;
} TrainView;

static void
train_progress_cb (const GembaTrainProgress *p, gpointer user_data)
{
  TrainView *view = user_data;
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GString) line = g_string_new (NULL);

  if (view->quiet)
    return;
  if (p->saved_model_id)
    {
      g_printerr (_("Saved model %" PRId64 "; evaluating it on the test split…\n"),
                  p->saved_model_id);
      return;
    }
  if (!p->epoch_done && now - view->last_print < (view->tty ? G_USEC_PER_SEC / 5
                                                             : 5 * G_USEC_PER_SEC))
    return;
  view->last_print = now;

  if (p->epoch == 0)
    g_string_append_printf (line, _("Loading frames %d/%d"), p->step, p->n_steps);
  else
    {
      g_string_append_printf (line, _("Epoch %d/%d, step %d/%d: loss %.3f, accuracy %.1f %%"),
                              p->epoch, p->n_epochs, p->step, p->n_steps, p->loss,
                              100 * p->accuracy);
      if (!isnan (p->val_accuracy))
        g_string_append_printf (line, _(", validation %.1f %%"), 100 * p->val_accuracy);
      g_string_append_printf (line, _(", %.0f images/s, %.0f s left"), p->images_per_second,
                              p->eta_seconds);
    }
  if (view->tty)
    g_printerr ("\r\033[K%s%s", line->str, p->epoch_done ? "\n" : "");
  else
    g_printerr ("%s\n", line->str);
}

int
gemba_cli_train (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *from = NULL, *arch = NULL;
  GembaWorkflowTrainOptions options;
  TrainView view = { 0 };
  int epochs = 0, size = 0, seed = -1, threads = 0, batch = 0, patience = -1;
  double lr = 0, width = 0;
  gboolean no_augment = FALSE, flip_h = FALSE, flip_v = FALSE, pseudo_labels = FALSE;
  gboolean best_epoch = FALSE;
  gint64 parent_id = 0;
  const GOptionEntry entries[] = {
    { "from", 0, 0, G_OPTION_ARG_STRING, &from,
      N_("Fine-tune this model (a number, or “production”) instead of starting from scratch"),
      N_("MODEL") },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch,
      N_("Architecture of a new model: small-cnn (default) or mobilenetv2"), N_("ARCH") },
    { "width", 0, 0, G_OPTION_ARG_DOUBLE, &width, N_("MobileNetV2 width, 0.35–1.0"), N_("W") },
    { "epochs", 'e', 0, G_OPTION_ARG_INT, &epochs, N_("At most N epochs"), N_("N") },
    { "size", 0, 0, G_OPTION_ARG_INT, &size, N_("Input size in pixels (default: the largest multiple of 32 not above the frames’ median short side, 32–128)"), N_("PX") },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, N_("Images per training step (default 32)"),
      N_("N") },
    { "patience", 0, 0, G_OPTION_ARG_INT, &patience,
      N_("Stop after N epochs without a better validation accuracy (0: never)"), N_("N") },
    { "best-epoch", 0, 0, G_OPTION_ARG_NONE, &best_epoch,
      N_("Keep the weights of the epoch with the best validation accuracy instead of the mean "
         "of the weights over the schedule’s second half"), NULL },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &lr, N_("Peak learning rate"), N_("RATE") },
    { "seed", 0, 0, G_OPTION_ARG_INT, &seed, N_("Seed: the same seed gives the same model"),
      N_("N") },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads, N_("Worker threads (default: all cores)"),
      N_("N") },
    { "no-augment", 0, 0, G_OPTION_ARG_NONE, &no_augment, N_("Train without augmentation"), NULL },
    { "flip-h", 0, 0, G_OPTION_ARG_NONE, &flip_h,
      N_("Allow horizontal flips (only if the part looks the same mirrored)"), NULL },
    { "flip-v", 0, 0, G_OPTION_ARG_NONE, &flip_v, N_("Allow vertical flips"), NULL },
    { "pseudo-labels", 0, 0, G_OPTION_ARG_NONE, &pseudo_labels,
      N_("With --from: also train on the unlabeled frames from the new labels’ sources that "
         "production classified with a probability of at least 0.95, labeled with its verdict"),
      NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &view.quiet, N_("No progress line"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT",
                        N_("Train a model on the labeled frames of the train split, with early "
                           "stopping on the validation split, and evaluate it on the locked "
                           "test split; corrections weigh 3× in a new model. With --from, "
                           "fine-tune an existing model: the frames labeled since it was "
                           "trained are repeated, in the class mix of the train split, among "
                           "the frames it learned. Ctrl+C stops cleanly and keeps no half "
                           "model.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !gemba_store_check_writable (store, &error))
    return gemba_cli_fail (error);
  if (from)
    {
      g_autoptr(GembaModelRecord) parent = gemba_store_find_model (store, from, &error);
      if (!parent)
        return gemba_cli_fail (error);
      parent_id = parent->id;
    }

  gemba_workflow_train_options_init (&options, parent_id);
  if (arch)
    {
      GembaArch a;
      if (!gemba_arch_from_string (arch, &a))
        return gemba_cli_usage (argv[0], _("“%s” is not an architecture: use small-cnn or "
                                           "mobilenetv2"), arch);
      if (a != options.settings.net.arch)
        {
          int keep_epochs = options.settings.epochs;
          gemba_train_settings_init (&options.settings, a);
          if (parent_id)
            options.settings.epochs = keep_epochs;
        }
    }
  if (width > 0)
    {
      if (width < 0.35 || width > 1.0)
        return gemba_cli_usage (argv[0], _("the width must be between 0.35 and 1.0"));
      options.settings.net.width_mult = width;
    }
  if (epochs > 0 || batch > 0)
    options.adapt_to_data = FALSE;
  if (epochs > 0)
    options.settings.epochs = epochs;
  if (size > 0)
    {
      if (size < 16 || size > 512)
        return gemba_cli_usage (argv[0], _("the input size must be between 16 and 512"));
      gemba_preprocess_init (&options.settings.input, size);
      options.auto_input_size = FALSE;
    }
  if (lr > 0)
    options.settings.lr = lr;
  if (batch > 0)
    options.settings.batch_size = batch;
  if (patience >= 0)
    options.settings.patience = patience;
  if (best_epoch)
    options.settings.average_weights = FALSE;
  if (seed >= 0)
    options.settings.seed = seed;
  if (threads > 0)
    options.settings.threads = threads;
  if (no_augment)
    options.settings.augment.enabled = FALSE;
  options.settings.augment.flip_h = flip_h;
  options.settings.augment.flip_v = flip_v;
  if (pseudo_labels)
    options.pseudo_labels = TRUE;

  view.tty = isatty (STDERR_FILENO);
  if (!view.quiet)
    {
      if (parent_id)
        g_printerr (_("Fine-tuning model %" PRId64 " on %s…\n"), parent_id, argv[1]);
      else
        g_printerr (_("Training a new %s model on %s…\n"),
                    gemba_arch_to_string (options.settings.net.arch), argv[1]);
    }
  record = gemba_workflow_train (store, &options, gemba_cli_interrupt_cancellable (),
                                 train_progress_cb, &view, &error);
  if (!record)
    {
      if (g_error_matches (error, GEMBA_ERROR, GEMBA_ERROR_CANCELLED) ||
          g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          gemba_cli_error (_("training stopped; no model was saved"));
          return 130;
        }
      return gemba_cli_fail (error);
    }

  if (g_cancellable_is_cancelled (gemba_cli_interrupt_cancellable ()))
    gemba_cli_error (_("interrupted after %s was saved: it was not evaluated; “gemba eval %s "
                       "%" PRId64 "” evaluates it"), record->name, argv[1], record->id);
  if (record->test_accuracy >= 0)
    g_print (_("Trained %s in %.0f s on %" PRId64 " frames (%" PRId64 " for validation); test "
               "accuracy %.1f %% on %" PRId64 " frames.\n"),
             record->name, record->duration, record->n_train, record->n_val,
             100 * record->test_accuracy, record->n_test);
  else
    g_print (_("Trained %s in %.0f s on %" PRId64 " frames (%" PRId64 " for validation).\n"),
             record->name, record->duration, record->n_train, record->n_val);
  {
    g_autofree char *change = gemba_workflow_describe_change (store, record->id, NULL);
    if (change && gemba_store_get_production_model_id (store))
      g_print ("%s\n", change);
  }
  if (!gemba_store_get_production_model_id (store))
    g_print (_("No model is in production yet: “gemba promote %s %" PRId64 "” makes this one "
               "production.\n"), argv[1], record->id);
  return GEMBA_EXIT_OK;
}

/* --- models --------------------------------------------------------------------------- */

int
gemba_cli_models (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("One JSON object per model and line"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT",
                        N_("The model versions: parent, date, data, test accuracy, and which "
                           "one is in production.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !(models = gemba_store_list_models (store, &error)))
    return gemba_cli_fail (error);

  if (!json)
    {
      if (models->len == 0)
        {
          g_print (_("No models yet: train one with “gemba train %s”.\n"), argv[1]);
          return GEMBA_EXIT_OK;
        }
      g_autoptr(GString) row = g_string_new (NULL);
      gemba_cli_cell (row, -4, _("#"));
      gemba_cli_cell (row, -12, _("Name"));
      gemba_cli_cell (row, -7, _("Parent"));
      gemba_cli_cell (row, -19, _("Trained"));
      gemba_cli_cell (row, -12, _("Architecture"));
      /* TRANSLATORS: a column header: how many frames the model was trained on */
      gemba_cli_cell (row, 6, C_("column", "Frames"));
      gemba_cli_cell (row, 9, _("Test acc."));
      g_print ("%s\n", row->str);
    }
  for (guint i = 0; i < models->len; i++)
    {
      GembaModelRecord *m = models->pdata[i];
      g_autofree char *when = gemba_cli_format_time (m->created_at);
      if (json)
        {
          g_autoptr(JsonBuilder) b = json_builder_new ();
          g_autoptr(JsonNode) root = NULL;
          g_autofree char *iso = gemba_cli_format_iso8601 (m->created_at);
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "id");
          json_builder_add_int_value (b, m->id);
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, m->name);
          json_builder_set_member_name (b, "parent");
          if (m->parent_id)
            json_builder_add_int_value (b, m->parent_id);
          else
            json_builder_add_null_value (b);
          json_builder_set_member_name (b, "created");
          json_builder_add_string_value (b, iso);
          json_builder_set_member_name (b, "author");
          json_builder_add_string_value (b, m->author);
          json_builder_set_member_name (b, "architecture");
          json_builder_add_string_value (b, m->architecture);
          json_builder_set_member_name (b, "n_train");
          json_builder_add_int_value (b, m->n_train);
          json_builder_set_member_name (b, "test_accuracy");
          if (m->test_accuracy >= 0)
            json_builder_add_double_value (b, m->test_accuracy);
          else
            json_builder_add_null_value (b);
          json_builder_set_member_name (b, "production");
          json_builder_add_boolean_value (b, m->production);
          json_builder_end_object (b);
          root = json_builder_get_root (b);
          gemba_cli_print_json (root);
        }
      else
        {
          g_autofree char *parent = m->parent_id ? g_strdup_printf ("%" PRId64, m->parent_id)
                                                 : g_strdup ("-");
          g_autofree char *accuracy = m->test_accuracy >= 0
                                      ? g_strdup_printf ("%.1f %%", 100 * m->test_accuracy)
                                      : g_strdup ("-");
          g_autoptr(GString) row = g_string_new (NULL);
          gemba_cli_cell_int (row, -4, m->id);
          gemba_cli_cell (row, -12, m->name);
          gemba_cli_cell (row, -7, parent);
          gemba_cli_cell (row, -19, when);
          gemba_cli_cell (row, -12, m->architecture);
          gemba_cli_cell_int (row, 6, m->n_train);
          gemba_cli_cell (row, 9, accuracy);
          g_print ("%s %s\n", row->str, m->production ? _("★ production") : "");
        }
    }
  return GEMBA_EXIT_OK;
}

/* --- eval ----------------------------------------------------------------------------- */

int
gemba_cli_eval (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaEvaluation) evaluation = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  const GembaMetrics *m;
  int n;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("The metrics, then one line per test frame with its verdict and probabilities"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT MODEL",
                        N_("Accuracy, per-class precision and recall and the confusion matrix "
                           "of a model on the locked test split. MODEL is a number, "
                           "“production” or “latest”.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 3)
    return gemba_cli_usage (argv[0], _("give the project and the model"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !(record = gemba_store_find_model (store, argv[2], &error)) ||
      !(evaluation = gemba_workflow_evaluate (store, record->id,
                                              gemba_cli_interrupt_cancellable (), &error)))
    return gemba_cli_fail (error);
  m = evaluation->metrics;
  n = m->n_classes;

  if (json)
    {
      g_autoptr(JsonNode) metrics = gemba_metrics_to_json (m, (const char *const *)
                                                              evaluation->class_names);
      gemba_cli_print_json (metrics);
      for (guint i = 0; i < evaluation->n_frames; i++)
        {
          g_autoptr(GembaFrame) frame = gemba_store_get_frame (store, evaluation->frame_ids[i],
                                                               NULL);
          g_autoptr(JsonBuilder) b = json_builder_new ();
          g_autoptr(JsonNode) root = NULL;
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "id");
          json_builder_add_string_value (b, frame ? frame->sha256 : "");
          json_builder_set_member_name (b, "label");
          json_builder_add_string_value (b, evaluation->class_names[evaluation->truth[i]]);
          json_builder_set_member_name (b, "verdict");
          json_builder_add_string_value (b, evaluation->class_names[evaluation->verdicts[i]]);
          json_builder_set_member_name (b, "probabilities");
          json_builder_begin_object (b);
          for (int k = 0; k < n; k++)
            {
              json_builder_set_member_name (b, evaluation->class_names[k]);
              json_builder_add_double_value (b, evaluation->probabilities[(gsize) i * n + k]);
            }
          json_builder_end_object (b);
          json_builder_end_object (b);
          root = json_builder_get_root (b);
          gemba_cli_print_json (root);
        }
      return GEMBA_EXIT_OK;
    }

  g_print (_("%s on the locked test split of %s: %u frames\n\n"), record->name, argv[1],
           evaluation->n_frames);
  g_print (_("Accuracy  %.1f %%\n\n"), 100 * gemba_metrics_accuracy (m));
  {
    g_autoptr(GString) row = g_string_new (NULL);
    gemba_cli_cell (row, -16, _("Class"));
    gemba_cli_cell (row, 9, _("Precision"));
    gemba_cli_cell (row, 9, _("Recall"));
    /* TRANSLATORS: a column header: how many test frames have the class */
    gemba_cli_cell (row, 8, C_("column", "Frames"));
    g_print ("%s\n", row->str);
  }
  for (int k = 0; k < n; k++)
    {
      double p = gemba_metrics_precision (m, k), r = gemba_metrics_recall (m, k);
      guint support = 0;
      g_autofree char *ps = isnan (p) ? g_strdup ("-") : g_strdup_printf ("%.1f %%", 100 * p);
      g_autofree char *rs = isnan (r) ? g_strdup ("-") : g_strdup_printf ("%.1f %%", 100 * r);
      for (int j = 0; j < n; j++)
        support += gemba_metrics_count (m, k, j);
      g_autoptr(GString) row = g_string_new (NULL);
      gemba_cli_cell (row, -16, evaluation->class_names[k]);
      gemba_cli_cell (row, 9, ps);
      gemba_cli_cell (row, 9, rs);
      gemba_cli_cell_int (row, 8, support);
      g_print ("%s\n", row->str);
    }
  g_print (_("\nConfusion matrix (rows: label, columns: verdict)\n"));
  {
    g_autoptr(GString) row = g_string_new (NULL);
    int width = 8;
    for (int j = 0; j < n; j++)
      width = MAX (width, gemba_cli_display_width (evaluation->class_names[j]) + 1);
    width = MIN (width, 14);
    gemba_cli_cell (row, -16, "");
    for (int j = 0; j < n; j++)
      gemba_cli_cell (row, width, evaluation->class_names[j]);
    g_print ("%s\n", row->str);
    for (int k = 0; k < n; k++)
      {
        g_string_truncate (row, 0);
        gemba_cli_cell (row, -16, evaluation->class_names[k]);
        for (int j = 0; j < n; j++)
          gemba_cli_cell_int (row, width, gemba_metrics_count (m, k, j));
        g_print ("%s\n", row->str);
      }
  }
  if (evaluation->n_unknown)
    g_print (_("\n%u test frames are labeled with classes this model does not know; they are "
               "not counted.\n"), evaluation->n_unknown);
  return GEMBA_EXIT_OK;
}

/* --- predict -------------------------------------------------------------------------- */

static void
predict_progress_cb (guint done, guint total, gpointer user_data)
{
  gemba_cli_progress_update (user_data, done, NULL);
}

int
gemba_cli_predict (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaCliProgress) progress = NULL;
  g_autoptr(GError) error = NULL;
  gboolean quiet = FALSE;
  gint64 n;
  const GOptionEntry entries[] = {
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress bar"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT MODEL",
                        N_("Store a model’s predictions for every frame, so that the review "
                           "queue and the false readings can use them.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 3)
    return gemba_cli_usage (argv[0], _("give the project and the model"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !(record = gemba_store_find_model (store, argv[2], &error)))
    return gemba_cli_fail (error);
  {
    gint64 total = gemba_store_count_frames (store, NULL, NULL);
    progress = gemba_cli_progress_new (_("Predicting"), total, quiet);
  }
  n = gemba_workflow_predict (store, record->id, NULL, gemba_cli_interrupt_cancellable (),
                              predict_progress_cb, progress, &error);
  g_clear_pointer (&progress, gemba_cli_progress_free);
  if (n < 0)
    return gemba_cli_fail (error);
  g_print (_("Stored %s’s predictions for %" PRId64 " frames.\n"), record->name, n);
  return GEMBA_EXIT_OK;
}

/* --- promote -------------------------------------------------------------------------- */

int
gemba_cli_promote (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaCliProgress) progress = NULL;
  g_autoptr(GError) error = NULL;
  GembaStats stats;
  gboolean quiet = FALSE;
  gint64 n;
  const GOptionEntry entries[] = {
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress bar"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT MODEL",
                        N_("Make a model production: it classifies every frame, and the review "
                           "queue, the false readings and the suspect labels follow its "
                           "verdicts from now on.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 3)
    return gemba_cli_usage (argv[0], _("give the project and the model"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !(record = gemba_store_find_model (store, argv[2], &error)))
    return gemba_cli_fail (error);
  progress = gemba_cli_progress_new (_("Classifying"), gemba_store_count_frames (store, NULL,
                                                                                NULL), quiet);
  n = gemba_workflow_promote (store, record->id, gemba_cli_interrupt_cancellable (),
                              predict_progress_cb, progress, &error);
  g_clear_pointer (&progress, gemba_cli_progress_free);
  if (n < 0 || !gemba_store_get_stats (store, &stats, &error))
    return gemba_cli_fail (error);
  g_print (_("%s is now production; it classified %" PRId64 " frames. False readings: %"
             PRId64 ".\n"), record->name, n, stats.n_false_readings);
  return GEMBA_EXIT_OK;
}

/* --- compare -------------------------------------------------------------------------- */

static void
cell_percent (GString *row, int width, double v)
{
  g_autofree char *text = isnan (v) ? g_strdup ("—") : g_strdup_printf ("%.1f %%", 100 * v);
  gemba_cli_cell (row, width, text);
}

static void
print_confusion (GembaModelRecord *record, GembaEvaluation *e)
{
  GembaMetrics *m = e->metrics;
  g_autoptr(GString) row = g_string_new (NULL);

  g_print (_("\n%s: label (rows) against verdict\n"), record->name);
  gemba_cli_cell (row, -16, "");
  for (int j = 0; j < m->n_classes; j++)
    gemba_cli_cell (row, 13, e->class_names[j]);
  g_print ("%s\n", row->str);
  for (int k = 0; k < m->n_classes; k++)
    {
      g_string_truncate (row, 0);
      gemba_cli_cell (row, -16, e->class_names[k]);
      for (int j = 0; j < m->n_classes; j++)
        gemba_cli_cell_int (row, 13, gemba_metrics_count (m, k, j));
      g_print ("%s\n", row->str);
    }
}

int
gemba_cli_compare (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaModelRecord) a = NULL;
  g_autoptr(GembaModelRecord) b = NULL;
  g_autoptr(GembaComparison) c = NULL;
  g_autoptr(GArray) classes = NULL;
  g_autoptr(GString) row = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *pa = NULL, *pb = NULL, *ra = NULL, *rb = NULL;
  GembaEvaluation *ea, *eb;

  if (!gemba_cli_parse (&argc, &argv, NULL, "PROJECT A B",
                        N_("Evaluate two model versions on the locked test split and show them "
                           "side by side: per-class precision and recall, confusion matrices "
                           "and the frames they read differently — what the workbench’s Models "
                           "page shows.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 4)
    return gemba_cli_usage (argv[0], _("give the project and two models (numbers, "
                                       "“production” or “latest”)"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !(a = gemba_store_find_model (store, argv[2], &error)) ||
      !(b = gemba_store_find_model (store, argv[3], &error)) ||
      !(c = gemba_workflow_compare (store, a->id, b->id, gemba_cli_interrupt_cancellable (),
                                    &error)))
    return gemba_cli_fail (error);
  ea = c->ea;
  eb = c->eb;
  if (c->change)
    g_print ("%s\n\n", c->change);

  pa = g_strdup_printf (_("Prec. %s"), c->a->name);
  ra = g_strdup_printf (_("Recall %s"), c->a->name);
  gemba_cli_cell (row, -16, _("Class"));
  gemba_cli_cell (row, 16, pa);
  if (eb)
    {
      pb = g_strdup_printf (_("Prec. %s"), c->b->name);
      gemba_cli_cell (row, 16, pb);
    }
  gemba_cli_cell (row, 16, ra);
  if (eb)
    {
      rb = g_strdup_printf (_("Recall %s"), c->b->name);
      gemba_cli_cell (row, 16, rb);
    }
  gemba_cli_cell (row, 12, _("Test frames"));
  g_print ("%s\n", row->str);

  classes = gemba_comparison_list_classes (c);
  for (guint k = 0; k < classes->len; k++)
    {
      const GembaComparisonClass *klass = &g_array_index (classes, GembaComparisonClass, k);

      g_string_truncate (row, 0);
      gemba_cli_cell (row, -16, klass->name);
      cell_percent (row, 16, klass->precision_a);
      if (eb)
        cell_percent (row, 16, klass->precision_b);
      cell_percent (row, 16, klass->recall_a);
      if (eb)
        cell_percent (row, 16, klass->recall_b);
      gemba_cli_cell_int (row, 12, klass->n_test);
      g_print ("%s\n", row->str);
    }
  g_string_truncate (row, 0);
  gemba_cli_cell (row, -16, _("Accuracy"));
  cell_percent (row, 16, gemba_metrics_accuracy (ea->metrics));
  if (eb)
    cell_percent (row, 16, gemba_metrics_accuracy (eb->metrics));
  g_print ("%s\n", row->str);

  print_confusion (c->a, ea);
  if (eb)
    print_confusion (c->b, eb);

  if (eb)
    {
      g_print (g_dngettext (GETTEXT_PACKAGE, "\n%u frame read differently",
                            "\n%u frames read differently", c->changed->len),
               c->changed->len);
      g_print (_(" (%u test frames compared):\n"), c->n_compared);
      for (guint i = 0; i < c->changed->len; i++)
        {
          GembaChangedFrame *cf = g_ptr_array_index (c->changed, i);
          GembaChange change = gemba_changed_frame_get_change (cf);
          g_print (_("  %.12s  labeled %s: %s %s → %s %s  %s%s\n"), cf->frame->sha256,
                   cf->label, c->a->name, cf->verdict_a, c->b->name, cf->verdict_b,
                   change == GEMBA_CHANGE_FIXED ? _("now right")
                   : change == GEMBA_CHANGE_BROKEN ? _("now wrong") : _("still wrong"),
                   cf->test ? _(" · test split") : _(" · correction"));
        }
    }
  return GEMBA_EXIT_OK;
}
