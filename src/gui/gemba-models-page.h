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
/* :selected-model, the version compared with production (0: the newest that is not
 * production). Setting it reads the versions again, now if the page is shown, else when it is. */
gint64 gemba_models_page_get_selected_model (GembaModelsPage *self);
void   gemba_models_page_set_selected_model (GembaModelsPage *self, gint64 model_id);

G_END_DECLS
