/* gemba.c: the `gemba` command line
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "gemba-cli.h"

/* In the order `gemba help` lists them: the loop from project to production. */
static const GembaCliCommand commands[] = {
  { "init", "PROJECT", N_("Create a project folder"), gemba_cli_init },
  { "demo", "PROJECT", N_("Create the demo project (machined parts on a conveyor)"),
    gemba_cli_demo },
  { "import", "PROJECT PATH…", N_("Import image files and folders (ImageFolder layouts are labeled)"),
    gemba_cli_import },
#ifdef GEMBA_HAVE_MEDIA
  { "devices", "", N_("List the cameras GStreamer can see, with their modes"), gemba_cli_devices },
  { "capture", "PROJECT CAMERA|URI", N_("Capture frames from a camera, a stream or a pipeline"),
    gemba_cli_capture },
#endif
  { "classes", "PROJECT [add|rename|color|key|move|retire|restore …]",
    N_("List or change the classes"), gemba_cli_classes },
  { "queue", "PROJECT [ls|claim|release …]",
    N_("Share the review queue: claim frames nobody else holds, give them back"),
    gemba_cli_queue },
  { "label", "PROJECT FRAME CLASS", N_("Label a frame (by a unique prefix of its id)"),
    gemba_cli_label },
  { "ls", "PROJECT", N_("List frames (filters: --unlabeled, --class, --review, …)"), gemba_cli_ls },
  { "stats", "PROJECT", N_("Frames, labels per class, splits and sources"), gemba_cli_stats },
  { "history", "PROJECT FRAME", N_("Every label a frame had: who, when, what"), gemba_cli_history },
  { "check", "PROJECT [--repair]",
    N_("Check the database and frame files; remove what interrupted processes left"),
    gemba_cli_check },
  { "split", "PROJECT", N_("Assign frames to train/val/test (the test split is locked)"),
    gemba_cli_split },
  { "train", "PROJECT", N_("Train a model, or fine-tune one with --from production"),
    gemba_cli_train },
  { "models", "PROJECT", N_("Model versions, their lineage and test accuracy"), gemba_cli_models },
  { "eval", "PROJECT MODEL", N_("Accuracy, precision/recall and confusion on the test split"),
    gemba_cli_eval },
  { "compare", "PROJECT A B", N_("Two models side by side, as the Models page shows them"),
    gemba_cli_compare },
  { "predict", "PROJECT MODEL", N_("Store a model’s predictions for every frame"),
    gemba_cli_predict },
  { "promote", "PROJECT MODEL", N_("Make a model production"), gemba_cli_promote },
  { "export", "PROJECT MODEL -o FILE [--key SECRET]",
    N_("Export a model as a signed package, behind the regression gate"), gemba_cli_export },
  { "keygen", "", N_("Create a key pair for signing packages"), gemba_cli_keygen },
  { "verify", "PACKAGE… --trust KEY", N_("Check a package’s signature and every member’s hash"),
    gemba_cli_verify },
  { "show", "PACKAGE", N_("Show a package’s manifest and model card"), gemba_cli_show },
  { "infer", "PACKAGE FRAME…", N_("Classify image files with a verified package"),
    gemba_cli_infer },
  { "monitor", "SPOOL_DIR",
    N_("Per line and day of a production spool: verdicts, uncertain share, drift alarms"),
    gemba_cli_monitor },
  { "migrate", "PROJECT --to postgresql://…|sqlite",
    N_("Copy a project to a PostgreSQL server or back, checked table by table"),
    gemba_cli_migrate },
  { "team", "PROJECT [ls|add|remove|roles …]",
    N_("Who may do what in a team project: its members and their roles"), gemba_cli_team },
};

static void
print_help (void)
{
  g_print (_("Usage: gemba COMMAND [OPTIONS…]\n\n"
             "Gemba closes the loop between inspection cameras and the inspection model.\n\n"
             "Commands:\n"));
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_print ("  %-10s %s\n", commands[i].name, _(commands[i].summary));
  g_print (_("\nRun “gemba COMMAND --help” for a command’s options.\n"));
}

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
  setup_i18n ();
  g_set_prgname ("gemba");

  if (argc < 2 || g_str_equal (argv[1], "help") || g_str_equal (argv[1], "--help") ||
      g_str_equal (argv[1], "-h"))
    {
      if (argc >= 3 && !g_str_equal (argv[1], "--help"))
        {
          char *help_argv[] = { argv[2], (char *) "--help", NULL };
          for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
            if (g_str_equal (commands[i].name, argv[2]))
              return commands[i].run (2, help_argv);
        }
      print_help ();
      return argc < 2 ? GEMBA_EXIT_USAGE : GEMBA_EXIT_OK;
    }
  if (g_str_equal (argv[1], "--version"))
    {
      g_print ("gemba %s\n", PACKAGE_VERSION);
      return GEMBA_EXIT_OK;
    }

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, argv[1]))
      return commands[i].run (argc - 1, argv + 1);

  g_printerr (_("gemba: “%s” is not a command. See “gemba help”.\n"), argv[1]);
  return GEMBA_EXIT_USAGE;
}
