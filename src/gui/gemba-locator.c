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
  char *name;
  graphene_rect_t last;
  gboolean logged;
} Watch;

static void
watch_free (gpointer data)
{
  Watch *watch = data;

  g_free (watch->name);
  g_free (watch);
}

static gboolean
tick_cb (GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  Watch *watch = data;
  GtkWidget *root = GTK_WIDGET (gtk_widget_get_root (widget));
  graphene_rect_t bounds;

  if (!root || !gtk_widget_get_mapped (widget) ||
      !gtk_widget_compute_bounds (widget, root, &bounds))
    return G_SOURCE_CONTINUE;
  if (watch->logged && graphene_rect_equal (&bounds, &watch->last))
    return G_SOURCE_CONTINUE;
  watch->last = bounds;
  watch->logged = TRUE;
  gemba_probe_log ("where", "name=%s x=%.0f y=%.0f w=%.0f h=%.0f", watch->name,
                   bounds.origin.x, bounds.origin.y, bounds.size.width, bounds.size.height);
  return G_SOURCE_CONTINUE;
}

static void
unmapped_cb (GtkWidget *widget, Watch *watch)
{
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
  watch->name = g_strdup (name);
  g_signal_connect (widget, "unmap", G_CALLBACK (unmapped_cb), watch);
  gtk_widget_add_tick_callback (widget, tick_cb, watch, watch_free);
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
