/* gemba-training-page.h: train or fine-tune a model, with progress and live curves
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_TRAINING_PAGE (gemba_training_page_get_type ())
G_DECLARE_FINAL_TYPE (GembaTrainingPage, gemba_training_page, GEMBA, TRAINING_PAGE, GtkWidget)

/* NULL when the project closes (a run in progress is cancelled). */
void     gemba_training_page_set_project (GembaTrainingPage *self, GembaProject *project);
gboolean gemba_training_page_is_running  (GembaTrainingPage *self);

G_END_DECLS
