/* gemba-frame-list.h: a GListModel of the frames matching a query, read from the store a page
 * at a time
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "gemba-frame-item.h"
#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_FRAME_LIST (gemba_frame_list_get_type ())
G_DECLARE_FINAL_TYPE (GembaFrameList, gemba_frame_list, GEMBA, FRAME_LIST, GObject)

GembaFrameList *gemba_frame_list_new       (GembaProject *project);
/* Reads the ids of the frames matching @query in a worker thread, then replaces the items;
 * ::loaded is emitted when done. */
void            gemba_frame_list_set_query (GembaFrameList *self, const GembaFrameQuery *query);
const GembaFrameQuery *gemba_frame_list_get_query (GembaFrameList *self);
gboolean        gemba_frame_list_is_loading (GembaFrameList *self);
/* Position of @frame_id, or G_MAXUINT. */
guint           gemba_frame_list_find      (GembaFrameList *self, gint64 frame_id);
/* Makes sure the rows around @position are being read. */
void            gemba_frame_list_prefetch  (GembaFrameList *self, guint position);
/* A changed frame (after a label): updates its item if one exists. Takes @frame. */
void            gemba_frame_list_update_frame (GembaFrameList *self, GembaFrame *frame);

/* The frame ids, in order (NULL before the first load). */
const GArray   *gemba_frame_list_get_ids   (GembaFrameList *self);
/* Removes the frames whose ids are in @frame_ids (a set of gint64 *); returns how many. */
guint           gemba_frame_list_remove_frames (GembaFrameList *self, GHashTable *frame_ids);

G_END_DECLS
