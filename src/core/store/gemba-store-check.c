/* gemba-store-check.c: a project's health, and cleaning what crashed writers left behind
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-store"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "gemba-error.h"
#include "gemba-store-check.h"
#include "gemba-store-private.h"
#include "gemba-util-private.h"

/* --- The owner lock --------------------------------------------------------------------- */

/* A team project's owner lock is a session advisory lock on the server: a flock in a shared
 * folder does not see the other PCs. TRUE when @sql's one value is true. */
static gboolean
server_lock (GembaStore *self, const char *sql)
{
  g_autoptr(GembaStmt) stmt = _gemba_store_prepare (self, sql, NULL);

  return stmt && gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW &&
         gemba_db_column_int64 (stmt, 0) != 0;
}

#define SERVER_OWNER_KEY "1195724099"  /* "GEMC": not the write lock's key */
#define SERVER_LOCK_SH "SELECT 1 FROM (SELECT pg_advisory_lock_shared(" SERVER_OWNER_KEY ")) s"
#define SERVER_UNLOCK_SH "SELECT pg_advisory_unlock_shared(" SERVER_OWNER_KEY ")"
#define SERVER_TRY_EX "SELECT pg_try_advisory_lock(" SERVER_OWNER_KEY ")"
#define SERVER_UNLOCK_EX "SELECT pg_advisory_unlock(" SERVER_OWNER_KEY ")"

/* As flock() on the owner file, for a store that holds the shared lock: LOCK_EX | LOCK_NB
 * trades it for the exclusive one if nobody else holds it; LOCK_SH trades back. */
static gboolean
server_owner_lock (GembaStore *self, int operation)
{
  if (self->read_only)
    return FALSE;
  if (operation & LOCK_EX)
    {
      server_lock (self, SERVER_UNLOCK_SH);
      if (server_lock (self, SERVER_TRY_EX))
        return TRUE;
      server_lock (self, SERVER_LOCK_SH);
      return FALSE;
    }
  server_lock (self, SERVER_LOCK_SH);
  server_lock (self, SERVER_UNLOCK_EX);
  return TRUE;
}

static gboolean
owner_lock (GembaStore *self, int operation)
{
  int rc;

  if (_gemba_store_is_server (self))
    return server_owner_lock (self, operation);
  if (self->owner_fd < 0)
    return FALSE;
  while ((rc = flock (self->owner_fd, operation)) != 0 && errno == EINTR)
    ;
  return rc == 0;
}

/* Leftovers of a model save in models/: ".staging-XXXXXX" folders of gemba_workflow_train()
 * and the ".NAME.tmp-XXXXXX" folders gemba_model_save() writes before its rename. */
static void
list_model_leftovers (GembaStore *self, GPtrArray *out)
{
  g_autofree char *models = g_build_filename (self->path, "models", NULL);
  g_autoptr(GDir) dir = g_dir_open (models, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name (dir)))
    if (g_str_has_prefix (name, ".staging-") ||
        (name[0] == '.' && strstr (name, ".tmp-") != NULL))
      g_ptr_array_add (out, g_build_filename (models, name, NULL));
}

static gint64
mark_runs_interrupted (GembaStore *self, gboolean mark, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gint64 n = -1;

  _gemba_store_lock (self);
  if (mark)
    stmt = _gemba_store_prepare (self, "UPDATE runs SET status = 'interrupted', "
                                       "finished_at = ?, log = COALESCE(log, ?) "
                                       "WHERE status = 'running'", error);
  else
    stmt = _gemba_store_prepare (self, "SELECT count(*) FROM runs WHERE status = 'running'",
                                 error);
  if (stmt)
    {
      if (mark)
        {
          gemba_db_bind_int64 (stmt, 1, _gemba_store_now ());
          _gemba_store_bind_text (stmt, 2, _("The process that ran the training ended before "
                                             "the run finished."));
        }
      switch (gemba_db_step (stmt, NULL))
        {
        case GEMBA_DB_STEP_DONE:
          n = gemba_db_changes (self->conn);
          break;
        case GEMBA_DB_STEP_ROW:
          n = gemba_db_column_int64 (stmt, 0);
          break;
        default:
          _gemba_store_fail (self, error, _("could not read the training runs"));
        }
    }
  _gemba_store_unlock (self);
  return n;
}

/* Alone with the project: what a writer left there was left by a process that is gone. The
 * cheap part only; the frames folder is compared with its rows by gemba_store_check(). */
static void
clean_at_open (GembaStore *self)
{
  g_autoptr(GPtrArray) leftovers = g_ptr_array_new_with_free_func (g_free);
  gint64 runs;

  list_model_leftovers (self, leftovers);
  for (guint i = 0; i < leftovers->len; i++)
    {
      g_info ("%s: removing what an interrupted training left", (char *) leftovers->pdata[i]);
      _gemba_remove_tree (leftovers->pdata[i]);
    }
  runs = mark_runs_interrupted (self, TRUE, NULL);
  self->n_cleaned_at_open = leftovers->len + MAX (runs, 0);
}

static void
take_server_owner (GembaStore *self)
{
  if (server_lock (self, SERVER_TRY_EX))
    {
      clean_at_open (self);
      server_lock (self, SERVER_LOCK_SH);
      server_lock (self, SERVER_UNLOCK_EX);
    }
  else
    server_lock (self, SERVER_LOCK_SH);
}

void
_gemba_store_take_owner (GembaStore *self)
{
  g_autofree char *path = g_build_filename (self->path, GEMBA_STORE_OWNER_NAME, NULL);

  if (_gemba_store_is_server (self))
    {
      take_server_owner (self);
      return;
    }
  self->owner_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (self->owner_fd < 0)
    {
      g_debug ("%s: cannot open the owner file: %s", path, g_strerror (errno));
      return;
    }
  if (owner_lock (self, LOCK_EX | LOCK_NB))
    clean_at_open (self);
  /* Converts the exclusive lock, or waits for a process that is cleaning up to finish. */
  owner_lock (self, LOCK_SH);
}

void
_gemba_store_retake_owner (GembaStore *self)
{
  if (_gemba_store_is_server (self))
    server_lock (self, SERVER_LOCK_SH);
}

void
_gemba_store_drop_owner (GembaStore *self)
{
  if (self->owner_fd >= 0)
    close (self->owner_fd);
  self->owner_fd = -1;
}

/* --- gemba check ------------------------------------------------------------------------ */

static gboolean
is_frame_name (const char *name)
{
  int i;

  for (i = 0; i < 64; i++)
    if (!g_ascii_isxdigit (name[i]))
      return FALSE;
  return name[64] == '.' && name[65] != '\0';
}

static gboolean
read_integrity (GembaStore *self, GembaStoreCheck *check, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  g_autoptr(GString) text = g_string_new (NULL);
  int rc = GEMBA_DB_STEP_ERROR;

  _gemba_store_lock (self);
  /* On a server its pages are the server's to check; what its schema cannot say is checked
   * here: each frame's current label is one of its own labels. */
  if ((stmt = _gemba_store_prepare (self, _gemba_store_is_server (self)
                                    ? "SELECT 'frame ' || f.id || ' names label ' || f.label_id"
                                      " || ', which is not one of its labels' FROM frames f"
                                      " LEFT JOIN labels l ON l.id = f.label_id"
                                      " WHERE f.label_id IS NOT NULL"
                                      " AND (l.id IS NULL OR l.frame_id != f.id) LIMIT 20"
                                    : "PRAGMA integrity_check(20)", error)))
    while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
      g_string_append_printf (text, "%s%s", text->len ? "\n" : "",
                              gemba_db_column_text (stmt, 0));
  if (stmt && rc != GEMBA_DB_STEP_DONE)
    _gemba_store_fail (self, error, _("could not check the database"));
  _gemba_store_unlock (self);
  if (rc != GEMBA_DB_STEP_DONE)
    return FALSE;
  if (text->len == 0)
    g_string_assign (text, "ok");
  check->integrity = g_string_free (g_steal_pointer (&text), FALSE);
  return TRUE;
}

/* Frames rows whose file is missing; returns the set of file names the rows reference. */
static GHashTable *
read_frame_rows (GembaStore *self, GembaStoreCheck *check, GCancellable *cancellable,
                 GError **error)
{
  g_autoptr(GHashTable) names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GembaStmt) stmt = NULL;
  int rc = GEMBA_DB_STEP_ERROR;

  _gemba_store_lock (self);
  if ((stmt = _gemba_store_prepare (self, "SELECT sha256, ext FROM frames ORDER BY id", error)))
    while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
      {
        const char *sha256 = gemba_db_column_text (stmt, 0);
        GembaFrame frame = { .ext = (char *) gemba_db_column_text (stmt, 1) };
        char *path;

        if (!sha256 || strlen (sha256) != 64 || !frame.ext)
          continue;
        memcpy (frame.sha256, sha256, sizeof frame.sha256);
        path = gemba_store_dup_frame_path (self, &frame);
        if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
          g_ptr_array_add (check->missing_files, g_strdup (path));
        g_hash_table_add (names, g_path_get_basename (path));
        g_free (path);
        if (g_cancellable_is_cancelled (cancellable))
          break;
      }
  if (stmt && rc != GEMBA_DB_STEP_DONE && rc != GEMBA_DB_STEP_ROW)
    _gemba_store_fail (self, error, _("could not read the frames"));
  _gemba_store_unlock (self);
  if (g_cancellable_set_error_if_cancelled (cancellable, error) ||
      (rc != GEMBA_DB_STEP_DONE && rc != GEMBA_DB_STEP_ROW))
    return NULL;
  return g_steal_pointer (&names);
}

/* Files in frames/XX/ that no row references, and temporary frame files. */
static gboolean
scan_frames_folder (GembaStore *self, GHashTable *names, GembaStoreCheck *check,
                    GCancellable *cancellable, GError **error)
{
  g_autofree char *frames = g_build_filename (self->path, "frames", NULL);
  g_autoptr(GDir) dir = g_dir_open (frames, 0, NULL);
  const char *sub;

  while (dir && (sub = g_dir_read_name (dir)))
    {
      g_autofree char *subdir = g_build_filename (frames, sub, NULL);
      g_autoptr(GDir) inner = NULL;
      const char *name;

      if (strlen (sub) != 2 || !(inner = g_dir_open (subdir, 0, NULL)))
        continue;
      while ((name = g_dir_read_name (inner)))
        {
          if (strstr (name, ".tmp-"))
            g_ptr_array_add (check->leftovers, g_build_filename (subdir, name, NULL));
          else if (is_frame_name (name) && !g_hash_table_contains (names, name))
            g_ptr_array_add (check->orphan_files, g_build_filename (subdir, name, NULL));
        }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
    }
  return TRUE;
}

static void
remove_all (GPtrArray *paths)
{
  for (guint i = 0; i < paths->len; i++)
    _gemba_remove_tree (paths->pdata[i]);
}

GembaStoreCheck *
gemba_store_check (GembaStore *self, gboolean repair, GCancellable *cancellable,
                   GError **error)
{
  g_autoptr(GembaStoreCheck) check = g_new0 (GembaStoreCheck, 1);
  g_autoptr(GHashTable) names = NULL;
  GError *local = NULL;
  gboolean exclusive;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  if (repair && self->read_only)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_READ_ONLY,
                   _("%s: the project is read-only; nothing can be repaired"), self->path);
      return NULL;
    }
  check->missing_files = g_ptr_array_new_with_free_func (g_free);
  check->orphan_files = g_ptr_array_new_with_free_func (g_free);
  check->leftovers = g_ptr_array_new_with_free_func (g_free);
  check->n_cleaned_at_open = self->n_cleaned_at_open;

  /* Exclusive for the whole repair: no process can open the project and start writing while
   * its files are compared with the rows. */
  exclusive = owner_lock (self, LOCK_EX | LOCK_NB);
  check->in_use = !exclusive && !self->read_only;
  if (exclusive && !repair)
    owner_lock (self, LOCK_SH);

  if (!read_integrity (self, check, &local) ||
      !(names = read_frame_rows (self, check, cancellable, &local)) ||
      !scan_frames_folder (self, names, check, cancellable, &local))
    goto out;
  list_model_leftovers (self, check->leftovers);
  if ((check->n_interrupted_runs = mark_runs_interrupted (self, FALSE, &local)) < 0)
    goto out;

  if (repair && exclusive)
    {
      remove_all (check->orphan_files);
      remove_all (check->leftovers);
      if (mark_runs_interrupted (self, TRUE, &local) < 0)
        goto out;
      check->repaired = TRUE;
    }

out:
  if (exclusive && repair)
    owner_lock (self, LOCK_SH);
  if (local)
    {
      g_propagate_error (error, local);
      return NULL;
    }
  return g_steal_pointer (&check);
}

gboolean
gemba_store_check_is_healthy (const GembaStoreCheck *check)
{
  g_return_val_if_fail (check != NULL, FALSE);

  if (g_strcmp0 (check->integrity, "ok") != 0 || check->missing_files->len > 0)
    return FALSE;
  /* What another process may still be writing is not judged; what was removed is gone. */
  if (check->in_use || check->repaired)
    return TRUE;
  return check->orphan_files->len == 0 && check->leftovers->len == 0 &&
         check->n_interrupted_runs == 0;
}

void
gemba_store_check_free (GembaStoreCheck *check)
{
  if (!check)
    return;
  g_free (check->integrity);
  g_clear_pointer (&check->missing_files, g_ptr_array_unref);
  g_clear_pointer (&check->orphan_files, g_ptr_array_unref);
  g_clear_pointer (&check->leftovers, g_ptr_array_unref);
  g_free (check);
}
