/* gemba-window.h: the workbench window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_WINDOW (gemba_window_get_type ())
G_DECLARE_FINAL_TYPE (GembaWindow, gemba_window, GEMBA, WINDOW, AdwApplicationWindow)

GembaWindow  *gemba_window_new         (AdwApplication *application);
void          gemba_window_open        (GembaWindow *self, const char *path,
                                        GembaProjectOpenMode mode);
GembaProject *gemba_window_get_project (GembaWindow *self);
/* Re-reads the grid's frames and the counts: after frames were captured, or a model was
 * promoted (predictions and the review queue follow the new production model). */

G_END_DECLS
