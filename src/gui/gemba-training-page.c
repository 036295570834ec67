/* gemba-training-page.c: train or fine-tune a model, with progress and live curves
 *
 * The run is gemba_workflow_train() in a GTask thread on its own GembaStore opened on the
 * project folder, so the grid's reader and the labeling writer never wait behind it (SQLite
 * WAL and the store's busy timeout make the three connections safe). Progress reports are
 * copied and handed to the main context; the main thread only draws them. Cancel stops the
 * run at the next step and no model is recorded.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <math.h>
#include <inttypes.h>
#include <glib/gi18n.h>

#include "gemba-curve-view.h"
#include "gemba-error.h"
#include "gemba-locator.h"
#include "gemba-niced-task.h"
#include "gemba-probe.h"
#include "gemba-training-page.h"
#include "gemba-workflow.h"

#define SCHEMA_ID "dev.gemba.Workbench"

struct _GembaTrainingPage
{
  GtkWidget parent_instance;

  gboolean stale;                 /* production changed while hidden */

  AdwComboRow *start_row;
  AdwExpanderRow *advanced_row;
  GtkSpinButton *epochs_spin;
  AdwActionRow *size_row;
  GtkSpinButton *size_spin;
  AdwComboRow *arch_row;
  GtkSwitch *augment_switch;
  GtkSwitch *stop_early_switch;
  GtkWidget *start_button;
  GtkWidget *cancel_button;
  GtkLabel *status_label;
  GtkLabel *eta_label;
  GtkProgressBar *progress_bar;
  GtkLabel *detail_label;
  GtkWidget *curves_box;
  GtkWidget *result_box;
  GtkLabel *result_label;
  GtkWidget *compare_button;
  GembaCurveView *loss_view;
  GembaCurveView *accuracy_view;

  GembaProject *project;
  GCancellable *cancellable;      /* the run's; NULL when idle */
  GCancellable *load_cancellable;
  GArray *start_ids;              /* gint64 per start_row item: 0 = from scratch */
  GPtrArray *models;              /* GembaModelRecord */
  gint64 production_id;
  gint64 defaults_parent;         /* the start whose defaults the rows show; -1: none yet */
  gint64 last_model_id;
  gint64 run_started;             /* µs, monotonic */
  guint n_reports;
};

G_DEFINE_FINAL_TYPE (GembaTrainingPage, gemba_training_page, GTK_TYPE_WIDGET)

/* --- Worker ------------------------------------------------------------------------------- */

typedef struct {
  char *path;
  char *author;
  GembaWorkflowTrainOptions options;
  GWeakRef page;
  gint64 last_report;       /* µs, monotonic: reports are thinned to ~15 a second */
} TrainJob;

typedef struct {
  GembaModelRecord *record;
  char *change;             /* the one-sentence summary, NULL without production */
} TrainResult;

typedef struct {
  GWeakRef page;
  GembaTrainProgress progress;
} ProgressUpdate;

static void
train_job_free (TrainJob *job)
{
  g_free (job->path);
  g_free (job->author);
  g_weak_ref_clear (&job->page);
  g_free (job);
}

static void
train_result_free (TrainResult *result)
{
  g_clear_pointer (&result->record, gemba_model_record_free);
  g_free (result->change);
  g_free (result);
}

static void show_progress (GembaTrainingPage *self, const GembaTrainProgress *p);

static gboolean
progress_on_main_cb (gpointer data)
{
  ProgressUpdate *update = data;
  g_autoptr(GembaTrainingPage) self = g_weak_ref_get (&update->page);

  if (self && self->cancellable && !g_cancellable_is_cancelled (self->cancellable))
    show_progress (self, &update->progress);
  g_weak_ref_clear (&update->page);
  g_free (update);
  return G_SOURCE_REMOVE;
}

/* In the training thread. */
static void
train_progress_cb (const GembaTrainProgress *progress, gpointer user_data)
{
  TrainJob *job = user_data;
  gint64 now = g_get_monotonic_time ();
  ProgressUpdate *update;
  g_autoptr(GObject) page = NULL;

  if (!progress->epoch_done && !progress->saved_model_id && progress->epoch > 0 &&
      progress->step != progress->n_steps &&
      now - job->last_report < G_USEC_PER_SEC / 15)
    return;
  job->last_report = now;
  page = g_weak_ref_get (&job->page);
  if (!page)
    return;
  update = g_new0 (ProgressUpdate, 1);
  g_weak_ref_init (&update->page, page);
  update->progress = *progress;
  g_main_context_invoke (NULL, progress_on_main_cb, update);
}

static void
train_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  TrainJob *job = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = gemba_store_open (job->path, &error);
  TrainResult *result;

  if (!store)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (job->author && *job->author)
    gemba_store_set_author (store, job->author);
  result = g_new0 (TrainResult, 1);
  result->record = gemba_workflow_train (store, &job->options, cancellable, train_progress_cb,
                                         job, &error);
  if (!result->record)
    {
      train_result_free (result);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (gemba_store_get_production_model_id (store) != 0 &&
      gemba_store_get_production_model_id (store) != result->record->id)
    result->change = gemba_workflow_describe_change (store, result->record->id, NULL);
  g_task_return_pointer (task, result, (GDestroyNotify) train_result_free);
}

/* The models for "Start from", newest first. */
static void
list_models_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = gemba_store_open (task_data, &error);
  GPtrArray *models;

  if (!store || !(models = gemba_store_list_models (store, &error)))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, models, (GDestroyNotify) g_ptr_array_unref);
}

/* --- Helpers ------------------------------------------------------------------------------ */

static gint64
selected_parent (GembaTrainingPage *self)
{
  guint i = adw_combo_row_get_selected (self->start_row);

  if (!self->start_ids || i >= self->start_ids->len)
    return 0;
  return g_array_index (self->start_ids, gint64, i);
}

/* Puts the defaults of the chosen start into the advanced rows. */
static void
apply_defaults (GembaTrainingPage *self)
{
  GembaWorkflowTrainOptions options;
  gint64 parent = selected_parent (self);

  gemba_workflow_train_options_init (&options, parent);
  /* A fine-tune keeps its parent's network and input recipe: show them. */
  for (guint i = 0; parent && self->models && i < self->models->len; i++)
    {
      GembaModelRecord *m = g_ptr_array_index (self->models, i);
      g_autoptr(JsonNode) node = NULL;
      GembaTrainSettings parent_settings;

      if (m->id != parent || !m->settings || !(node = json_from_string (m->settings, NULL)) ||
          !JSON_NODE_HOLDS_OBJECT (node))
        continue;
      gemba_train_settings_init (&parent_settings, GEMBA_ARCH_SMALL_CNN);
      if (gemba_train_settings_from_json (&parent_settings, json_node_get_object (node), NULL))
        {
          options.settings.input = parent_settings.input;
          options.settings.net.arch = parent_settings.net.arch;
        }
    }
  gtk_spin_button_set_value (self->epochs_spin, options.settings.epochs);
  /* 0 shows “Auto”: a new small CNN takes its input size from the frames. */
  gtk_spin_button_set_value (self->size_spin,
                             options.auto_input_size ? 0 : options.settings.input.width);
  adw_combo_row_set_selected (self->arch_row,
                              options.settings.net.arch == GEMBA_ARCH_MOBILENET_V2 ? 1 : 0);
  gtk_switch_set_active (self->augment_switch, options.settings.augment.enabled);
  gtk_switch_set_active (self->stop_early_switch, options.settings.patience > 0);
  /* A fine-tune keeps its parent's network and input recipe. */
  gtk_widget_set_sensitive (GTK_WIDGET (self->size_spin), parent == 0);
  gtk_widget_set_sensitive (GTK_WIDGET (self->arch_row), parent == 0);
  adw_action_row_set_subtitle (self->size_row,
                               parent ? _("Pixels; a fine-tune keeps its parent’s input size")
                                      : _("Pixels, square; frames are resized to it. Auto: the largest "
                                          "multiple of 32 not above the frames’ median short "
                                          "side (32–128)"));
  gtk_button_set_label (GTK_BUTTON (self->start_button),
                        parent ? _("_Start Fine-Tune") : _("_Start Training"));
}

/* The input size spin shows 0 as “Auto”, and reads “Auto” back as 0. */
static gboolean
size_output_cb (GtkSpinButton *spin, gpointer user_data)
{
  int value = gtk_spin_button_get_value_as_int (spin);
  g_autofree char *text = value > 0 ? g_strdup_printf ("%d", value) : g_strdup (_("Auto"));

  if (g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (spin)), text) != 0)
    gtk_editable_set_text (GTK_EDITABLE (spin), text);
  return TRUE;
}

static int
size_input_cb (GtkSpinButton *spin, double *value, gpointer user_data)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (spin));
  char *end = NULL;
  gint64 n;

  if (g_utf8_collate (text, _("Auto")) == 0 || g_ascii_strcasecmp (text, "auto") == 0)
    {
      *value = 0;
      return TRUE;
    }
  n = g_ascii_strtoll (text, &end, 10);
  if (end == text || *end != '\0')
    return GTK_INPUT_ERROR;
  *value = n;
  return TRUE;
}

static void
start_changed_cb (AdwComboRow *row, GParamSpec *pspec, GembaTrainingPage *self)
{
  self->defaults_parent = selected_parent (self);
  apply_defaults (self);
}

static void
models_listed_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) models = g_task_propagate_pointer (G_TASK (result), &error);
  GembaTrainingPage *self;
  g_autoptr(GtkStringList) list = NULL;
  guint selected = 0;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = GEMBA_TRAINING_PAGE (user_data);
  list = gtk_string_list_new (NULL);
  g_array_set_size (self->start_ids, 0);
  self->production_id = 0;
  if (!models)
    {
      gtk_label_set_label (self->status_label, error->message);
      return;
    }
  g_clear_pointer (&self->models, g_ptr_array_unref);
  self->models = g_ptr_array_ref (models);
  /* Production first: the fine-tune people want. */
  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < models->len; i++)
      {
        GembaModelRecord *m = g_ptr_array_index (models, i);
        g_autofree char *text = NULL;

        if ((pass == 0) != !!m->production)
          continue;
        if (m->production)
          {
            self->production_id = m->id;
            text = g_strdup_printf (_("%s (production)"), m->name);
          }
        else
          text = g_strdup (m->name);
        gtk_string_list_append (list, text);
        g_array_append_val (self->start_ids, m->id);
      }
  gtk_string_list_append (list, _("Nothing: a new model"));
  {
    gint64 zero = 0;
    g_array_append_val (self->start_ids, zero);
  }
  if (self->production_id == 0)
    selected = self->start_ids->len - 1;
  g_signal_handlers_block_by_func (self->start_row, start_changed_cb, self);
  adw_combo_row_set_model (self->start_row, G_LIST_MODEL (list));
  adw_combo_row_set_selected (self->start_row, selected);
  g_signal_handlers_unblock_by_func (self->start_row, start_changed_cb, self);
  /* After a run or a promotion the list is read again: keep what the user set in Advanced
   * unless the start changed. */
  if (selected_parent (self) != self->defaults_parent)
    {
      self->defaults_parent = selected_parent (self);
      apply_defaults (self);
    }
}

static void
reload_models (GembaTrainingPage *self)
{
  g_autoptr(GTask) task = NULL;

  if (!self->project)
    return;
  self->stale = FALSE;
  g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  self->load_cancellable = g_cancellable_new ();
  task = g_task_new (NULL, self->load_cancellable, models_listed_cb, self);
  g_task_set_source_tag (task, reload_models);
  g_task_set_task_data (task, g_strdup (gemba_project_get_path (self->project)), g_free);
  g_task_run_in_thread (task, list_models_thread);
}

static char *
format_duration (double seconds)
{
  int s = (int) round (seconds);

  if (s >= 3600)
    return g_strdup_printf (_("%d h %02d min"), s / 3600, (s / 60) % 60);
  if (s >= 60)
    return g_strdup_printf (_("%d min %02d s"), s / 60, s % 60);
  return g_strdup_printf (_("%d s"), s);
}

static void
show_progress (GembaTrainingPage *self, const GembaTrainProgress *p)
{
  g_autofree char *status = NULL;
  g_autofree char *detail = NULL;
  double fraction;

  self->n_reports++;
  if (p->saved_model_id)
    {
      /* The model is saved: a Cancel now could only skip its evaluation, so there is none. */
      status = g_strdup_printf (_("Model %" PRId64 " is saved; evaluating it on the locked "
                                  "test split…"), p->saved_model_id);
      gtk_widget_set_sensitive (self->cancel_button, FALSE);
      gtk_progress_bar_set_fraction (self->progress_bar, 1);
      gtk_label_set_label (self->status_label, status);
      gtk_label_set_label (self->eta_label, "");
      gemba_probe_log ("train-saved", "model=%" PRId64, p->saved_model_id);
      return;
    }
  if (p->epoch == 0)
    {
      /* Loading the images. */
      status = g_strdup_printf (_("Reading frames: %d of %d"), p->step, p->n_steps);
      fraction = p->n_steps ? (double) p->step / p->n_steps : 0;
      gtk_progress_bar_set_fraction (self->progress_bar, 0.05 * fraction);
      gtk_label_set_label (self->status_label, status);
      gtk_label_set_label (self->eta_label, "");
      return;
    }
  fraction = ((p->epoch - 1) + (double) p->step / MAX (1, p->n_steps)) / MAX (1, p->n_epochs);
  gtk_progress_bar_set_fraction (self->progress_bar, 0.05 + 0.95 * fraction);
  status = g_strdup_printf (_("Epoch %d of %d, step %d of %d"), p->epoch, p->n_epochs, p->step,
                            p->n_steps);
  gtk_label_set_label (self->status_label, status);
  if (p->eta_seconds >= 0 && isfinite (p->eta_seconds))
    {
      g_autofree char *eta = format_duration (p->eta_seconds);
      g_autofree char *text = g_strdup_printf (_("About %s left"), eta);
      gtk_label_set_label (self->eta_label, text);
    }
  if (isnan (p->val_accuracy))
    detail = g_strdup_printf (_("Loss %.3f · training accuracy %.1f %% · %.0f images/s"),
                              p->loss, 100 * p->accuracy, p->images_per_second);
  else
    detail = g_strdup_printf (_("Loss %.3f · training accuracy %.1f %% · validation accuracy "
                                "%.1f %% · %.0f images/s"), p->loss, 100 * p->accuracy,
                              100 * p->val_accuracy, p->images_per_second);
  gtk_label_set_label (self->detail_label, detail);

  gemba_curve_view_set_n_epochs (self->loss_view, p->n_epochs);
  gemba_curve_view_set_n_epochs (self->accuracy_view, p->n_epochs);
  gemba_curve_view_add_train (self->loss_view, (p->epoch - 1) + (double) p->step / p->n_steps,
                              p->loss);
  gemba_curve_view_add_train (self->accuracy_view,
                              (p->epoch - 1) + (double) p->step / p->n_steps, p->accuracy);
  if (p->epoch_done)
    {
      gemba_curve_view_add_val (self->loss_view, p->epoch, p->val_loss);
      gemba_curve_view_add_val (self->accuracy_view, p->epoch, p->val_accuracy);
      gemba_probe_log ("train-epoch", "epoch=%d of=%d val_acc=%.4f", p->epoch, p->n_epochs,
                       p->val_accuracy);
    }
  gemba_probe_log ("train-progress", "epoch=%d step=%d fraction=%.3f", p->epoch, p->step,
                   fraction);
}

static void
set_running (GembaTrainingPage *self, gboolean running)
{
  gtk_widget_set_visible (self->start_button, !running);
  gtk_widget_set_visible (self->cancel_button, running);
  gtk_widget_set_sensitive (self->cancel_button, running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->start_row), !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->advanced_row), !running);
  if (running)
    gtk_widget_grab_focus (self->cancel_button);
  else
    gtk_widget_grab_focus (self->start_button);
}

static void
train_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaTrainingPage) self = user_data;
  g_autoptr(GError) error = NULL;
  TrainResult *res = g_task_propagate_pointer (G_TASK (result), &error);
  double wall = (g_get_monotonic_time () - self->run_started) / 1e6;

  g_clear_object (&self->cancellable);
  set_running (self, FALSE);
  gtk_label_set_label (self->eta_label, "");
  if (!res)
    {
      if (g_error_matches (error, GEMBA_ERROR, GEMBA_ERROR_CANCELLED) ||
          g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          gtk_label_set_label (self->status_label,
                               _("Training cancelled. No model was saved."));
          gemba_probe_log ("train-cancelled", "wall_s=%.2f", wall);
        }
      else
        {
          gtk_label_set_label (self->status_label, error->message);
          gemba_probe_log ("train-failed", NULL);
        }
      gtk_progress_bar_set_fraction (self->progress_bar, 0);
      return;
    }
  self->last_model_id = res->record->id;
  gtk_progress_bar_set_fraction (self->progress_bar, 1);
  {
    g_autofree char *took = format_duration (res->record->duration);
    g_autofree char *status = NULL;

    if (res->record->test_accuracy >= 0)
      status = g_strdup_printf (_("%s trained in %s on %" PRId64 " frames; test "
                                  "accuracy %.1f %% on %" PRId64 " frames."),
                                res->record->name, took, res->record->n_train,
                                100 * res->record->test_accuracy, res->record->n_test);
    else
      status = g_strdup_printf (_("%s trained in %s on %" PRId64 " frames."),
                                res->record->name, took, res->record->n_train);
    gtk_label_set_label (self->status_label, status);
  }
  if (res->change)
    gtk_label_set_label (self->result_label, res->change);
  else
    {
      g_autofree char *text = g_strdup_printf (_("%s is ready. Compare it with the other "
                                                 "versions and promote it to production on "
                                                 "the Models page."), res->record->name);
      gtk_label_set_label (self->result_label, text);
    }
  gtk_widget_set_visible (self->result_box, TRUE);
  gemba_probe_log ("train-done", "model=%" PRId64 " wall_s=%.2f train_s=%.2f",
                   res->record->id, wall, res->record->duration);
  train_result_free (res);
  reload_models (self);
  gemba_project_model_added (self->project, self->last_model_id);
}

/* --- Callbacks ---------------------------------------------------------------------------- */

static void
start_clicked_cb (GembaTrainingPage *self)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GSettings) settings = g_settings_new (SCHEMA_ID);
  TrainJob *job;
  gint64 parent;
  int epochs, size;
  gboolean augment, stop_early;
  GembaArch arch;

  if (!self->project || self->cancellable)
    return;
  parent = selected_parent (self);
  epochs = gtk_spin_button_get_value_as_int (self->epochs_spin);
  size = gtk_spin_button_get_value_as_int (self->size_spin);
  augment = gtk_switch_get_active (self->augment_switch);
  stop_early = gtk_switch_get_active (self->stop_early_switch);
  arch = adw_combo_row_get_selected (self->arch_row) == 1 ? GEMBA_ARCH_MOBILENET_V2
                                                          : GEMBA_ARCH_SMALL_CNN;

  job = g_new0 (TrainJob, 1);
  job->path = g_strdup (gemba_project_get_path (self->project));
  job->author = g_settings_get_string (settings, "annotator-name");
  g_weak_ref_init (&job->page, self);
  gemba_workflow_train_options_init (&job->options, parent);
  if (!parent && arch != job->options.settings.net.arch)
    gemba_train_settings_init (&job->options.settings, arch);
  job->options.settings.epochs = epochs;
  if (!parent && size > 0)
    {
      gemba_preprocess_init (&job->options.settings.input, size);
      job->options.auto_input_size = FALSE;
    }
  job->options.settings.augment.enabled = augment;
  if (!stop_early)
    job->options.settings.patience = 0;

  self->cancellable = g_cancellable_new ();
  self->run_started = g_get_monotonic_time ();
  self->n_reports = 0;
  gemba_curve_view_clear (self->loss_view);
  gemba_curve_view_clear (self->accuracy_view);
  gemba_curve_view_set_n_epochs (self->loss_view, epochs);
  gemba_curve_view_set_n_epochs (self->accuracy_view, epochs);
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gtk_label_set_label (self->status_label, parent ? _("Starting the fine-tune…")
                                                  : _("Starting the training…"));
  gtk_label_set_label (self->detail_label, "");
  gtk_widget_set_visible (self->result_box, FALSE);
  set_running (self, TRUE);
  /* Room for the progress and the curves on a small screen. */
  adw_expander_row_set_expanded (self->advanced_row, FALSE);
  gemba_probe_log ("train-started", "parent=%" PRId64 " epochs=%d", parent, epochs);

  task = g_task_new (NULL, self->cancellable, train_done_cb, g_object_ref (self));
  g_task_set_source_tag (task, start_clicked_cb);
  /* A Cancel that comes after the model is saved does not unsave it: report what happened. */
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_task_data (task, job, (GDestroyNotify) train_job_free);
  gemba_niced_task_run (task, train_thread, "gemba-train");
}

static void
cancel_clicked_cb (GembaTrainingPage *self)
{
  if (!self->cancellable)
    return;
  g_cancellable_cancel (self->cancellable);
  gtk_widget_set_sensitive (self->cancel_button, FALSE);
  gtk_label_set_label (self->status_label, _("Cancelling…"));
  gemba_probe_log ("train-cancel-clicked", NULL);
}

static void
compare_clicked_cb (GembaTrainingPage *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "win.show-model", "x", self->last_model_id);
}

static void
action_cancel (GtkWidget *widget, const char *name, GVariant *param)
{
  cancel_clicked_cb (GEMBA_TRAINING_PAGE (widget));
}

/* --- Overrides ---------------------------------------------------------------------------- */

static void
gemba_training_page_dispose (GObject *object)
{
  GembaTrainingPage *self = GEMBA_TRAINING_PAGE (object);
  GtkWidget *child;

  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->load_cancellable)
    g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  g_clear_object (&self->project);
  g_clear_pointer (&self->start_ids, g_array_unref);
  g_clear_pointer (&self->models, g_ptr_array_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_TRAINING_PAGE);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))))
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (gemba_training_page_parent_class)->dispose (object);
}

/* The parent choices follow production: now if shown, else when shown; never while training
 * (the run keeps its parent; the next run re-reads them). */
static void
production_changed_cb (GembaTrainingPage *self)
{
  if (gtk_widget_get_mapped (GTK_WIDGET (self)) && !self->cancellable)
    reload_models (self);
  else
    self->stale = TRUE;
}

static void
mapped_cb (GembaTrainingPage *self)
{
  if (self->stale && !self->cancellable)
    reload_models (self);
}

enum { PROP_0, PROP_PROJECT, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void
gemba_training_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GembaProject *project = GEMBA_TRAINING_PAGE (object)->project;

  if (prop_id == PROP_PROJECT)
    g_value_set_object (value, project);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gemba_training_page_set_property (GObject *object, guint prop_id, const GValue *value,
                                  GParamSpec *pspec)
{
  if (prop_id == PROP_PROJECT)
    gemba_training_page_set_project (GEMBA_TRAINING_PAGE (object), g_value_get_object (value));
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gemba_training_page_class_init (GembaTrainingPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_training_page_dispose;
  object_class->get_property = gemba_training_page_get_property;
  object_class->set_property = gemba_training_page_set_property;

  /* The open project, bound to the window's (NULL when none is open). */
  properties[PROP_PROJECT] =
    g_param_spec_object ("project", NULL, NULL, GEMBA_TYPE_PROJECT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-training-page.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, start_row);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, advanced_row);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, epochs_spin);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, size_row);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, size_spin);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, arch_row);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, augment_switch);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, stop_early_switch);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, start_button);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, status_label);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, eta_label);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, detail_label);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, curves_box);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, result_box);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, result_label);
  gtk_widget_class_bind_template_child (widget_class, GembaTrainingPage, compare_button);
  gtk_widget_class_bind_template_callback (widget_class, start_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, cancel_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, compare_clicked_cb);
  gtk_widget_class_install_action (widget_class, "training.cancel", NULL, action_cancel);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "training.cancel", NULL);
}

static void
gemba_training_page_init (GembaTrainingPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  g_signal_connect (self, "map", G_CALLBACK (mapped_cb), NULL);
  self->start_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->defaults_parent = -1;
  self->loss_view = GEMBA_CURVE_VIEW (gemba_curve_view_new (GEMBA_CURVE_LOSS));
  self->accuracy_view = GEMBA_CURVE_VIEW (gemba_curve_view_new (GEMBA_CURVE_ACCURACY));
  for (guint i = 0; i < 2; i++)
    {
      GtkWidget *view = i == 0 ? GTK_WIDGET (self->loss_view) : GTK_WIDGET (self->accuracy_view);
      gtk_widget_set_margin_top (view, 12);
      gtk_widget_set_margin_bottom (view, 12);
      gtk_widget_set_margin_start (view, 12);
      gtk_widget_set_margin_end (view, 12);
      gtk_widget_set_hexpand (view, TRUE);
      gtk_box_append (GTK_BOX (self->curves_box), view);
    }
  g_signal_connect (self->start_row, "notify::selected", G_CALLBACK (start_changed_cb), self);
  gemba_locator_watch (self->start_button, "training.start");
  gemba_locator_watch (self->cancel_button, "training.cancel");
  gemba_locator_watch (GTK_WIDGET (self->start_row), "training.from");
  gemba_locator_watch (GTK_WIDGET (self->advanced_row), "training.advanced");
  gemba_locator_watch (GTK_WIDGET (self->epochs_spin), "training.epochs");
  gemba_locator_watch (GTK_WIDGET (self->size_spin), "training.size");
  g_signal_connect (self->size_spin, "output", G_CALLBACK (size_output_cb), NULL);
  g_signal_connect (self->size_spin, "input", G_CALLBACK (size_input_cb), NULL);
  gemba_locator_watch (GTK_WIDGET (self->stop_early_switch), "training.stop-early");
  gemba_locator_watch (self->compare_button, "training.compare");
}

void
gemba_training_page_set_project (GembaTrainingPage *self, GembaProject *project)
{
  g_return_if_fail (GEMBA_IS_TRAINING_PAGE (self));
  if (self->project == project)
    return;

  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  set_running (self, FALSE);
  if (self->project)
    g_signal_handlers_disconnect_by_data (self->project, self);
  g_set_object (&self->project, project);
  if (project)
    g_signal_connect_object (project, "production-changed", G_CALLBACK (production_changed_cb),
                             self, G_CONNECT_SWAPPED);
  self->defaults_parent = -1;
  gtk_widget_set_visible (self->result_box, FALSE);
  gtk_label_set_label (self->status_label, _("No training has run in this session."));
  gtk_label_set_label (self->detail_label, "");
  gtk_label_set_label (self->eta_label, "");
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gemba_curve_view_clear (self->loss_view);
  gemba_curve_view_clear (self->accuracy_view);
  reload_models (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);
}

gboolean
gemba_training_page_is_running (GembaTrainingPage *self)
{
  g_return_val_if_fail (GEMBA_IS_TRAINING_PAGE (self), FALSE);
  return self->cancellable != NULL;
}

