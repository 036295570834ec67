/* gemba-confusion-view.c: a confusion matrix drawn as a heat map
 *
 * Rows are the people's labels, columns the model's verdicts. A cell's colour is its share of
 * its row (so a rare class's errors show as clearly as a common one's): the diagonal in the
 * accent colour, errors in red; the count is written in each cell.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-confusion-view.h"

struct _GembaConfusionView
{
  GtkWidget parent_instance;

  int n;
  guint *counts;
  char **names;
  char *title;
};

G_DEFINE_FINAL_TYPE (GembaConfusionView, gemba_confusion_view, GTK_TYPE_WIDGET)

#define CELL_MIN 34

static PangoLayout *
layout_new (GtkWidget *widget, const char *text, gboolean bold)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (widget, text);

  if (bold)
    {
      PangoAttrList *attrs = pango_attr_list_new ();
      pango_attr_list_insert (attrs, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
      pango_layout_set_attributes (layout, attrs);
      pango_attr_list_unref (attrs);
    }
  return layout;
}

static void
text_at (cairo_t *cr, PangoLayout *layout, double x, double y, double ax, double ay)
{
  int w, h;

  pango_layout_get_pixel_size (layout, &w, &h);
  cairo_move_to (cr, x - ax * w, y - ay * h);
  pango_cairo_show_layout (cr, layout);
}

/* Width of the widest class name, for the row headers. */
static int
label_width (GembaConfusionView *self)
{
  int m = 0;

  for (int i = 0; i < self->n; i++)
    {
      g_autoptr(PangoLayout) layout = layout_new (GTK_WIDGET (self), self->names[i], FALSE);
      int w, h;
      pango_layout_get_pixel_size (layout, &w, &h);
      m = MAX (m, w);
    }
  return m;
}

/* Heights of the lines above the matrix, as the fonts make them (CJK lines are taller):
 * the title, "verdict →", the column headers; returns where the matrix starts. */
static int
header_height (GembaConfusionView *self, int *title_h, int *verdict_h)
{
  g_autoptr(PangoLayout) title = layout_new (GTK_WIDGET (self), self->title ? self->title : "",
                                             TRUE);
  g_autoptr(PangoLayout) verdict = layout_new (GTK_WIDGET (self), _("verdict →"), FALSE);
  int w, th = 0, vh, ch = 0;

  if (self->title)
    pango_layout_get_pixel_size (title, &w, &th);
  pango_layout_get_pixel_size (verdict, &w, &vh);
  for (int i = 0; i < self->n; i++)
    {
      g_autoptr(PangoLayout) name = layout_new (GTK_WIDGET (self), self->names[i], FALSE);
      int h;
      pango_layout_get_pixel_size (name, &w, &h);
      ch = MAX (ch, h);
    }
  if (title_h)
    *title_h = th;
  if (verdict_h)
    *verdict_h = vh;
  return th + 4 + vh + 2 + ch + 2;
}

static void
gemba_confusion_view_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  GembaConfusionView *self = GEMBA_CONFUSION_VIEW (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  int title_h, verdict_h, top = header_height (self, &title_h, &verdict_h);
  double left, cell;
  GdkRGBA fg, good = { 0.21, 0.52, 0.89, 1 }, bad = { 0.88, 0.11, 0.14, 1 };
  cairo_t *cr;

  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  gdk_cairo_set_source_rgba (cr, &fg);
  if (self->title)
    {
      g_autoptr(PangoLayout) layout = layout_new (widget, self->title, TRUE);
      text_at (cr, layout, 0, 0, 0, 0);
    }
  if (self->n == 0)
    {
      cairo_destroy (cr);
      return;
    }
  left = label_width (self) + 10;
  cell = MIN ((width - left) / self->n, (height - top - 20) / self->n);
  cell = MAX (cell, 8);
  {
    g_autoptr(PangoLayout) layout = layout_new (widget, _("verdict →"), FALSE);
    gdk_cairo_set_source_rgba (cr, &fg);
    text_at (cr, layout, left + cell * self->n / 2, title_h + 4, 0.5, 0);
  }
  for (int t = 0; t < self->n; t++)
    {
      guint row_total = 0;

      for (int p = 0; p < self->n; p++)
        row_total += self->counts[t * self->n + p];
      {
        g_autoptr(PangoLayout) layout = layout_new (widget, self->names[t], FALSE);
        gdk_cairo_set_source_rgba (cr, &fg);
        text_at (cr, layout, left - 6, top + cell * (t + 0.5), 1, 0.5);
      }
      for (int p = 0; p < self->n; p++)
        {
          guint count = self->counts[t * self->n + p];
          double share = row_total ? (double) count / row_total : 0;
          GdkRGBA c = t == p ? good : bad;
          double x = left + cell * p, y = top + cell * t;

          c.alpha = count ? 0.12 + 0.88 * share : 0.04;
          gdk_cairo_set_source_rgba (cr, &c);
          cairo_rectangle (cr, x + 1, y + 1, cell - 2, cell - 2);
          cairo_fill (cr);
          if (cell >= 18)
            {
              g_autofree char *text = g_strdup_printf ("%u", count);
              g_autoptr(PangoLayout) layout = layout_new (widget, text, t == p);
              GdkRGBA tc = share > 0.55 ? (GdkRGBA) { 1, 1, 1, 1 } : fg;
              gdk_cairo_set_source_rgba (cr, &tc);
              text_at (cr, layout, x + cell / 2, y + cell / 2, 0.5, 0.5);
            }
        }
    }
  /* Column headers over the matrix, ellipsized when the cells are narrow. */
  for (int p = 0; p < self->n; p++)
    {
      g_autoptr(PangoLayout) layout = layout_new (widget, self->names[p], FALSE);
      int w, h;

      pango_layout_get_pixel_size (layout, &w, &h);
      if (w > cell - 2)
        {
          pango_layout_set_width (layout, (int) ((cell - 2) * PANGO_SCALE));
          pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
        }
      gdk_cairo_set_source_rgba (cr, &fg);
      text_at (cr, layout, left + cell * (p + 0.5), top - 2, 0.5, 1);
    }
  cairo_destroy (cr);
}

static void
gemba_confusion_view_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                              int *minimum, int *natural, int *minimum_baseline,
                              int *natural_baseline)
{
  GembaConfusionView *self = GEMBA_CONFUSION_VIEW (widget);
  int n = MAX (self->n, 2);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      int lw = self->n ? label_width (self) + 10 : 60;
      *minimum = lw + n * CELL_MIN;
      *natural = lw + n * 56;
    }
  else
    {
      int top = header_height (self, NULL, NULL);
      *minimum = top + 20 + n * CELL_MIN;
      *natural = top + 20 + n * 56;
    }
}

static void
gemba_confusion_view_finalize (GObject *object)
{
  GembaConfusionView *self = GEMBA_CONFUSION_VIEW (object);

  g_free (self->counts);
  g_strfreev (self->names);
  g_free (self->title);
  G_OBJECT_CLASS (gemba_confusion_view_parent_class)->finalize (object);
}

static void
gemba_confusion_view_class_init (GembaConfusionViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = gemba_confusion_view_finalize;
  widget_class->snapshot = gemba_confusion_view_snapshot;
  widget_class->measure = gemba_confusion_view_measure;
  gtk_widget_class_set_css_name (widget_class, "confusionview");
}

static void
gemba_confusion_view_init (GembaConfusionView *self)
{
}

GtkWidget *
gemba_confusion_view_new (void)
{
  return g_object_new (GEMBA_TYPE_CONFUSION_VIEW, NULL);
}

void
gemba_confusion_view_set_matrix (GembaConfusionView *self, int n, const guint *counts,
                                 const char *const *names)
{
  g_return_if_fail (GEMBA_IS_CONFUSION_VIEW (self));

  g_clear_pointer (&self->counts, g_free);
  g_clear_pointer (&self->names, g_strfreev);
  self->n = counts && names ? n : 0;
  if (self->n)
    {
      self->counts = g_memdup2 (counts, sizeof (guint) * n * n);
      self->names = g_new0 (char *, n + 1);
      for (int i = 0; i < n; i++)
        self->names[i] = g_strdup (names[i]);
    }
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

void
gemba_confusion_view_set_title (GembaConfusionView *self, const char *title)
{
  g_return_if_fail (GEMBA_IS_CONFUSION_VIEW (self));
  g_free (self->title);
  self->title = g_strdup (title);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}
