/* main.c: gemba-workbench
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "gemba-application.h"
#include "gemba-probe.h"

static void
setup_i18n (void)
{
  const char *localedir = LOCALEDIR;
  g_autofree char *built = g_build_filename (GEMBA_BUILD_LOCALEDIR, "zh_CN", "LC_MESSAGES",
                                             GETTEXT_PACKAGE ".mo", NULL);

  setlocale (LC_ALL, "");
  /* Uninstalled runs (tests, the README's commands) read the catalogs from the build tree. */
  if (!g_file_test (LOCALEDIR, G_FILE_TEST_IS_DIR) || g_getenv ("GEMBA_UNINSTALLED"))
    if (g_file_test (built, G_FILE_TEST_EXISTS))
      localedir = GEMBA_BUILD_LOCALEDIR;
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}

int
main (int argc, char **argv)
{
  g_autoptr(GembaApplication) app = NULL;

  gemba_probe_init ();
  setup_i18n ();
  /* Uninstalled runs find the settings schema in the build tree. */
  if (!g_getenv ("GSETTINGS_SCHEMA_DIR") &&
      g_file_test (GEMBA_BUILD_SCHEMADIR "/gschemas.compiled", G_FILE_TEST_EXISTS) &&
      g_getenv ("GEMBA_UNINSTALLED"))
    g_setenv ("GSETTINGS_SCHEMA_DIR", GEMBA_BUILD_SCHEMADIR, TRUE);
  app = gemba_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
