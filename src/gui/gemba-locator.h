/* gemba-locator.h: where widgets are, for the GUI tests that click them as a person would
 *
 * Only when the probe log is on (GEMBA_PROBE_LOG): a watched widget logs
 * "where name=NAME x=… y=… w=… h=…" (window coordinates) whenever it is mapped and its place
 * changed. Costs nothing otherwise.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

void gemba_locator_watch (GtkWidget *widget, const char *name);
/* Watches the page buttons of the view switcher in @widget's window as "switcher.N". */
void gemba_locator_watch_switcher (GtkWidget *widget);

G_END_DECLS
