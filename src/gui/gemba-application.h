/* gemba-application.h: the workbench application
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define GEMBA_TYPE_APPLICATION (gemba_application_get_type ())
G_DECLARE_FINAL_TYPE (GembaApplication, gemba_application, GEMBA, APPLICATION, AdwApplication)

GembaApplication *gemba_application_new (void);

G_END_DECLS
