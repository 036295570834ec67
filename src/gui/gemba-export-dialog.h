/* gemba-export-dialog.h: export a model version as a signed package, behind the regression
 * gate, whose result is shown before the package is written
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_EXPORT_DIALOG (gemba_export_dialog_get_type ())
G_DECLARE_FINAL_TYPE (GembaExportDialog, gemba_export_dialog, GEMBA, EXPORT_DIALOG, AdwWindow)

GtkWidget *gemba_export_dialog_new (GtkWindow *parent, GembaProject *project, gint64 model_id,
                                    const char *model_name);

G_END_DECLS
