/* gemba-frame-window.h: a window of frames to look through and label, beside the main window
 *
 * The models page opens the frames whose verdict changed between two models in one: the
 * engineer steps through them with ← and →, and a number key (or Enter, to confirm the
 * production model) corrects a label on the spot, with the same labeler (and undo) as the Frames page.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_FRAME_WINDOW (gemba_frame_window_get_type ())
G_DECLARE_FINAL_TYPE (GembaFrameWindow, gemba_frame_window, GEMBA, FRAME_WINDOW, AdwWindow)

/* Shows item @index of @frames (a GListModel of GembaFrameItems) of @project; labels given
 * here are saved at once, and the project's ::frames-changed tells its other views. */
GtkWidget *gemba_frame_window_new (GtkWindow    *parent,
                                   GembaProject *project,
                                   GListModel   *frames,
                                   guint         index,
                                   const char   *title);

G_END_DECLS
