/* gemba-frame-cell.h: one cell of the frame grid
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "gemba-frame-item.h"
#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_FRAME_CELL (gemba_frame_cell_get_type ())
G_DECLARE_FINAL_TYPE (GembaFrameCell, gemba_frame_cell, GEMBA, FRAME_CELL, GtkWidget)

GtkWidget *gemba_frame_cell_new      (GembaProject *project, guint thumbnail_size);
void       gemba_frame_cell_set_item (GembaFrameCell *self, GembaFrameItem *item);
/* Markup for a class: its colour dot and name; "Unlabeled" for 0. */
char      *gemba_class_markup        (GembaProject *project, gint64 class_id);

G_END_DECLS
