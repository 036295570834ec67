/* gemba-start-page.h: what the workbench shows without a project
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define GEMBA_TYPE_START_PAGE (gemba_start_page_get_type ())
G_DECLARE_FINAL_TYPE (GembaStartPage, gemba_start_page, GEMBA, START_PAGE, GtkWidget)

/* Fills the recent projects from @settings' "recent-projects" (those that still exist). */
void gemba_start_page_set_settings (GembaStartPage *self, GSettings *settings);
void gemba_start_page_focus_default (GembaStartPage *self);

G_END_DECLS
