/* gemba-thumb-paintable.c: a fixed-size paintable showing a thumbnail, letterboxed
 *
 * Why: a GtkPicture given a new paintable asks for a new layout, and in a grid of thousands
 * of cells whose thumbnails arrive while scrolling, that meant re-measuring the whole grid
 * for each one. This paintable keeps its size, so a thumbnail arriving only redraws its cell.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include "gemba-thumb-paintable.h"

struct _GembaThumbPaintable
{
  GObject parent_instance;

  int width;
  int height;
  GdkTexture *texture;
};

static void paintable_iface_init (GdkPaintableInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (GembaThumbPaintable, gemba_thumb_paintable, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GDK_TYPE_PAINTABLE, paintable_iface_init))

static void
gemba_thumb_paintable_snapshot (GdkPaintable *paintable, GdkSnapshot *snapshot, double width,
                                double height)
{
  GembaThumbPaintable *self = GEMBA_THUMB_PAINTABLE (paintable);
  double tw, th, scale;

  if (!self->texture)
    return;
  tw = gdk_texture_get_width (self->texture);
  th = gdk_texture_get_height (self->texture);
  scale = MIN (width / tw, height / th);
  gtk_snapshot_append_texture (GTK_SNAPSHOT (snapshot), self->texture,
                               &GRAPHENE_RECT_INIT ((width - tw * scale) / 2.0,
                                                    (height - th * scale) / 2.0,
                                                    tw * scale, th * scale));
}

static int
gemba_thumb_paintable_get_intrinsic_width (GdkPaintable *paintable)
{
  return GEMBA_THUMB_PAINTABLE (paintable)->width;
}

static int
gemba_thumb_paintable_get_intrinsic_height (GdkPaintable *paintable)
{
  return GEMBA_THUMB_PAINTABLE (paintable)->height;
}

static GdkPaintableFlags
gemba_thumb_paintable_get_flags (GdkPaintable *paintable)
{
  return GDK_PAINTABLE_STATIC_SIZE;
}

static void
paintable_iface_init (GdkPaintableInterface *iface)
{
  iface->snapshot = gemba_thumb_paintable_snapshot;
  iface->get_intrinsic_width = gemba_thumb_paintable_get_intrinsic_width;
  iface->get_intrinsic_height = gemba_thumb_paintable_get_intrinsic_height;
  iface->get_flags = gemba_thumb_paintable_get_flags;
}

static void
gemba_thumb_paintable_dispose (GObject *object)
{
  g_clear_object (&GEMBA_THUMB_PAINTABLE (object)->texture);
  G_OBJECT_CLASS (gemba_thumb_paintable_parent_class)->dispose (object);
}

static void
gemba_thumb_paintable_class_init (GembaThumbPaintableClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = gemba_thumb_paintable_dispose;
}

static void
gemba_thumb_paintable_init (GembaThumbPaintable *self)
{
}

GembaThumbPaintable *
gemba_thumb_paintable_new (int width, int height)
{
  GembaThumbPaintable *self = g_object_new (GEMBA_TYPE_THUMB_PAINTABLE, NULL);

  self->width = width;
  self->height = height;
  return self;
}

void
gemba_thumb_paintable_set_texture (GembaThumbPaintable *self, GdkTexture *texture)
{
  g_return_if_fail (GEMBA_IS_THUMB_PAINTABLE (self));

  if (g_set_object (&self->texture, texture))
    gdk_paintable_invalidate_contents (GDK_PAINTABLE (self));
}

GdkTexture *
gemba_thumb_paintable_get_texture (GembaThumbPaintable *self)
{
  g_return_val_if_fail (GEMBA_IS_THUMB_PAINTABLE (self), NULL);
  return self->texture;
}
