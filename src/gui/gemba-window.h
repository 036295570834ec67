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

/* The window is made with g_object_new (GEMBA_TYPE_WINDOW, "application", app, NULL) and
 * driven through its actions: win.open-path (s) opens a project folder. */

G_END_DECLS
