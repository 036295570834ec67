/* gemba-frame-window.c: a window of frames to look through and label
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-frame-item.h"
#include "gemba-frame-view.h"
#include "gemba-frame-window.h"
#include "gemba-probe.h"

struct _GembaFrameWindow
{
  AdwWindow parent_instance;

  GembaProject *project;
  GtkSingleSelection *selection;
  GembaFrameView *view;
  AdwToastOverlay *toast_overlay;
  AdwToast *toast;              /* the one label toast, retitled while shown */
};

G_DEFINE_FINAL_TYPE (GembaFrameWindow, gemba_frame_window, ADW_TYPE_WINDOW)

static void
toast_dismissed_cb (AdwToast *toast, GembaFrameWindow *self)
{
  g_clear_object (&self->toast);
}

static void
show_toast (GembaFrameWindow *self, const char *title, gboolean with_undo)
{
  if (!self->toast)
    {
      self->toast = g_object_ref (adw_toast_new (title));
      adw_toast_set_priority (self->toast, ADW_TOAST_PRIORITY_HIGH);
      g_signal_connect (self->toast, "dismissed", G_CALLBACK (toast_dismissed_cb), self);
      adw_toast_set_action_name (self->toast, "win.undo");
      adw_toast_set_button_label (self->toast, with_undo ? _("_Undo") : NULL);
      adw_toast_overlay_add_toast (self->toast_overlay, self->toast);
      return;
    }
  adw_toast_set_title (self->toast, title);
  adw_toast_set_button_label (self->toast, with_undo ? _("_Undo") : NULL);
}

static const char *
class_name (GembaFrameWindow *self, gint64 class_id)
{
  const GembaClass *klass = gemba_project_lookup_class (self->project, class_id);

  return klass ? klass->name : _("unlabeled");
}

/* The frame as it is now, in this window's list; the main window's grid follows the project. */
static void
apply_result (GembaFrameWindow *self, GembaLabelResult *result)
{
  GListModel *frames = G_LIST_MODEL (self->selection);

  for (guint i = 0; result->frame && i < g_list_model_get_n_items (frames); i++)
    {
      g_autoptr(GembaFrameItem) item = g_list_model_get_item (frames, i);

      if (gemba_frame_item_get_id (item) != result->frame->id)
        continue;
      gemba_frame_item_set_frame (item, gemba_frame_copy (result->frame));
      if (i == gtk_single_selection_get_selected (self->selection))
        gemba_frame_view_refresh (self->view);
    }
  gemba_project_frames_changed (self->project);
}

static void
label_done (GembaFrameWindow *self, GObject *object, GAsyncResult *result, gboolean undo)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaLabelResult) label_result = NULL;
  g_autofree char *title = NULL;

  label_result = gemba_project_label_finish (GEMBA_PROJECT (object), result, &error);
  if (!label_result)
    {
      show_toast (self, error->message, FALSE);
      return;
    }
  if (!label_result->label)
    {
      show_toast (self, _("Nothing to undo"), FALSE);
      return;
    }
  apply_result (self, label_result);
  if (undo)
    title = g_strdup_printf (_("Undone: the frame is %s again"),
                             class_name (self, label_result->label->class_id));
  else
    title = g_strdup_printf (_("Saved: %s"), class_name (self, label_result->label->class_id));
  show_toast (self, title, !undo);
  gemba_probe_log (undo ? "window-undone" : "window-labeled",
                   "frame=%" G_GINT64_FORMAT " class=%" G_GINT64_FORMAT,
                   label_result->label->frame_id, label_result->label->class_id);
}

static void
labeled_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaFrameWindow) self = user_data;

  label_done (self, object, result, FALSE);
}

static void
undone_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaFrameWindow) self = user_data;

  label_done (self, object, result, TRUE);
}

static void
label_shown (GembaFrameWindow *self, const GembaClass *klass, GembaLabelKind kind)
{
  GembaFrameItem *item = gtk_single_selection_get_selected_item (self->selection);
  const GembaFrame *frame = item ? gemba_frame_item_get_frame (item) : NULL;

  if (!frame || !klass || klass->retired)
    {
      gtk_widget_error_bell (GTK_WIDGET (self));
      return;
    }
  gemba_project_label_async (self->project, frame->id, klass->id, kind, labeled_cb,
                             g_object_ref (self));
  gemba_frame_view_next (self->view);
}

static void
action_label_key (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFrameWindow *self = GEMBA_FRAME_WINDOW (widget);

  label_shown (self, gemba_project_class_for_key (self->project, g_variant_get_int32 (param)),
               GEMBA_LABEL_SET);
}

static void
action_label_class (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFrameWindow *self = GEMBA_FRAME_WINDOW (widget);

  label_shown (self, gemba_project_lookup_class (self->project, g_variant_get_int64 (param)),
               GEMBA_LABEL_SET);
}

static void
action_confirm (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFrameWindow *self = GEMBA_FRAME_WINDOW (widget);
  GembaFrameItem *item = gtk_single_selection_get_selected_item (self->selection);
  const GembaFrame *frame = item ? gemba_frame_item_get_frame (item) : NULL;

  if (!frame || !frame->pred_class_id)
    {
      show_toast (self, _("This frame has no prediction to confirm. Press a number key to "
                          "label it."), FALSE);
      return;
    }
  label_shown (self, gemba_project_lookup_class (self->project, frame->pred_class_id),
               GEMBA_LABEL_CONFIRM);
}

static void
action_undo (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFrameWindow *self = GEMBA_FRAME_WINDOW (widget);

  gemba_project_undo_async (self->project, undone_cb, g_object_ref (self));
}

static void
gemba_frame_window_dispose (GObject *object)
{
  GembaFrameWindow *self = GEMBA_FRAME_WINDOW (object);

  if (self->toast)
    g_signal_handlers_disconnect_by_func (self->toast, toast_dismissed_cb, self);
  g_clear_object (&self->toast);
  g_clear_object (&self->selection);
  g_clear_object (&self->project);
  G_OBJECT_CLASS (gemba_frame_window_parent_class)->dispose (object);
}

static void
gemba_frame_window_class_init (GembaFrameWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  static const guint digits[] = { GDK_KEY_0, GDK_KEY_1, GDK_KEY_2, GDK_KEY_3, GDK_KEY_4,
                                  GDK_KEY_5, GDK_KEY_6, GDK_KEY_7, GDK_KEY_8, GDK_KEY_9 };
  static const guint keypad[] = { GDK_KEY_KP_0, GDK_KEY_KP_1, GDK_KEY_KP_2, GDK_KEY_KP_3,
                                  GDK_KEY_KP_4, GDK_KEY_KP_5, GDK_KEY_KP_6, GDK_KEY_KP_7,
                                  GDK_KEY_KP_8, GDK_KEY_KP_9 };

  object_class->dispose = gemba_frame_window_dispose;
  gtk_widget_class_install_action (widget_class, "win.label-key", "i", action_label_key);
  gtk_widget_class_install_action (widget_class, "win.label-class", "x", action_label_class);
  gtk_widget_class_install_action (widget_class, "win.confirm", NULL, action_confirm);
  gtk_widget_class_install_action (widget_class, "win.undo", NULL, action_undo);
  for (guint i = 0; i < G_N_ELEMENTS (digits); i++)
    {
      gtk_widget_class_add_binding_action (widget_class, digits[i], 0, "win.label-key", "i", i);
      gtk_widget_class_add_binding_action (widget_class, keypad[i], 0, "win.label-key", "i", i);
    }
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, 0, "win.confirm", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Enter, 0, "win.confirm", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK, "win.undo",
                                       NULL);
}

static void
gemba_frame_window_init (GembaFrameWindow *self)
{
}

GtkWidget *
gemba_frame_window_new (GtkWindow *parent, GembaProject *project, GListModel *frames,
                        guint index, const char *title)
{
  GembaFrameWindow *self = g_object_new (GEMBA_TYPE_FRAME_WINDOW,
                                         "title", title,
                                         "default-width", 1000,
                                         "default-height", 700,
                                         "destroy-with-parent", TRUE,
                                         "transient-for", parent,
                                         NULL);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();
  GtkEventController *keys;

  self->project = g_object_ref (project);
  self->selection = gtk_single_selection_new (g_object_ref (frames));
  gtk_single_selection_set_autoselect (self->selection, FALSE);
  gtk_single_selection_set_selected (self->selection, index);

  /* Escape closes the window before the frame view sees it (its Escape goes back to a grid
   * this window does not have). */
  keys = gtk_shortcut_controller_new ();
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (keys),
    gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_Escape, 0),
                      gtk_named_action_new ("window.close")));
  gtk_widget_add_controller (GTK_WIDGET (self), keys);

  adw_header_bar_set_title_widget (ADW_HEADER_BAR (header), adw_window_title_new (title,
    _("← and → move between the frames; a number key corrects the label")));
  gtk_box_append (GTK_BOX (box), header);
  self->toast_overlay = ADW_TOAST_OVERLAY (adw_toast_overlay_new ());
  gtk_widget_set_vexpand (GTK_WIDGET (self->toast_overlay), TRUE);
  self->view = g_object_new (GEMBA_TYPE_FRAME_VIEW, NULL);
  adw_toast_overlay_set_child (self->toast_overlay, GTK_WIDGET (self->view));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->toast_overlay));
  adw_window_set_content (ADW_WINDOW (self), box);
  gemba_frame_view_set_model (self->view, project, self->selection);
  gtk_widget_grab_focus (GTK_WIDGET (self->view));
  return GTK_WIDGET (self);
}
