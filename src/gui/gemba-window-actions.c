/* gemba-window-actions.c: the workbench window's actions
 *
 * Opening and closing projects, the class editor, undo and redo of labels, and the navigation
 * between the pages: win.show-frames, win.show-filter (s: a filter key), win.show-grid,
 * win.show-frame and win.show-model (x: a model id). Pages navigate only through these. They
 * are the window class's actions (STYLE.md), installed by _gemba_window_class_actions_init().
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-class-editor.h"
#include "gemba-window-private.h"

void
_gemba_window_update_actions (GembaWindow *self)
{
  gboolean open = self->project != NULL;
  GembaLabeler *labeler = self->frames_page ? gemba_frames_page_get_labeler (self->frames_page)
                                             : NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.close-project", open);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.edit-classes", open);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.undo",
                                 open && labeler && gemba_labeler_get_can_undo (labeler));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.redo",
                                 open && labeler && gemba_labeler_get_can_redo (labeler));
}

/* --- Navigation --------------------------------------------------------------------------- */

static gboolean
project_shown (GembaWindow *self)
{
  return self->project &&
         g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "project") == 0;
}

static void
show_frames_page (GembaWindow *self)
{
  adw_view_stack_set_visible_child (self->view_stack, GTK_WIDGET (self->frames_page));
}

static void
action_show_frames (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (project_shown (self))
    show_frames_page (self);
}

static void
action_show_filter (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (!project_shown (self))
    return;
  show_frames_page (self);
  gtk_widget_activate_action_variant (GTK_WIDGET (self->frames_page), "frames.filter", param);
}

static void
action_show_grid (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (!self->project)
    return;
  show_frames_page (self);
  gtk_widget_activate_action (GTK_WIDGET (self->frames_page), "frames.show-grid", NULL);
}

static void
action_show_frame (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (!project_shown (self))
    return;
  show_frames_page (self);
  gtk_widget_activate_action (GTK_WIDGET (self->frames_page), "frames.show-frame", NULL);
}

/* The Models page with a model selected (e.g. the one just trained), compared with production. */
static void
action_show_model (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (!self->project)
    return;
  g_object_set (self->models_page, "selected-model", g_variant_get_int64 (param), NULL);
  adw_view_stack_set_visible_child (self->view_stack, GTK_WIDGET (self->models_page));
}

/* --- Labels ------------------------------------------------------------------------------- */

/* Undo and redo are the header bar's and Ctrl+Z's on every page; the Frames page's labeler
 * does them. */
static void
action_undo_redo (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (self->project)
    gtk_widget_activate_action (GTK_WIDGET (self->frames_page),
                                g_str_equal (name, "win.undo") ? "frames.undo" : "frames.redo",
                                NULL);
}

/* --- Projects ----------------------------------------------------------------------------- */

static void
chooser_response_cb (GtkNativeDialog *dialog, int response, GembaWindow *self)
{
  gboolean create = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "create"));

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = g_file_get_path (file);

      if (path)
        _gemba_window_open (self, path, create ? GEMBA_PROJECT_CREATE : GEMBA_PROJECT_OPEN);
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

static void
run_chooser (GembaWindow *self, gboolean create)
{
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (create ? _("New Project — Choose an Empty Folder")
                                        : _("Open Project Folder"),
                                 GTK_WINDOW (self), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                 create ? _("_Create") : _("_Open"), _("_Cancel"));

  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_object_set_data (G_OBJECT (chooser), "create", GINT_TO_POINTER (create));
  g_signal_connect (chooser, "response", G_CALLBACK (chooser_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
action_open_project (GtkWidget *widget, const char *name, GVariant *param)
{
  run_chooser (GEMBA_WINDOW (widget), FALSE);
}

static void
action_new_project (GtkWidget *widget, const char *name, GVariant *param)
{
  run_chooser (GEMBA_WINDOW (widget), TRUE);
}

static void
action_open_demo (GtkWidget *widget, const char *name, GVariant *param)
{
  g_autofree char *path = g_build_filename (g_get_user_data_dir (), "gemba", "demo", NULL);
  g_autofree char *parent = g_path_get_dirname (path);

  g_mkdir_with_parents (parent, 0755);
  _gemba_window_open (GEMBA_WINDOW (widget), path, GEMBA_PROJECT_CREATE_DEMO);
}

static void
action_open_path (GtkWidget *widget, const char *name, GVariant *param)
{
  _gemba_window_open (GEMBA_WINDOW (widget), g_variant_get_string (param, NULL),
                     GEMBA_PROJECT_OPEN);
}

static void
action_close_project (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  _gemba_window_close_project (self);
  g_settings_set_string (self->settings, "last-project", "");
  _gemba_window_show_start (self);
}

static void
action_edit_classes (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (self->project)
    gtk_window_present (gemba_class_editor_new (GTK_WINDOW (self), self->project));
}

void
_gemba_window_class_actions_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "win.open-project", NULL, action_open_project);
  gtk_widget_class_install_action (widget_class, "win.new-project", NULL, action_new_project);
  gtk_widget_class_install_action (widget_class, "win.open-demo", NULL, action_open_demo);
  gtk_widget_class_install_action (widget_class, "win.open-path", "s", action_open_path);
  gtk_widget_class_install_action (widget_class, "win.close-project", NULL, action_close_project);
  gtk_widget_class_install_action (widget_class, "win.edit-classes", NULL, action_edit_classes);
  gtk_widget_class_install_action (widget_class, "win.show-frames", NULL, action_show_frames);
  gtk_widget_class_install_action (widget_class, "win.show-filter", "s", action_show_filter);
  gtk_widget_class_install_action (widget_class, "win.show-grid", NULL, action_show_grid);
  gtk_widget_class_install_action (widget_class, "win.show-frame", NULL, action_show_frame);
  gtk_widget_class_install_action (widget_class, "win.show-model", "x", action_show_model);
  gtk_widget_class_install_action (widget_class, "win.undo", NULL, action_undo_redo);
  gtk_widget_class_install_action (widget_class, "win.redo", NULL, action_undo_redo);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK,
                                       "win.open-project", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK,
                                       "win.new-project", NULL);
}
