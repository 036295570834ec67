/* gemba-cli.h: what the commands of the `gemba` CLI share
 *
 * Each command lives in a gemba-cli-<area>.c file and is listed in gemba.c. A command gets
 * argv without the program name ("import", "my-line", …) and returns the exit status:
 * 0 everything worked, 1 something failed (the message said what), 2 the command line was
 * wrong.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "gemba.h"

G_BEGIN_DECLS

#define GEMBA_EXIT_OK 0
#define GEMBA_EXIT_FAILED 1
#define GEMBA_EXIT_USAGE 2

typedef struct
{
  const char *name;
  const char *parameters;   /* e.g. "PROJECT PATH…", untranslated placeholders */
  const char *summary;      /* N_() */
  int (*run) (int argc, char **argv);
} GembaCliCommand;

/* Options every command that opens a project accepts (--author). */
extern GOptionEntry gemba_cli_project_entries[];

/* Parses @argv with @entries and the shared --author; prints the error and returns FALSE on a bad command line.
 * Leaves the positional arguments in @argv/@argc (argv[0] is the command name). */
gboolean gemba_cli_parse (int *argc, char ***argv, const GOptionEntry *entries,
                          const char *parameters, const char *summary);

/* Opens the project at @path with the author from --author (or the default). */
GembaStore *gemba_cli_open_project (const char *path, GError **error);

/* Prints "gemba: MESSAGE" on stderr. */
void gemba_cli_error (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* Prints the error's message and returns GEMBA_EXIT_FAILED. */
int gemba_cli_fail (GError *error);
/* Prints a usage error (with a hint to --help) and returns GEMBA_EXIT_USAGE. */
int gemba_cli_usage (const char *command, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Terminal columns @text takes (wide CJK characters count two). */
int gemba_cli_display_width (const char *text);
/* Appends @text to a table row, padded to @width terminal columns (wide CJK characters
 * count two): right-aligned for a positive @width, left-aligned for a negative one, then a
 * space. */
void gemba_cli_cell (GString *row, int width, const char *text);
/* The same for a number. */
void gemba_cli_cell_int (GString *row, int width, gint64 value);

/* Writes @node as one line of JSON on stdout and flushes. */
void gemba_cli_print_json (JsonNode *node);
/* "2026-11-28 14:03:11" in local time, from µs since the epoch. */
char *gemba_cli_format_time (gint64 usec);
/* ISO 8601 in UTC, for JSON. */
char *gemba_cli_format_iso8601 (gint64 usec);

/* A progress line on stderr: a bar on a terminal, a line every few seconds otherwise,
 * nothing with --quiet. */
typedef struct _GembaCliProgress GembaCliProgress;
GembaCliProgress *gemba_cli_progress_new (const char *what, gint64 total, gboolean quiet);
/* @detail may be NULL; it is shown after the counts (e.g. "12 duplicates"). */
void gemba_cli_progress_update (GembaCliProgress *progress, gint64 done, const char *detail);
void gemba_cli_progress_free (GembaCliProgress *progress);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaCliProgress, gemba_cli_progress_free)

/* A GCancellable cancelled by the first Ctrl+C (SIGINT) or SIGTERM; a second one exits. */
GCancellable *gemba_cli_interrupt_cancellable (void);

/* The commands, by area. */
int gemba_cli_init (int argc, char **argv);
int gemba_cli_demo (int argc, char **argv);
int gemba_cli_migrate (int argc, char **argv);
int gemba_cli_team (int argc, char **argv);
int gemba_cli_queue (int argc, char **argv);
int gemba_cli_import (int argc, char **argv);
int gemba_cli_monitor (int argc, char **argv);

/* gemba-cli-spool.c: spools written by the gembaclassify element. */
/* TRUE when @dir (a spool, a line's or a day's folder) holds gembaclassify spool records. */
gboolean gemba_cli_is_spool (const char *dir);
/* Imports every complete record of the spool @dir once (see README); adds to the counts;
 * returns the exit status (130 when interrupted). */
int gemba_cli_import_spool (GembaStore *store, const char *dir, gboolean quiet, gboolean json,
                            gint64 *n_stored, gint64 *n_duplicates, gint64 *n_failed);
int gemba_cli_classes (int argc, char **argv);
int gemba_cli_label (int argc, char **argv);
int gemba_cli_ls (int argc, char **argv);
int gemba_cli_stats (int argc, char **argv);
int gemba_cli_history (int argc, char **argv);
int gemba_cli_check (int argc, char **argv);
int gemba_cli_split (int argc, char **argv);

int gemba_cli_train (int argc, char **argv);
int gemba_cli_models (int argc, char **argv);
int gemba_cli_eval (int argc, char **argv);
int gemba_cli_predict (int argc, char **argv);
int gemba_cli_promote (int argc, char **argv);
int gemba_cli_compare (int argc, char **argv);
/* gemba-cli-package.c */
int gemba_cli_keygen (int argc, char **argv);
int gemba_cli_verify (int argc, char **argv);
int gemba_cli_show (int argc, char **argv);
int gemba_cli_export (int argc, char **argv);
int gemba_cli_infer (int argc, char **argv);

#ifdef GEMBA_HAVE_MEDIA
/* gemba-cli-media.c: cameras, capture, and videos for `gemba import`. */
int gemba_cli_devices (int argc, char **argv);
int gemba_cli_capture (int argc, char **argv);

typedef struct
{
  int every;            /* keep every N-th frame; 0: not given */
  double fps;           /* keep F frames per second of video; 0: not given */
  double scene_change;  /* keep frames that differ by this much (0–1); -1: not given */
  gboolean lossless;    /* PNG instead of JPEG quality 95 */
  const char *source;   /* source name, or NULL for the file's name */
  gboolean quiet;
  gboolean json;
} GembaCliVideoOptions;

/* A file `gemba import` hands to GStreamer, by its extension (mp4, mkv, avi, webm, …). */
gboolean gemba_cli_is_video_path (const char *path);
/* Imports the frames of one video into @store; adds to the counts; returns the exit status
 * (130 when interrupted). */
int gemba_cli_import_video (GembaStore *store, const char *path, const GembaCliVideoOptions *opts,
                            gint64 *n_stored, gint64 *n_duplicates);
#endif

G_END_DECLS
