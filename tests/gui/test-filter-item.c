/* test-filter-item.c: the Frames page's filter items and filter keys (no display needed)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "gemba-filter-item.h"

static void
test_keys (void)
{
  static const struct { const char *key; GembaFrameFilter filter; gint64 id; } good[] = {
    { "review", GEMBA_FILTER_REVIEW, 0 },
    { "all", GEMBA_FILTER_ALL, 0 },
    { "unlabeled", GEMBA_FILTER_UNLABELED, 0 },
    { "false", GEMBA_FILTER_FALSE_READINGS, 0 },
    { "suspect", GEMBA_FILTER_SUSPECT, 0 },
    { "test", GEMBA_FILTER_TEST_BATCH, 0 },
    { "class:3", GEMBA_FILTER_CLASS, 3 },
    { "source:12", GEMBA_FILTER_SOURCE, 12 },
    { "package:7", GEMBA_FILTER_PACKAGE, 7 },
  };
  static const char *bad[] = { "", "reviews", "class:", "class:x", "class:3x", "class:-1",
                               "class:0", "source: 2", "package", "Review" };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      GembaFrameQuery query = { .filter = GEMBA_FILTER_ALL, .sort = GEMBA_SORT_CONFIDENCE,
                                .class_id = 99, .source_id = 99, .package_id = 99 };

      g_assert_true (gemba_filter_key_to_query (good[i].key, &query));
      g_assert_cmpint (query.filter, ==, good[i].filter);
      /* The sort is the caller's; only the filter's own id is set. */
      g_assert_cmpint (query.sort, ==, GEMBA_SORT_CONFIDENCE);
      if (good[i].id)
        {
          g_assert_cmpint (query.class_id, ==,
                           good[i].filter == GEMBA_FILTER_CLASS ? good[i].id : 0);
          g_assert_cmpint (query.source_id, ==,
                           good[i].filter == GEMBA_FILTER_SOURCE ? good[i].id : 0);
          g_assert_cmpint (query.package_id, ==,
                           good[i].filter == GEMBA_FILTER_PACKAGE ? good[i].id : 0);
        }
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GembaFrameQuery query = { .filter = GEMBA_FILTER_REVIEW };

      g_assert_false (gemba_filter_key_to_query (bad[i], &query));
      g_assert_cmpint (query.filter, ==, GEMBA_FILTER_REVIEW);
    }
  {
    GembaFrameQuery query = { .filter = GEMBA_FILTER_REVIEW };
    g_assert_false (gemba_filter_key_to_query (NULL, &query));
  }
}

static void
count_notified_cb (GObject *object, GParamSpec *pspec, guint *n)
{
  (*n)++;
}

static void
test_items (void)
{
  g_autoptr(GembaFilterItem) item = gemba_filter_item_new ("class:2", "<b>ok</b>", NULL);
  g_autoptr(GembaFilterItem) heading = gemba_filter_item_new_heading ("Classes");
  guint n = 0;
  gint64 count = 0;

  g_assert_false (gemba_filter_item_is_heading (item));
  g_assert_cmpstr (gemba_filter_item_get_key (item), ==, "class:2");
  g_assert_cmpstr (gemba_filter_item_get_title (item), ==, "<b>ok</b>");
  g_assert_null (gemba_filter_item_get_icon_name (item));
  g_assert_true (gemba_filter_item_is_heading (heading));
  g_assert_null (gemba_filter_item_get_key (heading));

  /* Not counted yet; a row's label follows notify::count, once per change. */
  g_assert_cmpint (gemba_filter_item_get_count (item), ==, -1);
  g_signal_connect (item, "notify::count", G_CALLBACK (count_notified_cb), &n);
  gemba_filter_item_set_count (item, 41);
  gemba_filter_item_set_count (item, 41);
  g_assert_cmpuint (n, ==, 1);
  g_object_get (item, "count", &count, NULL);
  g_assert_cmpint (count, ==, 41);
  gemba_filter_item_set_tooltip (item, "tip");
  g_assert_cmpstr (gemba_filter_item_get_tooltip (item), ==, "tip");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gui/filter-item/keys", test_keys);
  g_test_add_func ("/gui/filter-item/items", test_items);
  return g_test_run ();
}
