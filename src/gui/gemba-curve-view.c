/* gemba-curve-view.c: training curves (loss and accuracy per epoch), drawn with GtkSnapshot
 *
 * Two series: the running training value (a point per progress report, a thin line) and the
 * validation value after each epoch (a thick line with dots). Axes and tick labels with Pango.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <math.h>
#include <glib/gi18n.h>

#include "gemba-curve-view.h"

#define MAX_POINTS 4000

typedef struct {
  double x, y;
} Point;

struct _GembaCurveView
{
  GtkWidget parent_instance;

  GembaCurveKind kind;
  int n_epochs;
  GArray *train;   /* Point */
  GArray *val;     /* Point */
};

G_DEFINE_FINAL_TYPE (GembaCurveView, gemba_curve_view, GTK_TYPE_WIDGET)

#define MARGIN_LEFT 44.0
#define MARGIN_RIGHT 10.0
#define MARGIN_TOP 22.0
#define MARGIN_BOTTOM 26.0

static double
y_max (GembaCurveView *self)
{
  double m = 0;

  if (self->kind == GEMBA_CURVE_ACCURACY)
    return 1.0;
  for (guint i = 0; i < self->train->len; i++)
    m = MAX (m, g_array_index (self->train, Point, i).y);
  for (guint i = 0; i < self->val->len; i++)
    m = MAX (m, g_array_index (self->val, Point, i).y);
  if (m <= 0)
    return 1.0;
  /* A round top: 1, 2 or 5 times a power of ten. */
  {
    double p = pow (10, floor (log10 (m)));
    double steps[] = { 1, 2, 5, 10 };
    for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
      if (steps[i] * p >= m)
        return steps[i] * p;
    return 10 * p;
  }
}

static void
draw_text (GtkWidget *widget, cairo_t *cr, const char *text, double x, double y,
           double align_x, double align_y, const GdkRGBA *color)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (widget, text);
  int w, h;

  pango_layout_get_pixel_size (layout, &w, &h);
  gdk_cairo_set_source_rgba (cr, color);
  cairo_move_to (cr, x - align_x * w, y - align_y * h);
  pango_cairo_show_layout (cr, layout);
  g_object_unref (layout);
}

static void
draw_series (cairo_t *cr, GArray *points, double x0, double y0, double w, double h,
             double xmax, double ymax, double width, gboolean dots)
{
  if (points->len == 0)
    return;
  cairo_set_line_width (cr, width);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  for (guint i = 0; i < points->len; i++)
    {
      Point *p = &g_array_index (points, Point, i);
      double px = x0 + w * CLAMP (p->x / xmax, 0, 1);
      double py = y0 + h - h * CLAMP (p->y / ymax, 0, 1);
      if (i == 0)
        cairo_move_to (cr, px, py);
      else
        cairo_line_to (cr, px, py);
    }
  cairo_stroke (cr);
  if (!dots)
    return;
  for (guint i = 0; i < points->len; i++)
    {
      Point *p = &g_array_index (points, Point, i);
      double px = x0 + w * CLAMP (p->x / xmax, 0, 1);
      double py = y0 + h - h * CLAMP (p->y / ymax, 0, 1);
      cairo_arc (cr, px, py, width + 1, 0, 2 * G_PI);
      cairo_fill (cr);
    }
}

static void
gemba_curve_view_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  GembaCurveView *self = GEMBA_CURVE_VIEW (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  double x0 = MARGIN_LEFT, y0 = MARGIN_TOP;
  double w = width - MARGIN_LEFT - MARGIN_RIGHT, h = height - MARGIN_TOP - MARGIN_BOTTOM;
  double ymax = y_max (self);
  double xmax = MAX (1, self->n_epochs);
  GdkRGBA fg, grid, train_color = { 0.21, 0.52, 0.89, 1 }, val_color = { 0.90, 0.38, 0.0, 1 };
  cairo_t *cr;
  const char *title;

  if (w < 20 || h < 20)
    return;
  /* gtk_widget_get_color() is GTK 4.10. */
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  grid = fg;
  grid.alpha = 0.15;
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));

  /* Grid and y ticks: five steps. */
  cairo_set_line_width (cr, 1);
  for (int i = 0; i <= 4; i++)
    {
      double v = ymax * i / 4;
      double py = round (y0 + h - h * i / 4) + 0.5;
      g_autofree char *tick = NULL;

      gdk_cairo_set_source_rgba (cr, &grid);
      cairo_move_to (cr, x0, py);
      cairo_line_to (cr, x0 + w, py);
      cairo_stroke (cr);
      tick = self->kind == GEMBA_CURVE_ACCURACY ? g_strdup_printf ("%.0f %%", 100 * v)
                                                : g_strdup_printf ("%.2g", v);
      draw_text (widget, cr, tick, x0 - 4, py, 1, 0.5, &fg);
    }
  /* X ticks: epochs. */
  {
    int step = MAX (1, (int) ceil (xmax / 10));
    for (int e = 0; e <= (int) xmax; e += step)
      {
        g_autofree char *tick = g_strdup_printf ("%d", e);
        draw_text (widget, cr, tick, x0 + w * e / xmax, y0 + h + 3, 0.5, 0, &fg);
      }
  }
  title = self->kind == GEMBA_CURVE_ACCURACY ? _("Accuracy by epoch") : _("Loss by epoch");
  draw_text (widget, cr, title, x0, 2, 0, 0, &fg);
  /* Legend, top right. */
  {
    PangoLayout *layout = gtk_widget_create_pango_layout (widget, _("validation"));
    int lw, lh;
    double lx;

    pango_layout_get_pixel_size (layout, &lw, &lh);
    g_object_unref (layout);
    lx = x0 + w - lw;
    draw_text (widget, cr, _("validation"), lx, 2, 0, 0, &fg);
    gdk_cairo_set_source_rgba (cr, &val_color);
    cairo_rectangle (cr, lx - 16, 2 + lh / 2.0 - 2, 12, 4);
    cairo_fill (cr);
    layout = gtk_widget_create_pango_layout (widget, _("training"));
    {
      int tw, th;
      pango_layout_get_pixel_size (layout, &tw, &th);
      g_object_unref (layout);
      draw_text (widget, cr, _("training"), lx - 24 - tw, 2, 0, 0, &fg);
      gdk_cairo_set_source_rgba (cr, &train_color);
      cairo_rectangle (cr, lx - 40 - tw, 2 + th / 2.0 - 1, 12, 2);
      cairo_fill (cr);
    }
  }

  cairo_rectangle (cr, x0, y0 - 2, w, h + 4);
  cairo_clip (cr);
  gdk_cairo_set_source_rgba (cr, &train_color);
  draw_series (cr, self->train, x0, y0, w, h, xmax, ymax, 1.5, FALSE);
  gdk_cairo_set_source_rgba (cr, &val_color);
  draw_series (cr, self->val, x0, y0, w, h, xmax, ymax, 2.5, TRUE);
  cairo_destroy (cr);
}

static void
gemba_curve_view_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                          int *minimum, int *natural, int *minimum_baseline,
                          int *natural_baseline)
{
  *minimum = orientation == GTK_ORIENTATION_HORIZONTAL ? 200 : 120;
  *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 360 : 180;
}

static void
gemba_curve_view_finalize (GObject *object)
{
  GembaCurveView *self = GEMBA_CURVE_VIEW (object);

  g_array_unref (self->train);
  g_array_unref (self->val);
  G_OBJECT_CLASS (gemba_curve_view_parent_class)->finalize (object);
}

static void
gemba_curve_view_class_init (GembaCurveViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = gemba_curve_view_finalize;
  widget_class->snapshot = gemba_curve_view_snapshot;
  widget_class->measure = gemba_curve_view_measure;
  gtk_widget_class_set_css_name (widget_class, "curveview");
}

static void
gemba_curve_view_init (GembaCurveView *self)
{
  self->train = g_array_new (FALSE, FALSE, sizeof (Point));
  self->val = g_array_new (FALSE, FALSE, sizeof (Point));
  self->n_epochs = 1;
}

GtkWidget *
gemba_curve_view_new (GembaCurveKind kind)
{
  GembaCurveView *self = g_object_new (GEMBA_TYPE_CURVE_VIEW, NULL);

  self->kind = kind;
  return GTK_WIDGET (self);
}

void
gemba_curve_view_set_kind (GembaCurveView *self, GembaCurveKind kind)
{
  g_return_if_fail (GEMBA_IS_CURVE_VIEW (self));
  self->kind = kind;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
gemba_curve_view_set_n_epochs (GembaCurveView *self, int n_epochs)
{
  g_return_if_fail (GEMBA_IS_CURVE_VIEW (self));
  self->n_epochs = MAX (1, n_epochs);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
gemba_curve_view_add_train (GembaCurveView *self, double x, double value)
{
  Point p = { x, value };

  g_return_if_fail (GEMBA_IS_CURVE_VIEW (self));
  if (isnan (value) || self->train->len >= MAX_POINTS)
    return;
  g_array_append_val (self->train, p);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
gemba_curve_view_add_val (GembaCurveView *self, double epoch, double value)
{
  Point p = { epoch, value };

  g_return_if_fail (GEMBA_IS_CURVE_VIEW (self));
  if (isnan (value))
    return;
  g_array_append_val (self->val, p);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
gemba_curve_view_clear (GembaCurveView *self)
{
  g_return_if_fail (GEMBA_IS_CURVE_VIEW (self));
  g_array_set_size (self->train, 0);
  g_array_set_size (self->val, 0);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}
