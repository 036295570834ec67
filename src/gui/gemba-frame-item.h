/* gemba-frame-item.h: one position of the frame grid
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "gemba-store.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_FRAME_ITEM (gemba_frame_item_get_type ())
G_DECLARE_FINAL_TYPE (GembaFrameItem, gemba_frame_item, GEMBA, FRAME_ITEM, GObject)

GembaFrameItem   *gemba_frame_item_new       (gint64 frame_id);
gint64            gemba_frame_item_get_id    (GembaFrameItem *self);
/* NULL until the row has been read from the store (notify::frame tells when). */
const GembaFrame *gemba_frame_item_get_frame (GembaFrameItem *self);
/* Takes @frame. */
void              gemba_frame_item_set_frame (GembaFrameItem *self, GembaFrame *frame);
/* TRUE when the frame has a label and a prediction that disagree. */
gboolean          gemba_frame_item_is_false_reading (GembaFrameItem *self);

G_END_DECLS
