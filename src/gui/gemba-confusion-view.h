/* gemba-confusion-view.h: a confusion matrix drawn as a heat map
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define GEMBA_TYPE_CONFUSION_VIEW (gemba_confusion_view_get_type ())
G_DECLARE_FINAL_TYPE (GembaConfusionView, gemba_confusion_view, GEMBA, CONFUSION_VIEW, GtkWidget)

GtkWidget *gemba_confusion_view_new        (void);
/* @counts: @n × @n, [truth][prediction]; @names: @n class names. NULL clears. */
void       gemba_confusion_view_set_matrix (GembaConfusionView *self, int n,
                                            const guint *counts, const char *const *names);
void       gemba_confusion_view_set_title  (GembaConfusionView *self, const char *title);

G_END_DECLS
