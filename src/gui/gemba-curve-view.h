/* gemba-curve-view.h: training curves (loss and accuracy per epoch), drawn with GtkSnapshot
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define GEMBA_TYPE_CURVE_VIEW (gemba_curve_view_get_type ())
G_DECLARE_FINAL_TYPE (GembaCurveView, gemba_curve_view, GEMBA, CURVE_VIEW, GtkWidget)

typedef enum {
  GEMBA_CURVE_LOSS,      /* y from 0 to the largest value seen */
  GEMBA_CURVE_ACCURACY,  /* y from 0 to 1, shown in % */
} GembaCurveKind;

GtkWidget *gemba_curve_view_new       (GembaCurveKind kind);
void       gemba_curve_view_set_kind  (GembaCurveView *self, GembaCurveKind kind);
/* The epoch count the x axis spans. */
void       gemba_curve_view_set_n_epochs (GembaCurveView *self, int n_epochs);
/* Sets the training value at fractional epoch @x (from 0); a point per report. */
void       gemba_curve_view_add_train (GembaCurveView *self, double x, double value);
/* The validation value at the end of epoch @epoch (from 1). NAN is ignored. */
void       gemba_curve_view_add_val   (GembaCurveView *self, double epoch, double value);
void       gemba_curve_view_clear     (GembaCurveView *self);

G_END_DECLS
