/* gemba-frame-grid.c: the frame grid, a scrollable widget that draws only its visible cells
 *
 * Why not GtkGridView: with 100,000 frames, a jump (End, a scrollbar drag) rebinds every
 * visible cell, and each rebind of a cell made of widgets re-measures labels, restyles CSS
 * classes and re-lays out the grid: 130 ms stalls on this project's 2-CPU machines. Here a
 * scroll only moves the adjustment and redraws. Drawing a cell does a constant amount of
 * work without allocating: its item comes from the list's item cache, its thumbnail from the
 * thumbnailer's texture cache (or a request to its worker threads), and its two lines of text
 * from a cache of Pango layouts keyed by what they say (class, prediction and confidence), so
 * a layout is shaped once, not once per cell per frame.
 *
 * The selected item of the GtkSingleSelection is the grid's cursor: keys and clicks move it,
 * a double click or Enter activates it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-frame-grid.h"
#include "gemba-frame-item.h"
#include "gemba-frame-list.h"

#define CELL_MARGIN 4      /* around a cell's rounded box */
#define CELL_PADDING 6     /* inside it */
#define TEXT_SPACING 3
#define MAX_LAYOUTS 2048   /* distinct texts kept shaped; cleared when full */
#define MAX_FAILED 1024

typedef enum { MOVE_CELLS, MOVE_ROWS, MOVE_PAGES, MOVE_ENDS } MoveKind;

typedef struct
{
  GembaFrameGrid *grid;
  gint64 frame_id;
  GCancellable *cancellable;
  guint seen;              /* the grid's draw serial when the cell was last drawn */
} ThumbRequest;

struct _GembaFrameGrid
{
  GtkWidget parent_instance;

  GtkAdjustment *hadjustment;
  GtkAdjustment *vadjustment;
  GtkScrollablePolicy hscroll_policy;
  GtkScrollablePolicy vscroll_policy;

  GembaProject *project;
  GtkSingleSelection *selection;
  GListModel *model;
  guint size;

  /* Metrics, from the current font; 0 until measured. */
  int line_height;
  int small_line_height;
  int cell_width;          /* minimum */
  int cell_height;
  guint n_columns;
  guint pending_scroll;    /* a position to bring into view once allocated */

  GHashTable *layouts;     /* gint64 key → PangoLayout */
  GHashTable *requests;    /* frame id → ThumbRequest (owned by its task until it returns) */
  GHashTable *failed;      /* frame id → error message */
  guint draw_serial;
};

static void scrollable_iface_init (GtkScrollableInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (GembaFrameGrid, gemba_frame_grid, GTK_TYPE_WIDGET,
                               G_IMPLEMENT_INTERFACE (GTK_TYPE_SCROLLABLE, scrollable_iface_init))

enum {
  PROP_0,
  PROP_HADJUSTMENT,
  PROP_VADJUSTMENT,
  PROP_HSCROLL_POLICY,
  PROP_VSCROLL_POLICY,
  N_PROPS
};

enum { ACTIVATE, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
scrollable_iface_init (GtkScrollableInterface *iface)
{
}

static guint
n_items (GembaFrameGrid *self)
{
  return self->model ? g_list_model_get_n_items (self->model) : 0;
}

static guint
n_rows (GembaFrameGrid *self)
{
  guint n = n_items (self);

  return self->n_columns ? (n + self->n_columns - 1) / self->n_columns : 0;
}

static double
column_width (GembaFrameGrid *self)
{
  return self->n_columns ? (double) gtk_widget_get_width (GTK_WIDGET (self)) / self->n_columns
                         : self->cell_width;
}

static int
thumb_height (GembaFrameGrid *self)
{
  /* 4:3 is what line cameras mostly give; other shapes are letterboxed. */
  return (int) self->size * 3 / 4;
}

static void
clear_layouts (GembaFrameGrid *self)
{
  g_hash_table_remove_all (self->layouts);
  self->line_height = 0;
}

static PangoLayout *
new_layout (GembaFrameGrid *self, const char *markup)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), NULL);

  pango_layout_set_markup (layout, markup, -1);
  pango_layout_set_width (layout, (int) self->size * PANGO_SCALE);
  pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
  pango_layout_set_single_paragraph_mode (layout, TRUE);
  return layout;
}

static void
ensure_metrics (GembaFrameGrid *self)
{
  g_autoptr(PangoLayout) probe = NULL;
  int height;

  if (self->line_height > 0)
    return;
  probe = new_layout (self, "Ag⬤");
  pango_layout_get_pixel_size (probe, NULL, &height);
  self->line_height = height;
  g_object_unref (probe);
  probe = new_layout (self, "<span size=\"small\">Ag</span>");
  pango_layout_get_pixel_size (probe, NULL, &height);
  self->small_line_height = height;
  self->cell_width = (int) self->size + 2 * (CELL_MARGIN + CELL_PADDING);
  self->cell_height = 2 * (CELL_MARGIN + CELL_PADDING) + thumb_height (self) +
                      2 * TEXT_SPACING + self->line_height + self->small_line_height;
}

/* The layout saying what @key stands for, shaped once. */
static PangoLayout *
lookup_layout (GembaFrameGrid *self, gint64 key, const GembaFrame *frame, gboolean false_reading)
{
  PangoLayout *layout = g_hash_table_lookup (self->layouts, &key);
  g_autofree char *markup = NULL;

  if (layout)
    return layout;
  if (g_hash_table_size (self->layouts) >= MAX_LAYOUTS)
    g_hash_table_remove_all (self->layouts);

  if (key < 0)
    markup = gemba_class_markup (self->project, frame->label_class_id);
  else
    {
      const GembaClass *klass = gemba_project_lookup_class (self->project, frame->pred_class_id);
      /* Translators: the production model's verdict on a frame and its confidence. */
      g_autofree char *text = g_markup_printf_escaped (_("Model: %s %.0f %%"),
                                                       klass ? klass->name : "?",
                                                       frame->pred_confidence * 100.0);
      markup = false_reading
               ? g_strdup_printf ("<span size=\"small\" foreground=\"#e01b24\" "
                                  "weight=\"bold\">%s</span>", text)
               : g_strdup_printf ("<span size=\"small\">%s</span>", text);
    }
  layout = new_layout (self, markup);
  g_hash_table_insert (self->layouts, g_memdup2 (&key, sizeof key), layout);
  return layout;
}

/* --- Thumbnails --------------------------------------------------------------------------- */

static void
thumbnail_loaded_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  ThumbRequest *request = user_data;
  g_autoptr(GdkTexture) texture = NULL;
  g_autoptr(GError) error = NULL;
  GembaFrameGrid *self = request->grid;

  /* The cache keeps the texture; the next draw finds it there. */
  texture = gemba_thumbnailer_load_finish (GEMBA_THUMBNAILER (object), result, &error);
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* Not cancelled: the request is still the grid's (cancelling removes it first). */
      g_hash_table_remove (self->requests, &request->frame_id);
      if (!texture)
        {
          g_warning ("%s", error->message);
          if (g_hash_table_size (self->failed) >= MAX_FAILED)
            g_hash_table_remove_all (self->failed);
          g_hash_table_insert (self->failed, g_memdup2 (&request->frame_id, sizeof (gint64)),
                               g_strdup (error->message));
        }
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
  g_object_unref (request->cancellable);
  g_free (request);
}

static GdkTexture *
lookup_thumbnail (GembaFrameGrid *self, const GembaFrame *frame)
{
  GembaThumbnailer *thumbnailer = gemba_project_get_thumbnailer (self->project);
  GdkTexture *texture = gemba_thumbnailer_lookup (thumbnailer, frame, self->size);
  ThumbRequest *request;

  if (texture)
    return texture;
  if (g_hash_table_contains (self->failed, &frame->id))
    return NULL;
  if ((request = g_hash_table_lookup (self->requests, &frame->id)))
    {
      request->seen = self->draw_serial;
      return NULL;
    }
  request = g_new0 (ThumbRequest, 1);
  request->grid = self;
  request->frame_id = frame->id;
  request->cancellable = g_cancellable_new ();
  request->seen = self->draw_serial;
  g_hash_table_insert (self->requests, &request->frame_id, request);
  gemba_thumbnailer_load_async (thumbnailer, frame, self->size, request->cancellable,
                                thumbnail_loaded_cb, request);
  return NULL;
}

static gboolean
request_unseen (gpointer key, gpointer value, gpointer user_data)
{
  ThumbRequest *request = value;
  GembaFrameGrid *self = user_data;

  if (self && request->seen == self->draw_serial)
    return FALSE;
  g_cancellable_cancel (request->cancellable);
  return TRUE;
}

/* Requests for cells that scrolled away are dropped, so that the workers serve what is
 * on screen. */
static void
cancel_unseen_requests (GembaFrameGrid *self)
{
  g_hash_table_foreach_remove (self->requests, request_unseen, self);
}

static void
cancel_all_requests (GembaFrameGrid *self)
{
  g_hash_table_foreach_remove (self->requests, request_unseen, NULL);
}

/* --- Drawing ------------------------------------------------------------------------------ */

typedef struct
{
  GdkRGBA fg;
  GdkRGBA accent;
  GdkRGBA accent_bg;
  GdkRGBA error;
  GdkRGBA error_bg;
  GdkRGBA error_fg;
} Colors;

static void
lookup_color (GtkStyleContext *context, const char *name, const char *fallback, GdkRGBA *rgba)
{
  if (!gtk_style_context_lookup_color (context, name, rgba))
    gdk_rgba_parse (rgba, fallback);
}

static void
get_colors (GembaFrameGrid *self, Colors *colors)
{
  GtkStyleContext *context = gtk_widget_get_style_context (GTK_WIDGET (self));

  gtk_style_context_get_color (context, &colors->fg);
  lookup_color (context, "accent_color", "#1c71d8", &colors->accent);
  lookup_color (context, "accent_bg_color", "#3584e4", &colors->accent_bg);
  lookup_color (context, "error_color", "#c01c28", &colors->error);
  lookup_color (context, "error_bg_color", "#e01b24", &colors->error_bg);
  lookup_color (context, "error_fg_color", "#ffffff", &colors->error_fg);
}

static GdkRGBA
with_alpha (const GdkRGBA *color, float alpha)
{
  GdkRGBA c = *color;

  c.alpha *= alpha;
  return c;
}

static void
append_rounded_fill (GtkSnapshot *snapshot, const graphene_rect_t *rect, float radius,
                     const GdkRGBA *color)
{
  GskRoundedRect rounded;

  gsk_rounded_rect_init_from_rect (&rounded, rect, radius);
  gtk_snapshot_push_rounded_clip (snapshot, &rounded);
  gtk_snapshot_append_color (snapshot, color, rect);
  gtk_snapshot_pop (snapshot);
}

static void
append_rounded_border (GtkSnapshot *snapshot, const graphene_rect_t *rect, float radius,
                       float width, const GdkRGBA *color)
{
  GskRoundedRect rounded;
  const float widths[4] = { width, width, width, width };
  const GdkRGBA colors[4] = { *color, *color, *color, *color };

  gsk_rounded_rect_init_from_rect (&rounded, rect, radius);
  gtk_snapshot_append_border (snapshot, &rounded, widths, colors);
}

static void
draw_badge (GembaFrameGrid *self, GtkSnapshot *snapshot, float right, float top,
            const Colors *colors)
{
  PangoLayout *layout;
  gint64 key = G_MININT64;   /* the "≠" badge */
  int w, h;
  graphene_rect_t box;

  if (!(layout = g_hash_table_lookup (self->layouts, &key)))
    {
      layout = new_layout (self, "<b>≠</b>");
      g_hash_table_insert (self->layouts, g_memdup2 (&key, sizeof key), layout);
    }
  pango_layout_get_pixel_size (layout, &w, &h);
  box = GRAPHENE_RECT_INIT (right - 4 - (w + 16), top + 4, w + 16, h);
  append_rounded_fill (snapshot, &box, h / 2.0f, &colors->error_bg);
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (box.origin.x + 8, box.origin.y));
  gtk_snapshot_append_layout (snapshot, layout, &colors->error_fg);
  gtk_snapshot_restore (snapshot);
}

static void
draw_cell (GembaFrameGrid *self, GtkSnapshot *snapshot, guint position, float x, float y,
           float width, gboolean selected, const Colors *colors)
{
  g_autoptr(GembaFrameItem) item = g_list_model_get_item (self->model, position);
  const GembaFrame *frame = item ? gemba_frame_item_get_frame (item) : NULL;
  gboolean false_reading = item && gemba_frame_item_is_false_reading (item);
  graphene_rect_t box = GRAPHENE_RECT_INIT (x + CELL_MARGIN, y + CELL_MARGIN,
                                            width - 2 * CELL_MARGIN,
                                            self->cell_height - 2 * CELL_MARGIN);
  int th = thumb_height (self);
  float tx = x + floorf ((width - self->size) / 2.0f);
  float ty = y + CELL_MARGIN + CELL_PADDING;
  graphene_rect_t thumb = GRAPHENE_RECT_INIT (tx, ty, self->size, th);
  GdkRGBA placeholder = with_alpha (&colors->fg, 0.06f);
  GdkTexture *texture = NULL;

  if (selected)
    {
      GdkRGBA bg = with_alpha (&colors->accent_bg, 0.25f);
      append_rounded_fill (snapshot, &box, 8, &bg);
    }
  if (false_reading)
    {
      GdkRGBA bg = with_alpha (&colors->error, 0.08f);
      append_rounded_fill (snapshot, &box, 8, &bg);
      append_rounded_border (snapshot, &box, 8, 3, &colors->error);
    }
  if (selected && gtk_widget_has_focus (GTK_WIDGET (self)))
    {
      GdkRGBA ring = with_alpha (&colors->accent, 0.5f);
      append_rounded_border (snapshot, &box, 8, 2, &ring);
    }

  if (frame)
    texture = lookup_thumbnail (self, frame);
  if (texture)
    {
      float w = gdk_texture_get_width (texture), h = gdk_texture_get_height (texture);
      float scale = MIN (thumb.size.width / w, thumb.size.height / h);
      float dw = floorf (w * scale), dh = floorf (h * scale);

      if (dw < thumb.size.width || dh < thumb.size.height)
        gtk_snapshot_append_color (snapshot, &placeholder, &thumb);
      gtk_snapshot_append_texture (snapshot, texture,
                                   &GRAPHENE_RECT_INIT (tx + floorf ((thumb.size.width - dw) / 2),
                                                        ty + floorf ((thumb.size.height - dh) / 2),
                                                        dw, dh));
    }
  else
    {
      gtk_snapshot_append_color (snapshot, &placeholder, &thumb);
      if (frame && g_hash_table_contains (self->failed, &frame->id))
        append_rounded_border (snapshot, &thumb, 0, 1, &colors->error);
    }
  if (false_reading)
    draw_badge (self, snapshot, tx + self->size, ty, colors);

  if (!frame)
    return;
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (tx, ty + th + TEXT_SPACING));
  gtk_snapshot_append_layout (snapshot,
                              lookup_layout (self, -1 - frame->label_class_id, frame, FALSE),
                              &colors->fg);
  if (frame->pred_class_id != 0)
    {
      /* One layout per class, whole percent and false-reading flag: what the line says. */
      gint64 pct = (gint64) (frame->pred_confidence * 100.0 + 0.5);
      gint64 key = (frame->pred_class_id << 9) | (CLAMP (pct, 0, 255) << 1) | !!false_reading;

      gtk_snapshot_translate (snapshot,
                              &GRAPHENE_POINT_INIT (0, self->line_height + TEXT_SPACING));
      gtk_snapshot_append_layout (snapshot, lookup_layout (self, key, frame, false_reading),
                                  &colors->fg);
    }
  gtk_snapshot_restore (snapshot);
}

static void
gemba_frame_grid_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (widget);
  guint n = n_items (self);
  double offset, cw;
  int height = gtk_widget_get_height (widget);
  guint first_row, last_row, selected;
  Colors colors;

  self->draw_serial++;
  if (n == 0 || self->n_columns == 0 || !self->project)
    {
      cancel_unseen_requests (self);
      return;
    }
  ensure_metrics (self);
  get_colors (self, &colors);
  offset = gtk_adjustment_get_value (self->vadjustment);
  cw = column_width (self);
  selected = gtk_single_selection_get_selected (self->selection);
  first_row = (guint) (offset / self->cell_height);
  last_row = MIN (n_rows (self), (guint) ((offset + height) / self->cell_height) + 1);

  gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (widget),
                                                         height));
  for (guint row = first_row; row < last_row; row++)
    for (guint col = 0; col < self->n_columns; col++)
      {
        guint position = row * self->n_columns + col;

        if (position >= n)
          break;
        draw_cell (self, snapshot, position, floorf (col * cw),
                   (float) (row * (double) self->cell_height - offset), (float) floor (cw),
                   position == selected, &colors);
      }
  gtk_snapshot_pop (snapshot);
  cancel_unseen_requests (self);
}

/* --- Geometry ----------------------------------------------------------------------------- */

static void
configure_adjustments (GembaFrameGrid *self)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self));
  int height = gtk_widget_get_height (GTK_WIDGET (self));
  double upper = MAX ((double) n_rows (self) * self->cell_height, height);

  if (self->vadjustment)
    gtk_adjustment_configure (self->vadjustment,
                              CLAMP (gtk_adjustment_get_value (self->vadjustment), 0,
                                     upper - height),
                              0, upper, self->cell_height / 2.0, height * 0.9, height);
  if (self->hadjustment)
    gtk_adjustment_configure (self->hadjustment, 0, 0, width, width * 0.1, width * 0.9, width);
}

static void
gemba_frame_grid_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                          int *minimum, int *natural, int *minimum_baseline,
                          int *natural_baseline)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (widget);

  ensure_metrics (self);
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = self->cell_width;
      *natural = self->cell_width * 4;
    }
  else
    *minimum = *natural = self->cell_height;
}

static void
gemba_frame_grid_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (widget);

  ensure_metrics (self);
  self->n_columns = MAX (1, width / MAX (1, self->cell_width));
  configure_adjustments (self);
  if (self->pending_scroll != GTK_INVALID_LIST_POSITION)
    {
      guint position = self->pending_scroll;

      self->pending_scroll = GTK_INVALID_LIST_POSITION;
      gemba_frame_grid_scroll_to (self, position);
    }
}

static guint
position_at (GembaFrameGrid *self, double x, double y)
{
  guint row, col, position;

  if (self->n_columns == 0 || self->cell_height == 0 || x < 0 || y < 0)
    return GTK_INVALID_LIST_POSITION;
  y += gtk_adjustment_get_value (self->vadjustment);
  row = (guint) (y / self->cell_height);
  col = MIN ((guint) (x / column_width (self)), self->n_columns - 1);
  position = row * self->n_columns + col;
  return position < n_items (self) ? position : GTK_INVALID_LIST_POSITION;
}

/* --- Input -------------------------------------------------------------------------------- */

static void
select_position (GembaFrameGrid *self, guint position)
{
  gtk_single_selection_set_selected (self->selection, position);
  gemba_frame_grid_scroll_to (self, position);
}

static gboolean
move_cb (GtkWidget *widget, GVariant *args, gpointer user_data)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (widget);
  guint n = n_items (self);
  int kind, count;
  gint64 position, step;
  guint selected;

  if (n == 0 || self->n_columns == 0)
    return FALSE;
  g_variant_get (args, "(ii)", &kind, &count);
  selected = gtk_single_selection_get_selected (self->selection);
  position = selected == GTK_INVALID_LIST_POSITION ? 0 : selected;
  switch ((MoveKind) kind)
    {
    case MOVE_CELLS:
      step = 1;
      break;
    case MOVE_ROWS:
      step = self->n_columns;
      break;
    case MOVE_PAGES:
      step = (gint64) self->n_columns *
             MAX (1, gtk_widget_get_height (widget) / MAX (1, self->cell_height));
      break;
    case MOVE_ENDS:
    default:
      step = n;
      break;
    }
  position = CLAMP (position + step * count, 0, (gint64) n - 1);
  /* Up from the top row or down from the bottom row stays where it is, as GtkGridView. */
  if ((MoveKind) kind == MOVE_ROWS && selected != GTK_INVALID_LIST_POSITION &&
      position % self->n_columns != selected % self->n_columns)
    position = selected;
  select_position (self, (guint) position);
  return TRUE;
}

static void
click_pressed_cb (GtkGestureClick *gesture, int n_press, double x, double y,
                  GembaFrameGrid *self)
{
  guint position = position_at (self, x, y);

  gtk_widget_grab_focus (GTK_WIDGET (self));
  if (position == GTK_INVALID_LIST_POSITION)
    return;
  select_position (self, position);
  if (n_press == 2)
    g_signal_emit (self, signals[ACTIVATE], 0, position);
}

static gboolean
gemba_frame_grid_query_tooltip (GtkWidget *widget, int x, int y, gboolean keyboard,
                                GtkTooltip *tooltip)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (widget);
  guint position = keyboard ? gtk_single_selection_get_selected (self->selection)
                            : position_at (self, x, y);
  g_autoptr(GembaFrameItem) item = NULL;
  gint64 id;
  const char *message;

  if (position == GTK_INVALID_LIST_POSITION || !(item = g_list_model_get_item (self->model,
                                                                              position)))
    return FALSE;
  id = gemba_frame_item_get_id (item);
  if ((message = g_hash_table_lookup (self->failed, &id)))
    gtk_tooltip_set_text (tooltip, message);
  else if (gemba_frame_item_is_false_reading (item))
    gtk_tooltip_set_text (tooltip, _("False reading: the label disagrees with the model"));
  else
    return FALSE;
  return TRUE;
}

/* --- Model -------------------------------------------------------------------------------- */

static void
redraw_cb (gpointer instance, GembaFrameGrid *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
classes_changed_cb (GembaProject *project, GembaFrameGrid *self)
{
  /* Names and colours are in the shaped texts. */
  g_hash_table_remove_all (self->layouts);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
selection_changed_cb (GtkSelectionModel *model, guint position, guint n, GembaFrameGrid *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
items_changed_cb (GListModel *model, guint position, guint removed, guint added,
                  GembaFrameGrid *self)
{
  g_hash_table_remove_all (self->failed);
  configure_adjustments (self);
  gtk_widget_queue_allocate (GTK_WIDGET (self));
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
value_changed_cb (GtkAdjustment *adjustment, GembaFrameGrid *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
set_adjustment (GembaFrameGrid *self, GtkAdjustment **slot, GtkAdjustment *adjustment)
{
  if (*slot == adjustment && adjustment)
    return;
  if (*slot)
    {
      g_signal_handlers_disconnect_by_func (*slot, value_changed_cb, self);
      g_clear_object (slot);
    }
  if (!adjustment)
    adjustment = gtk_adjustment_new (0, 0, 0, 0, 0, 0);
  *slot = g_object_ref_sink (adjustment);
  g_signal_connect (adjustment, "value-changed", G_CALLBACK (value_changed_cb), self);
  configure_adjustments (self);
}

/* --- GObject ------------------------------------------------------------------------------ */

static void
gemba_frame_grid_css_changed (GtkWidget *widget, GtkCssStyleChange *change)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (widget);

  GTK_WIDGET_CLASS (gemba_frame_grid_parent_class)->css_changed (widget, change);
  /* A new font may shape every text differently. */
  clear_layouts (self);
  gtk_widget_queue_resize (widget);
}

static void
gemba_frame_grid_state_flags_changed (GtkWidget *widget, GtkStateFlags previous)
{
  if ((previous ^ gtk_widget_get_state_flags (widget)) & GTK_STATE_FLAG_FOCUS_WITHIN)
    gtk_widget_queue_draw (widget);
  GTK_WIDGET_CLASS (gemba_frame_grid_parent_class)->state_flags_changed (widget, previous);
}

static void
gemba_frame_grid_get_property (GObject *object, guint prop_id, GValue *value,
                               GParamSpec *pspec)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (object);

  switch (prop_id)
    {
    case PROP_HADJUSTMENT:
      g_value_set_object (value, self->hadjustment);
      break;
    case PROP_VADJUSTMENT:
      g_value_set_object (value, self->vadjustment);
      break;
    case PROP_HSCROLL_POLICY:
      g_value_set_enum (value, self->hscroll_policy);
      break;
    case PROP_VSCROLL_POLICY:
      g_value_set_enum (value, self->vscroll_policy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_frame_grid_set_property (GObject *object, guint prop_id, const GValue *value,
                               GParamSpec *pspec)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (object);

  switch (prop_id)
    {
    case PROP_HADJUSTMENT:
      set_adjustment (self, &self->hadjustment, g_value_get_object (value));
      break;
    case PROP_VADJUSTMENT:
      set_adjustment (self, &self->vadjustment, g_value_get_object (value));
      break;
    case PROP_HSCROLL_POLICY:
      self->hscroll_policy = g_value_get_enum (value);
      break;
    case PROP_VSCROLL_POLICY:
      self->vscroll_policy = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_frame_grid_dispose (GObject *object)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (object);

  gemba_frame_grid_set_model (self, NULL, NULL);
  if (self->hadjustment)
    g_signal_handlers_disconnect_by_func (self->hadjustment, value_changed_cb, self);
  if (self->vadjustment)
    g_signal_handlers_disconnect_by_func (self->vadjustment, value_changed_cb, self);
  g_clear_object (&self->hadjustment);
  g_clear_object (&self->vadjustment);
  G_OBJECT_CLASS (gemba_frame_grid_parent_class)->dispose (object);
}

static void
gemba_frame_grid_finalize (GObject *object)
{
  GembaFrameGrid *self = GEMBA_FRAME_GRID (object);

  g_hash_table_destroy (self->layouts);
  g_hash_table_destroy (self->requests);
  g_hash_table_destroy (self->failed);
  G_OBJECT_CLASS (gemba_frame_grid_parent_class)->finalize (object);
}

static void
add_move_binding (GtkWidgetClass *widget_class, guint keyval, guint kp_keyval, MoveKind kind,
                  int count)
{
  gtk_widget_class_add_binding (widget_class, keyval, 0, move_cb, "(ii)", kind, count);
  gtk_widget_class_add_binding (widget_class, kp_keyval, 0, move_cb, "(ii)", kind, count);
}

static void
gemba_frame_grid_class_init (GembaFrameGridClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_frame_grid_dispose;
  object_class->finalize = gemba_frame_grid_finalize;
  object_class->get_property = gemba_frame_grid_get_property;
  object_class->set_property = gemba_frame_grid_set_property;

  widget_class->snapshot = gemba_frame_grid_snapshot;
  widget_class->measure = gemba_frame_grid_measure;
  widget_class->size_allocate = gemba_frame_grid_size_allocate;
  widget_class->query_tooltip = gemba_frame_grid_query_tooltip;
  widget_class->css_changed = gemba_frame_grid_css_changed;
  widget_class->state_flags_changed = gemba_frame_grid_state_flags_changed;

  g_object_class_override_property (object_class, PROP_HADJUSTMENT, "hadjustment");
  g_object_class_override_property (object_class, PROP_VADJUSTMENT, "vadjustment");
  g_object_class_override_property (object_class, PROP_HSCROLL_POLICY, "hscroll-policy");
  g_object_class_override_property (object_class, PROP_VSCROLL_POLICY, "vscroll-policy");

  /* Emitted on a double click, with the position of the cell. */
  signals[ACTIVATE] = g_signal_new ("activate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                    0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);

  add_move_binding (widget_class, GDK_KEY_Left, GDK_KEY_KP_Left, MOVE_CELLS, -1);
  add_move_binding (widget_class, GDK_KEY_Right, GDK_KEY_KP_Right, MOVE_CELLS, 1);
  add_move_binding (widget_class, GDK_KEY_Up, GDK_KEY_KP_Up, MOVE_ROWS, -1);
  add_move_binding (widget_class, GDK_KEY_Down, GDK_KEY_KP_Down, MOVE_ROWS, 1);
  add_move_binding (widget_class, GDK_KEY_Page_Up, GDK_KEY_KP_Page_Up, MOVE_PAGES, -1);
  add_move_binding (widget_class, GDK_KEY_Page_Down, GDK_KEY_KP_Page_Down, MOVE_PAGES, 1);
  add_move_binding (widget_class, GDK_KEY_Home, GDK_KEY_KP_Home, MOVE_ENDS, -1);
  add_move_binding (widget_class, GDK_KEY_End, GDK_KEY_KP_End, MOVE_ENDS, 1);

  gtk_widget_class_set_css_name (widget_class, "framegrid");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GRID);
}

static void
gemba_frame_grid_init (GembaFrameGrid *self)
{
  GtkGesture *click = gtk_gesture_click_new ();

  self->size = 160;
  self->pending_scroll = GTK_INVALID_LIST_POSITION;
  self->layouts = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  self->requests = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->failed = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  set_adjustment (self, &self->hadjustment, NULL);
  set_adjustment (self, &self->vadjustment, NULL);

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
  g_signal_connect (click, "pressed", G_CALLBACK (click_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));
}

/* --- Public API --------------------------------------------------------------------------- */

void
gemba_frame_grid_set_model (GembaFrameGrid *self, GembaProject *project,
                            GtkSingleSelection *selection)
{
  g_return_if_fail (GEMBA_IS_FRAME_GRID (self));
  g_return_if_fail (project == NULL || GEMBA_IS_PROJECT (project));
  g_return_if_fail (selection == NULL || GTK_IS_SINGLE_SELECTION (selection));

  cancel_all_requests (self);
  if (self->selection)
    {
      g_signal_handlers_disconnect_by_data (self->selection, self);
      g_signal_handlers_disconnect_by_data (self->model, self);
      g_clear_object (&self->selection);
      g_clear_object (&self->model);
    }
  if (self->project)
    {
      g_signal_handlers_disconnect_by_data (self->project, self);
      g_clear_object (&self->project);
    }
  g_hash_table_remove_all (self->layouts);
  g_hash_table_remove_all (self->failed);
  if (project && selection)
    {
      self->project = g_object_ref (project);
      self->selection = g_object_ref (selection);
      self->model = g_object_ref (gtk_single_selection_get_model (selection));
      g_signal_connect (project, "classes-changed", G_CALLBACK (classes_changed_cb), self);
      g_signal_connect (selection, "selection-changed", G_CALLBACK (selection_changed_cb), self);
      g_signal_connect (selection, "items-changed", G_CALLBACK (items_changed_cb), self);
      if (GEMBA_IS_FRAME_LIST (self->model))
        g_signal_connect (self->model, "rows-changed", G_CALLBACK (redraw_cb), self);
    }
  if (self->vadjustment)
    gtk_adjustment_set_value (self->vadjustment, 0);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

void
gemba_frame_grid_set_thumbnail_size (GembaFrameGrid *self, guint size)
{
  g_return_if_fail (GEMBA_IS_FRAME_GRID (self));
  g_return_if_fail (size > 0);

  if (self->size == size)
    return;
  self->size = size;
  cancel_all_requests (self);
  clear_layouts (self);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

void
gemba_frame_grid_scroll_to (GembaFrameGrid *self, guint position)
{
  double top, value, page;

  g_return_if_fail (GEMBA_IS_FRAME_GRID (self));

  if (position >= n_items (self))
    return;
  if (self->n_columns == 0 || self->cell_height == 0)
    {
      self->pending_scroll = position;
      gtk_widget_queue_allocate (GTK_WIDGET (self));
      return;
    }
  configure_adjustments (self);
  top = (double) (position / self->n_columns) * self->cell_height;
  value = gtk_adjustment_get_value (self->vadjustment);
  page = gtk_adjustment_get_page_size (self->vadjustment);
  if (top < value)
    gtk_adjustment_set_value (self->vadjustment, top);
  else if (top + self->cell_height > value + page)
    gtk_adjustment_set_value (self->vadjustment, top + self->cell_height - page);
}
