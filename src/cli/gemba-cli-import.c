/* gemba-cli-import.c: `gemba import` of image files and folders
 *
 * Files are read and decoded (checked) by a pool of worker threads; the main thread stores
 * them in batches, one transaction each. A frame is reported (--json) only once its batch has
 * committed, so whatever was reported survives a crash. At most a few dozen files are in
 * memory at once, however many are imported.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-cli"

#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <glib/gi18n.h>
#include <string.h>
#include <glib/gstdio.h>

#include "gemba-cli.h"

#define BATCH_FRAMES 128
#define BATCH_USEC (G_USEC_PER_SEC / 2)

typedef struct
{
  char *path;
  char *label;          /* ImageFolder class, or NULL */
  char *source;         /* source name */
  gboolean explicit;    /* named on the command line (not found by walking a folder) */
  /* Filled by the worker. */
  GBytes *bytes;
  GembaImageFormat format;
  guint width;
  guint height;
  gint64 mtime;
  GError *error;
} ImportJob;

typedef struct
{
  GAsyncQueue *done;
} ImportPool;

static void
import_job_free (ImportJob *job)
{
  g_free (job->path);
  g_free (job->label);
  g_free (job->source);
  g_clear_pointer (&job->bytes, g_bytes_unref);
  g_clear_error (&job->error);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImportJob, import_job_free)

static const char *image_extensions[] = { "jpg", "jpeg", "jpe", "png", "bmp", "tif", "tiff",
                                          "webp" };

static gboolean
gemba_cli_has_image_extension (const char *path)
{
  const char *dot = strrchr (path, '.');

  if (!dot)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (image_extensions); i++)
    if (g_ascii_strcasecmp (dot + 1, image_extensions[i]) == 0)
      return TRUE;
  return FALSE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

static void
probe_job (gpointer data, gpointer user_data)
{
  ImportJob *job = data;
  ImportPool *pool = user_data;
  g_autofree char *contents = NULL;
  gsize length;
  GError *error = NULL;
  GStatBuf st;

  if (g_stat (job->path, &st) != 0)
    {
      int saved = errno;
      g_set_error (&job->error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND, "%s: %s", job->path,
                   g_strerror (saved));
    }
  else if (!S_ISREG (st.st_mode))
    g_set_error (&job->error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("%s: not a regular file"),
                 job->path);
  else if (!g_file_get_contents (job->path, &contents, &length, &error))
    {
      g_set_error (&job->error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot read the file: %s"),
                   job->path, error->message);
      g_error_free (error);
    }
  else
    {
      /* Read, not mapped: unmapping thousands of small mappings from several threads costs
       * more in TLB shootdowns than the copy. */
      job->bytes = g_bytes_new_take (g_steal_pointer (&contents), length);
      job->mtime = (gint64) st.st_mtime * G_USEC_PER_SEC;
      if (!gemba_image_probe (g_bytes_get_data (job->bytes, NULL), g_bytes_get_size (job->bytes),
                              job->path, &job->format, &job->width, &job->height, &job->error))
        g_clear_pointer (&job->bytes, g_bytes_unref);
    }
  g_async_queue_push (pool->done, job);
}

/* Collects the files of @dir, recursively, sorted by name. In an ImageFolder layout
 * (@label_depth 1) each file is labeled with the name of the first-level folder under @root. */
static GHashTable *visited_dirs;   /* "device:inode" of each folder walked, for this command */

static void
walk (const char *dir, const char *label, const char *source, GPtrArray *jobs, guint *n_other,
      GPtrArray *errors)
{
  g_autoptr(GDir) handle = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  const char *name;
  GStatBuf st;

  /* A folder reached twice (links to an ancestor, or two links to one folder) is walked once:
   * without this, two links to ".." walk forever. */
  if (g_stat (dir, &st) == 0)
    {
      char *key = g_strdup_printf ("%ju:%ju", (uintmax_t) st.st_dev, (uintmax_t) st.st_ino);

      if (visited_dirs == NULL)
        visited_dirs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      if (!g_hash_table_add (visited_dirs, key))
        {
          g_printerr (_("%s: skipped: it leads to a folder already imported (a link loop "
                        "or a second link to one folder)\n"), dir);
          return;
        }
    }
  if (!(handle = g_dir_open (dir, 0, &error)))
    {
      g_ptr_array_add (errors, g_strdup_printf ("%s", error->message));
      return;
    }
  while ((name = g_dir_read_name (handle)))
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        walk (path, label, source, jobs, n_other, errors);
      else if (gemba_cli_has_image_extension (path))
        {
          ImportJob *job = g_new0 (ImportJob, 1);
          job->path = g_steal_pointer (&path);
          job->label = g_strdup (label);
          job->source = g_strdup (source);
          g_ptr_array_add (jobs, job);
        }
      else
        (*n_other)++;
    }
}

/* An ImageFolder layout: no images directly in @dir, and images in at least one sub-folder. */
static gboolean
is_image_folder_layout (const char *dir)
{
  g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
  gboolean has_class_folder = FALSE;
  const char *name;

  if (!handle)
    return FALSE;
  while ((name = g_dir_read_name (handle)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      if (name[0] == '.')
        continue;
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          g_autoptr(GDir) sub = g_dir_open (path, 0, NULL);
          const char *child;
          while (sub && !has_class_folder && (child = g_dir_read_name (sub)))
            has_class_folder = gemba_cli_has_image_extension (child);
        }
      else if (gemba_cli_has_image_extension (name))
        return FALSE;
    }
  return has_class_folder;
}

static void
emit_frame_json (GembaFrame *frame, const char *path, gboolean duplicate)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "file");
  if (g_utf8_validate (path, -1, NULL))
    json_builder_add_string_value (b, path);
  else
    {
      /* A name that is not UTF-8 would make the line not JSON: "file" shows it with U+FFFD
       * for each bad byte, "file_base64" holds its exact bytes (see README). */
      g_autofree char *shown = g_utf8_make_valid (path, -1);
      g_autofree char *raw = g_base64_encode ((const guchar *) path, strlen (path));

      json_builder_add_string_value (b, shown);
      json_builder_set_member_name (b, "file_base64");
      json_builder_add_string_value (b, raw);
    }
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, frame->sha256);
  json_builder_set_member_name (b, "duplicate");
  json_builder_add_boolean_value (b, duplicate);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  gemba_cli_print_json (root);
}

typedef struct
{
  GembaFrame *frame;
  char *path;
  gboolean duplicate;
} Stored;

static void
stored_clear (gpointer data)
{
  Stored *stored = data;

  gemba_frame_free (stored->frame);
  g_free (stored->path);
}

typedef struct
{
  gint64 imported;
  gint64 duplicates;
  gint64 failed;
  gint64 not_stored;   /* read, but not stored because the disk is full */
} Counts;

/* Commits the open batch; only then are its frames reported. A full disk is not reported
 * here but sets @disk_full: the import stops and says so once. */
static void
flush_batch (GembaStore *store, GArray *pending, Counts *counts, gboolean quiet, gboolean json,
             gboolean *disk_full)
{
  g_autoptr(GError) error = NULL;

  if (!gemba_store_commit_batch (store, &error))
    {
      if (g_error_matches (error, GEMBA_ERROR, GEMBA_ERROR_NO_SPACE))
        {
          *disk_full = TRUE;
          counts->not_stored += pending->len;
        }
      else
        {
          gemba_cli_error ("%s", error->message);
          counts->failed += pending->len;
        }
    }
  else
    for (guint i = 0; i < pending->len; i++)
      {
        Stored *stored = &g_array_index (pending, Stored, i);
        if (stored->duplicate)
          {
            counts->duplicates++;
            if (!quiet)
              g_printerr (_("gemba: %s: same content as frame %.12s, already in the project; "
                            "not stored again\n"), stored->path, stored->frame->sha256);
          }
        else
          counts->imported++;
        if (json)
          emit_frame_json (stored->frame, stored->path, stored->duplicate);
      }
  for (guint i = 0; i < pending->len; i++)
    stored_clear (&g_array_index (pending, Stored, i));
  g_array_set_size (pending, 0);
}

int
gemba_cli_import (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) jobs = g_ptr_array_new ();
  g_autoptr(GPtrArray) walk_errors = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) pending = g_array_new (FALSE, TRUE, sizeof (Stored));
  g_autoptr(GembaCliProgress) progress = NULL;
  g_autofree char *source = NULL, *label = NULL, *layout = NULL;
  GCancellable *cancellable;
  ImportPool pool;
  GThreadPool *threads;
  gboolean quiet = FALSE, json = FALSE, in_batch = FALSE;
  guint n_other = 0, next = 0, in_flight = 0, window;
  gint64 batch_started = 0;
  Counts counts = { 0 };
  gint64 started = g_get_monotonic_time ();
  int every = 0;
  double fps = 0, scene_change = -1;
  gboolean lossless = FALSE, interrupted = FALSE, disk_full = FALSE;
  const GOptionEntry entries[] = {
    { "source", 's', 0, G_OPTION_ARG_STRING, &source,
      N_("Name of the source the frames come from (default: the folder’s name)"), N_("NAME") },
    { "label", 'l', 0, G_OPTION_ARG_STRING, &label, N_("Label every imported frame CLASS"),
      N_("CLASS") },
    { "layout", 0, 0, G_OPTION_ARG_STRING, &layout,
      N_("auto (default): a folder of class folders is an ImageFolder layout; flat: never"),
      N_("LAYOUT") },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress bar"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("One JSON line per stored frame, printed once it is safely saved"), NULL },
    { "every", 0, 0, G_OPTION_ARG_INT, &every, N_("Videos: keep every N-th frame"), N_("N") },
    { "fps", 0, 0, G_OPTION_ARG_DOUBLE, &fps, N_("Videos: keep F frames per second of video"),
      N_("F") },
    { "scene-change", 0, 0, G_OPTION_ARG_DOUBLE, &scene_change,
      N_("Videos: keep a frame when it differs from the last kept one by at least T (0–1)"),
      N_("T") },
    { "lossless", 0, 0, G_OPTION_ARG_NONE, &lossless,
      N_("Videos: store frames as PNG instead of JPEG quality 95"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT PATH…",
                        N_("Import image files (JPEG, PNG, BMP, TIFF, WebP) and folders, "
                           "recursively. A folder whose sub-folders hold the images "
                           "(sorted/ok/*.jpg, sorted/dent/*.png) is an ImageFolder layout: each "
                           "frame is labeled with its sub-folder’s name, and missing classes "
                           "are created. Frames already in the project are reported and not "
                           "stored twice.")))
    return GEMBA_EXIT_USAGE;
  if (argc < 3)
    return gemba_cli_usage (argv[0], _("give the project and at least one file or folder"));
  if (layout && !g_str_equal (layout, "auto") && !g_str_equal (layout, "flat"))
    return gemba_cli_usage (argv[0], _("“%s” is not a layout: use auto or flat"), layout);
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !gemba_store_check_writable (store, &error))
    return gemba_cli_fail (error);
  if (label)
    {
      g_autoptr(GembaClass) klass = gemba_store_find_class (store, label, &error);
      if (!klass)
        return gemba_cli_fail (error);
    }

  for (int i = 2; i < argc; i++)
    {
      const char *path = argv[i];
#ifdef GEMBA_HAVE_MEDIA
      /* Videos go through GStreamer (gemba-cli-media.c), one after the other. */
      if (!interrupted && !g_file_test (path, G_FILE_TEST_IS_DIR) &&
          (gemba_cli_is_video_path (path) || every > 0 || fps > 0 || scene_change >= 0))
        {
          GembaCliVideoOptions video = { every, fps, scene_change, lossless, source, quiet,
                                         json };
          int status = gemba_cli_import_video (store, path, &video, &counts.imported,
                                               &counts.duplicates);
          if (status == GEMBA_EXIT_USAGE)
            return status;
          interrupted = status == 130;
          counts.failed += status == GEMBA_EXIT_FAILED;
          continue;
        }
#else
      if (every > 0 || fps > 0 || scene_change >= 0 || lossless)
        return gemba_cli_usage (argv[0], _("this gemba was built without video support"));
#endif
      if (interrupted)
        break;
      /* A spool of the gembaclassify element (gemba-cli-spool.c). */
      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !label && gemba_cli_is_spool (path))
        {
          int status = gemba_cli_import_spool (store, path, quiet, json, &counts.imported,
                                               &counts.duplicates, &counts.failed);
          interrupted = status == 130;
          continue;
        }
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          g_autofree char *canonical = g_canonicalize_filename (path, NULL);
          g_autofree char *base = g_path_get_basename (canonical);
          const char *source_name = source ? source : base;

          if (!label && (!layout || g_str_equal (layout, "auto")) &&
              is_image_folder_layout (path))
            {
              g_autoptr(GDir) handle = g_dir_open (path, 0, NULL);
              g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
              const char *name;
              while (handle && (name = g_dir_read_name (handle)))
                if (name[0] != '.')
                  g_ptr_array_add (names, g_strdup (name));
              g_ptr_array_sort (names, compare_names);
              for (guint j = 0; j < names->len; j++)
                {
                  g_autofree char *sub = g_build_filename (path, names->pdata[j], NULL);
                  if (g_file_test (sub, G_FILE_TEST_IS_DIR))
                    walk (sub, names->pdata[j], source_name, jobs, &n_other, walk_errors);
                  else
                    n_other++;
                }
            }
          else
            walk (path, label, source_name, jobs, &n_other, walk_errors);
        }
      else
        {
          ImportJob *job = g_new0 (ImportJob, 1);
          g_autofree char *canonical = g_canonicalize_filename (path, NULL);
          g_autofree char *dir = g_path_get_dirname (canonical);
          job->path = g_strdup (path);
          job->label = g_strdup (label);
          job->source = source ? g_strdup (source) : g_path_get_basename (dir);
          job->explicit = TRUE;
          g_ptr_array_add (jobs, job);
        }
    }
  for (guint i = 0; i < walk_errors->len; i++)
    {
      gemba_cli_error ("%s", (char *) walk_errors->pdata[i]);
      counts.failed++;
    }

  cancellable = gemba_cli_interrupt_cancellable ();
  progress = gemba_cli_progress_new (_("Importing"), jobs->len, quiet || jobs->len < 50);
  pool.done = g_async_queue_new ();
  window = 4 * g_get_num_processors () + 8;
  threads = g_thread_pool_new (probe_job, &pool, g_get_num_processors (), FALSE, NULL);

  while (next < jobs->len || in_flight > 0)
    {
      g_autoptr(ImportJob) job = NULL;
      g_autoptr(GembaFrame) frame = NULL;
      g_autoptr(GError) local = NULL;
      gboolean duplicate = FALSE;
      GembaFrameInfo info;

      while (next < jobs->len && in_flight < window && !disk_full &&
             !g_cancellable_is_cancelled (cancellable))
        {
          g_thread_pool_push (threads, jobs->pdata[next++], NULL);
          in_flight++;
        }
      if (in_flight == 0)
        break;
      job = g_async_queue_pop (pool.done);
      in_flight--;

      /* The disk is full: the files still being read are not stored. */
      if (disk_full)
        {
          counts.not_stored++;
          continue;
        }
      if (job->error)
        {
          gemba_cli_error ("%s", job->error->message);
          counts.failed++;
          continue;
        }

      if (!in_batch)
        {
          if (!gemba_store_begin_batch (store, &local))
            {
              if (g_error_matches (local, GEMBA_ERROR, GEMBA_ERROR_NO_SPACE))
                {
                  disk_full = TRUE;
                  counts.not_stored++;
                  continue;
                }
              gemba_cli_error ("%s", local->message);
              counts.failed++;
              continue;
            }
          in_batch = TRUE;
          batch_started = g_get_monotonic_time ();
        }

      gemba_frame_info_init (&info);
      info.source_name = job->source;
      info.source_kind = "folder";
      info.captured_at = job->mtime;
      info.original_name = job->path;
      info.label_class = job->label;
      frame = gemba_store_add_frame (store, job->bytes, gemba_image_format_extension (job->format),
                                     job->width, job->height, &info, &duplicate, &local);
      if (!frame && g_error_matches (local, GEMBA_ERROR, GEMBA_ERROR_NO_SPACE))
        {
          /* Stop at once; the frames stored so far are committed below. */
          disk_full = TRUE;
          counts.not_stored++;
        }
      else if (!frame)
        {
          gemba_cli_error ("%s: %s", job->path, local->message);
          counts.failed++;
        }
      else
        {
          Stored stored = { g_steal_pointer (&frame), g_strdup (job->path), duplicate };
          g_array_append_val (pending, stored);
        }

      if (in_batch && (pending->len >= BATCH_FRAMES || in_flight == 0 || disk_full ||
                       g_get_monotonic_time () - batch_started > BATCH_USEC))
        {
          in_batch = FALSE;
          flush_batch (store, pending, &counts, quiet, json, &disk_full);
        }
      gemba_cli_progress_update (progress, counts.imported + counts.duplicates + counts.failed, NULL);
    }
  if (in_batch)
    flush_batch (store, pending, &counts, quiet, json, &disk_full);
  g_thread_pool_free (threads, FALSE, TRUE);
  g_async_queue_unref (pool.done);
  for (guint i = next; i < jobs->len; i++)
    import_job_free (jobs->pdata[i]);
  g_clear_pointer (&progress, gemba_cli_progress_free);

  {
    double seconds = (g_get_monotonic_time () - started) / (double) G_USEC_PER_SEC;
    g_autoptr(GString) summary = g_string_new (NULL);
    g_string_append_printf (summary,
                            g_dngettext (GETTEXT_PACKAGE, "Imported %" PRId64 " frame",
                                         "Imported %" PRId64 " frames", counts.imported),
                            counts.imported);
    g_string_append_printf (summary, _(" in %.1f s (%.0f frames/s)"), seconds,
                            seconds > 0 ? counts.imported / seconds : 0.0);
    if (counts.duplicates)
      g_string_append_printf (summary, _("; %" PRId64 " duplicates skipped"),
                              counts.duplicates);
    if (n_other)
      g_string_append_printf (summary, _("; %u files that are not images left alone"), n_other);
    if (counts.failed)
      g_string_append_printf (summary, _("; %" PRId64 " FAILED (see above)"), counts.failed);
    if (next < jobs->len || counts.not_stored)
      g_string_append_printf (summary, _("; stopped before %u files"),
                              (guint) (jobs->len - next + counts.not_stored));
    if (!quiet || counts.failed)
      g_printerr ("%s.\n", summary->str);
  }

  g_clear_pointer (&visited_dirs, g_hash_table_unref);
  if (disk_full)
    {
      g_autoptr(GError) full = NULL;
      gemba_set_disk_full_error (&full, gemba_store_get_path (store), counts.imported);
      gemba_cli_error ("%s", full->message);
      return GEMBA_EXIT_FAILED;
    }
  if (next < jobs->len || interrupted)
    return 130;
  return counts.failed ? GEMBA_EXIT_FAILED : GEMBA_EXIT_OK;
}
