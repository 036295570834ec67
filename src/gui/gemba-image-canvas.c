/* gemba-image-canvas.c: shows one frame large, with zoom and pan
 *
 * Zoom: pinch, Ctrl+scroll or scroll, and the frame view's keys; pan: drag, or the keys.
 * The zoom is relative to "fit", so 1.0 always shows the whole frame.
 *
 * The texture need not have the frame's size: the frame view gives one decoded at the size
 * the frame is shown at (fitted), which is then drawn pixel for pixel. GTK 4.8's cairo
 * renderer (software displays, Xvfb) converts a texture pixel by pixel through floats and
 * resamples it on every draw, which for a full-size camera frame costs more than a 60 Hz
 * frame. So a texture made by gemba_image_canvas_texture_new() also carries a cairo surface
 * on the same pixels, and under the cairo renderer the canvas paints that: a plain copy.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <math.h>

#include "gemba-image-canvas.h"

#define SURFACE_KEY "gemba-image-canvas-surface"

#define MAX_ZOOM 32.0

struct _GembaImageCanvas
{
  GtkWidget parent_instance;

  GdkTexture *texture;
  int image_width;       /* the frame's own size, which the texture is stretched to */
  int image_height;
  double zoom;
  double pan_x;          /* offset of the frame's centre from the widget's, in pixels */
  double pan_y;
  double drag_start_x;
  double drag_start_y;
  double pinch_start_zoom;
  double pointer_x;
  double pointer_y;
};

G_DEFINE_FINAL_TYPE (GembaImageCanvas, gemba_image_canvas, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_ZOOM, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { PAINTED, N_SIGNALS };
static guint signals[N_SIGNALS];

static double
fit_scale (GembaImageCanvas *self)
{
  double w = gtk_widget_get_width (GTK_WIDGET (self));
  double h = gtk_widget_get_height (GTK_WIDGET (self));
  double tw, th;

  if (!self->texture)
    return 1.0;
  tw = self->image_width;
  th = self->image_height;
  return MAX (MIN (w / tw, h / th), 1e-3);
}

static void
clamp_pan (GembaImageCanvas *self)
{
  double w = gtk_widget_get_width (GTK_WIDGET (self));
  double h = gtk_widget_get_height (GTK_WIDGET (self));
  double scale = fit_scale (self) * self->zoom;
  double iw, ih, max_x, max_y;

  if (!self->texture)
    return;
  iw = self->image_width * scale;
  ih = self->image_height * scale;
  /* The frame can be pushed until its edge reaches the widget's middle, no further. */
  max_x = MAX (0.0, (iw - w) / 2.0 + w / 2.0 * (iw > w));
  max_y = MAX (0.0, (ih - h) / 2.0 + h / 2.0 * (ih > h));
  self->pan_x = CLAMP (self->pan_x, -max_x, max_x);
  self->pan_y = CLAMP (self->pan_y, -max_y, max_y);
}

static void
set_zoom_at (GembaImageCanvas *self, double zoom, double x, double y)
{
  double w = gtk_widget_get_width (GTK_WIDGET (self));
  double h = gtk_widget_get_height (GTK_WIDGET (self));
  double ratio;

  zoom = CLAMP (zoom, 1.0, MAX_ZOOM);
  if (zoom == self->zoom)
    return;
  /* Keep the point under (x, y) where it is. */
  ratio = zoom / self->zoom;
  self->pan_x = (x - w / 2.0) - ((x - w / 2.0) - self->pan_x) * ratio;
  self->pan_y = (y - h / 2.0) - ((y - h / 2.0) - self->pan_y) * ratio;
  self->zoom = zoom;
  if (zoom == 1.0)
    self->pan_x = self->pan_y = 0.0;
  clamp_pan (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
}

static void
gemba_image_canvas_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  GembaImageCanvas *self = GEMBA_IMAGE_CANVAS (widget);
  double w = gtk_widget_get_width (widget);
  double h = gtk_widget_get_height (widget);
  double scale, iw, ih, x, y;
  int device = gtk_widget_get_scale_factor (widget);
  int tw, th;
  cairo_surface_t *surface;
  GtkNative *native;
  GskRenderer *renderer;

  if (!self->texture)
    return;
  scale = fit_scale (self) * self->zoom;
  iw = self->image_width * scale;
  ih = self->image_height * scale;
  x = (w - iw) / 2.0 + self->pan_x;
  y = (h - ih) / 2.0 + self->pan_y;
  tw = gdk_texture_get_width (self->texture);
  th = gdk_texture_get_height (self->texture);
  /* A texture made for this size (give or take the rounding of a side) is drawn pixel for
   * pixel, on whole device pixels: no resampling at all. */
  if (fabs (iw * device - tw) <= 1.0 && fabs (ih * device - th) <= 1.0)
    {
      iw = (double) tw / device;
      ih = (double) th / device;
      x = round (((w - iw) / 2.0 + self->pan_x) * device) / device;
      y = round (((h - ih) / 2.0 + self->pan_y) * device) / device;
    }
  surface = g_object_get_data (G_OBJECT (self->texture), SURFACE_KEY);
  native = gtk_widget_get_native (widget);
  renderer = native ? gtk_native_get_renderer (native) : NULL;
  if (surface && renderer && GSK_IS_CAIRO_RENDERER (renderer))
    {
      cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, w, h));

      cairo_rectangle (cr, x, y, iw, ih);
      cairo_clip (cr);
      cairo_translate (cr, x, y);
      cairo_scale (cr, iw / tw, ih / th);
      cairo_set_source_surface (cr, surface, 0, 0);
      cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
      /* Not pixel for pixel (zoomed in, or a texture of another size until the fitted one
       * comes): bilinear, which cairo does fast; its default filter shrinks with a
       * convolution that takes ~100 ms for a full-size frame. */
      cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_BILINEAR);
      cairo_paint (cr);
      cairo_destroy (cr);
    }
  else
    {
      gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (0, 0, w, h));
      gtk_snapshot_append_texture (snapshot, self->texture, &GRAPHENE_RECT_INIT (x, y, iw, ih));
      gtk_snapshot_pop (snapshot);
    }
  g_signal_emit (self, signals[PAINTED], 0);
}

static void
gemba_image_canvas_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  clamp_pan (GEMBA_IMAGE_CANVAS (widget));
}

static void
drag_begin_cb (GtkGestureDrag *gesture, double x, double y, GembaImageCanvas *self)
{
  self->drag_start_x = self->pan_x;
  self->drag_start_y = self->pan_y;
}

static void
drag_update_cb (GtkGestureDrag *gesture, double dx, double dy, GembaImageCanvas *self)
{
  self->pan_x = self->drag_start_x + dx;
  self->pan_y = self->drag_start_y + dy;
  clamp_pan (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
zoom_begin_cb (GtkGesture *gesture, GdkEventSequence *sequence, GembaImageCanvas *self)
{
  self->pinch_start_zoom = self->zoom;
}

static void
zoom_scale_changed_cb (GtkGestureZoom *gesture, double scale, GembaImageCanvas *self)
{
  double x, y;

  if (!gtk_gesture_get_bounding_box_center (GTK_GESTURE (gesture), &x, &y))
    x = gtk_widget_get_width (GTK_WIDGET (self)) / 2.0, y = gtk_widget_get_height (GTK_WIDGET (self)) / 2.0;
  set_zoom_at (self, self->pinch_start_zoom * scale, x, y);
}

static gboolean
scroll_cb (GtkEventControllerScroll *controller, double dx, double dy, GembaImageCanvas *self)
{
  if (dy == 0.0)
    return FALSE;
  set_zoom_at (self, self->zoom * pow (1.2, -dy), self->pointer_x, self->pointer_y);
  return TRUE;
}

static void
motion_cb (GtkEventControllerMotion *controller, double x, double y, GembaImageCanvas *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
}

static void
double_click_cb (GtkGestureClick *gesture, int n_press, double x, double y,
                 GembaImageCanvas *self)
{
  if (n_press == 2)
    {
      if (self->zoom > 1.0)
        gemba_image_canvas_reset (self);
      else
        set_zoom_at (self, 3.0, x, y);
    }
}

static void
gemba_image_canvas_get_property (GObject *object, guint prop_id, GValue *value,
                                 GParamSpec *pspec)
{
  GembaImageCanvas *self = GEMBA_IMAGE_CANVAS (object);

  switch (prop_id)
    {
    case PROP_ZOOM:
      g_value_set_double (value, self->zoom);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_image_canvas_dispose (GObject *object)
{
  g_clear_object (&GEMBA_IMAGE_CANVAS (object)->texture);
  G_OBJECT_CLASS (gemba_image_canvas_parent_class)->dispose (object);
}

static void
gemba_image_canvas_class_init (GembaImageCanvasClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_image_canvas_dispose;
  object_class->get_property = gemba_image_canvas_get_property;
  widget_class->snapshot = gemba_image_canvas_snapshot;
  widget_class->size_allocate = gemba_image_canvas_size_allocate;

  properties[PROP_ZOOM] =
    g_param_spec_double ("zoom", NULL, NULL, 1.0, MAX_ZOOM, 1.0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Emitted when a frame has been drawn: the frame view times frame changes with it. */
  signals[PAINTED] = g_signal_new ("painted", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                   NULL, NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_css_name (widget_class, "imagecanvas");
}

static void
gemba_image_canvas_init (GembaImageCanvas *self)
{
  GtkGesture *drag = gtk_gesture_drag_new ();
  GtkGesture *zoom = gtk_gesture_zoom_new ();
  GtkGesture *click = gtk_gesture_click_new ();
  GtkEventController *scroll =
    gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
  GtkEventController *motion = gtk_event_controller_motion_new ();

  self->zoom = 1.0;
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self), TRUE);

  g_signal_connect (drag, "drag-begin", G_CALLBACK (drag_begin_cb), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (drag_update_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drag));

  g_signal_connect (zoom, "begin", G_CALLBACK (zoom_begin_cb), self);
  g_signal_connect (zoom, "scale-changed", G_CALLBACK (zoom_scale_changed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (zoom));
  gtk_gesture_group (zoom, drag);

  g_signal_connect (click, "pressed", G_CALLBACK (double_click_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));

  g_signal_connect (scroll, "scroll", G_CALLBACK (scroll_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), scroll);
  g_signal_connect (motion, "motion", G_CALLBACK (motion_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);
}

GtkWidget *
gemba_image_canvas_new (void)
{
  return g_object_new (GEMBA_TYPE_IMAGE_CANVAS, NULL);
}

void
gemba_image_canvas_set_image (GembaImageCanvas *self, GdkTexture *texture, int width,
                              int height)
{
  gboolean same_size;

  g_return_if_fail (GEMBA_IS_IMAGE_CANVAS (self));
  g_return_if_fail (texture == NULL || (width > 0 && height > 0));

  if (self->texture == texture && (!texture || (width == self->image_width &&
                                                height == self->image_height)))
    return;
  same_size = self->texture && texture && width == self->image_width &&
              height == self->image_height;
  g_set_object (&self->texture, texture);
  self->image_width = texture ? width : 0;
  self->image_height = texture ? height : 0;
  if (!same_size)
    gemba_image_canvas_reset (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
gemba_image_canvas_set_texture (GembaImageCanvas *self, GdkTexture *texture)
{
  g_return_if_fail (GEMBA_IS_IMAGE_CANVAS (self));

  gemba_image_canvas_set_image (self, texture, texture ? gdk_texture_get_width (texture) : 0,
                                texture ? gdk_texture_get_height (texture) : 0);
}

gboolean
gemba_image_canvas_get_fitted_size (GembaImageCanvas *self, int width, int height,
                                    int *out_width, int *out_height)
{
  double w, h, scale;
  int device;

  g_return_val_if_fail (GEMBA_IS_IMAGE_CANVAS (self), FALSE);
  g_return_val_if_fail (width > 0 && height > 0, FALSE);

  w = gtk_widget_get_width (GTK_WIDGET (self));
  h = gtk_widget_get_height (GTK_WIDGET (self));
  if (w <= 1 || h <= 1)
    return FALSE;
  device = gtk_widget_get_scale_factor (GTK_WIDGET (self));
  scale = MIN (w / width, h / height) * device;
  *out_width = MAX (1, (int) round (width * scale));
  *out_height = MAX (1, (int) round (height * scale));
  return TRUE;
}

GdkTexture *
gemba_image_canvas_texture_new (GBytes *argb, int width, int height)
{
  GdkTexture *texture;
  cairo_surface_t *surface;
  static const cairo_user_data_key_t bytes_key;

  g_return_val_if_fail (argb != NULL && width > 0 && height > 0, NULL);
  g_return_val_if_fail (g_bytes_get_size (argb) == (gsize) width * height * 4, NULL);

  texture = gdk_memory_texture_new (width, height, GDK_MEMORY_DEFAULT, argb, (gsize) width * 4);
  /* The same pixels: cairo's ARGB32 is GDK_MEMORY_DEFAULT, and a width × 4 stride is one
   * cairo accepts. The surface keeps the bytes alive. */
  surface = cairo_image_surface_create_for_data ((guchar *) g_bytes_get_data (argb, NULL),
                                                 CAIRO_FORMAT_ARGB32, width, height, width * 4);
  cairo_surface_set_user_data (surface, &bytes_key, g_bytes_ref (argb),
                               (cairo_destroy_func_t) g_bytes_unref);
  g_object_set_data_full (G_OBJECT (texture), SURFACE_KEY, surface,
                          (GDestroyNotify) cairo_surface_destroy);
  return texture;
}

GdkTexture *
gemba_image_canvas_get_texture (GembaImageCanvas *self)
{
  g_return_val_if_fail (GEMBA_IS_IMAGE_CANVAS (self), NULL);
  return self->texture;
}

double
gemba_image_canvas_get_zoom (GembaImageCanvas *self)
{
  g_return_val_if_fail (GEMBA_IS_IMAGE_CANVAS (self), 1.0);
  return self->zoom;
}

void
gemba_image_canvas_zoom_by (GembaImageCanvas *self, double factor)
{
  g_return_if_fail (GEMBA_IS_IMAGE_CANVAS (self));
  set_zoom_at (self, self->zoom * factor, gtk_widget_get_width (GTK_WIDGET (self)) / 2.0,
               gtk_widget_get_height (GTK_WIDGET (self)) / 2.0);
}

void
gemba_image_canvas_reset (GembaImageCanvas *self)
{
  g_return_if_fail (GEMBA_IS_IMAGE_CANVAS (self));

  self->pan_x = self->pan_y = 0.0;
  if (self->zoom != 1.0)
    {
      self->zoom = 1.0;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
gemba_image_canvas_pan_by (GembaImageCanvas *self, double dx, double dy)
{
  g_return_if_fail (GEMBA_IS_IMAGE_CANVAS (self));

  self->pan_x += dx;
  self->pan_y += dy;
  clamp_pan (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}
