/* gemba-cli.c: what the commands of the `gemba` CLI share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-cli"

#include "config.h"

#include <inttypes.h>
#include <glib/gi18n.h>
#include <glib-unix.h>
#include <stdio.h>
#include <unistd.h>

#include "gemba-cli.h"

static char *opt_author;

GOptionEntry gemba_cli_project_entries[] = {
  { "author", 0, 0, G_OPTION_ARG_STRING, &opt_author,
    N_("Who gives the labels (default: $GEMBA_AUTHOR, else your user name)"), N_("NAME") },
  { NULL }
};

gboolean
gemba_cli_parse (int *argc, char ***argv, const GOptionEntry *entries, const char *parameters,
                 const char *summary)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *title = g_strdup_printf ("%s %s", (*argv)[0], parameters ? parameters : "");

  context = g_option_context_new (title);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (summary)
    g_option_context_set_summary (context, _(summary));
  if (entries)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, gemba_cli_project_entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      gemba_cli_usage ((*argv)[0], "%s", error->message);
      return FALSE;
    }
  return TRUE;
}

GembaStore *
gemba_cli_open_project (const char *path, GError **error)
{
  GembaStore *store = gemba_store_open (path, error);

  if (store && opt_author)
    gemba_store_set_author (store, opt_author);
  return store;
}

void
gemba_cli_error (const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  fflush (stdout);
  g_printerr ("gemba: %s\n", message);
}

int
gemba_cli_fail (GError *error)
{
  gemba_cli_error ("%s", error->message);
  return GEMBA_EXIT_FAILED;
}

int
gemba_cli_usage (const char *command, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("gemba %s: %s\n", command, message);
  g_printerr (_("Try “gemba %s --help”.\n"), command);
  return GEMBA_EXIT_USAGE;
}

int
gemba_cli_display_width (const char *text)
{
  int width = 0;

  for (const char *p = text; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (g_unichar_iszerowidth (c))
        continue;
      width += g_unichar_iswide (c) ? 2 : 1;
    }
  return width;
}

void
gemba_cli_cell (GString *row, int width, const char *text)
{
  int pad = ABS (width) - gemba_cli_display_width (text ? text : "");

  if (width > 0)
    for (int i = 0; i < pad; i++)
      g_string_append_c (row, ' ');
  g_string_append (row, text ? text : "");
  if (width < 0)
    for (int i = 0; i < pad; i++)
      g_string_append_c (row, ' ');
  g_string_append_c (row, ' ');
}

void
gemba_cli_cell_int (GString *row, int width, gint64 value)
{
  g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT, value);

  gemba_cli_cell (row, width, text);
}

void
gemba_cli_print_json (JsonNode *node)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  fputs (text, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

char *
gemba_cli_format_time (gint64 usec)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = utc ? g_date_time_to_local (utc) : NULL;

  return local ? g_date_time_format (local, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
}

char *
gemba_cli_format_iso8601 (gint64 usec)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);

  return utc ? g_date_time_format_iso8601 (utc) : g_strdup ("");
}

struct _GembaCliProgress
{
  char *what;
  gint64 total;
  gint64 done;
  gint64 started;
  gint64 last_print;
  gboolean quiet;
  gboolean tty;
  gboolean printed;
};

GembaCliProgress *
gemba_cli_progress_new (const char *what, gint64 total, gboolean quiet)
{
  GembaCliProgress *progress = g_new0 (GembaCliProgress, 1);

  progress->what = g_strdup (what);
  progress->total = total;
  progress->quiet = quiet;
  progress->tty = isatty (STDERR_FILENO);
  progress->started = g_get_monotonic_time ();
  return progress;
}

static void
progress_print (GembaCliProgress *progress, const char *detail, gboolean final)
{
  double elapsed = (g_get_monotonic_time () - progress->started) / (double) G_USEC_PER_SEC;
  double rate = elapsed > 0 ? progress->done / elapsed : 0;
  g_autoptr(GString) line = g_string_new (NULL);

  if (progress->total > 0)
    {
      int width = 30;
      int filled = (int) (width * progress->done / MAX (progress->total, 1));
      g_string_append_printf (line, "%s [", progress->what);
      for (int i = 0; i < width; i++)
        g_string_append (line, i < filled ? "#" : "-");
      g_string_append_printf (line, "] %" PRId64 "/%" PRId64,
                              progress->done, progress->total);
      if (!final && rate > 0 && progress->done < progress->total)
        g_string_append_printf (line, _(", %.0f/s, %.0f s left"), rate,
                                (progress->total - progress->done) / rate);
      else
        g_string_append_printf (line, _(", %.0f/s, %.1f s"), rate, elapsed);
    }
  else
    g_string_append_printf (line, _("%s %" PRId64 ", %.1f s"), progress->what,
                            progress->done, elapsed);
  if (detail && *detail)
    g_string_append_printf (line, " (%s)", detail);

  if (progress->tty)
    g_printerr ("\r\033[K%s%s", line->str, final ? "\n" : "");
  else
    g_printerr ("%s\n", line->str);
  progress->printed = TRUE;
}

void
gemba_cli_progress_update (GembaCliProgress *progress, gint64 done, const char *detail)
{
  gint64 now = g_get_monotonic_time ();
  gint64 interval = progress->tty ? G_USEC_PER_SEC / 10 : 5 * G_USEC_PER_SEC;

  progress->done = done;
  if (progress->quiet || now - progress->last_print < interval)
    return;
  progress->last_print = now;
  progress_print (progress, detail, FALSE);
}

void
gemba_cli_progress_free (GembaCliProgress *progress)
{
  if (!progress)
    return;
  if (!progress->quiet && (progress->printed || progress->tty))
    progress_print (progress, NULL, TRUE);
  g_free (progress->what);
  g_free (progress);
}

static GCancellable *interrupt_cancellable;

static gboolean
interrupted_cb (gpointer user_data)
{
  if (g_cancellable_is_cancelled (interrupt_cancellable))
    _exit (130);
  g_printerr (_("\ngemba: stopping… (press Ctrl+C again to quit at once)\n"));
  g_cancellable_cancel (interrupt_cancellable);
  return G_SOURCE_CONTINUE;
}

/* Signals arrive on the main context; commands that work in a loop of their own dispatch it
 * with g_main_context_iteration (NULL, FALSE) — or the watcher thread below does it. */
static gpointer
signal_thread (gpointer data)
{
  GMainContext *context = data;

  for (;;)
    g_main_context_iteration (context, TRUE);
  return NULL;
}

GCancellable *
gemba_cli_interrupt_cancellable (void)
{
  if (!interrupt_cancellable)
    {
      GMainContext *context = g_main_context_new ();
      GSource *sigint = g_unix_signal_source_new (SIGINT);
      GSource *sigterm = g_unix_signal_source_new (SIGTERM);

      interrupt_cancellable = g_cancellable_new ();
      g_source_set_callback (sigint, interrupted_cb, NULL, NULL);
      g_source_set_callback (sigterm, interrupted_cb, NULL, NULL);
      g_source_attach (sigint, context);
      g_source_attach (sigterm, context);
      g_source_unref (sigint);
      g_source_unref (sigterm);
      g_thread_unref (g_thread_new ("gemba-signals", signal_thread, context));
    }
  return interrupt_cancellable;
}
