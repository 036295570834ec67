/* gemba-store.c: a Gemba project — its folder and its SQLite database
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-store"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "gemba-error.h"
#include "gemba-image.h"
#include "gemba-sha256-private.h"
#include "gemba-store-private.h"

#define APPLICATION_ID 0x47454d42 /* "GEMB" */

G_DEFINE_FINAL_TYPE (GembaStore, gemba_store, G_TYPE_OBJECT)

static const char *palette[] = {
  "#2ec27e", "#e01b24", "#ff7800", "#3584e4", "#9141ac",
  "#f6d32d", "#986a44", "#00b5ad", "#c061cb", "#77767b",
};

/* Version 1: the whole data model of DESIGN.md. Later versions add a function below and a
 * case in migrate(); never edit a released step. */
static const char schema_v1[] =
  "CREATE TABLE settings ("
  "  key TEXT PRIMARY KEY,"
  "  value TEXT NOT NULL);"
  "CREATE TABLE sources ("
  "  id INTEGER PRIMARY KEY,"
  "  name TEXT NOT NULL UNIQUE,"
  "  kind TEXT NOT NULL,"
  "  uri TEXT,"
  "  created_at INTEGER NOT NULL);"
  "CREATE TABLE classes ("
  "  id INTEGER PRIMARY KEY,"
  "  name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),"
  "  color TEXT NOT NULL,"
  "  key INTEGER UNIQUE CHECK (key BETWEEN 0 AND 9),"
  "  position INTEGER NOT NULL,"
  "  retired INTEGER NOT NULL DEFAULT 0,"
  "  created_at INTEGER NOT NULL);"
  "CREATE TABLE frames ("
  "  id INTEGER PRIMARY KEY,"
  "  sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),"
  "  ext TEXT NOT NULL,"
  "  width INTEGER NOT NULL,"
  "  height INTEGER NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  source_id INTEGER REFERENCES sources(id),"
  "  captured_at INTEGER NOT NULL,"
  "  imported_at INTEGER NOT NULL,"
  "  stream_time INTEGER,"
  "  frame_number INTEGER,"
  "  original_name TEXT,"
  "  split INTEGER NOT NULL DEFAULT 0 CHECK (split BETWEEN 0 AND 3),"
  "  label_id INTEGER REFERENCES labels(id));"
  "CREATE INDEX frames_captured ON frames(captured_at, id);"
  "CREATE INDEX frames_source ON frames(source_id);"
  "CREATE INDEX frames_split ON frames(split);"
  "CREATE TABLE labels ("
  "  id INTEGER PRIMARY KEY,"
  "  frame_id INTEGER NOT NULL REFERENCES frames(id),"
  "  class_id INTEGER REFERENCES classes(id),"
  "  previous_class_id INTEGER REFERENCES classes(id),"
  "  kind TEXT NOT NULL,"
  "  author TEXT NOT NULL,"
  "  created_at INTEGER NOT NULL,"
  "  refers_to INTEGER REFERENCES labels(id));"
  "CREATE INDEX labels_frame ON labels(frame_id, id);"
  "CREATE INDEX labels_author ON labels(author, id);"
  "CREATE INDEX labels_refers ON labels(refers_to);"
  /* The test split is locked: a frame that is in it stays in it. */
  "CREATE TRIGGER test_split_locked BEFORE UPDATE OF split ON frames "
  "  WHEN OLD.split = 3 AND NEW.split != 3 "
  "  BEGIN SELECT RAISE(ABORT, 'the test split is locked'); END;"
  "CREATE TABLE models ("
  "  id INTEGER PRIMARY KEY,"
  "  name TEXT NOT NULL,"
  "  parent_id INTEGER REFERENCES models(id),"
  "  created_at INTEGER NOT NULL,"
  "  author TEXT NOT NULL,"
  "  architecture TEXT NOT NULL,"
  "  classes TEXT NOT NULL,"
  "  settings TEXT NOT NULL,"
  "  seed INTEGER NOT NULL,"
  "  dataset_revision INTEGER NOT NULL,"
  "  n_train INTEGER NOT NULL DEFAULT 0,"
  "  n_val INTEGER NOT NULL DEFAULT 0,"
  "  n_test INTEGER NOT NULL DEFAULT 0,"
  "  metrics TEXT,"
  "  test_accuracy REAL,"
  "  duration REAL,"
  "  weights_sha256 TEXT);"
  "CREATE TABLE predictions ("
  "  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
  "  frame_id INTEGER NOT NULL REFERENCES frames(id) ON DELETE CASCADE,"
  "  class_id INTEGER REFERENCES classes(id),"
  "  confidence REAL NOT NULL,"
  "  probabilities BLOB NOT NULL,"
  "  created_at INTEGER NOT NULL,"
  "  PRIMARY KEY (model_id, frame_id)) WITHOUT ROWID;"
  "CREATE TABLE runs ("
  "  id INTEGER PRIMARY KEY,"
  "  model_id INTEGER REFERENCES models(id),"
  "  parent_id INTEGER REFERENCES models(id),"
  "  author TEXT NOT NULL,"
  "  started_at INTEGER NOT NULL,"
  "  finished_at INTEGER,"
  "  status TEXT NOT NULL,"
  "  settings TEXT,"
  "  log TEXT);"
  "CREATE TABLE audit ("
  "  id INTEGER PRIMARY KEY,"
  "  at INTEGER NOT NULL,"
  "  author TEXT NOT NULL,"
  "  action TEXT NOT NULL,"
  "  subject TEXT,"
  "  detail TEXT);"
  "INSERT INTO settings (key, value) VALUES ('revision', '0');";

/* Version 2: a label records the production model's verdict the person saw, and whether it
 * corrected it. Labels given before version 2 are not corrections: nothing says what the
 * person saw. */
static const char schema_v2[] =
  "ALTER TABLE labels ADD COLUMN model_id INTEGER;"
  "ALTER TABLE labels ADD COLUMN model_class_id INTEGER REFERENCES classes(id);"
  "ALTER TABLE labels ADD COLUMN correction INTEGER NOT NULL DEFAULT 0;";

/* Version 3: a frame a line spooled records the signed package that classified it, so the
 * workbench can show a line's frames by package version. */
static const char schema_v3[] =
  "CREATE TABLE packages ("
  "  id INTEGER PRIMARY KEY,"
  "  sha256 TEXT NOT NULL UNIQUE,"
  "  name TEXT NOT NULL,"
  "  version TEXT NOT NULL,"
  "  created_at INTEGER NOT NULL);"
  "ALTER TABLE frames ADD COLUMN package_id INTEGER REFERENCES packages(id);"
  "CREATE INDEX frames_package ON frames(package_id);";

/* Version 4: review-queue leases (gemba-store-leases.c). A lease is transient: the frame
 * whose lease it is, who holds it and until when (µs); labeling the frame ends it. */
static const char schema_v4[] =
  "CREATE TABLE leases ("
  "  frame_id INTEGER PRIMARY KEY REFERENCES frames(id) ON DELETE CASCADE,"
  "  holder TEXT NOT NULL,"
  "  claimed_at INTEGER NOT NULL,"
  "  expires_at INTEGER NOT NULL);"
  "CREATE INDEX leases_holder ON leases(holder);"
  "CREATE INDEX leases_expires ON leases(expires_at);";

/* --- Helpers -------------------------------------------------------------------------- */

gint64
_gemba_store_now (void)
{
  return g_get_real_time ();
}

void
_gemba_store_lock (GembaStore *self)
{
  g_rec_mutex_lock (&self->lock);
}

void
_gemba_store_unlock (GembaStore *self)
{
  g_rec_mutex_unlock (&self->lock);
}

static void
set_read_only_error (GembaStore *self, GError **error)
{
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_READ_ONLY, _("the project is read-only (%s)"),
               self->path);
}

gboolean
gemba_store_is_read_only (GembaStore *self)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  return self->read_only;
}

gboolean
gemba_store_check_writable (GembaStore *self, GError **error)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  if (!self->read_only)
    return TRUE;
  set_read_only_error (self, error);
  return FALSE;
}

gboolean
_gemba_store_is_server (GembaStore *self)
{
  return gemba_db_get_backend (self->conn) == GEMBA_DB_POSTGRESQL;
}

gboolean
gemba_store_is_connected (GembaStore *self)
{
  gboolean connected;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  _gemba_store_lock (self);
  connected = gemba_db_is_connected (self->conn);
  _gemba_store_unlock (self);
  return connected;
}

gboolean
gemba_store_check_connection (GembaStore *self, GError **error)
{
  gboolean ok = TRUE;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  if (!_gemba_store_is_server (self))
    return TRUE;
  _gemba_store_lock (self);
  /* A statement outside a transaction reconnects a lost connection by itself; inside a lost
   * one it fails until the batch is rolled back. */
  if (self->batch_depth == 0 || !gemba_db_is_connected (self->conn))
    ok = gemba_db_exec (self->conn, "SELECT 1", error);
  _gemba_store_unlock (self);
  return ok;
}

gboolean
_gemba_store_fail (GembaStore *self, GError **error, const char *doing)
{
  sqlite3 *lite = gemba_db_get_sqlite (self->conn);
  int code = lite ? sqlite3_extended_errcode (lite) : SQLITE_OK;
  GembaError gcode = GEMBA_ERROR_FAILED;

  if (!lite)
    {
      /* A server: its constraint violations are bad input, as SQLite's are. */
      gcode = gemba_db_errcode (self->conn);
      g_set_error (error, GEMBA_ERROR,
                   gcode == GEMBA_ERROR_LOCKED ? GEMBA_ERROR_INVALID : gcode, _("%s: %s (%s)"),
                   self->db_path, doing, gemba_db_errmsg (self->conn));
      return FALSE;
    }

  if ((code & 0xff) == SQLITE_READONLY)
    {
      set_read_only_error (self, error);
      return FALSE;
    }
  switch (code & 0xff)
    {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: %s: the project database is damaged (%s); run “gemba check %s” to see "
                     "what is damaged, or restore it from a backup"),
                   self->db_path, doing, sqlite3_errmsg (lite), self->path);
      return FALSE;
    case SQLITE_CONSTRAINT:
      gcode = GEMBA_ERROR_INVALID;
      break;
    case SQLITE_FULL:
      gcode = GEMBA_ERROR_NO_SPACE;
      break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      gcode = GEMBA_ERROR_IO;
      break;
    default:
      break;
    }
  g_set_error (error, GEMBA_ERROR, gcode, _("%s: %s (%s)"),
               self->db_path, doing, sqlite3_errmsg (lite));
  return FALSE;
}

GembaStmt *
_gemba_store_prepare (GembaStore *self, const char *sql, GError **error)
{
  GembaStmt *stmt = gemba_db_prepare (self->conn, sql, NULL);

  if (!stmt)
    _gemba_store_fail (self, error, _("could not read the project database"));
  return stmt;
}

static void
finalize_stmt (gpointer stmt)
{
  gemba_db_stmt_free (stmt);
}

GembaCachedStmt
_gemba_store_take_cached (GembaStore *self, const char *sql, GError **error)
{
  GembaCachedStmt cached = { self, NULL };
  gpointer key;

  _gemba_store_lock (self);
  if (!self->cached ||
      !g_hash_table_steal_extended (self->cached, sql, &key, (gpointer *) &cached.stmt))
    cached.stmt = _gemba_store_prepare (self, sql, error);
  _gemba_store_unlock (self);
  return cached;
}

void
_gemba_store_give_back (GembaCachedStmt *cached)
{
  GembaStore *self = cached->store;
  GembaStmt *stmt = g_steal_pointer (&cached->stmt);

  if (!stmt)
    return;
  _gemba_store_lock (self);
  /* Reset at once: a statement left on a row would keep a read transaction open. */
  gemba_db_reset (stmt);
  gemba_db_clear_bindings (stmt);
  if (!self->cached)
    self->cached = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, finalize_stmt);
  if (g_hash_table_contains (self->cached, gemba_db_stmt_get_sql (stmt)))
    gemba_db_stmt_free (stmt);
  else
    g_hash_table_insert (self->cached, (gpointer) gemba_db_stmt_get_sql (stmt), stmt);
  _gemba_store_unlock (self);
}

gboolean
_gemba_store_exec (GembaStore *self, const char *sql, GError **error)
{
  sqlite3 *lite = gemba_db_get_sqlite (self->conn);
  char *msg = NULL;

  if (!lite)
    return gemba_db_exec (self->conn, sql, error);
  if (sqlite3_exec (lite, sql, NULL, NULL, &msg) != SQLITE_OK)
    {
      int code = sqlite3_errcode (lite);

      if ((code & 0xff) == SQLITE_READONLY)
        {
          sqlite3_free (msg);
          set_read_only_error (self, error);
          return FALSE;
        }
      g_set_error (error, GEMBA_ERROR,
                   code == SQLITE_CORRUPT ? GEMBA_ERROR_CORRUPT
                   : code == SQLITE_FULL  ? GEMBA_ERROR_NO_SPACE
                                          : GEMBA_ERROR_FAILED,
                   _("%s: %s"), self->db_path, msg ? msg : sqlite3_errmsg (lite));
      sqlite3_free (msg);
      return FALSE;
    }
  return TRUE;
}

/* Flushes every frame file written in this batch before the rows that name them commit. */
static gboolean
sync_frames (GembaStore *self, GError **error)
{
  g_autofree char *dir = g_build_filename (self->path, "frames", NULL);
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int saved = 0;

  self->sync_before_commit = FALSE;
  if (fd < 0 || syncfs (fd) != 0)
    saved = errno;
  if (fd >= 0)
    close (fd);
  if (saved)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot flush the frames to disk: %s"),
                   dir, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* The outermost level is a transaction; inner levels are savepoints, so that a failing inner
 * step (one frame of a batch) rolls back only itself. */
gboolean
_gemba_store_begin (GembaStore *self, GError **error)
{
  g_autofree char *sql = NULL;

  if (!gemba_store_check_writable (self, error))
    return FALSE;
  if (self->batch_depth == 0)
    {
      if (_gemba_store_is_server (self))
        {
          if (!gemba_db_begin (self->conn, error))
            return FALSE;
          self->batch_depth++;
          return TRUE;
        }
      sql = g_strdup ("BEGIN IMMEDIATE");
    }
  else
    sql = g_strdup_printf ("SAVEPOINT gemba_%d", self->batch_depth);
  if (!_gemba_store_exec (self, sql, error))
    return FALSE;
  self->batch_depth++;
  return TRUE;
}

gboolean
_gemba_store_commit (GembaStore *self, GError **error)
{
  g_autofree char *sql = NULL;

  g_assert (self->batch_depth > 0);
  self->batch_depth--;
  if (self->batch_depth == 0 && self->sync_before_commit && !sync_frames (self, error))
    {
      self->batch_depth++;
      _gemba_store_rollback (self);
      return FALSE;
    }
  if (self->batch_depth == 0)
    sql = g_strdup ("COMMIT");
  else
    sql = g_strdup_printf ("RELEASE gemba_%d", self->batch_depth);
  if (!_gemba_store_exec (self, sql, error))
    {
      self->batch_depth++;
      _gemba_store_rollback (self);
      return FALSE;
    }
  return TRUE;
}

void
_gemba_store_rollback (GembaStore *self)
{
  g_autofree char *sql = NULL;

  if (self->batch_depth == 0)
    return;
  self->batch_depth--;
  if (self->batch_depth == 0)
    {
      self->sync_before_commit = FALSE;
      sql = g_strdup ("ROLLBACK");
    }
  else
    sql = g_strdup_printf ("ROLLBACK TO gemba_%d; RELEASE gemba_%d",
                           self->batch_depth, self->batch_depth);
  gemba_db_exec (self->conn, sql, NULL);
}

void
_gemba_store_bind_text (GembaStmt *stmt, int index, const char *text)
{
  gemba_db_bind_text (stmt, index, text);
}

char *
_gemba_store_dup_column (GembaStmt *stmt, int column)
{
  return g_strdup (gemba_db_column_text (stmt, column));
}

gint64
_gemba_store_last_insert_id (GembaStore *self)
{
  sqlite3 *lite = gemba_db_get_sqlite (self->conn);
  g_autoptr(GembaStmt) stmt = NULL;

  if (lite)
    return sqlite3_last_insert_rowid (lite);
  stmt = gemba_db_prepare (self->conn, "SELECT lastval()", NULL);
  return gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW ? gemba_db_column_int64 (stmt, 0) : 0;
}

gboolean
_gemba_store_bump_revision (GembaStore *self, GError **error)
{
  return _gemba_store_exec (self,
                            "UPDATE settings SET value = CAST(value AS INTEGER) + 1 "
                            "WHERE key = 'revision'", error);
}

gint64
_gemba_store_production_model (GembaStore *self)
{
  g_auto(GembaCachedStmt) cached = _gemba_store_take_cached (
    self, "SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'production-model'", NULL);
  gint64 id = 0;

  if (cached.stmt && gemba_db_step (cached.stmt, NULL) == GEMBA_DB_STEP_ROW)
    id = gemba_db_column_int64 (cached.stmt, 0);
  return id;
}

static gboolean
step_done (GembaStore *self, GembaStmt *stmt, GError **error, const char *doing)
{
  if (gemba_db_step (stmt, NULL) != GEMBA_DB_STEP_DONE)
    return _gemba_store_fail (self, error, doing);
  return TRUE;
}

/* --- Value types ---------------------------------------------------------------------- */

void
gemba_frame_info_init (GembaFrameInfo *info)
{
  memset (info, 0, sizeof *info);
  info->stream_time = -1;
  info->frame_number = -1;
}

void
gemba_class_free (GembaClass *klass)
{
  if (!klass)
    return;
  g_free (klass->name);
  g_free (klass->color);
  g_free (klass);
}

GembaClass *
gemba_class_copy (const GembaClass *klass)
{
  GembaClass *copy = g_memdup2 (klass, sizeof *klass);

  copy->name = g_strdup (klass->name);
  copy->color = g_strdup (klass->color);
  return copy;
}

void
gemba_source_free (GembaSource *source)
{
  if (!source)
    return;
  g_free (source->name);
  g_free (source->kind);
  g_free (source->uri);
  g_free (source);
}

void
gemba_frame_package_free (GembaFramePackage *package)
{
  if (!package)
    return;
  g_free (package->sha256);
  g_free (package->name);
  g_free (package->version);
  g_free (package);
}

void
gemba_frame_free (GembaFrame *frame)
{
  if (!frame)
    return;
  g_free (frame->ext);
  g_free (frame->source_name);
  g_free (frame->original_name);
  g_free (frame->label_author);
  g_free (frame);
}

GembaFrame *
gemba_frame_copy (const GembaFrame *frame)
{
  GembaFrame *copy = g_memdup2 (frame, sizeof *frame);

  copy->ext = g_strdup (frame->ext);
  copy->source_name = g_strdup (frame->source_name);
  copy->original_name = g_strdup (frame->original_name);
  copy->label_author = g_strdup (frame->label_author);
  return copy;
}

void
gemba_label_free (GembaLabel *label)
{
  if (!label)
    return;
  g_free (label->class_name);
  g_free (label->previous_class_name);
  g_free (label->model_class_name);
  g_free (label->author);
  g_free (label);
}

const char *
gemba_split_to_string (GembaSplit split)
{
  switch (split)
    {
    case GEMBA_SPLIT_TRAIN: return "train";
    case GEMBA_SPLIT_VAL: return "val";
    case GEMBA_SPLIT_TEST: return "test";
    case GEMBA_SPLIT_NONE:
    default: return "none";
    }
}

static const char *label_kinds[] = { "set", "confirm", "import", "undo", "redo", "clear" };

const char *
gemba_label_kind_to_string (GembaLabelKind kind)
{
  g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (label_kinds), "set");
  return label_kinds[kind];
}

static GembaLabelKind
label_kind_from_string (const char *text)
{
  for (guint i = 0; i < G_N_ELEMENTS (label_kinds); i++)
    if (g_strcmp0 (text, label_kinds[i]) == 0)
      return i;
  return GEMBA_LABEL_SET;
}

/* --- GObject -------------------------------------------------------------------------- */

static void
gemba_store_finalize (GObject *object)
{
  GembaStore *self = GEMBA_STORE (object);

  if (self->conn)
    _gemba_store_release_own_leases (self);
  g_clear_pointer (&self->cached, g_hash_table_unref);
  g_clear_pointer (&self->conn, gemba_db_close);
  _gemba_store_drop_owner (self);
  g_free (self->path);
  g_free (self->db_path);
  g_free (self->server_uri);
  g_free (self->server_user);
  g_free (self->author);
  g_free (self->lease_holder);
  g_rec_mutex_clear (&self->lock);

  G_OBJECT_CLASS (gemba_store_parent_class)->finalize (object);
}

static void
gemba_store_class_init (GembaStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = gemba_store_finalize;
}

static void
gemba_store_init (GembaStore *self)
{
  const char *author = g_getenv ("GEMBA_AUTHOR");

  g_rec_mutex_init (&self->lock);
  self->owner_fd = -1;
  self->role = -1;
  self->lease_timeout = GEMBA_LEASE_TIMEOUT_USEC;
  self->author = g_strdup (author && *author ? author : g_get_user_name ());
}

/* --- Opening -------------------------------------------------------------------------- */

static gboolean
migrate (GembaStore *self, int from, GError **error)
{
  if (from == GEMBA_STORE_SCHEMA_VERSION)
    return TRUE;

  if (!_gemba_store_begin (self, error))
    return FALSE;
  if (from < 1 && !_gemba_store_exec (self, schema_v1, error))
    goto fail;
  if (from < 2 && !_gemba_store_exec (self, schema_v2, error))
    goto fail;
  if (from < 3 && !_gemba_store_exec (self, schema_v3, error))
    goto fail;
  if (from < 4 && !_gemba_store_exec (self, schema_v4, error))
    goto fail;
  /* from < 5: the next schema step goes here. */
  {
    g_autofree char *sql = g_strdup_printf ("PRAGMA user_version = %d;"
                                            "PRAGMA application_id = %d;",
                                            GEMBA_STORE_SCHEMA_VERSION, APPLICATION_ID);
    if (!_gemba_store_exec (self, sql, error))
      goto fail;
  }
  return _gemba_store_commit (self, error);

fail:
  _gemba_store_rollback (self);
  return FALSE;
}

static int
read_pragma_int (GembaStore *self, const char *pragma, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("PRAGMA %s", pragma);
  g_autoptr(GembaStmt) stmt = _gemba_store_prepare (self, sql, error);

  if (!stmt)
    return -1;
  if (gemba_db_step (stmt, NULL) != GEMBA_DB_STEP_ROW)
    {
      _gemba_store_fail (self, error, _("could not read the project database"));
      return -1;
    }
  return gemba_db_column_int (stmt, 0);
}

static goffset
file_size (const char *path)   /* -1 when it does not exist */
{
  GStatBuf st;

  return g_stat (path, &st) == 0 ? (goffset) st.st_size : -1;
}

static goffset
wal_size (GembaStore *self)
{
  g_autofree char *wal = g_strconcat (self->db_path, "-wal", NULL);

  return file_size (wal);
}

static guint32
be32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static void
set_damaged_error (GembaStore *self, const char *what, GError **error)
{
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
               _("%s: the project database is damaged (%s). Nothing was changed; run “gemba "
                 "check %s” to see what is damaged, or restore it from a backup."),
               self->db_path, what, self->path);
}

static char *describe_truncation (GembaStore *self);

/* Why the database could not be read, when SQLite said @code: read-only, disk full, damaged,
 * busy, or really not SQLite. A project must never be called "not a project" because it is
 * damaged or on a full disk: a user told so may delete it. */
static void
set_open_error (GembaStore *self, int code, const char *message, GError **error)
{
  guint8 header[16];
  size_t n;
  FILE *f;
  int saved;

  /* No connection stays open while the file is read here (see describe_truncation). */
  g_clear_pointer (&self->conn, gemba_db_close);
  f = fopen (self->db_path, "rb");
  saved = errno;

  if (f == NULL)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO,
                   _("%s: cannot read the project database: %s"), self->db_path,
                   g_strerror (saved));
      return;
    }
  n = fread (header, 1, sizeof header, f);
  fclose (f);
  if (n == sizeof header && memcmp (header, "SQLite format 3", sizeof header) != 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_A_PROJECT,
                   _("%s: this file is not a Gemba project database (it is not SQLite)"),
                   self->db_path);
      return;
    }
  switch (code & 0xff)
    {
    case SQLITE_FULL:
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO,
                   _("%s: the disk is full: free some space to open the project (nothing was "
                     "changed)"), self->db_path);
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO,
                   _("%s: another program holds the project database locked; try again"),
                   self->db_path);
      break;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_IOERR:
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO,
                   _("%s: cannot read the project database: %s"), self->db_path, message);
      break;
    default:
      {
        g_autofree char *what = describe_truncation (self);
        set_damaged_error (self, what ? what : message, error);
      }
      break;
    }
}

/* "it is truncated: N of M bytes are left" when the database file is shorter than the size its
 * header records (and the header says that size is current), else NULL. SQLite reads such a
 * file without complaint until it reaches a missing page. */
static char *
describe_truncation (GembaStore *self)
{
  guint8 h[100];
  goffset size = file_size (self->db_path);
  size_t n = 0;
  guint64 page_size, pages;

  if (size == 0)
    return g_strdup (_("it is empty"));
  if (self->conn)
    {
      /* Through SQLite's own descriptor: closing another descriptor of the file would drop
       * this process's POSIX locks on it, and another process could then checkpoint and
       * delete the -wal under this connection (a lost commit). */
      sqlite3_file *file = NULL;
      if (sqlite3_file_control (gemba_db_get_sqlite (self->conn), "main", SQLITE_FCNTL_FILE_POINTER, &file) ==
          SQLITE_OK && file && file->pMethods &&
          file->pMethods->xRead (file, h, sizeof h, 0) == SQLITE_OK)
        n = sizeof h;
    }
  else
    {
      FILE *f = fopen (self->db_path, "rb");
      if (!f)
        return NULL;
      n = fread (h, 1, sizeof h, f);
      fclose (f);
    }
  if (n < sizeof h)
    return g_strdup (_("it is shorter than a database header"));
  if (wal_size (self) > 0)
    return NULL;
  page_size = (guint64) h[16] << 8 | h[17];
  if (page_size == 1)
    page_size = 65536;
  pages = be32 (h + 28);
  if (be32 (h + 24) == be32 (h + 92) && pages * page_size > (guint64) size)
    return g_strdup_printf (_("it is truncated: %" PRId64 " of %" PRIu64 " bytes are left"),
                            (gint64) size, (guint64) (pages * page_size));
  return NULL;
}

static gboolean
check_not_truncated (GembaStore *self, GError **error)
{
  g_autofree char *what = describe_truncation (self);

  if (what)
    set_damaged_error (self, what, error);
  return what == NULL;
}

static gboolean
open_connection (GembaStore *self, const char *uri_params, int flags, int *version,
                 int *code, char **message)
{
  g_autofree char *escaped = g_uri_escape_string (self->db_path, "/", FALSE);
  g_autofree char *uri = g_strdup_printf ("file:%s%s%s", escaped, uri_params ? "?" : "",
                                          uri_params ? uri_params : "");

  sqlite3 *lite = NULL;
  int rc;

  g_clear_pointer (&self->conn, gemba_db_close);
  rc = sqlite3_open_v2 (uri, &lite, flags | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
  if (lite)
    self->conn = gemba_db_new_for_sqlite (lite, self->db_path);
  if (rc == SQLITE_OK)
    {
      sqlite3_extended_result_codes (lite, 1);
      /* Read the version before anything that writes (journal_mode does), so that a
       * database from a newer Gemba is left exactly as it was. */
      if ((*version = read_pragma_int (self, "user_version", NULL)) >= 0)
        return TRUE;
    }
  *code = lite ? sqlite3_extended_errcode (lite) : SQLITE_NOMEM;
  *message = g_strdup (lite ? sqlite3_errmsg (lite) : g_strerror (ENOMEM));
  return FALSE;
}

static gboolean
gemba_store_is_sqlite_project (const char *path)
{
  g_autofree char *db = g_build_filename (path, GEMBA_STORE_DB_NAME, NULL);

  return g_file_test (db, G_FILE_TEST_IS_REGULAR);
}

/* The server a team project's folder names; NULL with @error set when its settings file
 * cannot be read. */
static char *
read_server_uri (const char *path, GError **error)
{
  g_autofree char *file = g_build_filename (path, GEMBA_STORE_SERVER_NAME, NULL);
  g_autoptr(GKeyFile) keys = g_key_file_new ();
  g_autoptr(GError) local = NULL;
  g_autofree char *uri = NULL;

  if (!g_key_file_load_from_file (keys, file, G_KEY_FILE_NONE, &local) ||
      !(uri = g_key_file_get_string (keys, "server", "uri", &local)))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("%s: cannot read the team project's server: %s"), file, local->message);
      return NULL;
    }
  g_strstrip (uri);
  if (!gemba_db_is_server_uri (uri))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("%s: the server must be a postgresql:// URI"), file);
      return NULL;
    }
  return g_steal_pointer (&uri);
}

/* The server connection was made again (a restart, a network that came back): the session
 * is new, so what it held is taken again before the statement that needed it runs. */
static void
server_reconnected_cb (GembaDb *db, gpointer user_data)
{
  GembaStore *self = user_data;

  _gemba_store_lock (self);
  /* Nothing is prepared on the server (each statement is sent whole), but a cached statement
   * could still hold rows of the old session. */
  if (self->cached)
    g_hash_table_remove_all (self->cached);
  if (self->read_only)
    gemba_db_exec (db, "SET default_transaction_read_only = on", NULL);
  else
    _gemba_store_retake_owner (self);
  _gemba_store_unlock (self);
}

/* A team project: its database is the server @uri (@create: an empty one, still without
 * the schema); the folder holds the frames and models. */
static GembaStore *
open_server_db (const char *path, const char *uri, gboolean create, GError **error)
{
  g_autoptr(GembaStore) self = g_object_new (GEMBA_TYPE_STORE, NULL);

  self->path = g_canonicalize_filename (path, NULL);
  self->server_uri = g_strdup (uri);
  /* The frames and models cannot be written there: read-only, as a SQLite project. */
  self->read_only = !create && g_access (self->path, W_OK) != 0;
  if (!(self->conn = _gemba_store_server_connect (uri, create, error)))
    return NULL;
  gemba_db_set_reconnect_func (self->conn, server_reconnected_cb, self);
  self->db_path = g_strdup (gemba_db_get_name (self->conn));
  if (self->read_only)
    return _gemba_store_exec (self, "SET default_transaction_read_only = on", error)
           ? g_steal_pointer (&self) : NULL;
  if (!create)
    _gemba_store_take_owner (self);
  return g_steal_pointer (&self);
}

static GembaStore *
open_db (const char *path, gboolean create, GError **error)
{
  g_autoptr(GembaStore) self = g_object_new (GEMBA_TYPE_STORE, NULL);
  g_autofree char *message = NULL;
  int version = -1, app_id, code = SQLITE_OK;

  if (!create && !gemba_store_is_sqlite_project (path))
    {
      g_autofree char *uri = read_server_uri (path, error);
      return uri ? open_server_db (path, uri, FALSE, error) : NULL;
    }

  self->path = g_canonicalize_filename (path, NULL);
  self->db_path = g_build_filename (self->path, GEMBA_STORE_DB_NAME, NULL);
  /* A folder or database that is not writable (an archive, a read-only share, chattr +i) is
   * opened read-only. If even the -wal and -shm files cannot be made there, SQLite can only
   * read a WAL database as immutable: safe only when no -wal holds changes. */
  self->read_only = !create && (g_access (self->path, W_OK) != 0 ||
                                g_access (self->db_path, W_OK) != 0);
  if (self->read_only)
    {
      if (!open_connection (self, "mode=ro", SQLITE_OPEN_READONLY, &version, &code,
                            &message) && wal_size (self) <= 0)
        {
          g_clear_pointer (&message, g_free);
          open_connection (self, "immutable=1", SQLITE_OPEN_READONLY, &version, &code,
                           &message);
        }
    }
  else
    open_connection (self, NULL, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0),
                     &version, &code, &message);
  if (version < 0)
    {
      set_open_error (self, code, message, error);
      return NULL;
    }
  if (!create && !check_not_truncated (self, error))
    return NULL;
  app_id = read_pragma_int (self, "application_id", NULL);
  if (!create && (app_id != APPLICATION_ID || version == 0))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_A_PROJECT,
                   _("%s: this database was not written by Gemba"), self->db_path);
      return NULL;
    }
  if (version > GEMBA_STORE_SCHEMA_VERSION)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_TOO_NEW,
                   _("%s: this project was written by a newer Gemba (schema %d; this Gemba "
                     "reads up to %d). Update Gemba to open it; nothing was changed."),
                   self->db_path, version, GEMBA_STORE_SCHEMA_VERSION);
      return NULL;
    }
  if (self->read_only)
    {
      if (version < GEMBA_STORE_SCHEMA_VERSION)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_READ_ONLY,
                       _("%s: this project was written by an older Gemba and must be upgraded, "
                         "but the project is read-only (%s)"), self->db_path, self->path);
          return NULL;
        }
      return _gemba_store_exec (self, "PRAGMA foreign_keys = ON;", error)
             ? g_steal_pointer (&self) : NULL;
    }

  /* FULL: a label the user saw saved survives a power cut, not only a crash. */
  if (!_gemba_store_exec (self, "PRAGMA journal_mode = WAL;"
                                "PRAGMA synchronous = FULL;"
                                "PRAGMA foreign_keys = ON;", error))
    return NULL;
  if (!migrate (self, version, error))
    return NULL;
  _gemba_store_take_owner (self);

  return g_steal_pointer (&self);
}

gboolean
gemba_store_is_project (const char *path)
{
  g_autofree char *server = g_build_filename (path, GEMBA_STORE_SERVER_NAME, NULL);

  return gemba_store_is_sqlite_project (path) || g_file_test (server, G_FILE_TEST_IS_REGULAR);
}

const char *
gemba_store_get_server (GembaStore *self)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  return self->server_uri;
}

GembaStore *
gemba_store_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: no such project folder"), path);
      return NULL;
    }
  if (!g_file_test (path, G_FILE_TEST_IS_DIR) || !gemba_store_is_project (path))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_A_PROJECT,
                   _("%s: not a Gemba project (there is no %s in it; create one with "
                     "“gemba init”)"), path, GEMBA_STORE_DB_NAME);
      return NULL;
    }
  return open_db (path, FALSE, error);
}

static gboolean
dir_is_empty (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);

  return dir && g_dir_read_name (dir) == NULL;
}

/* The folders of a project beside its database. */
static gboolean
make_subfolders (const char *path, GError **error)
{
  for (const char *sub = "frames\0thumbs\0models\0"; *sub; sub += strlen (sub) + 1)
    {
      g_autofree char *dir = g_build_filename (path, sub, NULL);
      if (g_mkdir_with_parents (dir, 0755) != 0)
        {
          int saved = errno;
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot create the folder: %s"),
                       dir, g_strerror (saved));
          return FALSE;
        }
    }
  return TRUE;
}

/* Makes @path an empty folder with the project's subfolders. */
static gboolean
prepare_folder (const char *path, GError **error)
{
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      if (!g_file_test (path, G_FILE_TEST_IS_DIR) || !dir_is_empty (path))
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS,
                       _("%s: already exists and is not an empty folder"), path);
          return FALSE;
        }
    }
  else if (g_mkdir_with_parents (path, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot create the folder: %s"),
                   path, g_strerror (saved));
      return FALSE;
    }
  return make_subfolders (path, error);
}

/* Writes what a new project starts with, in one transaction (on a server, the schema too). */
static gboolean
fill_new_project (GembaStore *self, const char * const *classes, GError **error)
{
  if (!_gemba_store_begin (self, error))
    return FALSE;
  if (_gemba_store_is_server (self) &&
      (!_gemba_store_server_create_schema (self->conn, error) ||
       !_gemba_store_server_grant (self->conn, TRUE, error)))
    goto fail;
  {
    g_autoptr(GembaStmt) stmt =
      _gemba_store_prepare (self, "INSERT INTO settings (key, value) VALUES ('created', ?)", error);
    g_autofree char *now = g_strdup_printf ("%" G_GINT64_FORMAT, _gemba_store_now ());
    if (!stmt)
      goto fail;
    _gemba_store_bind_text (stmt, 1, now);
    if (!step_done (self, stmt, error, _("could not create the project")))
      goto fail;
  }
  for (guint i = 0; classes && classes[i]; i++)
    {
      g_autoptr(GembaClass) klass = gemba_store_add_class (self, classes[i], NULL, -1, error);
      if (!klass)
        goto fail;
    }
  if (!gemba_store_audit (self, "create", NULL, NULL, error) ||
      !_gemba_store_commit (self, error))
    goto fail;
  return TRUE;

fail:
  _gemba_store_rollback (self);
  return FALSE;
}

GembaStore *
gemba_store_create (const char *path, const char * const *classes, GError **error)
{
  g_autoptr(GembaStore) self = NULL;

  g_return_val_if_fail (path != NULL, NULL);

  if (!prepare_folder (path, error))
    return NULL;
  if (!(self = open_db (path, TRUE, error)) || !fill_new_project (self, classes, error))
    return NULL;
  return g_steal_pointer (&self);
}

GembaStore *
gemba_store_create_team (const char *path, const char *server, const char * const *classes,
                         GError **error)
{
  g_autoptr(GembaStore) self = NULL;
  g_autoptr(GKeyFile) keys = g_key_file_new ();
  g_autofree char *file = NULL;
  g_autofree char *text = NULL;

  g_return_val_if_fail (path != NULL && server != NULL, NULL);

  if (!gemba_db_is_server_uri (server))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("%s: the server must be a postgresql:// URI"), server);
      return NULL;
    }
  /* The folder is shared with the whole team: no secret may be written there. */
  if (gemba_db_uri_has_password (server))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("the server URI holds a password, which would be written into the "
                     "project folder; leave it out and give it in ~/.pgpass, PGPASSWORD or a "
                     "service file"));
      return NULL;
    }
  /* Reach the server before making the folder, so that a wrong URI leaves nothing behind. */
  if (g_file_test (path, G_FILE_TEST_EXISTS) &&
      (!g_file_test (path, G_FILE_TEST_IS_DIR) || !dir_is_empty (path)))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS,
                   _("%s: already exists and is not an empty folder"), path);
      return NULL;
    }
  if (!(self = open_server_db (path, server, TRUE, error)) || !prepare_folder (path, error))
    return NULL;
  file = g_build_filename (path, GEMBA_STORE_SERVER_NAME, NULL);
  g_key_file_set_comment (keys, NULL, NULL,
                          " A Gemba team project: its database is on this PostgreSQL server,\n"
                          " its frames and models are in this folder. Credentials come from\n"
                          " ~/.pgpass, PGPASSWORD or a service file, never from here.", NULL);
  g_key_file_set_string (keys, "server", "uri", server);
  text = g_key_file_to_data (keys, NULL, NULL);
  if (!fill_new_project (self, classes, error))
    return NULL;
  if (!g_file_set_contents (file, text, -1, error))
    return NULL;
  _gemba_store_take_owner (self);
  return g_steal_pointer (&self);
}

gboolean
_gemba_store_create_database (const char *path, GError **error)
{
  g_autofree char *db = g_build_filename (path, GEMBA_STORE_DB_NAME, NULL);
  g_autoptr(GembaStore) self = NULL;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: no such project folder"), path);
      return FALSE;
    }
  if (g_file_test (db, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS,
                   _("%s: already exists; Gemba moves a project only into a folder without "
                     "one, and nothing was changed"), db);
      return FALSE;
    }
  if (!make_subfolders (path, error))
    return FALSE;
  self = open_db (path, TRUE, error);
  return self != NULL;
}

const char *
gemba_store_get_path (GembaStore *self)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  return self->path;
}

char *
gemba_store_dup_name (GembaStore *self)
{
  g_autofree char *name = gemba_store_dup_setting (self, "name");

  return name ? g_steal_pointer (&name) : g_path_get_basename (self->path);
}

char *
gemba_store_dup_frame_path (GembaStore *self, const GembaFrame *frame)
{
  g_autofree char *base = g_strdup_printf ("%s.%s", frame->sha256, frame->ext);
  char prefix[3] = { frame->sha256[0], frame->sha256[1], 0 };

  return g_build_filename (self->path, "frames", prefix, base, NULL);
}

char *
gemba_store_dup_thumbnail_path (GembaStore *self, const GembaFrame *frame, guint size)
{
  g_autofree char *base = g_strdup_printf ("%s.jpg", frame->sha256);
  g_autofree char *dir = g_strdup_printf ("%u", size);
  char prefix[3] = { frame->sha256[0], frame->sha256[1], 0 };

  return g_build_filename (self->path, "thumbs", dir, prefix, base, NULL);
}

char *
gemba_store_dup_model_dir (GembaStore *self, gint64 model_id)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, model_id);

  return g_build_filename (self->path, "models", id, NULL);
}

const char *
gemba_store_get_author (GembaStore *self)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  return self->author;
}

void
gemba_store_set_author (GembaStore *self, const char *author)
{
  g_return_if_fail (GEMBA_IS_STORE (self));
  _gemba_store_lock (self);
  g_free (self->author);
  self->author = g_strdup (author && *author ? author : g_get_user_name ());
  _gemba_store_unlock (self);
}

char *
gemba_store_dup_setting (GembaStore *self, const char *key)
{
  g_autoptr(GembaStmt) stmt = NULL;
  char *value = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self, "SELECT value FROM settings WHERE key = ?", NULL);
  if (stmt)
    {
      _gemba_store_bind_text (stmt, 1, key);
      if (gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW)
        value = _gemba_store_dup_column (stmt, 0);
    }
  _gemba_store_unlock (self);
  return value;
}

gboolean
gemba_store_set_setting (GembaStore *self, const char *key, const char *value, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  _gemba_store_lock (self);
  if (value)
    stmt = _gemba_store_prepare (self, "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                                       "ON CONFLICT (key) DO UPDATE SET value = ?2", error);
  else
    stmt = _gemba_store_prepare (self, "DELETE FROM settings WHERE key = ?1", error);
  if (stmt)
    {
      _gemba_store_bind_text (stmt, 1, key);
      if (value)
        _gemba_store_bind_text (stmt, 2, value);
      ok = step_done (self, stmt, error, _("could not save a setting"));
    }
  _gemba_store_unlock (self);
  return ok;
}

/* --- Audit ---------------------------------------------------------------------------- */

gboolean
gemba_store_audit (GembaStore *self, const char *action, const char *subject,
                   const char *detail, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gboolean ok = FALSE, server;

  _gemba_store_lock (self);
  /* On a server, who did it is the server's user: what its roles and grants know. */
  server = _gemba_store_is_server (self);
  stmt = _gemba_store_prepare (self, server
                               ? "INSERT INTO audit (at, author, action, subject, detail) "
                                 "VALUES (?, current_user, ?, ?, ?)"
                               : "INSERT INTO audit (at, author, action, subject, detail) "
                                 "VALUES (?, ?, ?, ?, ?)", error);
  if (stmt)
    {
      int next = 2;

      gemba_db_bind_int64 (stmt, 1, _gemba_store_now ());
      if (!server)
        _gemba_store_bind_text (stmt, next++, self->author);
      _gemba_store_bind_text (stmt, next++, action);
      _gemba_store_bind_text (stmt, next++, subject);
      _gemba_store_bind_text (stmt, next, detail);
      ok = step_done (self, stmt, error, _("could not write the audit trail"));
    }
  _gemba_store_unlock (self);
  return ok;
}

/* --- Classes -------------------------------------------------------------------------- */

#define CLASS_COLUMNS "id, name, color, key, position, retired"

static GembaClass *
class_from_row (GembaStmt *stmt)
{
  GembaClass *klass = g_new0 (GembaClass, 1);

  klass->id = gemba_db_column_int64 (stmt, 0);
  klass->name = _gemba_store_dup_column (stmt, 1);
  klass->color = _gemba_store_dup_column (stmt, 2);
  klass->key = gemba_db_column_type (stmt, 3) == GEMBA_DB_NULL ? -1 : gemba_db_column_int (stmt, 3);
  klass->position = gemba_db_column_int (stmt, 4);
  klass->retired = gemba_db_column_int (stmt, 5) != 0;
  return klass;
}

GPtrArray *
gemba_store_list_classes (GembaStore *self, gboolean include_retired, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  g_autoptr(GPtrArray) classes = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_class_free);
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self, "SELECT " CLASS_COLUMNS " FROM classes "
                                     "WHERE retired = 0 OR ?1 ORDER BY position, id", error);
  if (!stmt)
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  gemba_db_bind_int64 (stmt, 1, include_retired);
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    g_ptr_array_add (classes, class_from_row (stmt));
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not read the classes"));
      _gemba_store_unlock (self);
      return NULL;
    }
  _gemba_store_unlock (self);
  return g_steal_pointer (&classes);
}

static GembaClass *
find_class_by (GembaStore *self, const char *where, const char *name, gint64 id, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("SELECT " CLASS_COLUMNS " FROM classes WHERE %s",
                                          where);
  g_autoptr(GembaStmt) stmt = NULL;
  GembaClass *klass = NULL;
  int rc;

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self, sql, error);
  if (stmt)
    {
      if (name)
        _gemba_store_bind_text (stmt, 1, name);
      else
        gemba_db_bind_int64 (stmt, 1, id);
      rc = gemba_db_step (stmt, NULL);
      if (rc == GEMBA_DB_STEP_ROW)
        klass = class_from_row (stmt);
      else if (rc != GEMBA_DB_STEP_DONE)
        _gemba_store_fail (self, error, _("could not read the classes"));
      else if (name)
        {
          g_autoptr(GPtrArray) all = gemba_store_list_classes (self, FALSE, NULL);
          g_autoptr(GString) names = g_string_new (NULL);
          for (guint i = 0; all && i < all->len; i++)
            g_string_append_printf (names, "%s%s", i ? ", " : "",
                                    ((GembaClass *) all->pdata[i])->name);
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                       _("%s: no class named “%s” (the classes are: %s)"),
                       self->path, name, names->len ? names->str : _("none yet"));
        }
      else
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                     _("%s: no class with id %" PRId64), self->path, id);
    }
  _gemba_store_unlock (self);
  return klass;
}

GembaClass *
gemba_store_find_class (GembaStore *self, const char *name, GError **error)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return find_class_by (self, "name = ?1", name, 0, error);
}

GembaClass *
gemba_store_get_class (GembaStore *self, gint64 class_id, GError **error)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  return find_class_by (self, "id = ?1", NULL, class_id, error);
}

static gboolean
valid_class_name (GembaStore *self, const char *name, GError **error)
{
  g_autofree char *stripped = g_strstrip (g_strdup (name ? name : ""));

  if (!g_utf8_validate (stripped, -1, NULL) || *stripped == '\0' ||
      strcmp (stripped, name) != 0 || strchr (name, ',') || strchr (name, '/') ||
      g_utf8_strlen (name, -1) > 64)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("“%s” is not a valid class name: use 1–64 characters, no commas or "
                     "slashes, no spaces at either end"), name ? name : "");
      return FALSE;
    }
  return TRUE;
}

static gboolean
valid_color (const char *color, GError **error)
{
  gboolean ok = color && strlen (color) == 7 && color[0] == '#';

  for (int i = 1; ok && i < 7; i++)
    ok = g_ascii_isxdigit (color[i]);
  if (!ok)
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                 _("“%s” is not a colour: write it as #rrggbb"), color ? color : "");
  return ok;
}

static gint64
query_int64 (GembaStore *self, const char *sql, gint64 fallback)
{
  g_autoptr(GembaStmt) stmt = _gemba_store_prepare (self, sql, NULL);

  if (stmt && gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW && gemba_db_column_type (stmt, 0) != GEMBA_DB_NULL)
    return gemba_db_column_int64 (stmt, 0);
  return fallback;
}

GembaClass *
gemba_store_add_class (GembaStore *self, const char *name, const char *color, int key,
                       GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  g_autoptr(GembaClass) existing = NULL;
  gint64 n, id;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  if (!valid_class_name (self, name, error) || (color && !valid_color (color, error)))
    return NULL;
  if (key < -1 || key > 9)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("%d is not a number key: use 0–9"), key);
      return NULL;
    }
  if (!gemba_store_require_role (self, GEMBA_ROLE_OWNER, _("changing the classes"), error))
    return NULL;

  _gemba_store_lock (self);
  if (!_gemba_store_begin (self, error))
    goto out;

  existing = find_class_by (self, "name = ?1", name, 0, NULL);
  if (existing)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS,
                   _("%s: there is already a class named “%s”"), self->path, name);
      goto fail;
    }

  n = query_int64 (self, "SELECT count(*) FROM classes", 0);
  if (key == -1)
    {
      /* The next free key of 1…9, then 0; none when all ten are taken. */
      for (int k = 1; k <= 10 && key == -1; k++)
        {
          g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM classes WHERE key = %d",
                                                  k % 10);
          if (query_int64 (self, sql, 1) == 0)
            key = k % 10;
        }
    }
  else if (key >= 0)
    {
      g_autofree char *sql = g_strdup_printf ("SELECT name FROM classes WHERE key = %d", key);
      g_autoptr(GembaStmt) taken = _gemba_store_prepare (self, sql, error);
      if (!taken)
        goto fail;
      if (gemba_db_step (taken, NULL) == GEMBA_DB_STEP_ROW)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS,
                       _("%s: number key %d is already the key of class “%s”"),
                       self->path, key, gemba_db_column_text (taken, 0));
          goto fail;
        }
    }

  stmt = _gemba_store_prepare (self, "INSERT INTO classes (name, color, key, position, created_at) "
                                     "VALUES (?, ?, ?, (SELECT coalesce(max(position) + 1, 0) "
                                     "FROM classes), ?)", error);
  if (!stmt)
    goto fail;
  _gemba_store_bind_text (stmt, 1, name);
  _gemba_store_bind_text (stmt, 2, color ? color : palette[n % G_N_ELEMENTS (palette)]);
  if (key >= 0)
    gemba_db_bind_int64 (stmt, 3, key);
  else
    gemba_db_bind_null (stmt, 3);
  gemba_db_bind_int64 (stmt, 4, _gemba_store_now ());
  if (!step_done (self, stmt, error, _("could not add the class")))
    goto fail;
  id = _gemba_store_last_insert_id (self);

  if (!gemba_store_audit (self, "class-add", name, NULL, error) ||
      !_gemba_store_bump_revision (self, error) ||
      !_gemba_store_notify (self, GEMBA_CHANGE_CLASSES, id, error) ||
      !_gemba_store_commit (self, error))
    goto fail;

  _gemba_store_unlock (self);
  return gemba_store_get_class (self, id, error);

fail:
  _gemba_store_rollback (self);
out:
  _gemba_store_unlock (self);
  _gemba_store_explain_refusal (self, GEMBA_ROLE_OWNER, _("changing the classes"), error);
  return NULL;
}

/* Runs one UPDATE on a class inside a transaction with an audit entry. */
static gboolean
update_class (GembaStore *self, gint64 class_id, const char *sql, const char *text, int number,
              const char *action, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  g_autoptr(GembaClass) klass = NULL;

  if (!gemba_store_require_role (self, GEMBA_ROLE_OWNER, _("changing the classes"), error))
    return FALSE;
  _gemba_store_lock (self);
  if (!(klass = gemba_store_get_class (self, class_id, error)) ||
      !_gemba_store_begin (self, error))
    {
      _gemba_store_unlock (self);
      return FALSE;
    }
  stmt = _gemba_store_prepare (self, sql, error);
  if (!stmt)
    goto fail;
  gemba_db_bind_int64 (stmt, 1, class_id);
  if (text)
    _gemba_store_bind_text (stmt, 2, text);
  else
    gemba_db_bind_int64 (stmt, 2, number);
  if (!step_done (self, stmt, error, _("could not change the class")))
    goto fail;
  if (!gemba_store_audit (self, action, klass->name, text, error) ||
      !_gemba_store_bump_revision (self, error) ||
      !_gemba_store_notify (self, GEMBA_CHANGE_CLASSES, class_id, error) ||
      !_gemba_store_commit (self, error))
    goto fail;
  _gemba_store_unlock (self);
  return TRUE;

fail:
  _gemba_store_rollback (self);
  _gemba_store_unlock (self);
  _gemba_store_explain_refusal (self, GEMBA_ROLE_OWNER, _("changing the classes"), error);
  return FALSE;
}

gboolean
gemba_store_rename_class (GembaStore *self, gint64 class_id, const char *new_name,
                          GError **error)
{
  g_autoptr(GembaClass) existing = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (!valid_class_name (self, new_name, error))
    return FALSE;
  existing = find_class_by (self, "name = ?1", new_name, 0, NULL);
  if (existing && existing->id != class_id)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS,
                   _("%s: there is already a class named “%s”"), self->path, new_name);
      return FALSE;
    }
  return update_class (self, class_id, "UPDATE classes SET name = ?2 WHERE id = ?1", new_name, 0,
                       "class-rename", error);
}

gboolean
gemba_store_set_class_color (GembaStore *self, gint64 class_id, const char *color,
                             GError **error)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (!valid_color (color, error))
    return FALSE;
  return update_class (self, class_id, "UPDATE classes SET color = ?2 WHERE id = ?1", color, 0,
                       "class-color", error);
}

gboolean
gemba_store_set_class_key (GembaStore *self, gint64 class_id, int key, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (key < -1 || key > 9)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("%d is not a number key: use 0–9"), key);
      return FALSE;
    }
  if (!gemba_store_require_role (self, GEMBA_ROLE_OWNER, _("changing the classes"), error))
    return FALSE;
  _gemba_store_lock (self);
  if (!_gemba_store_begin (self, error))
    {
      _gemba_store_unlock (self);
      return FALSE;
    }
  ok = TRUE;
  if (key >= 0)
    {
      g_autofree char *sql = g_strdup_printf ("UPDATE classes SET key = NULL WHERE key = %d "
                                              "AND id != %" G_GINT64_FORMAT, key, class_id);
      ok = _gemba_store_exec (self, sql, error);
    }
  if (ok)
    ok = update_class (self, class_id,
                       key >= 0 ? "UPDATE classes SET key = ?2 WHERE id = ?1"
                                : "UPDATE classes SET key = NULL WHERE id = ?1 AND ?2 < 0",
                       NULL, key, "class-key", error);
  if (ok)
    ok = _gemba_store_commit (self, error);
  else
    _gemba_store_rollback (self);
  _gemba_store_unlock (self);
  if (!ok)
    _gemba_store_explain_refusal (self, GEMBA_ROLE_OWNER, _("changing the classes"), error);
  return ok;
}

gboolean
gemba_store_move_class (GembaStore *self, gint64 class_id, int position, GError **error)
{
  g_autoptr(GPtrArray) classes = NULL;
  gboolean ok = TRUE;
  int from = -1;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (!gemba_store_require_role (self, GEMBA_ROLE_OWNER, _("changing the classes"), error))
    return FALSE;
  _gemba_store_lock (self);
  if (!(classes = gemba_store_list_classes (self, TRUE, error)))
    {
      _gemba_store_unlock (self);
      return FALSE;
    }
  for (guint i = 0; i < classes->len; i++)
    if (((GembaClass *) classes->pdata[i])->id == class_id)
      from = i;
  if (from < 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: no class with id %" PRId64), self->path, class_id);
      _gemba_store_unlock (self);
      return FALSE;
    }
  position = CLAMP (position, 0, (int) classes->len - 1);
  {
    gpointer moved = g_ptr_array_steal_index (classes, from);
    g_ptr_array_insert (classes, position, moved);
  }
  if (!_gemba_store_begin (self, error))
    {
      _gemba_store_unlock (self);
      return FALSE;
    }
  for (guint i = 0; ok && i < classes->len; i++)
    {
      g_autofree char *sql = g_strdup_printf ("UPDATE classes SET position = %u WHERE id = %"
                                              G_GINT64_FORMAT, i,
                                              ((GembaClass *) classes->pdata[i])->id);
      ok = _gemba_store_exec (self, sql, error);
    }
  if (ok)
    ok = gemba_store_audit (self, "class-move",
                            ((GembaClass *) classes->pdata[position])->name, NULL, error) &&
         _gemba_store_notify (self, GEMBA_CHANGE_CLASSES, class_id, error) &&
         _gemba_store_commit (self, error);
  if (!ok)
    {
      _gemba_store_rollback (self);
      _gemba_store_explain_refusal (self, GEMBA_ROLE_OWNER, _("changing the classes"), error);
    }
  _gemba_store_unlock (self);
  return ok;
}

gboolean
gemba_store_set_class_retired (GembaStore *self, gint64 class_id, gboolean retired,
                               GError **error)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  /* A retired class gives up its number key, so that a new class can take it. */
  return update_class (self, class_id,
                       retired ? "UPDATE classes SET retired = ?2, key = NULL WHERE id = ?1"
                               : "UPDATE classes SET retired = ?2 WHERE id = ?1",
                       NULL, retired ? 1 : 0, retired ? "class-retire" : "class-restore", error);
}

/* --- Sources -------------------------------------------------------------------------- */

GPtrArray *
gemba_store_list_sources (GembaStore *self, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  g_autoptr(GPtrArray) sources = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_source_free);
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self,
                               "SELECT s.id, s.name, s.kind, s.uri, "
                               "  (SELECT count(*) FROM frames f WHERE f.source_id = s.id) "
                               "FROM sources s ORDER BY s.name", error);
  if (!stmt)
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      GembaSource *source = g_new0 (GembaSource, 1);
      source->id = gemba_db_column_int64 (stmt, 0);
      source->name = _gemba_store_dup_column (stmt, 1);
      source->kind = _gemba_store_dup_column (stmt, 2);
      source->uri = _gemba_store_dup_column (stmt, 3);
      source->n_frames = gemba_db_column_int64 (stmt, 4);
      g_ptr_array_add (sources, source);
    }
  _gemba_store_unlock (self);
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not read the sources"));
      return NULL;
    }
  return g_steal_pointer (&sources);
}

gint64
gemba_store_ensure_source (GembaStore *self, const char *name, const char *kind,
                           const char *uri, GError **error)
{
  g_auto(GembaCachedStmt) cached = { self, NULL };
  GembaStmt *find;
  g_autoptr(GembaStmt) insert = NULL;
  gint64 id = 0;

  g_return_val_if_fail (GEMBA_IS_STORE (self), 0);
  g_return_val_if_fail (name != NULL, 0);

  _gemba_store_lock (self);
  cached = _gemba_store_take_cached (self, "SELECT id FROM sources WHERE name = ?", error);
  find = cached.stmt;
  if (!find)
    goto out;
  _gemba_store_bind_text (find, 1, name);
  if (gemba_db_step (find, NULL) == GEMBA_DB_STEP_ROW)
    {
      id = gemba_db_column_int64 (find, 0);
      goto out;
    }
  insert = _gemba_store_prepare (self, "INSERT INTO sources (name, kind, uri, created_at) "
                                       "VALUES (?, ?, ?, ?)", error);
  if (!insert)
    goto out;
  _gemba_store_bind_text (insert, 1, name);
  _gemba_store_bind_text (insert, 2, kind ? kind : "folder");
  _gemba_store_bind_text (insert, 3, uri);
  gemba_db_bind_int64 (insert, 4, _gemba_store_now ());
  if (step_done (self, insert, error, _("could not add the source")))
    id = _gemba_store_last_insert_id (self);

out:
  _gemba_store_unlock (self);
  return id;
}

/* The package row of @sha256, added with @name and @version when new; 0 on error. */
static gint64
ensure_package (GembaStore *self, const char *sha256, const char *name, const char *version,
                GError **error)
{
  g_autoptr(GembaStmt) find = NULL, insert = NULL;

  if (!(find = _gemba_store_prepare (self, "SELECT id FROM packages WHERE sha256 = ?", error)))
    return 0;
  _gemba_store_bind_text (find, 1, sha256);
  if (gemba_db_step (find, NULL) == GEMBA_DB_STEP_ROW)
    return gemba_db_column_int64 (find, 0);
  if (!(insert = _gemba_store_prepare (self, "INSERT INTO packages (sha256, name, version, "
                                             "created_at) VALUES (?, ?, ?, ?)", error)))
    return 0;
  _gemba_store_bind_text (insert, 1, sha256);
  _gemba_store_bind_text (insert, 2, name ? name : "");
  _gemba_store_bind_text (insert, 3, version ? version : "");
  gemba_db_bind_int64 (insert, 4, _gemba_store_now ());
  if (!step_done (self, insert, error, _("could not record the package")))
    return 0;
  return _gemba_store_last_insert_id (self);
}

/* Sets the package of frame @frame_id from @info unless it has one. */
static gboolean
record_frame_package (GembaStore *self, gint64 frame_id, const GembaFrameInfo *info,
                      GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gint64 package_id;

  if (!_gemba_store_begin (self, error))
    return FALSE;
  if (!(package_id = ensure_package (self, info->package_sha256, info->package_name,
                                     info->package_version, error)) ||
      !(stmt = _gemba_store_prepare (self, "UPDATE frames SET package_id = ? "
                                           "WHERE id = ? AND package_id IS NULL", error)))
    {
      _gemba_store_rollback (self);
      return FALSE;
    }
  gemba_db_bind_int64 (stmt, 1, package_id);
  gemba_db_bind_int64 (stmt, 2, frame_id);
  if (!step_done (self, stmt, error, _("could not record the frame’s package")))
    {
      _gemba_store_rollback (self);
      return FALSE;
    }
  return _gemba_store_commit (self, error);
}

GPtrArray *
gemba_store_list_frame_packages (GembaStore *self, GError **error)
{
  g_autoptr(GPtrArray) packages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_frame_package_free);
  g_autoptr(GembaStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self,
                               "SELECT k.id, k.sha256, k.name, k.version, "
                               "  (SELECT count(*) FROM frames f WHERE f.package_id = k.id) "
                               "FROM packages k ORDER BY k.name, k.created_at, k.id", error);
  if (!stmt)
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      GembaFramePackage *package = g_new0 (GembaFramePackage, 1);
      package->id = gemba_db_column_int64 (stmt, 0);
      package->sha256 = _gemba_store_dup_column (stmt, 1);
      package->name = _gemba_store_dup_column (stmt, 2);
      package->version = _gemba_store_dup_column (stmt, 3);
      package->n_frames = gemba_db_column_int64 (stmt, 4);
      g_ptr_array_add (packages, package);
    }
  _gemba_store_unlock (self);
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not read the packages"));
      return NULL;
    }
  return g_steal_pointer (&packages);
}

/* --- Frames --------------------------------------------------------------------------- */

#define FRAME_COLUMNS \
  "f.id, f.sha256, f.ext, f.width, f.height, f.source_id, s.name, f.captured_at, " \
  "f.imported_at, f.stream_time, f.frame_number, f.original_name, f.split, l.class_id, " \
  "l.author, l.created_at, p.class_id, p.confidence"
#define FRAME_JOINS \
  " FROM frames f LEFT JOIN sources s ON s.id = f.source_id" \
  " LEFT JOIN labels l ON l.id = f.label_id" \
  " LEFT JOIN predictions p ON p.model_id = :production AND p.frame_id = f.id"

static GembaFrame *
frame_from_row (GembaStmt *stmt)
{
  GembaFrame *frame = g_new0 (GembaFrame, 1);
  const char *sha = gemba_db_column_text (stmt, 1);

  frame->id = gemba_db_column_int64 (stmt, 0);
  g_strlcpy (frame->sha256, sha ? sha : "", sizeof frame->sha256);
  frame->ext = _gemba_store_dup_column (stmt, 2);
  frame->width = gemba_db_column_int (stmt, 3);
  frame->height = gemba_db_column_int (stmt, 4);
  frame->source_id = gemba_db_column_int64 (stmt, 5);
  frame->source_name = _gemba_store_dup_column (stmt, 6);
  frame->captured_at = gemba_db_column_int64 (stmt, 7);
  frame->imported_at = gemba_db_column_int64 (stmt, 8);
  frame->stream_time = gemba_db_column_type (stmt, 9) == GEMBA_DB_NULL ? -1
                       : gemba_db_column_int64 (stmt, 9);
  frame->frame_number = gemba_db_column_type (stmt, 10) == GEMBA_DB_NULL ? -1
                        : gemba_db_column_int64 (stmt, 10);
  frame->original_name = _gemba_store_dup_column (stmt, 11);
  frame->split = gemba_db_column_int (stmt, 12);
  frame->label_class_id = gemba_db_column_int64 (stmt, 13);
  frame->label_author = frame->label_class_id ? _gemba_store_dup_column (stmt, 14) : NULL;
  frame->label_at = frame->label_class_id ? gemba_db_column_int64 (stmt, 15) : 0;
  frame->pred_class_id = gemba_db_column_int64 (stmt, 16);
  frame->pred_confidence = gemba_db_column_type (stmt, 17) == GEMBA_DB_NULL ? -1.0
                           : gemba_db_column_double (stmt, 17);
  return frame;
}

static void
bind_production (GembaStore *self, GembaStmt *stmt)
{
  int index = gemba_db_bind_parameter_index (stmt, ":production");

  if (index > 0)
    gemba_db_bind_int64 (stmt, index, _gemba_store_production_model (self));
}

GembaFrame *
gemba_store_get_frame (GembaStore *self, gint64 frame_id, GError **error)
{
  g_auto(GembaCachedStmt) cached = { self, NULL };
  GembaStmt *stmt;
  GembaFrame *frame = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  cached = _gemba_store_take_cached (self, "SELECT " FRAME_COLUMNS FRAME_JOINS
                                           " WHERE f.id = :id", error);
  stmt = cached.stmt;
  if (stmt)
    {
      bind_production (self, stmt);
      gemba_db_bind_int64 (stmt, gemba_db_bind_parameter_index (stmt, ":id"), frame_id);
      switch (gemba_db_step (stmt, NULL))
        {
        case GEMBA_DB_STEP_ROW:
          frame = frame_from_row (stmt);
          break;
        case GEMBA_DB_STEP_DONE:
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                       _("%s: no frame with row id %" PRId64), self->path, frame_id);
          break;
        default:
          _gemba_store_fail (self, error, _("could not read the frame"));
        }
    }
  _gemba_store_unlock (self);
  return frame;
}

GembaFrame *
gemba_store_find_frame (GembaStore *self, const char *id_prefix, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  g_autofree char *lower = NULL;
  g_autofree char *upper = NULL;
  GembaFrame *frame = NULL;
  gsize len;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  g_return_val_if_fail (id_prefix != NULL, NULL);

  len = strlen (id_prefix);
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isxdigit (id_prefix[i]))
      len = 0;
  if (len < 4 || len > 64)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("“%s” is not a frame id: give at least 4 hex digits of it"), id_prefix);
      return NULL;
    }
  lower = g_ascii_strdown (id_prefix, -1);
  /* A range scan on the unique index: every id that starts with the prefix. */
  upper = g_strconcat (lower, "g", NULL);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self, "SELECT " FRAME_COLUMNS FRAME_JOINS
                                     " WHERE f.sha256 >= :lo AND f.sha256 < :hi LIMIT 2", error);
  if (stmt)
    {
      bind_production (self, stmt);
      _gemba_store_bind_text (stmt, gemba_db_bind_parameter_index (stmt, ":lo"), lower);
      _gemba_store_bind_text (stmt, gemba_db_bind_parameter_index (stmt, ":hi"), upper);
      if (gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW)
        {
          frame = frame_from_row (stmt);
          if (gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW)
            {
              g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_AMBIGUOUS,
                           _("%s: frame id “%s” is ambiguous: it matches %.12s… and %.12s… "
                             "(give more digits)"), self->path, id_prefix, frame->sha256,
                           gemba_db_column_text (stmt, 1));
              g_clear_pointer (&frame, gemba_frame_free);
            }
        }
      else
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                     _("%s: no frame id starts with “%s”"), self->path, id_prefix);
    }
  _gemba_store_unlock (self);
  return frame;
}

static GembaFrame *
find_frame_by_sha (GembaStore *self, const char *sha)
{
  g_auto(GembaCachedStmt) cached = _gemba_store_take_cached (
    self, "SELECT " FRAME_COLUMNS FRAME_JOINS " WHERE f.sha256 = :sha", NULL);
  GembaStmt *stmt = cached.stmt;

  if (!stmt)
    return NULL;
  bind_production (self, stmt);
  _gemba_store_bind_text (stmt, gemba_db_bind_parameter_index (stmt, ":sha"), sha);
  return gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW ? frame_from_row (stmt) : NULL;
}

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      gssize n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= n;
    }
  return TRUE;
}

/* Writes the frame's bytes to their final place through a temporary file and a rename, unless
 * an identical file is there already (a crash between writing the file and committing its row
 * leaves such files). Inside a batch, one syncfs() before the commit makes every file of the
 * batch durable at once; a single frame is fsync'd on its own. */
static gboolean
write_frame_file (GembaStore *self, const char *path, GBytes *data, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = g_strdup_printf ("%s.tmp-%d-%p", path, getpid (), (void *) g_thread_self ());
  gsize len = g_bytes_get_size (data);
  gboolean durable = self->batch_depth == 0;
  GStatBuf st;
  int fd, saved;

  if (g_stat (path, &st) == 0 && (gsize) st.st_size == len)
    return TRUE;
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      saved = errno;
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot create the folder: %s"),
                   dir, g_strerror (saved));
      return FALSE;
    }
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 ||
      !write_all (fd, g_bytes_get_data (data, NULL), len) ||
      (durable && fsync (fd) != 0))
    goto fail;
  if (close (fd) != 0)
    {
      fd = -1;
      goto fail;
    }
  fd = -1;
  if (g_rename (tmp, path) != 0)
    goto fail;
  if (durable)
    {
      int dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir_fd >= 0)
        {
          fsync (dir_fd);
          close (dir_fd);
        }
    }
  else
    self->sync_before_commit = TRUE;
  return TRUE;

fail:
  saved = errno;
  if (fd >= 0)
    close (fd);
  g_unlink (tmp);
  g_set_error (error, GEMBA_ERROR,
               saved == ENOSPC || saved == EDQUOT ? GEMBA_ERROR_NO_SPACE : GEMBA_ERROR_IO,
               _("%s: cannot store the frame: %s"), path, g_strerror (saved));
  return FALSE;
}

static gboolean
label_in_transaction (GembaStore *self, gint64 frame_id, gint64 class_id, GembaLabelKind kind,
                      gint64 refers_to, gint64 created_at, gint64 *label_id, GError **error);

GembaFrame *
gemba_store_add_frame (GembaStore *self, GBytes *data, const char *ext, guint width,
                       guint height, const GembaFrameInfo *info, gboolean *duplicate,
                       GError **error)
{
  g_autofree char *sha = NULL;
  g_auto(GembaCachedStmt) cached = { self, NULL };
  GembaStmt *stmt;
  g_autoptr(GembaFrame) existing = NULL;
  GembaFrameInfo defaults;
  GembaFrame probe = { 0 };
  g_autofree char *path = NULL;
  gint64 source_id = 0, package_id = 0, frame_id;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  g_return_val_if_fail (data != NULL && ext != NULL, NULL);

  if (!info)
    {
      gemba_frame_info_init (&defaults);
      info = &defaults;
    }
  if (duplicate)
    *duplicate = FALSE;
  if (!gemba_store_require_role (self, GEMBA_ROLE_ANNOTATOR, _("importing frames"), error))
    return NULL;

  sha = _gemba_sha256_hex (g_bytes_get_data (data, NULL), g_bytes_get_size (data));

  _gemba_store_lock (self);
  existing = find_frame_by_sha (self, sha);
  if (existing)
    {
      if (duplicate)
        *duplicate = TRUE;
      /* A frame first imported another way, then spooled by a line: it gains the package. */
      if (info->package_sha256 && !record_frame_package (self, existing->id, info, error))
        g_clear_pointer (&existing, gemba_frame_free);
      _gemba_store_unlock (self);
      return g_steal_pointer (&existing);
    }

  g_strlcpy (probe.sha256, sha, sizeof probe.sha256);
  probe.ext = (char *) ext;
  path = gemba_store_dup_frame_path (self, &probe);
  if (!write_frame_file (self, path, data, error))
    goto out;

  if (!_gemba_store_begin (self, error))
    goto out;
  if (info->source_name)
    {
      source_id = gemba_store_ensure_source (self, info->source_name, info->source_kind,
                                             info->source_uri, error);
      if (!source_id)
        goto fail;
    }
  if (info->package_sha256 &&
      !(package_id = ensure_package (self, info->package_sha256, info->package_name,
                                     info->package_version, error)))
    goto fail;
  cached = _gemba_store_take_cached (
    self, "INSERT INTO frames (sha256, ext, width, height, size, source_id, captured_at, "
          "imported_at, stream_time, frame_number, original_name, package_id) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", error);
  stmt = cached.stmt;
  if (!stmt)
    goto fail;
  _gemba_store_bind_text (stmt, 1, sha);
  _gemba_store_bind_text (stmt, 2, ext);
  gemba_db_bind_int64 (stmt, 3, width);
  gemba_db_bind_int64 (stmt, 4, height);
  gemba_db_bind_int64 (stmt, 5, g_bytes_get_size (data));
  if (source_id)
    gemba_db_bind_int64 (stmt, 6, source_id);
  else
    gemba_db_bind_null (stmt, 6);
  gemba_db_bind_int64 (stmt, 7, info->captured_at ? info->captured_at : _gemba_store_now ());
  gemba_db_bind_int64 (stmt, 8, _gemba_store_now ());
  if (info->stream_time >= 0)
    gemba_db_bind_int64 (stmt, 9, info->stream_time);
  else
    gemba_db_bind_null (stmt, 9);
  if (info->frame_number >= 0)
    gemba_db_bind_int64 (stmt, 10, info->frame_number);
  else
    gemba_db_bind_null (stmt, 10);
  _gemba_store_bind_text (stmt, 11, info->original_name);
  if (package_id)
    gemba_db_bind_int64 (stmt, 12, package_id);
  else
    gemba_db_bind_null (stmt, 12);
  if (!step_done (self, stmt, error, _("could not record the frame")))
    goto fail;
  frame_id = _gemba_store_last_insert_id (self);

  if (info->label_class)
    {
      g_autoptr(GembaClass) klass = find_class_by (self, "name = ?1", info->label_class, 0, NULL);
      if (!klass)
        klass = gemba_store_add_class (self, info->label_class, NULL, -1, error);
      if (!klass)
        goto fail;
      if (klass->retired)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                       _("%s: the class “%s” is retired; restore it to label with it"),
                       self->path, klass->name);
          goto fail;
        }
      if (!label_in_transaction (self, frame_id, klass->id, GEMBA_LABEL_IMPORT, 0, 0, NULL,
                                 error))
        goto fail;
    }
  /* Id 0: the notifications of a batch's frames are then one (equal payloads collapse). */
  if (!_gemba_store_notify (self, GEMBA_CHANGE_FRAMES, 0, error) ||
      !_gemba_store_commit (self, error))
    goto fail;

  _gemba_store_unlock (self);
  return gemba_store_get_frame (self, frame_id, error);

fail:
  _gemba_store_rollback (self);
out:
  _gemba_store_unlock (self);
  _gemba_store_explain_refusal (self, GEMBA_ROLE_ANNOTATOR, _("importing frames"), error);
  return NULL;
}

GembaFrame *
gemba_store_import_file (GembaStore *self, const char *path, const GembaFrameInfo *info,
                         gboolean *duplicate, GError **error)
{
  g_autoptr(GMappedFile) mapped = NULL;
  g_autoptr(GBytes) bytes = NULL;
  GembaImageFormat format;
  GembaFrameInfo local;
  guint width, height;
  GError *io_error = NULL;
  GStatBuf st;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, GEMBA_ERROR, saved == ENOENT ? GEMBA_ERROR_NOT_FOUND : GEMBA_ERROR_IO,
                   _("%s: %s"), path, g_strerror (saved));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("%s: not a regular file"), path);
      return NULL;
    }
  mapped = g_mapped_file_new (path, FALSE, &io_error);
  if (!mapped)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot read the file: %s"),
                   path, io_error->message);
      g_error_free (io_error);
      return NULL;
    }
  bytes = g_mapped_file_get_bytes (mapped);
  if (!gemba_image_probe (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), path,
                          &format, &width, &height, error))
    return NULL;

  if (info)
    local = *info;
  else
    gemba_frame_info_init (&local);
  if (!local.captured_at)
    local.captured_at = (gint64) st.st_mtime * G_USEC_PER_SEC;
  if (!local.original_name)
    local.original_name = path;

  return gemba_store_add_frame (self, bytes, gemba_image_format_extension (format), width,
                                height, &local, duplicate, error);
}

gboolean
gemba_store_begin_batch (GembaStore *self, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  _gemba_store_lock (self);
  ok = _gemba_store_begin (self, error);
  if (!ok)
    _gemba_store_unlock (self);
  /* The lock stays held until commit/rollback, so no other thread writes into the batch. */
  return ok;
}

gboolean
gemba_store_commit_batch (GembaStore *self, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  ok = _gemba_store_commit (self, error);
  _gemba_store_unlock (self);
  return ok;
}

void
gemba_store_rollback_batch (GembaStore *self)
{
  g_return_if_fail (GEMBA_IS_STORE (self));
  _gemba_store_rollback (self);
  _gemba_store_unlock (self);
}

/* Builds WHERE and ORDER BY for a query. */
static char *
frame_query_sql (const GembaFrameQuery *query, const char *columns, gboolean ordered)
{
  GString *sql = g_string_new ("SELECT ");
  const char *where = "1 = 1";
  const char *order = "f.captured_at, f.id";
  static const char *false_reading =
    "(l.class_id IS NOT NULL AND p.class_id IS NOT NULL AND l.class_id != p.class_id)";

  g_string_append (sql, columns);
  g_string_append (sql, FRAME_JOINS);

  switch (query ? query->filter : GEMBA_FILTER_ALL)
    {
    case GEMBA_FILTER_ALL: break;
    case GEMBA_FILTER_UNLABELED: where = "l.class_id IS NULL"; break;
    case GEMBA_FILTER_LABELED: where = "l.class_id IS NOT NULL"; break;
    case GEMBA_FILTER_CLASS: where = "l.class_id = :class"; break;
    case GEMBA_FILTER_SOURCE: where = "f.source_id = :source"; break;
    case GEMBA_FILTER_PACKAGE: where = "f.package_id = :package"; break;
    case GEMBA_FILTER_SPLIT: where = "f.split = :split"; break;
    case GEMBA_FILTER_PREDICTED_CLASS: where = "p.class_id = :class"; break;
    case GEMBA_FILTER_FALSE_READINGS: where = false_reading; break;
    case GEMBA_FILTER_REVIEW:
      /* Only the candidates; gemba_store_list_review_queue() ranks them. */
      where = "l.class_id IS NULL AND f.split != 3";
      break;
    case GEMBA_FILTER_SUSPECT:
      where = "(l.class_id IS NOT NULL AND p.class_id IS NOT NULL AND l.class_id != p.class_id "
              "AND p.confidence >= :suspect)";
      order = "p.confidence DESC, f.captured_at, f.id";
      break;
    case GEMBA_FILTER_CORRECTIONS:
      where = "(l.correction = 1 AND l.class_id IS NOT NULL)";
      break;
    case GEMBA_FILTER_TEST_BATCH:
      where = "(l.class_id IS NULL AND f.split = 3 AND (:source = 0 OR f.source_id = :source))";
      break;
    default:
      g_assert_not_reached ();
    }

  if (query && query->filter != GEMBA_FILTER_REVIEW && query->filter != GEMBA_FILTER_SUSPECT)
    switch (query->sort)
      {
      case GEMBA_SORT_CAPTURED: break;
      case GEMBA_SORT_CAPTURED_DESC: order = "f.captured_at DESC, f.id DESC"; break;
      case GEMBA_SORT_CONFIDENCE: order = "coalesce(p.confidence, -1), f.captured_at, f.id"; break;
      case GEMBA_SORT_CONFIDENCE_DESC:
        order = "coalesce(p.confidence, -1) DESC, f.captured_at, f.id";
        break;
      default: break;
      }

  g_string_append_printf (sql, " WHERE %s", where);
  if (ordered)
    g_string_append_printf (sql, " ORDER BY %s", order);
  return g_string_free (sql, FALSE);
}

static void
bind_query (GembaStore *self, GembaStmt *stmt, const GembaFrameQuery *query)
{
  int index;

  bind_production (self, stmt);
  if (!query)
    return;
  if ((index = gemba_db_bind_parameter_index (stmt, ":class")) > 0)
    gemba_db_bind_int64 (stmt, index, query->class_id);
  if ((index = gemba_db_bind_parameter_index (stmt, ":source")) > 0)
    gemba_db_bind_int64 (stmt, index, query->source_id);
  if ((index = gemba_db_bind_parameter_index (stmt, ":split")) > 0)
    gemba_db_bind_int64 (stmt, index, query->split);
  if ((index = gemba_db_bind_parameter_index (stmt, ":package")) > 0)
    gemba_db_bind_int64 (stmt, index, query->package_id);
  if ((index = gemba_db_bind_parameter_index (stmt, ":suspect")) > 0)
    gemba_db_bind_double (stmt, index, GEMBA_SUSPECT_CONFIDENCE);
}

GPtrArray *
gemba_store_list_frames (GembaStore *self, const GembaFrameQuery *query, gint64 offset,
                         gint64 limit, GError **error)
{
  g_autofree char *base = frame_query_sql (query, FRAME_COLUMNS, TRUE);
  /* A negative limit is no limit (SQLite reads it so; PostgreSQL refuses it). */
  g_autofree char *sql = g_strdup_printf ("%s LIMIT %" G_GINT64_FORMAT " OFFSET %"
                                          G_GINT64_FORMAT, base, limit < 0 ? G_MAXINT64 : limit,
                                          MAX (offset, 0));
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_frame_free);
  g_autoptr(GembaStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  if (query && query->filter == GEMBA_FILTER_REVIEW)
    {
      g_autoptr(GArray) ids = gemba_store_list_review_queue (self, error);
      gint64 end;
      if (!ids)
        return NULL;
      end = limit < 0 ? (gint64) ids->len : MIN ((gint64) ids->len, MAX (offset, 0) + limit);
      for (gint64 i = MAX (offset, 0); i < end; i++)
        {
          GembaFrame *frame = gemba_store_get_frame (self, g_array_index (ids, gint64, i), error);
          if (!frame)
            return NULL;
          g_ptr_array_add (frames, frame);
        }
      return g_steal_pointer (&frames);
    }

  _gemba_store_lock (self);
  if (!(stmt = _gemba_store_prepare (self, sql, error)))
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  bind_query (self, stmt, query);
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    g_ptr_array_add (frames, frame_from_row (stmt));
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not read the frames"));
      _gemba_store_unlock (self);
      return NULL;
    }
  _gemba_store_unlock (self);
  return g_steal_pointer (&frames);
}

gint64
gemba_store_count_frames (GembaStore *self, const GembaFrameQuery *query, GError **error)
{
  g_autofree char *sql = frame_query_sql (query, "count(*)", FALSE);
  g_autoptr(GembaStmt) stmt = NULL;
  gint64 count = -1;

  g_return_val_if_fail (GEMBA_IS_STORE (self), -1);

  if (query && query->filter == GEMBA_FILTER_REVIEW)
    {
      /* Near-duplicates are not counted: the count is the queue's length. */
      g_autoptr(GArray) ids = gemba_store_list_review_queue (self, error);
      return ids ? (gint64) ids->len : -1;
    }

  _gemba_store_lock (self);
  if ((stmt = _gemba_store_prepare (self, sql, error)))
    {
      bind_query (self, stmt, query);
      if (gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW)
        count = gemba_db_column_int64 (stmt, 0);
      else
        _gemba_store_fail (self, error, _("could not count the frames"));
    }
  _gemba_store_unlock (self);
  return count;
}

GArray *
gemba_store_list_frame_ids (GembaStore *self, const GembaFrameQuery *query, GError **error)
{
  g_autofree char *sql = frame_query_sql (query, "f.id", TRUE);
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GembaStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  if (query && query->filter == GEMBA_FILTER_REVIEW)
    return gemba_store_list_review_queue (self, error);

  _gemba_store_lock (self);
  if (!(stmt = _gemba_store_prepare (self, sql, error)))
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  bind_query (self, stmt, query);
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      gint64 id = gemba_db_column_int64 (stmt, 0);
      g_array_append_val (ids, id);
    }
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not read the frames"));
      _gemba_store_unlock (self);
      return NULL;
    }
  _gemba_store_unlock (self);
  return g_steal_pointer (&ids);
}

/* --- Labels --------------------------------------------------------------------------- */

#define LABEL_COLUMNS \
  "l.id, l.frame_id, l.class_id, c.name, l.previous_class_id, pc.name, l.kind, l.author, " \
  "l.created_at, l.refers_to, l.model_id, l.model_class_id, mc.name, l.correction " \
  "FROM labels l LEFT JOIN classes c ON c.id = l.class_id " \
  "LEFT JOIN classes pc ON pc.id = l.previous_class_id " \
  "LEFT JOIN classes mc ON mc.id = l.model_class_id"

static GembaLabel *
label_from_row (GembaStmt *stmt)
{
  GembaLabel *label = g_new0 (GembaLabel, 1);

  label->id = gemba_db_column_int64 (stmt, 0);
  label->frame_id = gemba_db_column_int64 (stmt, 1);
  label->class_id = gemba_db_column_int64 (stmt, 2);
  label->class_name = _gemba_store_dup_column (stmt, 3);
  label->previous_class_id = gemba_db_column_int64 (stmt, 4);
  label->previous_class_name = _gemba_store_dup_column (stmt, 5);
  label->kind = label_kind_from_string (gemba_db_column_text (stmt, 6));
  label->author = _gemba_store_dup_column (stmt, 7);
  label->created_at = gemba_db_column_int64 (stmt, 8);
  label->refers_to = gemba_db_column_int64 (stmt, 9);
  label->model_id = gemba_db_column_int64 (stmt, 10);
  label->model_class_id = gemba_db_column_int64 (stmt, 11);
  label->model_class_name = _gemba_store_dup_column (stmt, 12);
  label->correction = gemba_db_column_int (stmt, 13) != 0;
  return label;
}

static GembaLabel *
get_label (GembaStore *self, gint64 label_id, GError **error)
{
  g_autoptr(GembaStmt) stmt = _gemba_store_prepare (self, "SELECT " LABEL_COLUMNS
                                                          " WHERE l.id = ?", error);
  if (!stmt)
    return NULL;
  gemba_db_bind_int64 (stmt, 1, label_id);
  if (gemba_db_step (stmt, NULL) != GEMBA_DB_STEP_ROW)
    {
      _gemba_store_fail (self, error, _("could not read the label"));
      return NULL;
    }
  return label_from_row (stmt);
}

/* Records on label @label_id what the production model said of the frame when a person gave
 * it, and whether the label corrected it. A redo repeats what the redone label recorded;
 * imports, undos and clears record nothing. */
static gboolean
record_model_verdict (GembaStore *self, gint64 label_id, gint64 frame_id, gint64 class_id,
                      GembaLabelKind kind, gint64 refers_to, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;

  if (kind == GEMBA_LABEL_REDO)
    {
      stmt = _gemba_store_prepare (self, "UPDATE labels SET (model_id, model_class_id, "
                                         "correction) = (SELECT o.model_id, o.model_class_id, "
                                         "o.correction FROM labels u JOIN labels o "
                                         "ON o.id = u.refers_to WHERE u.id = ?1) WHERE id = ?2",
                                   error);
      if (!stmt)
        return FALSE;
      gemba_db_bind_int64 (stmt, 1, refers_to);
      gemba_db_bind_int64 (stmt, 2, label_id);
      return step_done (self, stmt, error, _("could not save the label"));
    }
  if ((kind != GEMBA_LABEL_SET && kind != GEMBA_LABEL_CONFIRM) || class_id == 0)
    return TRUE;
  stmt = _gemba_store_prepare (self, "UPDATE labels SET model_id = p.model_id, "
                                     "model_class_id = p.class_id, "
                                     "correction = CASE WHEN ?3 = 'set' AND (p.class_id IS NULL "
                                     "  OR p.class_id != ?4) THEN 1 ELSE 0 END "
                                     "FROM predictions p WHERE p.model_id = ?1 "
                                     "AND p.frame_id = ?2 AND labels.id = ?5", error);
  if (!stmt)
    return FALSE;
  gemba_db_bind_int64 (stmt, 1, _gemba_store_production_model (self));
  gemba_db_bind_int64 (stmt, 2, frame_id);
  _gemba_store_bind_text (stmt, 3, gemba_label_kind_to_string (kind));
  gemba_db_bind_int64 (stmt, 4, class_id);
  gemba_db_bind_int64 (stmt, 5, label_id);
  return step_done (self, stmt, error, _("could not save the label"));
}

/* Appends a label row made at @created_at (µs; 0: now) and makes it the frame's current
 * label; caller holds a transaction. */
static gboolean
label_in_transaction (GembaStore *self, gint64 frame_id, gint64 class_id, GembaLabelKind kind,
                      gint64 refers_to, gint64 created_at, gint64 *label_id, GError **error)
{
  g_autoptr(GembaStmt) insert = NULL;
  g_autoptr(GembaStmt) update = NULL;
  gint64 previous, id;

  {
    g_autofree char *sql = g_strdup_printf ("SELECT l.class_id FROM frames f JOIN labels l "
                                            "ON l.id = f.label_id WHERE f.id = %" G_GINT64_FORMAT,
                                            frame_id);
    previous = query_int64 (self, sql, 0);
  }
  insert = _gemba_store_prepare (self, "INSERT INTO labels (frame_id, class_id, previous_class_id, "
                                       "kind, author, created_at, refers_to) "
                                       "VALUES (?, ?, ?, ?, ?, ?, ?)", error);
  if (!insert)
    return FALSE;
  gemba_db_bind_int64 (insert, 1, frame_id);
  if (class_id)
    gemba_db_bind_int64 (insert, 2, class_id);
  else
    gemba_db_bind_null (insert, 2);
  if (previous)
    gemba_db_bind_int64 (insert, 3, previous);
  else
    gemba_db_bind_null (insert, 3);
  _gemba_store_bind_text (insert, 4, gemba_label_kind_to_string (kind));
  _gemba_store_bind_text (insert, 5, self->author);
  gemba_db_bind_int64 (insert, 6, created_at ? created_at : _gemba_store_now ());
  if (refers_to)
    gemba_db_bind_int64 (insert, 7, refers_to);
  else
    gemba_db_bind_null (insert, 7);
  if (!step_done (self, insert, error, _("could not save the label")))
    return FALSE;
  id = _gemba_store_last_insert_id (self);
  if (!record_model_verdict (self, id, frame_id, class_id, kind, refers_to, error))
    return FALSE;

  update = _gemba_store_prepare (self, "UPDATE frames SET label_id = ? WHERE id = ?", error);
  if (!update)
    return FALSE;
  gemba_db_bind_int64 (update, 1, id);
  gemba_db_bind_int64 (update, 2, frame_id);
  /* The frame left the review queue (or came back to it, unlabeled): whoever held it holds
   * it no longer. Imported frames are new, and never held. */
  if (!step_done (self, update, error, _("could not save the label")) ||
      (kind != GEMBA_LABEL_IMPORT && !_gemba_store_end_lease (self, frame_id, error)) ||
      !_gemba_store_bump_revision (self, error) ||
      !_gemba_store_notify (self, GEMBA_CHANGE_FRAMES, frame_id, error))
    return FALSE;
  if (label_id)
    *label_id = id;
  return TRUE;
}

/* Checks and records one label in its own transaction. */
static GembaLabel *
label_frame (GembaStore *self, gint64 frame_id, gint64 class_id, GembaLabelKind kind,
             gint64 refers_to, gint64 created_at, GError **error)
{
  gint64 label_id = 0;
  GembaLabel *label = NULL;

  if (!gemba_store_require_role (self, GEMBA_ROLE_ANNOTATOR, _("labeling"), error) ||
      !_gemba_store_begin (self, error))
    return NULL;
  if (!label_in_transaction (self, frame_id, class_id, kind, refers_to, created_at, &label_id,
                             error))
    {
      _gemba_store_rollback (self);
      _gemba_store_explain_refusal (self, GEMBA_ROLE_ANNOTATOR, _("labeling"), error);
      return NULL;
    }
  if (!_gemba_store_commit (self, error))
    return NULL;
  label = get_label (self, label_id, error);
  return label;
}

/* The author's label of @kind made at @created_at (on @frame_id unless 0): the one an earlier
 * attempt saved, when its answer was lost with the connection. 0 when none; -1 on error. */
static gint64
find_label_at (GembaStore *self, gint64 frame_id, GembaLabelKind kind, gint64 created_at,
               GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;

  stmt = _gemba_store_prepare (self, frame_id
                               ? "SELECT id FROM labels WHERE frame_id = ?4 AND author = ?1 "
                                 "AND kind = ?2 AND created_at = ?3 ORDER BY id LIMIT 1"
                               : "SELECT id FROM labels WHERE author = ?1 AND kind = ?2 "
                                 "AND created_at = ?3 ORDER BY id LIMIT 1", error);
  if (!stmt)
    return -1;
  _gemba_store_bind_text (stmt, 1, self->author);
  _gemba_store_bind_text (stmt, 2, gemba_label_kind_to_string (kind));
  gemba_db_bind_int64 (stmt, 3, created_at);
  if (frame_id)
    gemba_db_bind_int64 (stmt, 4, frame_id);
  switch (gemba_db_step (stmt, NULL))
    {
    case GEMBA_DB_STEP_ROW:
      return gemba_db_column_int64 (stmt, 0);
    case GEMBA_DB_STEP_DONE:
      return 0;
    default:
      _gemba_store_fail (self, error, _("could not read the label history"));
      return -1;
    }
}

/* With @created_at: the label saved by an earlier attempt, if any (*@found); NULL and FALSE
 * when none, or on error (then @error is set). */
static gboolean
label_saved_before (GembaStore *self, gint64 frame_id, GembaLabelKind kind, gint64 created_at,
                    GembaLabel **found, GError **error)
{
  gint64 id;

  *found = NULL;
  if (created_at == 0)
    return FALSE;
  if ((id = find_label_at (self, frame_id, kind, created_at, error)) <= 0)
    return FALSE;
  *found = get_label (self, id, error);
  return *found != NULL;
}

static GembaLabel *
set_label (GembaStore *self, gint64 frame_id, gint64 class_id, GembaLabelKind kind,
           gint64 created_at, GError **error)
{
  g_autoptr(GembaFrame) frame = NULL;
  GembaLabel *label = NULL;
  GError *local = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  g_return_val_if_fail (kind != GEMBA_LABEL_UNDO && kind != GEMBA_LABEL_REDO, NULL);

  _gemba_store_lock (self);
  if (label_saved_before (self, frame_id, class_id ? kind : GEMBA_LABEL_CLEAR, created_at,
                          &label, &local) || local)
    {
      if (local)
        g_propagate_error (error, local);
      goto out;
    }
  if (!(frame = gemba_store_get_frame (self, frame_id, error)))
    goto out;
  if (class_id)
    {
      g_autoptr(GembaClass) klass = gemba_store_get_class (self, class_id, error);
      if (!klass)
        goto out;
      if (klass->retired)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                       _("%s: the class “%s” is retired; restore it to label with it"),
                       self->path, klass->name);
          goto out;
        }
    }
  if (kind == GEMBA_LABEL_CONFIRM && (!frame->pred_class_id || frame->pred_class_id != class_id))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("frame %.12s has no production prediction of that class to confirm"),
                   frame->sha256);
      goto out;
    }
  label = label_frame (self, frame_id, class_id, class_id ? kind : GEMBA_LABEL_CLEAR, 0,
                       created_at, error);
out:
  _gemba_store_unlock (self);
  return label;
}

GembaLabel *
gemba_store_set_label (GembaStore *self, gint64 frame_id, gint64 class_id, GembaLabelKind kind,
                       GError **error)
{
  return set_label (self, frame_id, class_id, kind, 0, error);
}

GembaLabel *
gemba_store_set_label_at (GembaStore *self, gint64 frame_id, gint64 class_id,
                          GembaLabelKind kind, gint64 created_at, GError **error)
{
  g_return_val_if_fail (created_at > 0, NULL);
  return set_label (self, frame_id, class_id, kind, created_at, error);
}

/* The author's newest label action that has not been undone, or 0. */
static gint64
undoable_label (GembaStore *self)
{
  g_autoptr(GembaStmt) stmt =
    _gemba_store_prepare (self, "SELECT l.id FROM labels l WHERE l.author = ?1 "
                                "AND l.kind IN ('set', 'confirm', 'clear', 'redo') "
                                "AND NOT EXISTS (SELECT 1 FROM labels u WHERE u.kind = 'undo' "
                                "  AND u.refers_to = l.id) "
                                "ORDER BY l.id DESC LIMIT 1", NULL);
  if (!stmt)
    return 0;
  _gemba_store_bind_text (stmt, 1, self->author);
  return gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW ? gemba_db_column_int64 (stmt, 0) : 0;
}

/* The author's newest undo that can be redone, or 0: not redone, and nothing labeled since. */
static gint64
redoable_undo (GembaStore *self)
{
  g_autoptr(GembaStmt) stmt =
    _gemba_store_prepare (self, "SELECT u.id FROM labels u WHERE u.author = ?1 AND u.kind = 'undo' "
                                "AND NOT EXISTS (SELECT 1 FROM labels d WHERE d.kind = 'redo' "
                                "  AND d.refers_to = u.id) "
                                "AND NOT EXISTS (SELECT 1 FROM labels a WHERE a.author = ?1 "
                                "  AND a.kind IN ('set', 'confirm', 'clear') AND a.id > u.id) "
                                "ORDER BY u.id DESC LIMIT 1", NULL);
  if (!stmt)
    return 0;
  _gemba_store_bind_text (stmt, 1, self->author);
  return gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW ? gemba_db_column_int64 (stmt, 0) : 0;
}

/* Refuses to undo or redo over a label somebody else gave the frame since. */
static gboolean
still_current (GembaStore *self, const GembaLabel *label, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("SELECT label_id FROM frames WHERE id = %"
                                          G_GINT64_FORMAT, label->frame_id);
  gint64 current = query_int64 (self, sql, 0);

  if (current != label->id)
    {
      g_autoptr(GembaLabel) newer = get_label (self, current, NULL);
      g_autoptr(GembaFrame) frame = gemba_store_get_frame (self, label->frame_id, NULL);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_LOCKED,
                   _("frame %.12s was labeled again since, by %s: undo refused"),
                   frame ? frame->sha256 : "?", newer ? newer->author : "?");
      return FALSE;
    }
  return TRUE;
}

static GembaLabel *
undo_label (GembaStore *self, gint64 created_at, GError **error)
{
  g_autoptr(GembaLabel) target = NULL;
  GembaLabel *label = NULL;
  GError *local = NULL;
  gint64 id;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  if (!label_saved_before (self, 0, GEMBA_LABEL_UNDO, created_at, &label, &local) && !local &&
      (id = undoable_label (self)) &&
      (target = get_label (self, id, error)) &&
      still_current (self, target, error))
    label = label_frame (self, target->frame_id, target->previous_class_id, GEMBA_LABEL_UNDO,
                         target->id, created_at, error);
  if (local)
    g_propagate_error (error, local);
  _gemba_store_unlock (self);
  return label;
}

GembaLabel *
gemba_store_undo_label (GembaStore *self, GError **error)
{
  return undo_label (self, 0, error);
}

GembaLabel *
gemba_store_undo_label_at (GembaStore *self, gint64 created_at, GError **error)
{
  g_return_val_if_fail (created_at > 0, NULL);
  return undo_label (self, created_at, error);
}

static GembaLabel *
redo_label (GembaStore *self, gint64 created_at, GError **error)
{
  g_autoptr(GembaLabel) undo = NULL;
  g_autoptr(GembaLabel) undone = NULL;
  GembaLabel *label = NULL;
  GError *local = NULL;
  gint64 id;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  if (!label_saved_before (self, 0, GEMBA_LABEL_REDO, created_at, &label, &local) && !local &&
      (id = redoable_undo (self)) &&
      (undo = get_label (self, id, error)) &&
      (undone = get_label (self, undo->refers_to, error)) &&
      still_current (self, undo, error))
    label = label_frame (self, undo->frame_id, undone->class_id, GEMBA_LABEL_REDO, undo->id,
                         created_at, error);
  if (local)
    g_propagate_error (error, local);
  _gemba_store_unlock (self);
  return label;
}

GembaLabel *
gemba_store_redo_label (GembaStore *self, GError **error)
{
  return redo_label (self, 0, error);
}

GembaLabel *
gemba_store_redo_label_at (GembaStore *self, gint64 created_at, GError **error)
{
  g_return_val_if_fail (created_at > 0, NULL);
  return redo_label (self, created_at, error);
}

void
gemba_store_get_undo_state (GembaStore *self, guint *n_undo, guint *n_redo)
{
  g_autoptr(GembaStmt) undo = NULL;
  g_autoptr(GembaStmt) redo = NULL;

  g_return_if_fail (GEMBA_IS_STORE (self));

  _gemba_store_lock (self);
  undo = _gemba_store_prepare (self, "SELECT count(*) FROM labels l WHERE l.author = ?1 "
                                     "AND l.kind IN ('set', 'confirm', 'clear', 'redo') "
                                     "AND NOT EXISTS (SELECT 1 FROM labels u WHERE "
                                     "  u.kind = 'undo' AND u.refers_to = l.id)", NULL);
  redo = _gemba_store_prepare (self, "SELECT count(*) FROM labels u WHERE u.author = ?1 "
                                     "AND u.kind = 'undo' AND NOT EXISTS (SELECT 1 FROM labels d "
                                     "  WHERE d.kind = 'redo' AND d.refers_to = u.id) "
                                     "AND u.id > coalesce((SELECT max(a.id) FROM labels a WHERE "
                                     "  a.author = ?1 AND a.kind IN ('set', 'confirm', 'clear')), 0)",
                               NULL);
  if (n_undo)
    {
      *n_undo = 0;
      if (undo)
        {
          _gemba_store_bind_text (undo, 1, self->author);
          if (gemba_db_step (undo, NULL) == GEMBA_DB_STEP_ROW)
            *n_undo = gemba_db_column_int (undo, 0);
        }
    }
  if (n_redo)
    {
      *n_redo = 0;
      if (redo)
        {
          _gemba_store_bind_text (redo, 1, self->author);
          if (gemba_db_step (redo, NULL) == GEMBA_DB_STEP_ROW)
            *n_redo = gemba_db_column_int (redo, 0);
        }
    }
  _gemba_store_unlock (self);
}

GPtrArray *
gemba_store_list_label_history (GembaStore *self, gint64 frame_id, GError **error)
{
  g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_label_free);
  g_autoptr(GembaStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  if (!(stmt = _gemba_store_prepare (self, "SELECT " LABEL_COLUMNS
                                           " WHERE l.frame_id = ? ORDER BY l.id", error)))
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  gemba_db_bind_int64 (stmt, 1, frame_id);
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    g_ptr_array_add (labels, label_from_row (stmt));
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not read the label history"));
      _gemba_store_unlock (self);
      return NULL;
    }
  _gemba_store_unlock (self);
  return g_steal_pointer (&labels);
}

/* --- Splits --------------------------------------------------------------------------- */

guint64
_gemba_store_mix (guint64 x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

gboolean
_gemba_store_set_split (GembaStore *self, GembaStmt *update, gint64 frame_id, int split,
                        const char *doing, GError **error)
{
  gemba_db_reset (update);
  gemba_db_bind_int64 (update, 1, split);
  gemba_db_bind_int64 (update, 2, frame_id);
  return step_done (self, update, error, doing);
}

typedef struct
{
  gint64 id;
  gint64 source_id;
  gint64 class_id;
  guint64 order;
} SplitItem;

static int
split_item_compare (gconstpointer a, gconstpointer b)
{
  const SplitItem *x = a, *y = b;

  if (x->source_id != y->source_id)
    return x->source_id < y->source_id ? -1 : 1;
  if (x->class_id != y->class_id)
    return x->class_id < y->class_id ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* A frame's place in the random draw of the splits: from the seed and its content (the first
 * 16 hex digits of its SHA-256), not its row id, so that the same frames imported in another
 * order get the same splits. */
static guint64
split_order (guint64 seed, const char *sha, gint64 id)
{
  char head[17] = { 0 };

  if (sha == NULL || strlen (sha) < 16)
    return _gemba_store_mix (seed ^ _gemba_store_mix ((guint64) id));
  memcpy (head, sha, 16);
  return _gemba_store_mix (seed ^ g_ascii_strtoull (head, NULL, 16));
}

gboolean
gemba_store_assign_splits (GembaStore *self, double test_fraction, double val_fraction,
                           guint64 seed, gint64 assigned[4], GError **error)
{
  g_autoptr(GArray) items = g_array_new (FALSE, FALSE, sizeof (SplitItem));
  g_autoptr(GembaStmt) select = NULL;
  g_autoptr(GembaStmt) update = NULL;
  gint64 counts[4] = { 0 };
  guint start = 0;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (!(test_fraction >= 0 && val_fraction >= 0 && test_fraction + val_fraction <= 1.0))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("split fractions must be between 0 and 1 and add up to at most 1 "
                     "(test %.2f + val %.2f)"), test_fraction, val_fraction);
      return FALSE;
    }

  if (!gemba_store_require_role (self, GEMBA_ROLE_ENGINEER, _("assigning splits"), error))
    return FALSE;
  _gemba_store_lock (self);
  if (!_gemba_store_begin (self, error))
    goto out;
  /* Only labeled frames get a split: an unlabeled one is split once a person labels it. */
  select = _gemba_store_prepare (self, "SELECT f.id, l.class_id, f.sha256, "
                                       "coalesce(f.source_id, 0), l.model_id IS NOT NULL "
                                       "OR l.correction != 0 FROM frames f JOIN labels l "
                                       "ON l.id = f.label_id WHERE f.split = 0 "
                                       "AND l.class_id IS NOT NULL", error);
  update = _gemba_store_prepare (self, "UPDATE frames SET split = ? WHERE id = ?", error);
  if (!select || !update)
    goto fail;
  while ((rc = gemba_db_step (select, NULL)) == GEMBA_DB_STEP_ROW)
    {
      SplitItem item;
      const char *sha = gemba_db_column_text (select, 2);
      item.id = gemba_db_column_int64 (select, 0);
      item.class_id = gemba_db_column_int64 (select, 1);
      item.source_id = gemba_db_column_int64 (select, 3);
      item.order = split_order (seed, sha, item.id);
      if (gemba_db_column_int (select, 4))
        {
          /* Labeled after seeing production's verdict (the review queue's picks, every
           * correction): chosen for the model's doubts, so it trains and never tests. */
          if (!_gemba_store_set_split (self, update, item.id, GEMBA_SPLIT_TRAIN,
                                       _("could not assign the splits"), error))
            goto fail;
          counts[GEMBA_SPLIT_TRAIN]++;
          continue;
        }
      g_array_append_val (items, item);
    }
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not assign the splits"));
      goto fail;
    }
  g_array_sort (items, split_item_compare);

  /* Stratified: each source's classes are split in the same proportions, so that the test
   * split is a random sample of every source; rounding on the running totals keeps the
   * overall counts exact. */
  while (start < items->len)
    {
      guint end = start, n, n_test, n_val;
      gint64 klass = g_array_index (items, SplitItem, start).class_id;
      gint64 source = g_array_index (items, SplitItem, start).source_id;
      while (end < items->len && g_array_index (items, SplitItem, end).class_id == klass &&
             g_array_index (items, SplitItem, end).source_id == source)
        end++;
      n = end - start;
      n_test = (guint) (end * test_fraction + 0.5) - (guint) (start * test_fraction + 0.5);
      n_val = (guint) (end * val_fraction + 0.5) - (guint) (start * val_fraction + 0.5);
      n_val = MIN (n_val, n - n_test);
      for (guint i = 0; i < n; i++)
        {
          GembaSplit split = i < n_test ? GEMBA_SPLIT_TEST
                             : i < n_test + n_val ? GEMBA_SPLIT_VAL : GEMBA_SPLIT_TRAIN;
          if (!_gemba_store_set_split (self, update, g_array_index (items, SplitItem, start + i).id,
                                       split, _("could not assign the splits"), error))
            goto fail;
          counts[split]++;
        }
      start = end;
    }
  {
    g_autofree char *detail = g_strdup_printf ("{\"test\": %.4f, \"val\": %.4f, \"seed\": %"
                                               G_GUINT64_FORMAT ", \"assigned\": %" G_GINT64_FORMAT "}",
                                               test_fraction, val_fraction, seed,
                                               counts[1] + counts[2] + counts[3]);
    if (!gemba_store_audit (self, "split", NULL, detail, error) ||
        !_gemba_store_bump_revision (self, error) ||
        !_gemba_store_notify (self, GEMBA_CHANGE_FRAMES, 0, error) ||
        !_gemba_store_commit (self, error))
      goto fail;
  }
  if (assigned)
    memcpy (assigned, counts, sizeof counts);
  _gemba_store_unlock (self);
  return TRUE;

fail:
  _gemba_store_rollback (self);
out:
  _gemba_store_unlock (self);
  _gemba_store_explain_refusal (self, GEMBA_ROLE_ENGINEER, _("assigning splits"), error);
  return FALSE;
}

gboolean
gemba_store_set_split (GembaStore *self, gint64 frame_id, GembaSplit split, GError **error)
{
  g_autoptr(GembaFrame) frame = NULL;
  g_autoptr(GembaStmt) stmt = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (!gemba_store_require_role (self, GEMBA_ROLE_OWNER, _("changing a frame’s split"), error))
    return FALSE;
  _gemba_store_lock (self);
  if (!(frame = gemba_store_get_frame (self, frame_id, error)))
    goto out;
  if (frame->split == GEMBA_SPLIT_TEST && split != GEMBA_SPLIT_TEST)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_LOCKED,
                   _("frame %.12s is in the locked test split and stays there, so that model "
                     "versions are always compared on the same frames"), frame->sha256);
      goto out;
    }
  if (!_gemba_store_begin (self, error))
    goto out;
  if (!(stmt = _gemba_store_prepare (self, "UPDATE frames SET split = ? WHERE id = ?", error)))
    goto fail;
  gemba_db_bind_int64 (stmt, 1, split);
  gemba_db_bind_int64 (stmt, 2, frame_id);
  if (!step_done (self, stmt, error, _("could not change the split")) ||
      !_gemba_store_bump_revision (self, error) ||
      !_gemba_store_notify (self, GEMBA_CHANGE_FRAMES, frame_id, error) ||
      !_gemba_store_commit (self, error))
    goto fail;
  ok = TRUE;
  goto out;

fail:
  _gemba_store_rollback (self);
  _gemba_store_explain_refusal (self, GEMBA_ROLE_OWNER, _("changing a frame’s split"), error);
out:
  _gemba_store_unlock (self);
  return ok;
}

/* --- Statistics ----------------------------------------------------------------------- */

gboolean
gemba_store_get_stats (GembaStore *self, GembaStats *stats, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  GembaFrameQuery false_readings = { .filter = GEMBA_FILTER_FALSE_READINGS };
  gboolean ok = FALSE;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  memset (stats, 0, sizeof *stats);
  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self,
                               "SELECT count(*), count(l.class_id), "
                               "  sum(CASE WHEN f.split = 0 THEN 1 ELSE 0 END), "
                               "  sum(CASE WHEN f.split = 1 THEN 1 ELSE 0 END), "
                               "  sum(CASE WHEN f.split = 2 THEN 1 ELSE 0 END), "
                               "  sum(CASE WHEN f.split = 3 THEN 1 ELSE 0 END), "
                               "  (SELECT CAST(value AS INTEGER) FROM settings "
                               "   WHERE key = 'revision') "
                               "FROM frames f LEFT JOIN labels l ON l.id = f.label_id", error);
  if (stmt && gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW)
    {
      stats->n_frames = gemba_db_column_int64 (stmt, 0);
      stats->n_labeled = gemba_db_column_int64 (stmt, 1);
      stats->n_unlabeled = stats->n_frames - stats->n_labeled;
      for (int i = 0; i < 4; i++)
        stats->n_split[i] = gemba_db_column_int64 (stmt, 2 + i);
      stats->revision = gemba_db_column_int64 (stmt, 6);
      stats->n_false_readings = gemba_store_count_frames (self, &false_readings, error);
      ok = stats->n_false_readings >= 0;
    }
  else if (stmt)
    _gemba_store_fail (self, error, _("could not count the frames"));
  _gemba_store_unlock (self);
  return ok;
}

GArray *
gemba_store_count_labels_per_class (GembaStore *self, int split, GError **error)
{
  g_autoptr(GArray) counts = g_array_new (FALSE, FALSE, sizeof (GembaClassCount));
  g_autoptr(GembaStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self,
                               "SELECT c.id, (SELECT count(*) FROM frames f JOIN labels l "
                               "  ON l.id = f.label_id WHERE l.class_id = c.id "
                               "  AND (?1 < 0 OR f.split = ?1)) "
                               "FROM classes c ORDER BY c.position, c.id", error);
  if (!stmt)
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  gemba_db_bind_int64 (stmt, 1, split);
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      GembaClassCount count = { gemba_db_column_int64 (stmt, 0), gemba_db_column_int64 (stmt, 1) };
      g_array_append_val (counts, count);
    }
  _gemba_store_unlock (self);
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not count the labels"));
      return NULL;
    }
  return g_steal_pointer (&counts);
}
