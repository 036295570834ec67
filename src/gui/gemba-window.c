/* gemba-window.c: the workbench window, a shell around the pages
 *
 * A GtkStack switches between the start page, a spinner while a project opens, and the
 * project: an AdwViewStack of the Frames, Capture, Training and Models pages. The window
 * holds the open project in its `project` property, which every page binds to in
 * gemba-window.ui; the pages observe the project's signals and never call the window or each
 * other. The window's actions (gemba-window-actions.c) open and close projects and navigate.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-capture-page.h"
#include "gemba-probe.h"
#include "gemba-training-page.h"
#include "gemba-window-private.h"

#define SCHEMA_ID "dev.gemba.Workbench"
#define MAX_RECENT 10

G_DEFINE_FINAL_TYPE (GembaWindow, gemba_window, ADW_TYPE_APPLICATION_WINDOW)

enum { PROP_0, PROP_PROJECT, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void
show_error (GembaWindow *self, const char *message)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_set_timeout (toast, 0);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
remember_project (GembaWindow *self, const char *path)
{
  g_auto(GStrv) old = g_settings_get_strv (self->settings, "recent-projects");
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) recent = NULL;
  guint n = 1;

  g_strv_builder_add (builder, path);
  for (guint i = 0; old[i] && n < MAX_RECENT; i++)
    if (!g_str_equal (old[i], path))
      {
        g_strv_builder_add (builder, old[i]);
        n++;
      }
  recent = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "recent-projects", (const char * const *) recent);
  g_settings_set_string (self->settings, "last-project", path);
}

/* The banner: shown while the team project's server cannot be reached, with the labels
 * waiting for it. */
static void
update_reconnect_banner (GembaWindow *self)
{
  gboolean shown = self->project && gemba_project_get_reconnecting (self->project);

  if (shown)
    {
      guint n = gemba_project_get_n_waiting (self->project);
      g_autofree char *waiting = g_strdup_printf (ngettext ("%u label waiting",
                                                            "%u labels waiting", n), n);
      g_autofree char *text = g_strdup_printf (_("Reconnecting to %s…"),
                                               gemba_project_get_server_name (self->project));
      g_autofree char *markup = NULL;

      markup = n ? g_markup_printf_escaped ("<b>%s</b>  %s", text, waiting)
                 : g_markup_printf_escaped ("<b>%s</b>", text);
      gtk_label_set_markup (self->reconnect_label, markup);
    }
  gtk_spinner_set_spinning (self->reconnect_spinner, shown);
  gtk_revealer_set_reveal_child (self->reconnect_revealer, shown);
  if (shown != self->banner_shown)
    {
      self->banner_shown = shown;
      gemba_probe_log (shown ? "reconnecting" : "reconnected", "waiting=%u",
                       self->project ? gemba_project_get_n_waiting (self->project) : 0);
    }
}

void
_gemba_window_close_project (GembaWindow *self)
{
  g_autoptr(GembaProject) project = NULL;

  if (!self->project)
    return;
  /* The pages let go of the project first (they are bound to the window's property). */
  project = g_steal_pointer (&self->project);
  g_signal_handlers_disconnect_by_func (project, update_reconnect_banner, self);
  update_reconnect_banner (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  gemba_project_close (project);
  _gemba_window_update_actions (self);
}

void
_gemba_window_show_start (GembaWindow *self)
{
  gtk_stack_set_visible_child_name (self->main_stack, "start");
  adw_view_switcher_title_set_title (self->switcher_title, _("Gemba Workbench"));
  adw_view_switcher_title_set_subtitle (self->switcher_title, "");
  _gemba_window_update_actions (self);
  gtk_widget_set_visible (self->undo_button, FALSE);
  gtk_widget_set_visible (self->redo_button, FALSE);
  adw_view_switcher_title_set_view_switcher_enabled (self->switcher_title, FALSE);
  gemba_start_page_focus_default (self->start_page);
}

static void
project_opened_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaProject) project = gemba_project_open_finish (result, &error);
  g_autoptr(GtkSelectionModel) pages = NULL;

  gtk_spinner_stop (self->loading_spinner);
  if (!project)
    {
      _gemba_window_show_start (self);
      show_error (self, error->message);
      return;
    }
  gemba_probe_log ("project-opened", NULL);
  self->project = g_steal_pointer (&project);
  g_signal_connect_swapped (self->project, "notify::reconnecting",
                            G_CALLBACK (update_reconnect_banner), self);
  g_signal_connect_swapped (self->project, "notify::n-waiting",
                            G_CALLBACK (update_reconnect_banner), self);
  update_reconnect_banner (self);
  remember_project (self, gemba_project_get_path (self->project));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);

  adw_view_switcher_title_set_title (self->switcher_title, gemba_project_get_name (self->project));
  adw_view_switcher_title_set_subtitle (self->switcher_title,
                                        gemba_project_get_path (self->project));
  gtk_widget_set_visible (self->undo_button, TRUE);
  gtk_widget_set_visible (self->redo_button, TRUE);
  _gemba_window_update_actions (self);
  /* With one page the switcher would be a lone button; more pages make it worth showing. */
  pages = adw_view_stack_get_pages (self->view_stack);
  adw_view_switcher_title_set_view_switcher_enabled (
    self->switcher_title, g_list_model_get_n_items (G_LIST_MODEL (pages)) > 1);

  gtk_stack_set_visible_child_name (self->main_stack, "project");
  gtk_widget_grab_focus (GTK_WIDGET (self->frames_page));
}

void
_gemba_window_open (GembaWindow *self, const char *path, GembaProjectOpenMode mode)
{
  g_autofree char *annotator = NULL;
  g_autofree char *message = NULL;
  g_autofree char *display = NULL;

  g_return_if_fail (GEMBA_IS_WINDOW (self));

  _gemba_window_close_project (self);
  display = g_filename_display_name (path);
  message = mode == GEMBA_PROJECT_CREATE_DEMO && !gemba_store_is_project (path)
            ? g_strdup_printf (_("Creating the demo project in %s…"), display)
            : g_strdup_printf (_("Opening %s…"), display);
  gtk_label_set_label (self->loading_label, message);
  gtk_spinner_start (self->loading_spinner);
  gtk_stack_set_visible_child_name (self->main_stack, "loading");
  annotator = g_settings_get_string (self->settings, "annotator-name");
  gemba_project_open_async (path, mode, annotator, self->cancellable, project_opened_cb,
                            g_object_ref (self));
}

/* --- Settings and window state ------------------------------------------------------------ */

static void
settings_changed_cb (GSettings *settings, const char *key, GembaWindow *self)
{
  if (self->project && g_str_equal (key, "annotator-name"))
    {
      g_autofree char *name = g_settings_get_string (settings, key);
      gemba_project_set_author (self->project, name);
    }
}

static gboolean
gemba_window_close_request (GtkWindow *window)
{
  GembaWindow *self = GEMBA_WINDOW (window);
  int width, height;

  gtk_window_get_default_size (window, &width, &height);
  g_settings_set_int (self->settings, "window-width", width);
  g_settings_set_int (self->settings, "window-height", height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
  /* Waits for the labels still queued: closing the window loses none. */
  _gemba_window_close_project (self);
  return GTK_WINDOW_CLASS (gemba_window_parent_class)->close_request (window);
}

static void
gemba_window_dispose (GObject *object)
{
  GembaWindow *self = GEMBA_WINDOW (object);

  _gemba_window_close_project (self);
  if (self->settings)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_WINDOW);
  G_OBJECT_CLASS (gemba_window_parent_class)->dispose (object);
}

static void
gemba_window_finalize (GObject *object)
{
  GembaWindow *self = GEMBA_WINDOW (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (gemba_window_parent_class)->finalize (object);
}

static void
gemba_window_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  if (prop_id == PROP_PROJECT)
    g_value_set_object (value, GEMBA_WINDOW (object)->project);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gemba_window_class_init (GembaWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = gemba_window_dispose;
  object_class->finalize = gemba_window_finalize;
  object_class->get_property = gemba_window_get_property;
  window_class->close_request = gemba_window_close_request;

  /* The open project (NULL while the start page shows); every page binds to it. */
  properties[PROP_PROJECT] =
    g_param_spec_object ("project", NULL, NULL, GEMBA_TYPE_PROJECT,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (GEMBA_TYPE_START_PAGE);
  g_type_ensure (GEMBA_TYPE_FRAMES_PAGE);
  g_type_ensure (GEMBA_TYPE_CAPTURE_PAGE);
  g_type_ensure (GEMBA_TYPE_TRAINING_PAGE);
  g_type_ensure (GEMBA_TYPE_MODELS_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-window.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, back_button);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, undo_button);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, redo_button);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, reconnect_revealer);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, reconnect_spinner);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, reconnect_label);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, start_page);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, loading_spinner);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, loading_label);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, frames_page);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, models_page);

  _gemba_window_class_actions_init (widget_class);
}

static void
gemba_window_init (GembaWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = g_settings_new (SCHEMA_ID);
  self->cancellable = g_cancellable_new ();

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  /* The header bar's Undo and Redo follow the Frames page's labeler. */
  g_signal_connect_object (gemba_frames_page_get_labeler (self->frames_page), "notify",
                           G_CALLBACK (_gemba_window_update_actions), self, G_CONNECT_SWAPPED);
  g_signal_connect (self->settings, "changed", G_CALLBACK (settings_changed_cb), self);
  gemba_start_page_set_settings (self->start_page, self->settings);
  _gemba_window_show_start (self);
}
