/* gemba-training-page.c: train or fine-tune a model, with progress and live curves
 *
 * The run is the project's training job (gemba_project_train_async(): gemba_workflow_train()
 * in a worker thread on a connection of the project's, so the grid's reader and the labeling
 * writer never wait behind it). The progress bar, the status line and the Start/Cancel
 * buttons are bound to the job's properties; its ::progress reports draw the curves. Cancel
 * stops the run at the next step and no model is recorded.
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
#include "gemba-probe.h"
#include "gemba-training-page.h"
#include "gemba-workflow.h"

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
  GembaJob *job;                  /* the run; NULL when idle */
  GPtrArray *bindings;            /* GBinding of the page to the run's job */
  GembaJob *load_job;
  GArray *start_ids;              /* gint64 per start_row item: 0 = from scratch */
  GPtrArray *models;              /* GembaModelRecord */
  gint64 production_id;
  gint64 defaults_parent;         /* the start whose defaults the rows show; -1: none yet */
  gint64 last_model_id;
  gint64 run_started;             /* µs, monotonic */
  guint n_reports;
};

G_DEFINE_FINAL_TYPE (GembaTrainingPage, gemba_training_page, GTK_TYPE_WIDGET)

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
  /* In a team project only an engineer may train: say so before a click. */
  {
    g_autofree char *refused = gemba_project_dup_refusal (self->project, GEMBA_ROLE_ENGINEER,
                                                          _("training"));
    gtk_widget_set_sensitive (self->start_button, refused == NULL);
    gtk_widget_set_tooltip_text (self->start_button, refused);
  }
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
  g_autoptr(GPtrArray) models = gemba_project_job_finish (GEMBA_PROJECT (object), result,
                                                          &error);
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
cancel_job (GembaJob **job)
{
  if (*job)
    gemba_job_cancel (*job);
  g_clear_object (job);
}

static void
reload_models (GembaTrainingPage *self)
{
  if (!self->project)
    return;
  self->stale = FALSE;
  /* A cancelled listing never calls back into the page. */
  cancel_job (&self->load_job);
  self->load_job = gemba_project_list_models_async (self->project, models_listed_cb, self);
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

/* A report of the run (the job's ::progress): the bar and the status line are bound to the
 * job; the rest is drawn here. */
static void
show_progress (GembaTrainingPage *self, const GembaTrainProgress *p)
{
  g_autofree char *detail = NULL;
  double fraction;

  if (gemba_job_is_cancelled (self->job))
    return;
  self->n_reports++;
  if (p->saved_model_id)
    {
      /* The model is saved: a Cancel now could only skip its evaluation, so there is none. */
      gtk_widget_set_sensitive (self->cancel_button, FALSE);
      gtk_label_set_label (self->eta_label, "");
      gemba_probe_log ("train-saved", "model=%" PRId64, p->saved_model_id);
      return;
    }
  if (p->epoch == 0)
    {
      /* Loading the images. */
      gtk_label_set_label (self->eta_label, "");
      return;
    }
  fraction = ((p->epoch - 1) + (double) p->step / MAX (1, p->n_steps)) / MAX (1, p->n_epochs);
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
unbind_job (GembaTrainingPage *self)
{
  for (guint i = 0; self->bindings && i < self->bindings->len; i++)
    g_binding_unbind (g_ptr_array_index (self->bindings, i));
  if (self->bindings)
    g_ptr_array_set_size (self->bindings, 0);
  if (self->job)
    g_signal_handlers_disconnect_by_data (self->job, self);
}

/* Binds the page to the run's @job (NULL: idle): Start/Cancel and the settings follow
 * :running, the progress bar :fraction and the status line :message. */
static void
bind_job (GembaTrainingPage *self, GembaJob *job)
{
  const struct {
    gpointer target;
    const char *source_property, *target_property;
    GBindingFlags flags;
  } bindings[] = {
    { self->start_button, "running", "visible", G_BINDING_SYNC_CREATE | G_BINDING_INVERT_BOOLEAN },
    { self->cancel_button, "running", "visible", G_BINDING_SYNC_CREATE },
    { self->cancel_button, "running", "sensitive", G_BINDING_SYNC_CREATE },
    { self->start_row, "running", "sensitive", G_BINDING_SYNC_CREATE | G_BINDING_INVERT_BOOLEAN },
    { self->advanced_row, "running", "sensitive",
      G_BINDING_SYNC_CREATE | G_BINDING_INVERT_BOOLEAN },
    /* Not synced at once: the page says how the run starts until the first report. */
    { self->progress_bar, "fraction", "fraction", G_BINDING_DEFAULT },
    { self->status_label, "message", "label", G_BINDING_DEFAULT },
  };

  unbind_job (self);
  g_set_object (&self->job, job);
  if (!job)
    {
      gtk_widget_set_visible (self->start_button, TRUE);
      gtk_widget_set_visible (self->cancel_button, FALSE);
      gtk_widget_set_sensitive (GTK_WIDGET (self->start_row), TRUE);
      gtk_widget_set_sensitive (GTK_WIDGET (self->advanced_row), TRUE);
      return;
    }
  for (guint i = 0; i < G_N_ELEMENTS (bindings); i++)
    g_ptr_array_add (self->bindings,
                     g_object_ref (g_object_bind_property (job, bindings[i].source_property,
                                             bindings[i].target, bindings[i].target_property,
                                             bindings[i].flags)));
  g_signal_connect_object (job, "progress", G_CALLBACK (show_progress), self,
                           G_CONNECT_SWAPPED);
}

static void
train_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaTrainingPage) self = user_data;
  g_autoptr(GError) error = NULL;
  GembaProjectTrainResult *res = gemba_project_train_finish (GEMBA_PROJECT (object), result,
                                                             &error);
  double wall = (g_get_monotonic_time () - self->run_started) / 1e6;

  /* The run of a project since closed: set_project() reset the page. */
  if (GEMBA_PROJECT (object) != self->project)
    {
      g_clear_pointer (&res, gemba_project_train_result_free);
      return;
    }
  bind_job (self, NULL);
  gtk_widget_grab_focus (self->start_button);
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
  gemba_project_train_result_free (res);
  reload_models (self);
}

/* --- Callbacks ---------------------------------------------------------------------------- */

static void
start_clicked_cb (GembaTrainingPage *self)
{
  g_autoptr(GembaJob) job = NULL;
  GembaWorkflowTrainOptions options;
  gint64 parent;
  int epochs, size;
  gboolean augment, stop_early;
  GembaArch arch;

  if (!self->project || self->job)
    return;
  parent = selected_parent (self);
  epochs = gtk_spin_button_get_value_as_int (self->epochs_spin);
  size = gtk_spin_button_get_value_as_int (self->size_spin);
  augment = gtk_switch_get_active (self->augment_switch);
  stop_early = gtk_switch_get_active (self->stop_early_switch);
  arch = adw_combo_row_get_selected (self->arch_row) == 1 ? GEMBA_ARCH_MOBILENET_V2
                                                          : GEMBA_ARCH_SMALL_CNN;

  gemba_workflow_train_options_init (&options, parent);
  if (!parent && arch != options.settings.net.arch)
    gemba_train_settings_init (&options.settings, arch);
  options.settings.epochs = epochs;
  if (!parent && size > 0)
    {
      gemba_preprocess_init (&options.settings.input, size);
      options.auto_input_size = FALSE;
    }
  options.settings.augment.enabled = augment;
  if (!stop_early)
    options.settings.patience = 0;

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
  /* Room for the progress and the curves on a small screen. */
  adw_expander_row_set_expanded (self->advanced_row, FALSE);
  gemba_probe_log ("train-started", "parent=%" PRId64 " epochs=%d", parent, epochs);

  job = gemba_project_train_async (self->project, &options, train_done_cb, g_object_ref (self));
  bind_job (self, job);
  gtk_widget_grab_focus (self->cancel_button);
}

static void
cancel_clicked_cb (GembaTrainingPage *self)
{
  if (!self->job || gemba_job_is_cancelled (self->job))
    return;
  /* The status line, bound to the job, says "Cancelling…". */
  gemba_job_cancel (self->job);
  gtk_widget_set_sensitive (self->cancel_button, FALSE);
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

  if (self->job)
    gemba_job_cancel (self->job);
  unbind_job (self);
  g_clear_object (&self->job);
  g_clear_pointer (&self->bindings, g_ptr_array_unref);
  cancel_job (&self->load_job);
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
  if (gtk_widget_get_mapped (GTK_WIDGET (self)) && !self->job)
    reload_models (self);
  else
    self->stale = TRUE;
}

static void
mapped_cb (GembaTrainingPage *self)
{
  if (self->stale && !self->job)
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
  self->bindings = g_ptr_array_new_with_free_func (g_object_unref);
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

  if (self->job)
    gemba_job_cancel (self->job);
  bind_job (self, NULL);
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
  return self->job != NULL;
}

