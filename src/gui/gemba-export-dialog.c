/* gemba-export-dialog.c: export a model version as a signed package, behind the regression
 * gate, whose result is shown before the package is written
 *
 * "Check" runs the regression gate alone (gemba_package_check_gate()) as a project job: it
 * compares the model with production on the locked test split and with every corrected false
 * reading, and writes nothing. A refusal lists what failed; the user may then export anyway
 * with a written reason (audit trail, manifest, model card). A pass shows that it passed, and
 * only "Write Package" exports to the chosen path (the export runs the gate again, in case the
 * project changed in between).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "gemba-error.h"
#include "gemba-export-dialog.h"
#include "gemba-locator.h"
#include "gemba-probe.h"
#include "gemba-store-models.h"
#include "gemba-export.h"

struct _GembaExportDialog
{
  AdwWindow parent_instance;

  GembaProject *project;
  gint64 model_id;
  char *model_name;
  char *key_path;
  char *out_path;

  AdwActionRow *key_row;
  AdwActionRow *out_row;
  GtkWidget *check_button;
  GtkWidget *write_button;
  GtkWidget *force_button;
  GtkWidget *spinner;
  GtkLabel *result_label;
  GtkWidget *gate_group;
  GtkLabel *gate_label;
  GtkWidget *reason_group;
  AdwEntryRow *reason_row;
  GembaJob *job;                /* the check or export running, else NULL */
  GtkNativeDialog *chooser;
};

G_DEFINE_FINAL_TYPE (GembaExportDialog, gemba_export_dialog, ADW_TYPE_WINDOW)

typedef struct {
  char *key_path;
  char *out_path;
  char *reason;
  gint64 model_id;
  gboolean force;
  gboolean check_only;
} ExportJob;

/* What the gate made of the model: its failures (empty when it passes) and the frames fixed
 * and broken per class (NULL without a production model to compare with). */
typedef struct {
  char **failures;
  GembaGateResult *gate;
} GateOutcome;

static void
gate_outcome_free (GateOutcome *outcome)
{
  g_strfreev (outcome->failures);
  g_clear_pointer (&outcome->gate, gemba_gate_result_free);
  g_free (outcome);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GateOutcome, gate_outcome_free)

static void
export_job_free (ExportJob *job)
{
  g_free (job->key_path);
  g_free (job->out_path);
  g_free (job->reason);
  g_free (job);
}

/* The project's worker thread, on its connection. */
static gpointer
export_func (GembaJob *gemba_job, GembaStore *store, gpointer data, GCancellable *cancellable,
             GError **error)
{
  ExportJob *job = data;
  g_autoptr(GateOutcome) outcome = g_new0 (GateOutcome, 1);
  GembaSecretKey *key;
  GembaExportOptions options = { 0 };
  gboolean ok;

  if (job->check_only)
    {
      if (!gemba_package_check_gate (store, job->model_id, 0, &outcome->failures,
                                     &outcome->gate, error))
        return NULL;
      return g_steal_pointer (&outcome);
    }
  if (!(key = gemba_secret_key_load (job->key_path, error)))
    return NULL;
  options.key = key;
  options.force = job->force;
  options.reason = job->reason;
  options.gate_result = &outcome->gate;
  ok = gemba_package_export (store, job->model_id, job->out_path, &options, error);
  gemba_secret_key_free (key);
  return ok ? g_steal_pointer (&outcome) : NULL;
}

static void
set_row_path (AdwActionRow *row, const char *path, const char *none)
{
  g_autofree char *display = path ? g_filename_display_name (path) : NULL;

  adw_action_row_set_subtitle (row, display ? display : none);
}

static void
discard_checked (GembaExportDialog *self)
{
  gtk_widget_set_visible (self->write_button, FALSE);
  gtk_widget_set_visible (self->gate_group, FALSE);
}

/* The gate's frames fixed and broken per class, as `gemba export --check` prints them. */
static void
show_gate (GembaExportDialog *self, const GembaGateResult *gate)
{
  g_autofree char *text = gate ? gemba_gate_result_describe (gate) : NULL;

  if (text)
    g_strchomp (text);
  gtk_label_set_label (self->gate_label, text ? text : "");
  gtk_widget_set_visible (self->gate_group, text != NULL);
}

static void
update_sensitivity (GembaExportDialog *self)
{
  gboolean busy = self->job != NULL;
  const char *reason = gtk_editable_get_text (GTK_EDITABLE (self->reason_row));
  g_autofree char *stripped = g_strstrip (g_strdup (reason));

  gtk_widget_set_sensitive (self->check_button, !busy && self->key_path && self->out_path);
  gtk_widget_set_sensitive (self->write_button, !busy);
  gtk_widget_set_sensitive (self->force_button, !busy && *stripped && self->key_path &&
                            self->out_path);
  gtk_widget_set_sensitive (GTK_WIDGET (self->key_row), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->out_row), !busy);
  gtk_widget_set_visible (self->spinner, busy);
}

static void
run_export (GembaExportDialog *self, const char *path, gboolean force, gboolean check_only,
            GAsyncReadyCallback callback)
{
  ExportJob *job = g_new0 (ExportJob, 1);

  job->check_only = check_only;
  job->key_path = g_strdup (self->key_path);
  job->out_path = g_strdup (path);
  job->model_id = self->model_id;
  job->force = force;
  if (force)
    job->reason = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->reason_row)));
  self->job = gemba_project_run_job (self->project, check_only ? _("Checking") : _("Exporting"),
                                     GEMBA_JOB_DEFAULT, export_func, job,
                                     (GDestroyNotify) export_job_free,
                                     (GDestroyNotify) gate_outcome_free, callback,
                                     g_object_ref (self));
  update_sensitivity (self);
}

static void
show_refusal (GembaExportDialog *self, char **failures)
{
  g_autoptr(GString) list = g_string_new (NULL);
  g_autofree char *text = NULL;

  for (guint i = 0; failures[i]; i++)
    g_string_append_printf (list, "\n• %s", failures[i]);
  text = g_strdup_printf (_("The regression gate refuses %s against production. Nothing was "
                            "written.\n%s"), self->model_name, list->str);
  gtk_label_set_label (self->result_label, text);
  gtk_widget_set_visible (self->reason_group, TRUE);
  gtk_widget_set_visible (self->write_button, FALSE);
  gtk_widget_add_css_class (GTK_WIDGET (self->result_label), "error");
  gemba_probe_log ("export-gate", "result=refused");
}

static void
checked_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaExportDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GateOutcome) outcome = NULL;
  char **failures;
  g_autofree char *text = NULL;

  g_clear_object (&self->job);
  if (!(outcome = gemba_project_job_finish (GEMBA_PROJECT (object), result, &error)))
    {
      text = g_strdup_printf (_("Could not check %s: %s"), self->model_name, error->message);
      gtk_label_set_label (self->result_label, text);
      gemba_probe_log ("export-gate", "result=error");
      update_sensitivity (self);
      return;
    }
  failures = outcome->failures;
  show_gate (self, outcome->gate);
  if (failures[0])
    {
      show_refusal (self, failures);
      update_sensitivity (self);
      return;
    }
  text = g_strdup_printf (_("%s passes the regression gate: it is no worse than production on "
                            "the locked test split, overall or for any class, and gets every "
                            "corrected false reading right. Nothing has been written yet."),
                          self->model_name);
  gtk_widget_remove_css_class (GTK_WIDGET (self->result_label), "error");
  gtk_label_set_label (self->result_label, text);
  gtk_widget_set_visible (self->write_button, TRUE);
  gtk_widget_set_visible (self->reason_group, FALSE);
  gemba_probe_log ("export-gate", "result=passed");
  update_sensitivity (self);
  gtk_widget_grab_focus (self->write_button);
}

static void
check_clicked_cb (GembaExportDialog *self)
{
  discard_checked (self);
  gtk_label_set_label (self->result_label, _("Checking against production on the locked test "
                                             "split…"));
  run_export (self, self->out_path, FALSE, TRUE, checked_cb);
}

static void
written_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaExportDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *display = g_filename_display_name (self->out_path);

  g_autoptr(GateOutcome) outcome = NULL;

  g_clear_object (&self->job);
  if (!(outcome = gemba_project_job_finish (GEMBA_PROJECT (object), result, &error)))
    {
      text = g_strdup_printf (_("Could not write %s: %s"), display, error->message);
      gtk_label_set_label (self->result_label, text);
    }
  else
    {
      text = g_strdup_printf (_("Wrote %s."), display);
      gtk_label_set_label (self->result_label, text);
      show_gate (self, outcome->gate);
      gtk_widget_set_visible (self->write_button, FALSE);
      gemba_probe_log ("exported", "forced=0");
    }
  update_sensitivity (self);
}

static void
write_clicked_cb (GembaExportDialog *self)
{
  gtk_label_set_label (self->result_label, _("Writing the signed package…"));
  run_export (self, self->out_path, FALSE, FALSE, written_cb);
}

static void
forced_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaExportDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *display = g_filename_display_name (self->out_path);

  g_autoptr(GateOutcome) outcome = NULL;

  g_clear_object (&self->job);
  if (!(outcome = gemba_project_job_finish (GEMBA_PROJECT (object), result, &error)))
    text = g_strdup_printf (_("Could not export %s: %s"), self->model_name, error->message);
  else
    {
      show_gate (self, outcome->gate);
      text = g_strdup_printf (_("Wrote %s past the regression gate. The reason is in the audit "
                                "trail, the manifest and the model card."), display);
      gtk_widget_set_visible (self->reason_group, FALSE);
      gemba_probe_log ("exported", "forced=1");
    }
  gtk_label_set_label (self->result_label, text);
  update_sensitivity (self);
}

static void
force_clicked_cb (GembaExportDialog *self)
{
  run_export (self, self->out_path, TRUE, FALSE, forced_cb);
}

static void
chooser_response_cb (GtkNativeDialog *dialog, int response, GembaExportDialog *self)
{
  gboolean is_key = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "is-key"));

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      char *path = g_file_get_path (file);

      if (is_key)
        {
          g_free (self->key_path);
          self->key_path = path;
          set_row_path (self->key_row, path, NULL);
        }
      else
        {
          g_free (self->out_path);
          self->out_path = path;
          set_row_path (self->out_row, path, NULL);
        }
      discard_checked (self);
      update_sensitivity (self);
    }
  g_clear_object (&self->chooser);
}

static void
choose (GembaExportDialog *self, gboolean is_key)
{
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (is_key ? _("Choose the Signing Key") : _("Save the Package As"),
                                 GTK_WINDOW (self),
                                 is_key ? GTK_FILE_CHOOSER_ACTION_OPEN
                                        : GTK_FILE_CHOOSER_ACTION_SAVE,
                                 is_key ? _("_Choose") : _("_Save"), _("_Cancel"));

  if (!is_key && self->out_path)
    {
      g_autofree char *base = g_path_get_basename (self->out_path);
      g_autofree char *dir = g_path_get_dirname (self->out_path);
      g_autoptr(GFile) folder = g_file_new_for_path (dir);
      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder, NULL);
      gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), base);
    }
  g_object_set_data (G_OBJECT (chooser), "is-key", GINT_TO_POINTER (is_key));
  g_signal_connect (chooser, "response", G_CALLBACK (chooser_response_cb), self);
  g_clear_object (&self->chooser);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  gtk_native_dialog_show (self->chooser);
}

static void
key_activated_cb (GembaExportDialog *self)
{
  choose (self, TRUE);
}

static void
out_activated_cb (GembaExportDialog *self)
{
  choose (self, FALSE);
}

static void
reason_changed_cb (GembaExportDialog *self)
{
  update_sensitivity (self);
}

static void
gemba_export_dialog_dispose (GObject *object)
{
  GembaExportDialog *self = GEMBA_EXPORT_DIALOG (object);

  if (self->job)
    gemba_job_cancel (self->job);
  g_clear_object (&self->job);
  if (self->chooser)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  g_clear_object (&self->project);
  G_OBJECT_CLASS (gemba_export_dialog_parent_class)->dispose (object);
}

static void
gemba_export_dialog_finalize (GObject *object)
{
  GembaExportDialog *self = GEMBA_EXPORT_DIALOG (object);

  g_free (self->model_name);
  g_free (self->key_path);
  g_free (self->out_path);
  G_OBJECT_CLASS (gemba_export_dialog_parent_class)->finalize (object);
}

static void
gemba_export_dialog_class_init (GembaExportDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_export_dialog_dispose;
  object_class->finalize = gemba_export_dialog_finalize;
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static GtkWidget *
path_row (GembaExportDialog *self, const char *title, GCallback activated)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                             gtk_image_new_from_icon_name ("document-open-symbolic"));
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  g_signal_connect_swapped (row, "activated", activated, self);
  return row;
}

static void
gemba_export_dialog_init (GembaExportDialog *self)
{
  GtkWidget *box, *header, *content, *group, *buttons;

  gtk_window_set_modal (GTK_WINDOW (self), TRUE);
  gtk_window_set_default_size (GTK_WINDOW (self), 640, -1);
  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  header = adw_header_bar_new ();
  gtk_box_append (GTK_BOX (box), header);
  content = gtk_box_new (GTK_ORIENTATION_VERTICAL, 18);
  gtk_widget_set_margin_top (content, 18);
  gtk_widget_set_margin_bottom (content, 18);
  gtk_widget_set_margin_start (content, 18);
  gtk_widget_set_margin_end (content, 18);
  gtk_box_append (GTK_BOX (box), content);

  group = adw_preferences_group_new ();
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (group),
    _("A package is one signed file that production lines load. It is written only if the "
      "model is no worse than production on the locked test split."));
  self->key_row = ADW_ACTION_ROW (path_row (self, _("Signing key"),
                                            G_CALLBACK (key_activated_cb)));
  self->out_row = ADW_ACTION_ROW (path_row (self, _("Package file"),
                                            G_CALLBACK (out_activated_cb)));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), GTK_WIDGET (self->key_row));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), GTK_WIDGET (self->out_row));
  gtk_box_append (GTK_BOX (content), group);

  self->result_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (self->result_label, TRUE);
  gtk_label_set_xalign (self->result_label, 0);
  gtk_label_set_selectable (self->result_label, TRUE);
  gtk_box_append (GTK_BOX (content), GTK_WIDGET (self->result_label));

  {
    GtkWidget *scroller = gtk_scrolled_window_new ();

    self->gate_group = adw_preferences_group_new ();
    adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (self->gate_group),
                                     _("Against Production, Frame by Frame"));
    adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (self->gate_group),
      _("Test frames this model gets right and production wrong (fixed) and the other way "
        "round (broken), overall and per class, on the locked test split."));
    self->gate_label = GTK_LABEL (gtk_label_new (NULL));
    gtk_label_set_xalign (self->gate_label, 0);
    gtk_label_set_yalign (self->gate_label, 0);
    gtk_label_set_selectable (self->gate_label, TRUE);
    gtk_label_set_wrap (self->gate_label, TRUE);
    gtk_label_set_wrap_mode (self->gate_label, PANGO_WRAP_WORD_CHAR);
    gtk_widget_add_css_class (GTK_WIDGET (self->gate_label), "monospace");
    gtk_widget_set_margin_start (GTK_WIDGET (self->gate_label), 12);
    gtk_widget_set_margin_end (GTK_WIDGET (self->gate_label), 12);
    gtk_widget_set_margin_top (GTK_WIDGET (self->gate_label), 8);
    gtk_widget_set_margin_bottom (GTK_WIDGET (self->gate_label), 8);
    gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroller), GTK_POLICY_NEVER,
                                    GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_propagate_natural_height (GTK_SCROLLED_WINDOW (scroller), TRUE);
    gtk_scrolled_window_set_max_content_height (GTK_SCROLLED_WINDOW (scroller), 220);
    gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), GTK_WIDGET (self->gate_label));
    gtk_widget_add_css_class (scroller, "card");
    adw_preferences_group_add (ADW_PREFERENCES_GROUP (self->gate_group), scroller);
    gtk_widget_set_visible (self->gate_group, FALSE);
    gtk_box_append (GTK_BOX (content), self->gate_group);
    gemba_locator_watch (GTK_WIDGET (self->gate_label), "export.gate");
  }

  self->reason_group = adw_preferences_group_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (self->reason_group),
                                   _("Export Anyway"));
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (self->reason_group),
    _("Say why this model should go to the line although it is worse. The reason is kept in "
      "the audit trail, the package manifest and its model card."));
  self->reason_row = ADW_ENTRY_ROW (adw_entry_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->reason_row), _("Reason"));
  g_signal_connect_swapped (self->reason_row, "changed", G_CALLBACK (reason_changed_cb), self);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (self->reason_group),
                             GTK_WIDGET (self->reason_row));
  self->force_button = gtk_button_new_with_mnemonic (_("_Export Anyway"));
  gtk_widget_add_css_class (self->force_button, "destructive-action");
  gtk_widget_set_halign (self->force_button, GTK_ALIGN_END);
  gtk_widget_set_margin_top (self->force_button, 12);
  g_signal_connect_swapped (self->force_button, "clicked", G_CALLBACK (force_clicked_cb), self);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (self->reason_group), self->force_button);
  gtk_widget_set_visible (self->reason_group, FALSE);
  gtk_box_append (GTK_BOX (content), self->reason_group);

  buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  gtk_widget_set_halign (buttons, GTK_ALIGN_END);
  self->spinner = gtk_spinner_new ();
  gtk_spinner_start (GTK_SPINNER (self->spinner));
  gtk_widget_set_visible (self->spinner, FALSE);
  gtk_box_append (GTK_BOX (buttons), self->spinner);
  self->check_button = gtk_button_new_with_mnemonic (_("_Check Regression Gate"));
  g_signal_connect_swapped (self->check_button, "clicked", G_CALLBACK (check_clicked_cb), self);
  gtk_box_append (GTK_BOX (buttons), self->check_button);
  self->write_button = gtk_button_new_with_mnemonic (_("_Write Package"));
  gtk_widget_add_css_class (self->write_button, "suggested-action");
  gtk_widget_set_visible (self->write_button, FALSE);
  g_signal_connect_swapped (self->write_button, "clicked", G_CALLBACK (write_clicked_cb), self);
  gtk_box_append (GTK_BOX (buttons), self->write_button);
  gtk_box_append (GTK_BOX (content), buttons);

  adw_window_set_content (ADW_WINDOW (self), box);
  gemba_locator_watch (self->check_button, "export.check");
  gemba_locator_watch (self->write_button, "export.write");
  gemba_locator_watch (GTK_WIDGET (self->reason_row), "export.reason");
  gemba_locator_watch (self->force_button, "export.force");
}

GtkWidget *
gemba_export_dialog_new (GtkWindow *parent, GembaProject *project, gint64 model_id,
                         const char *model_name)
{
  GembaExportDialog *self = g_object_new (GEMBA_TYPE_EXPORT_DIALOG, NULL);
  g_autofree char *title = NULL;
  g_autofree char *key = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *file = NULL;
  g_autofree char *name = NULL;

  g_return_val_if_fail (GEMBA_IS_PROJECT (project), NULL);

  if (parent)
    gtk_window_set_transient_for (GTK_WINDOW (self), parent);
  self->project = g_object_ref (project);
  self->model_id = model_id;
  self->model_name = g_strdup (model_name);
  title = g_strdup_printf (_("Export %s"), model_name);
  gtk_window_set_title (GTK_WINDOW (self), title);

  /* gemba keygen's default folder. */
  key = g_build_filename (g_get_user_config_dir (), "gemba", "keys", "secret", NULL);
  if (g_file_test (key, G_FILE_TEST_IS_REGULAR))
    self->key_path = g_steal_pointer (&key);
  set_row_path (self->key_row, self->key_path,
                _("None chosen (make one with “gemba keygen”)"));
  dir = g_path_get_dirname (gemba_project_get_path (project));
  name = g_strdelimit (g_strdup (gemba_project_get_name (project)), "/ ", '-');
  file = g_strdup_printf ("%s-%" G_GINT64_FORMAT ".gemba", name, model_id);
  self->out_path = g_build_filename (dir, file, NULL);
  set_row_path (self->out_row, self->out_path, NULL);
  update_sensitivity (self);
  return GTK_WIDGET (self);
}
