/* gemba-test-store.c: projects and frames for the store tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "gemba-test-store.h"
#include "gemba-util-private.h"
#include "gemba-db-private.h"

#include <string.h>
#include <unistd.h>

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

const char *
gemba_test_server (void)
{
  const char *uri = g_getenv ("GEMBA_TEST_SERVER");

  return uri && *uri && g_getenv ("GEMBA_TEST_ON_SERVER") ? uri : NULL;
}

char *
gemba_test_server_new_database (void)
{
  static guint n;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaDb) db = gemba_db_open_server (gemba_test_server (), &error);
  g_autofree char *schema = NULL;
  g_autofree char *sql = NULL;

  g_assert_no_error (error);
  schema = g_strdup_printf ("t%d_%u", (int) getpid (), n++);
  sql = g_strdup_printf ("CREATE SCHEMA %s", schema);
  gemba_db_exec (db, sql, &error);
  g_assert_no_error (error);
  /* libpq's options: the session's search_path is that schema. */
  return g_strdup_printf ("%s%soptions=-csearch_path%%3D%s", gemba_test_server (),
                          strchr (gemba_test_server (), '?') ? "&" : "?", schema);
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
  if (gemba_test_server ())
    {
      g_autofree char *uri = gemba_test_server_new_database ();
      store = gemba_store_create_team (*project, uri, classes, &error);
    }
  else
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
