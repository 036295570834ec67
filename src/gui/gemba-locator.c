/* gemba-locator.c: where widgets are, for the GUI tests that click them as a person would
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <adwaita.h>

#include "gemba-locator.h"
#include "gemba-probe.h"

typedef struct {
  GtkWidget *widget;      /* not a reference: the watch lives as long as the widget */
  char *name;
  GdkFrameClock *clock;   /* while mapped */
  gulong layout_id;
  graphene_rect_t last;
  gboolean logged;
} Watch;

static void
stop_watching_clock (Watch *watch)
{
  if (watch->clock)
    g_clear_signal_handler (&watch->layout_id, watch->clock);
  g_clear_object (&watch->clock);
}

static void
watch_free (gpointer data, GClosure *closure)
{
  Watch *watch = data;

  stop_watching_clock (watch);
  g_free (watch->name);
  g_free (watch);
}

/* After each layout of the widget's window: a place only changes in a layout. */
static void
layout_cb (GdkFrameClock *clock, Watch *watch)
{
  GtkWidget *root = GTK_WIDGET (gtk_widget_get_root (watch->widget));
  graphene_rect_t bounds;

  if (!root || !gtk_widget_get_mapped (watch->widget) ||
      !gtk_widget_compute_bounds (watch->widget, root, &bounds))
    return;
  if (watch->logged && graphene_rect_equal (&bounds, &watch->last))
    return;
  watch->last = bounds;
  watch->logged = TRUE;
  gemba_probe_log ("where", "name=%s x=%.0f y=%.0f w=%.0f h=%.0f", watch->name,
                   bounds.origin.x, bounds.origin.y, bounds.size.width, bounds.size.height);
}

static void
mapped_cb (GtkWidget *widget, Watch *watch)
{
  stop_watching_clock (watch);
  watch->clock = g_object_ref (gtk_widget_get_frame_clock (widget));
  /* The window's own layout handler was connected first, so this one sees the widget
   * allocated. Not a tick callback: that would keep the frame clock running at 60 Hz all
   * along, and every test and benchmark would then time a workbench that does not idle as a
   * person's does. */
  watch->layout_id = g_signal_connect_after (watch->clock, "layout", G_CALLBACK (layout_cb),
                                             watch);
  /* Mapping queued a layout; in case it was done already, ask for one more frame. */
  gtk_widget_queue_allocate (widget);
}

static void
unmapped_cb (GtkWidget *widget, Watch *watch)
{
  stop_watching_clock (watch);
  /* Log again when it comes back, even in the same place. */
  watch->logged = FALSE;
}

void
gemba_locator_watch (GtkWidget *widget, const char *name)
{
  Watch *watch;

  g_return_if_fail (GTK_IS_WIDGET (widget));
  if (!gemba_probe_enabled ())
    return;
  watch = g_new0 (Watch, 1);
  watch->widget = widget;
  watch->name = g_strdup (name);
  g_signal_connect (widget, "unmap", G_CALLBACK (unmapped_cb), watch);
  g_signal_connect_data (widget, "map", G_CALLBACK (mapped_cb), watch, watch_free, 0);
  if (gtk_widget_get_mapped (widget))
    mapped_cb (widget, watch);
}

static void
collect_buttons (GtkWidget *widget, GPtrArray *out)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child;
       child = gtk_widget_get_next_sibling (child))
    {
      if (GTK_IS_TOGGLE_BUTTON (child))
        g_ptr_array_add (out, child);
      else
        collect_buttons (child, out);
    }
}

static GtkWidget *
find_switcher (GtkWidget *widget)
{
  if (ADW_IS_VIEW_SWITCHER_TITLE (widget))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_switcher (child);
      if (found)
        return found;
    }
  return NULL;
}

void
gemba_locator_watch_switcher (GtkWidget *widget)
{
  GtkRoot *root = gtk_widget_get_root (widget);
  g_autoptr(GPtrArray) buttons = g_ptr_array_new ();
  GtkWidget *switcher;

  if (!gemba_probe_enabled () || !root || !(switcher = find_switcher (GTK_WIDGET (root))) ||
      g_object_get_data (G_OBJECT (switcher), "gemba-located"))
    return;
  collect_buttons (switcher, buttons);
  if (buttons->len == 0)
    return;
  g_object_set_data (G_OBJECT (switcher), "gemba-located", GINT_TO_POINTER (1));
  /* The wide and the narrow switcher each have a button per page: number them within
   * their own row. */
  for (guint i = 0, n = 0; i < buttons->len; i++, n++)
    {
      GtkWidget *button = g_ptr_array_index (buttons, i);
      g_autofree char *name = NULL;

      if (i > 0 && gtk_widget_get_parent (button) !=
                   gtk_widget_get_parent (g_ptr_array_index (buttons, i - 1)))
        n = 0;
      name = g_strdup_printf ("switcher.%u", n);
      gemba_locator_watch (button, name);
    }
}
