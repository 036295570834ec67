/* gemba-window-actions.c: the workbench window's actions
 *
 * Opening and closing projects, the class editor, undo and redo of labels, and the navigation
 * between the pages: win.show-frames, win.show-filter (s: a filter key), win.show-grid,
 * win.show-frame and win.show-model (x: a model id). Pages navigate only through these. They
 * are GActionEntries in the window's action map (the "win" group), Ctrl+O and Ctrl+N the
 * class's key bindings (gemba-window.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-class-editor.h"
#include "gemba-window-private.h"

static void
set_enabled (GembaWindow *self, const char *name, gboolean enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);

  if (action)
    g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

void
gemba_window_update_actions (GembaWindow *self)
{
  gboolean open = self->project != NULL;
  GembaLabeler *labeler = self->frames_page ? gemba_frames_page_get_labeler (self->frames_page)
                                             : NULL;

  set_enabled (self, "close-project", open);
  set_enabled (self, "edit-classes", open);
  set_enabled (self, "undo",
                                 open && labeler && gemba_labeler_get_can_undo (labeler));
  set_enabled (self, "redo",
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
action_show_frames (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GembaWindow *self = GEMBA_WINDOW (user_data);

  if (project_shown (self))
    show_frames_page (self);
}

static void
action_show_filter (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GembaWindow *self = GEMBA_WINDOW (user_data);

  if (!project_shown (self))
    return;
  show_frames_page (self);
  gtk_widget_activate_action_variant (GTK_WIDGET (self->frames_page), "frames.filter", param);
}

static void
action_show_grid (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GembaWindow *self = GEMBA_WINDOW (user_data);

  if (!self->project)
    return;
  show_frames_page (self);
  gtk_widget_activate_action (GTK_WIDGET (self->frames_page), "frames.show-grid", NULL);
}

static void
action_show_frame (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GembaWindow *self = GEMBA_WINDOW (user_data);

  if (!project_shown (self))
    return;
  show_frames_page (self);
  gtk_widget_activate_action (GTK_WIDGET (self->frames_page), "frames.show-frame", NULL);
}

/* The Models page with a model selected (e.g. the one just trained), compared with production. */
static void
action_show_model (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GembaWindow *self = GEMBA_WINDOW (user_data);

  if (!self->project)
    return;
  gemba_models_page_reload (self->models_page, g_variant_get_int64 (param));
  adw_view_stack_set_visible_child (self->view_stack, GTK_WIDGET (self->models_page));
}

/* --- Labels ------------------------------------------------------------------------------- */

/* Undo and redo are the header bar's and Ctrl+Z's on every page; the Frames page's labeler
 * does them. */
static void
action_undo_redo (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GembaWindow *self = GEMBA_WINDOW (user_data);
  gboolean undo = g_str_equal (g_action_get_name (G_ACTION (action)), "undo");

  if (self->project)
    gtk_widget_activate_action (GTK_WIDGET (self->frames_page),
                                undo ? "frames.undo" : "frames.redo", NULL);
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
        gemba_window_open (self, path, create ? GEMBA_PROJECT_CREATE : GEMBA_PROJECT_OPEN);
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
action_open_project (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  run_chooser (GEMBA_WINDOW (user_data), FALSE);
}

static void
action_new_project (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  run_chooser (GEMBA_WINDOW (user_data), TRUE);
}

static void
action_open_demo (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  g_autofree char *path = g_build_filename (g_get_user_data_dir (), "gemba", "demo", NULL);
  g_autofree char *parent = g_path_get_dirname (path);

  g_mkdir_with_parents (parent, 0755);
  gemba_window_open (GEMBA_WINDOW (user_data), path, GEMBA_PROJECT_CREATE_DEMO);
}

static void
action_open_path (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  gemba_window_open (GEMBA_WINDOW (user_data), g_variant_get_string (param, NULL),
                     GEMBA_PROJECT_OPEN);
}

static void
action_close_project (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GembaWindow *self = GEMBA_WINDOW (user_data);

  gemba_window_close_project (self);
  g_settings_set_string (self->settings, "last-project", "");
  gemba_window_show_start (self);
}

static void
action_edit_classes (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GembaWindow *self = GEMBA_WINDOW (user_data);

  if (self->project)
    gtk_window_present (gemba_class_editor_new (GTK_WINDOW (self), self->project));
}

void
gemba_window_install_actions (GembaWindow *self)
{
  static const GActionEntry entries[] = {
    { "open-project", action_open_project },
    { "new-project", action_new_project },
    { "open-demo", action_open_demo },
    { "open-path", action_open_path, "s" },
    { "close-project", action_close_project },
    { "edit-classes", action_edit_classes },
    { "show-frames", action_show_frames },
    { "show-filter", action_show_filter, "s" },
    { "show-grid", action_show_grid },
    { "show-frame", action_show_frame },
    { "show-model", action_show_model, "x" },
    { "undo", action_undo_redo },
    { "redo", action_undo_redo },
  };

  g_action_map_add_action_entries (G_ACTION_MAP (self), entries, G_N_ELEMENTS (entries), self);
  gemba_window_update_actions (self);
}
