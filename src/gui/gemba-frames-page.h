/* gemba-frames-page.h: the Frames page: filters, the frame grid, one frame large, labeling
 *
 * The sidebar's filters (review queue, all, unlabeled, false readings, suspect labels, the test
 * batch, classes, lines, sources, package versions) with their counts choose what the grid shows;
 * Enter opens the selected frame large, number keys and Enter label it (GembaLabeler). The page
 * observes its project: what changes while it is hidden is re-read when it is shown.
 *
 * Actions: frames.show-grid, frames.show-frame, frames.filter (s: a filter key),
 * frames.undo, frames.redo, frames.label-test-batch; and win.label-key (i), win.label-class (x)
 * and win.confirm, the names GembaFrameView's buttons and keys use.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "gemba-labeler.h"
#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_FRAMES_PAGE (gemba_frames_page_get_type ())
G_DECLARE_FINAL_TYPE (GembaFramesPage, gemba_frames_page, GEMBA, FRAMES_PAGE, GtkWidget)

GembaProject *gemba_frames_page_get_project (GembaFramesPage *self);
void          gemba_frames_page_set_project (GembaFramesPage *self, GembaProject *project);
/* What labels, undoes and redoes on this page (its can-undo and can-redo say when Undo and
 * Redo have something to do). */
GembaLabeler *gemba_frames_page_get_labeler (GembaFramesPage *self);

G_END_DECLS
