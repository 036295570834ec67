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
#include "gemba-labeler.h"

struct _GembaFrameWindow
{
  AdwWindow parent_instance;

  GembaProject *project;
  GtkSingleSelection *selection;
  GembaFrameView *view;
  AdwToastOverlay *toast_overlay;
  GembaLabeler *labeler;
};

G_DEFINE_FINAL_TYPE (GembaFrameWindow, gemba_frame_window, ADW_TYPE_WINDOW)

/* A label written here: redraw the frame, and tell the other views of the project (the
 * Frames page re-reads its grid). */
static void
labeler_changed_cb (GembaLabeler *labeler, gint64 frame_id, gboolean history,
                    GembaFrameWindow *self)
{
  GembaFrameItem *shown = gtk_single_selection_get_selected_item (self->selection);

  if (shown && gemba_frame_item_get_id (shown) == frame_id)
    gemba_frame_view_refresh (self->view);
  gemba_project_frames_changed (self->project);
}

static void
labeler_undo_cb (GembaFrameWindow *self)
{
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.undo",
                                 gemba_labeler_get_can_undo (self->labeler));
}

static void
action_label_key (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFrameWindow *self = GEMBA_FRAME_WINDOW (widget);

  if (gemba_labeler_label_key (self->labeler, g_variant_get_int32 (param)))
    gemba_frame_view_next (self->view);
}

static void
action_label_class (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFrameWindow *self = GEMBA_FRAME_WINDOW (widget);

  if (gemba_labeler_label_class (self->labeler, g_variant_get_int64 (param)))
    gemba_frame_view_next (self->view);
}

static void
action_confirm (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFrameWindow *self = GEMBA_FRAME_WINDOW (widget);

  if (gemba_labeler_confirm (self->labeler))
    gemba_frame_view_next (self->view);
}

static void
action_undo (GtkWidget *widget, const char *name, GVariant *param)
{
  gemba_labeler_undo (GEMBA_FRAME_WINDOW (widget)->labeler);
}

static void
gemba_frame_window_dispose (GObject *object)
{
  GembaFrameWindow *self = GEMBA_FRAME_WINDOW (object);

  if (self->labeler)
    g_signal_handlers_disconnect_by_data (self->labeler, self);
  g_clear_object (&self->labeler);
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
  self->labeler = gemba_labeler_new (self->toast_overlay, "window-");
  gemba_labeler_set_project (self->labeler, project);
  gemba_labeler_set_selection (self->labeler, self->selection);
  g_signal_connect (self->labeler, "changed", G_CALLBACK (labeler_changed_cb), self);
  g_signal_connect_swapped (self->labeler, "notify::can-undo", G_CALLBACK (labeler_undo_cb),
                            self);
  labeler_undo_cb (self);
  gtk_widget_grab_focus (GTK_WIDGET (self->view));
  return GTK_WIDGET (self);
}
