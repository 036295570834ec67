/* gemba-filter-item.h: one row of the Frames page's filter sidebar, as an item of a list model
 *
 * A filter ("review", "class:3", "source:2", "package:5", …) with its title, icon and count, or
 * a heading that groups the filters below it. The sidebar is a GListStore of these bound to a
 * GtkListBox; a new count is set on the item and its row follows.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "gemba-store.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_FILTER_ITEM (gemba_filter_item_get_type ())
G_DECLARE_FINAL_TYPE (GembaFilterItem, gemba_filter_item, GEMBA, FILTER_ITEM, GObject)

/* A filter named by @key, its title as Pango markup, @icon_name (or NULL). */
GembaFilterItem *gemba_filter_item_new          (const char *key,
                                                 const char *markup,
                                                 const char *icon_name);
/* A heading (not a filter: it cannot be selected). */
GembaFilterItem *gemba_filter_item_new_heading  (const char *title);

/* The filter's key; NULL for a heading. */
const char      *gemba_filter_item_get_key      (GembaFilterItem *self);
gboolean         gemba_filter_item_is_heading   (GembaFilterItem *self);
const char      *gemba_filter_item_get_title    (GembaFilterItem *self);
const char      *gemba_filter_item_get_icon_name (GembaFilterItem *self);
const char      *gemba_filter_item_get_tooltip  (GembaFilterItem *self);
void             gemba_filter_item_set_tooltip  (GembaFilterItem *self, const char *tooltip);
/* The number of frames the filter shows; -1 until counted. */
gint64           gemba_filter_item_get_count    (GembaFilterItem *self);
void             gemba_filter_item_set_count    (GembaFilterItem *self, gint64 count);

/* Fills @query's filter and its class, source or package id from @key ("review", "all",
 * "unlabeled", "false", "suspect", "test", "class:ID", "source:ID", "package:ID"); leaves the
 * sort alone. FALSE for a key that names no filter. */
gboolean         gemba_filter_key_to_query      (const char *key, GembaFrameQuery *query);

G_END_DECLS
