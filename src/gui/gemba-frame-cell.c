/* gemba-frame-cell.c: one cell of the frame grid
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-frame-cell.h"
#include "gemba-thumb-paintable.h"

struct _GembaFrameCell
{
  GtkWidget parent_instance;

  GtkPicture *picture;
  GtkLabel *mark_label;
  GtkLabel *label_label;
  GtkLabel *prediction_label;

  GembaProject *project;
  guint size;
  GembaThumbPaintable *thumb;   /* always the picture's paintable */
  GembaFrameItem *item;
  gulong notify_id;
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (GembaFrameCell, gemba_frame_cell, GTK_TYPE_WIDGET)

char *
gemba_class_markup (GembaProject *project, gint64 class_id)
{
  const GembaClass *klass;
  g_autofree char *name = NULL;

  if (class_id == 0)
    return g_markup_printf_escaped ("<span alpha=\"60%%\">%s</span>", _("Unlabeled"));
  if (!(klass = gemba_project_lookup_class (project, class_id)))
    return g_markup_printf_escaped ("%s", _("Unknown class"));
  /* A retired class still names old labels, marked so nobody picks it again by mistake. */
  name = klass->retired ? g_strdup_printf (_("%s (retired)"), klass->name)
                        : g_strdup (klass->name);
  return g_markup_printf_escaped ("<span foreground=\"%s\">⬤</span> %s", klass->color, name);
}

static void
thumbnail_loaded_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GdkTexture) texture = NULL;
  g_autoptr(GError) error = NULL;
  GembaFrameCell *self;

  texture = gemba_thumbnailer_load_finish (GEMBA_THUMBNAILER (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = GEMBA_FRAME_CELL (user_data);
  if (texture)
    gemba_thumb_paintable_set_texture (self->thumb, texture);
  else
    {
      g_warning ("%s", error->message);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->picture), error->message);
    }
}

/* A label given the text it has does not lay out again: while scrolling, most recycled
 * cells show the same words ("Unlabeled"), and every skipped relayout is a grid that
 * is not measured again. */
static void
set_markup (GtkLabel *label, const char *markup)
{
  if (g_strcmp0 (gtk_label_get_label (label), markup) != 0)
    gtk_label_set_markup (label, markup);
}

static void
update (GembaFrameCell *self)
{
  const GembaFrame *frame = self->item ? gemba_frame_item_get_frame (self->item) : NULL;
  g_autofree char *label = NULL;
  g_autofree char *prediction = NULL;
  gboolean false_reading;

  if (!frame)
    {
      set_markup (self->label_label, " ");
      set_markup (self->prediction_label, " ");
      gtk_widget_set_visible (GTK_WIDGET (self->mark_label), FALSE);
      gtk_widget_remove_css_class (GTK_WIDGET (self), "false-reading");
      return;
    }

  label = gemba_class_markup (self->project, frame->label_class_id);
  set_markup (self->label_label, label);
  false_reading = gemba_frame_item_is_false_reading (self->item);
  if (frame->pred_class_id != 0)
    {
      const GembaClass *klass = gemba_project_lookup_class (self->project, frame->pred_class_id);
      /* Translators: the production model's verdict on a frame and its confidence. */
      prediction = g_markup_printf_escaped (_("Model: %s %.0f %%"),
                                            klass ? klass->name : "?",
                                            frame->pred_confidence * 100.0);
      if (false_reading)
        {
          g_autofree char *plain = g_steal_pointer (&prediction);
          prediction = g_strdup_printf ("<span foreground=\"#e01b24\" weight=\"bold\">%s</span>",
                                        plain);
        }
    }
  set_markup (self->prediction_label, prediction ? prediction : " ");
  gtk_widget_set_visible (GTK_WIDGET (self->mark_label), false_reading);
  if (false_reading)
    gtk_widget_add_css_class (GTK_WIDGET (self), "false-reading");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "false-reading");

  if (!gemba_thumb_paintable_get_texture (self->thumb) && !self->cancellable)
    {
      GembaThumbnailer *thumbnailer = gemba_project_get_thumbnailer (self->project);
      GdkTexture *texture = gemba_thumbnailer_lookup (thumbnailer, frame, self->size);

      if (texture)
        gemba_thumb_paintable_set_texture (self->thumb, texture);
      else
        {
          self->cancellable = g_cancellable_new ();
          gemba_thumbnailer_load_async (thumbnailer, frame, self->size, self->cancellable,
                                        thumbnail_loaded_cb, self);
        }
    }
}

static void
frame_changed_cb (GembaFrameItem *item, GParamSpec *pspec, GembaFrameCell *self)
{
  update (self);
}

static void
gemba_frame_cell_dispose (GObject *object)
{
  GembaFrameCell *self = GEMBA_FRAME_CELL (object);
  GtkWidget *child;

  gemba_frame_cell_set_item (self, NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_FRAME_CELL);
  /* Template children that are not bound are still ours to unparent. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))))
    gtk_widget_unparent (child);
  g_clear_object (&self->project);
  g_clear_object (&self->thumb);
  G_OBJECT_CLASS (gemba_frame_cell_parent_class)->dispose (object);
}

static void
gemba_frame_cell_class_init (GembaFrameCellClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_frame_cell_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-frame-cell.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaFrameCell, picture);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameCell, mark_label);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameCell, label_label);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameCell, prediction_label);
}

static void
gemba_frame_cell_init (GembaFrameCell *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
gemba_frame_cell_new (GembaProject *project, guint thumbnail_size)
{
  GembaFrameCell *self = g_object_new (GEMBA_TYPE_FRAME_CELL, NULL);

  self->project = g_object_ref (project);
  self->size = thumbnail_size;
  /* 4:3 is what line cameras mostly give; other shapes are letterboxed. */
  self->thumb = gemba_thumb_paintable_new (thumbnail_size, thumbnail_size * 3 / 4);
  gtk_picture_set_paintable (self->picture, GDK_PAINTABLE (self->thumb));
  /* The grid's columns are as wide as a cell's minimum: the thumbnail's full size. */
  gtk_widget_set_size_request (GTK_WIDGET (self->picture), thumbnail_size,
                               thumbnail_size * 3 / 4);
  return GTK_WIDGET (self);
}

void
gemba_frame_cell_set_item (GembaFrameCell *self, GembaFrameItem *item)
{
  g_return_if_fail (GEMBA_IS_FRAME_CELL (self));

  if (self->item == item)
    return;
  if (self->cancellable)
    {
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
    }
  if (self->item)
    {
      g_clear_signal_handler (&self->notify_id, self->item);
      g_clear_object (&self->item);
    }
  gemba_thumb_paintable_set_texture (self->thumb, NULL);
  /* Only touched when set: changing a tooltip asks the X server where the pointer is, a
   * round trip per cell that made fast scrolling stall. */
  if (gtk_widget_get_has_tooltip (GTK_WIDGET (self->picture)))
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->picture), NULL);
  if (item)
    {
      self->item = g_object_ref (item);
      self->notify_id = g_signal_connect (item, "notify::frame",
                                          G_CALLBACK (frame_changed_cb), self);
    }
  update (self);
}
