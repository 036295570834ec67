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
GdkTexture *gemba_image_canvas_get_texture (GembaImageCanvas *self);
/* 1.0 fits the frame in the widget. */
double      gemba_image_canvas_get_zoom    (GembaImageCanvas *self);
void        gemba_image_canvas_zoom_by     (GembaImageCanvas *self, double factor);
void        gemba_image_canvas_reset       (GembaImageCanvas *self);
void        gemba_image_canvas_pan_by      (GembaImageCanvas *self, double dx, double dy);

G_END_DECLS
