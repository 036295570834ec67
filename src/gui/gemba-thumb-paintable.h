/* gemba-thumb-paintable.h: a fixed-size paintable showing a thumbnail, letterboxed
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define GEMBA_TYPE_THUMB_PAINTABLE (gemba_thumb_paintable_get_type ())
G_DECLARE_FINAL_TYPE (GembaThumbPaintable, gemba_thumb_paintable, GEMBA, THUMB_PAINTABLE,
                      GObject)

GembaThumbPaintable *gemba_thumb_paintable_new         (int width, int height);
/* NULL clears. Only redraws: the paintable's size never changes. */
void                 gemba_thumb_paintable_set_texture (GembaThumbPaintable *self,
                                                        GdkTexture          *texture);
GdkTexture          *gemba_thumb_paintable_get_texture (GembaThumbPaintable *self);

G_END_DECLS
