/* gemba-frame-view.h: one frame large, with its label, prediction, history and details
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_FRAME_VIEW (gemba_frame_view_get_type ())
G_DECLARE_FINAL_TYPE (GembaFrameView, gemba_frame_view, GEMBA, FRAME_VIEW, GtkWidget)

/* Shows the selected item of @selection (a GtkSingleSelection of GembaFrameItems). */
void gemba_frame_view_set_model         (GembaFrameView     *self,
                                         GembaProject       *project,
                                         GtkSingleSelection *selection);
void gemba_frame_view_set_preload_depth (GembaFrameView *self, guint depth);
/* Moves the selection; FALSE at the end of the list. */
gboolean gemba_frame_view_next          (GembaFrameView *self);
gboolean gemba_frame_view_previous      (GembaFrameView *self);
/* Re-reads the history of the frame shown (after a label). */
void gemba_frame_view_refresh           (GembaFrameView *self);

G_END_DECLS
