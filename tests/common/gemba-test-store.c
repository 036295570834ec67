/* gemba-test-store.c: projects and frames for the store tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "gemba-test-store.h"
#include "gemba-util-private.h"

GBytes *
gemba_test_make_jpeg (guint width, guint height, guint seed)
{
  g_autoptr(GembaImage) image = gemba_image_new (width, height);
  g_autoptr(GError) error = NULL;
  GBytes *bytes;

  for (guint i = 0; i < width * height * 3; i++)
    image->pixels[i] = (guint8) ((i * 7 + seed * 131) ^ (seed >> 3));
  bytes = gemba_image_encode_jpeg (image, 90, &error);
  g_assert_no_error (error);
  return bytes;
}

char *
gemba_test_project_path (const char *tmpl, const char *name, char **dir)
{
  g_autoptr(GError) error = NULL;

  *dir = g_dir_make_tmp (tmpl, &error);
  g_assert_no_error (error);
  return g_build_filename (*dir, name, NULL);
}

GembaStore *
gemba_test_project_create (const char *tmpl, const char * const *classes,
                           char **dir, char **project)
{
  g_autoptr(GError) error = NULL;
  GembaStore *store;

  *project = gemba_test_project_path (tmpl, "line", dir);
  store = gemba_store_create (*project, classes, &error);
  g_assert_no_error (error);
  gemba_store_set_author (store, "tester");
  return store;
}

void
gemba_test_project_clear (GembaStore **store, char **project, char **dir)
{
  g_clear_object (store);
  _gemba_remove_tree (*dir);
  g_clear_pointer (project, g_free);
  g_clear_pointer (dir, g_free);
}
