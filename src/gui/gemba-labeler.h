/* gemba-labeler.h: labeling, confirming and undo of the selected frame, with their toast
 *
 * One GembaLabeler per view that labels frames (the Frames page, a frame window). It labels the
 * selected item of a GtkSingleSelection of GembaFrameItems through the project's writer thread
 * (the same core store functions as `gemba label`), keeps the undo and redo state, updates the
 * frame's item when the write is done and says what happened in one toast, retitled while it
 * is shown. ::changed tells the owner which frame changed, so that it can redraw it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_LABELER (gemba_labeler_get_type ())
G_DECLARE_FINAL_TYPE (GembaLabeler, gemba_labeler, GEMBA, LABELER, GObject)

/* Toasts go to @overlay; probe events are named @probe_prefix + "labeled", "undone", …. */
GembaLabeler *gemba_labeler_new           (AdwToastOverlay *overlay, const char *probe_prefix);
void          gemba_labeler_set_project   (GembaLabeler *self, GembaProject *project);
/* The frames to label: a selection of GembaFrameItems (a GembaFrameList or any list). */
void          gemba_labeler_set_selection (GembaLabeler *self, GtkSingleSelection *selection);

/* Queue a label for the selected frame: the class with number key @key, the class @class_id,
 * or the production model's prediction (confirm). TRUE when a label was queued (the caller may
 * move on to the next frame); otherwise the labeler rang the bell or said why in a toast. */
gboolean      gemba_labeler_label_key     (GembaLabeler *self, int key);
gboolean      gemba_labeler_label_class   (GembaLabeler *self, gint64 class_id);
gboolean      gemba_labeler_confirm       (GembaLabeler *self);
/* Undo or redo the last label of the project; the frame it changed becomes the selected one. */
void          gemba_labeler_undo          (GembaLabeler *self);
void          gemba_labeler_redo          (GembaLabeler *self);
/* TRUE while a label is being written or there is history to undo (redo). */
gboolean      gemba_labeler_get_can_undo  (GembaLabeler *self);
gboolean      gemba_labeler_get_can_redo  (GembaLabeler *self);
/* An error that stays until dismissed. */
void          gemba_labeler_show_error    (GembaLabeler *self, const char *message);

G_END_DECLS
