/* gemba-leaser.h: the frames of a team project's review queue this workbench holds
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "gemba-frame-list.h"
#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_LEASER (gemba_leaser_get_type ())
G_DECLARE_FINAL_TYPE (GembaLeaser, gemba_leaser, GEMBA, LEASER, GObject)

GembaLeaser *gemba_leaser_new        (void);
/* The list the annotator works through and its selection; NULLs to let go (releasing what
 * is held). Does nothing on a project that is not a team project. */
void         gemba_leaser_set_model  (GembaLeaser        *self,
                                      GembaProject       *project,
                                      GembaFrameList     *list,
                                      GtkSingleSelection *selection);
/* TRUE while the list is the review queue; FALSE releases what is held. */
void         gemba_leaser_set_active (GembaLeaser *self, gboolean active);
/* This person labeled @frame_id: its lease ended with the label. */
void         gemba_leaser_labeled    (GembaLeaser *self, gint64 frame_id);

G_END_DECLS
