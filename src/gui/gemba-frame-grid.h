/* gemba-frame-grid.h: the frame grid, a scrollable widget that draws only its visible cells
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_FRAME_GRID (gemba_frame_grid_get_type ())
G_DECLARE_FINAL_TYPE (GembaFrameGrid, gemba_frame_grid, GEMBA, FRAME_GRID, GtkWidget)

/* Shows @selection's items (GembaFrameItem, from a GembaFrameList); the selected item is the
 * grid's cursor. Either may be NULL to show nothing. */
void  gemba_frame_grid_set_model          (GembaFrameGrid     *self,
                                           GembaProject       *project,
                                           GtkSingleSelection *selection);
/* The edge length of the thumbnails, in pixels. */
void  gemba_frame_grid_set_thumbnail_size (GembaFrameGrid     *self,
                                           guint               size);
/* Scrolls so that the cell at @position is in view. */
void  gemba_frame_grid_scroll_to          (GembaFrameGrid     *self,
                                           guint               position);

G_END_DECLS
