/* gemba-capture-page.h: capture frames from a camera, a stream or a video file
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_CAPTURE_PAGE (gemba_capture_page_get_type ())
G_DECLARE_FINAL_TYPE (GembaCapturePage, gemba_capture_page, GEMBA, CAPTURE_PAGE, GtkWidget)

/* NULL when the project closes (a capture in progress is stopped). */
void     gemba_capture_page_set_project (GembaCapturePage *self, GembaProject *project);
gboolean gemba_capture_page_is_running  (GembaCapturePage *self);

G_END_DECLS
