/* gemba-thumbnailer.h: makes and loads thumbnails in worker threads, caches the textures
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "gemba-store.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_THUMBNAILER (gemba_thumbnailer_get_type ())
G_DECLARE_FINAL_TYPE (GembaThumbnailer, gemba_thumbnailer, GEMBA, THUMBNAILER, GObject)

/* @store is only used from the worker threads. */
GembaThumbnailer *gemba_thumbnailer_new    (GembaStore *store);
/* A cached texture, or NULL. Main thread only. */
GdkTexture       *gemba_thumbnailer_lookup (GembaThumbnailer *self, const GembaFrame *frame,
                                            guint size);
/* Newest requests are served first; cancelled ones are dropped before any work is done. */
void              gemba_thumbnailer_load_async  (GembaThumbnailer   *self,
                                                 const GembaFrame   *frame,
                                                 guint               size,
                                                 GCancellable       *cancellable,
                                                 GAsyncReadyCallback callback,
                                                 gpointer            user_data);
GdkTexture       *gemba_thumbnailer_load_finish (GembaThumbnailer *self,
                                                 GAsyncResult     *result,
                                                 GError          **error);
/* Loads the full frame (not cached here), made with gemba_image_canvas_texture_new(). */
void              gemba_thumbnailer_load_full_async  (GembaThumbnailer   *self,
                                                      const GembaFrame   *frame,
                                                      GCancellable       *cancellable,
                                                      GAsyncReadyCallback callback,
                                                      gpointer            user_data);
/* Loads the full frame scaled to @width × @height (the frame's aspect; JPEGs are decoded at a
 * reduced DCT scale where that suffices), as gemba_image_canvas_texture_new() makes. Finished
 * by gemba_thumbnailer_load_full_finish(); not cached here. */
void              gemba_thumbnailer_load_fitted_async (GembaThumbnailer   *self,
                                                       const GembaFrame   *frame,
                                                       guint               width,
                                                       guint               height,
                                                       GCancellable       *cancellable,
                                                       GAsyncReadyCallback callback,
                                                       gpointer            user_data);
GdkTexture       *gemba_thumbnailer_load_full_finish (GembaThumbnailer *self,
                                                      GAsyncResult     *result,
                                                      GError          **error);
void              gemba_thumbnailer_shutdown (GembaThumbnailer *self);

G_END_DECLS
