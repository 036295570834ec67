/* gemba-filter-item.c: one row of the Frames page's filter sidebar, as an item of a list model
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <string.h>

#include "gemba-filter-item.h"

struct _GembaFilterItem
{
  GObject parent_instance;

  char *key;
  char *title;
  char *icon_name;
  char *tooltip;
  gint64 count;
};

G_DEFINE_FINAL_TYPE (GembaFilterItem, gemba_filter_item, G_TYPE_OBJECT)

enum { PROP_0, PROP_KEY, PROP_TITLE, PROP_ICON_NAME, PROP_TOOLTIP, PROP_COUNT, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void
gemba_filter_item_finalize (GObject *object)
{
  GembaFilterItem *self = GEMBA_FILTER_ITEM (object);

  g_free (self->key);
  g_free (self->title);
  g_free (self->icon_name);
  g_free (self->tooltip);
  G_OBJECT_CLASS (gemba_filter_item_parent_class)->finalize (object);
}

static void
gemba_filter_item_get_property (GObject *object, guint prop_id, GValue *value,
                                GParamSpec *pspec)
{
  GembaFilterItem *self = GEMBA_FILTER_ITEM (object);

  switch (prop_id)
    {
    case PROP_KEY:
      g_value_set_string (value, self->key);
      break;
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case PROP_ICON_NAME:
      g_value_set_string (value, self->icon_name);
      break;
    case PROP_TOOLTIP:
      g_value_set_string (value, self->tooltip);
      break;
    case PROP_COUNT:
      g_value_set_int64 (value, self->count);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_filter_item_set_property (GObject *object, guint prop_id, const GValue *value,
                                GParamSpec *pspec)
{
  GembaFilterItem *self = GEMBA_FILTER_ITEM (object);

  switch (prop_id)
    {
    case PROP_KEY:
      self->key = g_value_dup_string (value);
      break;
    case PROP_TITLE:
      self->title = g_value_dup_string (value);
      break;
    case PROP_ICON_NAME:
      self->icon_name = g_value_dup_string (value);
      break;
    case PROP_TOOLTIP:
      gemba_filter_item_set_tooltip (self, g_value_get_string (value));
      break;
    case PROP_COUNT:
      gemba_filter_item_set_count (self, g_value_get_int64 (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_filter_item_class_init (GembaFilterItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = gemba_filter_item_finalize;
  object_class->get_property = gemba_filter_item_get_property;
  object_class->set_property = gemba_filter_item_set_property;

  /* What the filter shows (see gemba_filter_key_to_query()); NULL for a heading. */
  properties[PROP_KEY] =
    g_param_spec_string ("key", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /* Pango markup for a filter, plain text for a heading. */
  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ICON_NAME] =
    g_param_spec_string ("icon-name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TOOLTIP] =
    g_param_spec_string ("tooltip", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* Frames the filter shows, -1 until the counts came. */
  properties[PROP_COUNT] =
    g_param_spec_int64 ("count", NULL, NULL, -1, G_MAXINT64, -1,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
gemba_filter_item_init (GembaFilterItem *self)
{
  self->count = -1;
}

GembaFilterItem *
gemba_filter_item_new (const char *key, const char *markup, const char *icon_name)
{
  g_return_val_if_fail (key != NULL, NULL);
  return g_object_new (GEMBA_TYPE_FILTER_ITEM, "key", key, "title", markup,
                       "icon-name", icon_name, NULL);
}

GembaFilterItem *
gemba_filter_item_new_heading (const char *title)
{
  return g_object_new (GEMBA_TYPE_FILTER_ITEM, "title", title, NULL);
}

const char *
gemba_filter_item_get_key (GembaFilterItem *self)
{
  g_return_val_if_fail (GEMBA_IS_FILTER_ITEM (self), NULL);
  return self->key;
}

gboolean
gemba_filter_item_is_heading (GembaFilterItem *self)
{
  g_return_val_if_fail (GEMBA_IS_FILTER_ITEM (self), FALSE);
  return self->key == NULL;
}

const char *
gemba_filter_item_get_title (GembaFilterItem *self)
{
  g_return_val_if_fail (GEMBA_IS_FILTER_ITEM (self), NULL);
  return self->title;
}

const char *
gemba_filter_item_get_icon_name (GembaFilterItem *self)
{
  g_return_val_if_fail (GEMBA_IS_FILTER_ITEM (self), NULL);
  return self->icon_name;
}

const char *
gemba_filter_item_get_tooltip (GembaFilterItem *self)
{
  g_return_val_if_fail (GEMBA_IS_FILTER_ITEM (self), NULL);
  return self->tooltip;
}

void
gemba_filter_item_set_tooltip (GembaFilterItem *self, const char *tooltip)
{
  g_return_if_fail (GEMBA_IS_FILTER_ITEM (self));
  if (g_strcmp0 (self->tooltip, tooltip) == 0)
    return;
  g_free (self->tooltip);
  self->tooltip = g_strdup (tooltip);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOOLTIP]);
}

gint64
gemba_filter_item_get_count (GembaFilterItem *self)
{
  g_return_val_if_fail (GEMBA_IS_FILTER_ITEM (self), -1);
  return self->count;
}

void
gemba_filter_item_set_count (GembaFilterItem *self, gint64 count)
{
  g_return_if_fail (GEMBA_IS_FILTER_ITEM (self));
  if (self->count == count)
    return;
  self->count = count;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COUNT]);
}

gboolean
gemba_filter_key_to_query (const char *key, GembaFrameQuery *query)
{
  static const struct { const char *key; GembaFrameFilter filter; } plain[] = {
    { "review", GEMBA_FILTER_REVIEW },
    { "all", GEMBA_FILTER_ALL },
    { "unlabeled", GEMBA_FILTER_UNLABELED },
    { "false", GEMBA_FILTER_FALSE_READINGS },
    { "suspect", GEMBA_FILTER_SUSPECT },
    { "test", GEMBA_FILTER_TEST_BATCH },
  };
  static const struct { const char *prefix; GembaFrameFilter filter; } with_id[] = {
    { "class:", GEMBA_FILTER_CLASS },
    { "source:", GEMBA_FILTER_SOURCE },
    { "package:", GEMBA_FILTER_PACKAGE },
  };

  g_return_val_if_fail (query != NULL, FALSE);
  if (!key)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (plain); i++)
    if (g_str_equal (key, plain[i].key))
      {
        query->filter = plain[i].filter;
        return TRUE;
      }
  for (guint i = 0; i < G_N_ELEMENTS (with_id); i++)
    if (g_str_has_prefix (key, with_id[i].prefix))
      {
        const char *digits = key + strlen (with_id[i].prefix);
        char *end = NULL;
        gint64 id;

        if (!g_ascii_isdigit (*digits))
          return FALSE;
        id = g_ascii_strtoll (digits, &end, 10);
        if (*end || id <= 0)
          return FALSE;
        query->filter = with_id[i].filter;
        query->class_id = with_id[i].filter == GEMBA_FILTER_CLASS ? id : 0;
        query->source_id = with_id[i].filter == GEMBA_FILTER_SOURCE ? id : 0;
        query->package_id = with_id[i].filter == GEMBA_FILTER_PACKAGE ? id : 0;
        return TRUE;
      }
  return FALSE;
}
