/* gemba-models-page.h: model versions, two of them side by side, promotion and export
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_MODELS_PAGE (gemba_models_page_get_type ())
G_DECLARE_FINAL_TYPE (GembaModelsPage, gemba_models_page, GEMBA, MODELS_PAGE, GtkWidget)

void gemba_models_page_set_project (GembaModelsPage *self, GembaProject *project);
/* Re-reads the versions; @select_id (0: the newest) becomes the candidate compared with
 * production. */
void gemba_models_page_reload      (GembaModelsPage *self, gint64 select_id);

G_END_DECLS
