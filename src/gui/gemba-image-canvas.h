/* gemba-image-canvas.h: shows one frame large, with zoom and pan
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define GEMBA_TYPE_IMAGE_CANVAS (gemba_image_canvas_get_type ())
G_DECLARE_FINAL_TYPE (GembaImageCanvas, gemba_image_canvas, GEMBA, IMAGE_CANVAS, GtkWidget)

GtkWidget  *gemba_image_canvas_new         (void);
/* Keeps the zoom and pan when the new frame has the same size (so a zoomed-in detail stays in
 * place from frame to frame). */
void        gemba_image_canvas_set_texture (GembaImageCanvas *self, GdkTexture *texture);
/* Shows a frame of @width × @height from @texture, stretched to that size: a thumbnail, the
 * frame decoded to its fitted size, or the full frame. Keeps zoom and pan as above. */
void        gemba_image_canvas_set_image   (GembaImageCanvas *self, GdkTexture *texture,
                                            int width, int height);
/* A texture of @width × @height pixels in GDK_MEMORY_DEFAULT (premultiplied, native-endian
 * ARGB, cairo's ARGB32), which the canvas draws without converting it under GTK's cairo
 * renderer. Any thread. */
GdkTexture *gemba_image_canvas_texture_new (GBytes *argb, int width, int height);
/* The size in device pixels a frame of @width × @height is drawn at when it fits the widget
 * (zoom 1.0); FALSE before the widget has a size. A texture of that size is drawn as is. */
gboolean    gemba_image_canvas_get_fitted_size (GembaImageCanvas *self, int width, int height,
                                                int *out_width, int *out_height);
GdkTexture *gemba_image_canvas_get_texture (GembaImageCanvas *self);
/* 1.0 fits the frame in the widget. */
double      gemba_image_canvas_get_zoom    (GembaImageCanvas *self);
void        gemba_image_canvas_zoom_by     (GembaImageCanvas *self, double factor);
void        gemba_image_canvas_reset       (GembaImageCanvas *self);
void        gemba_image_canvas_pan_by      (GembaImageCanvas *self, double dx, double dy);

G_END_DECLS
