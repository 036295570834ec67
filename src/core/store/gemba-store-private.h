/* gemba-store-private.h: what the files of GembaStore share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "gemba-db-private.h"
#include "gemba-store.h"
#include "gemba-store-watch.h"
#include "gemba-store-team.h"

G_BEGIN_DECLS

typedef GembaDbStmt GembaStmt;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaStmt, gemba_db_stmt_free)

struct _GembaStore
{
  GObject parent_instance;

  char *path;
  /* The database file, or the server's URI without its password (for messages). */
  char *db_path;
  char *author;
  /* The project database: the SQLite file in the folder, or the server that the folder's
   * GEMBA_STORE_SERVER_NAME names (a team project). */
  GembaDb *conn;
  char *server_uri;
  /* One connection, used by one thread at a time; recursive so that public functions may
   * call each other inside a transaction. */
  GRecMutex lock;
  int batch_depth;
  /* Opened read-only: the folder or the database is not writable (see open_db). */
  gboolean read_only;
  /* Frame files were written in this batch without their own fsync. */
  gboolean sync_before_commit;
  /* SQL text → GembaStmt not in use: the statements each added frame runs, prepared once
   * (see _gemba_store_take_cached). */
  GHashTable *cached;
  /* A shared flock on the project's owner file while open, -1 when read-only (see
   * gemba-store-check.h); what opening cleaned as stale. */
  int owner_fd;
  guint n_cleaned_at_open;
  /* A team project's GembaRole as the server last said, -1 before asking; its user. */
  int role;
  char *server_user;
  /* Review-queue leases (gemba-store-leases.c): the holder (NULL until first needed, then
   * the default one), whether it was named by the caller, the timeout (µs), when expired
   * leases were last removed (monotonic µs), and how many leading frames of the last queue
   * claimed from (known by its hash and length) are labeled. */
  char *lease_holder;
  gboolean lease_holder_named;
  gboolean lease_claimed;
  gint64 lease_timeout;
  gint64 lease_cleaned_at;
  guint lease_queue_hash;
  guint lease_queue_len;
  guint lease_queue_done;
};

/* Takes the shared owner lock; when no other process has the project open, first removes the
 * staging folders of interrupted trainings and marks their runs interrupted. */
void _gemba_store_take_owner (GembaStore *self);
void _gemba_store_drop_owner (GembaStore *self);
/* A team project whose server connection was made again: takes the shared owner lock again
 * (a session advisory lock, gone with the old session). */
void _gemba_store_retake_owner (GembaStore *self);

/* Locks the store for the calling thread; pair with _gemba_store_unlock. */
void _gemba_store_lock (GembaStore *self);
void _gemba_store_unlock (GembaStore *self);

/* Sets @error from the connection's last error, prefixed with what was being done. */
gboolean _gemba_store_fail (GembaStore *self, GError **error, const char *doing);

/* Prepares @sql; NULL with @error set on failure. */
GembaStmt *_gemba_store_prepare (GembaStore *self, const char *sql, GError **error);
/* A statement prepared once and kept for the next caller, for the statements run for every
 * imported frame (parsing them again each time cost more than running them). Use it as
 *   g_auto(GembaCachedStmt) stmt = _gemba_store_take_cached (self, sql, error);
 * stmt.stmt is NULL on failure; going out of scope resets it and gives it back (taking the
 * lock, so it may outlive the caller's). Taken twice at once, the second is a fresh one. */
typedef struct {
  GembaStore *store;
  GembaStmt *stmt;
} GembaCachedStmt;
GembaCachedStmt _gemba_store_take_cached (GembaStore *self, const char *sql, GError **error);
void _gemba_store_give_back (GembaCachedStmt *cached);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (GembaCachedStmt, _gemba_store_give_back)

/* Runs SQL without results. */
gboolean _gemba_store_exec (GembaStore *self, const char *sql, GError **error);

/* Transactions nest: only the outermost begin/commit reach the database. Writes take the
 * project's write lock at once (SQLite: BEGIN IMMEDIATE; a server: a transaction advisory
 * lock), so a second writer waits instead of failing mid-way. */
gboolean _gemba_store_begin (GembaStore *self, GError **error);
gboolean _gemba_store_commit (GembaStore *self, GError **error);
void _gemba_store_rollback (GembaStore *self);

/* The id of the row the last INSERT added (SQLite: last_insert_rowid; a server: lastval()). */
gint64 _gemba_store_last_insert_id (GembaStore *self);

/* TRUE when the project's database is a PostgreSQL server. */
gboolean _gemba_store_is_server (GembaStore *self);

/* Connects to the team project database at @uri: with @create, an empty database that gets
 * the schema; else one holding a project this Gemba reads, brought to its schema. */
GembaDb *_gemba_store_server_connect (const char *uri, gboolean create, GError **error);
/* Creates the tables of the current schema on the server, in the caller's transaction. */
gboolean _gemba_store_server_create_schema (GembaDb *db, GError **error);

/* Grants each team role what it may do (gemba-store-team.c), in the caller's transaction;
 * with @create, first creates the roles and makes the current user an owner. Without the
 * roles and without @create, does nothing. */
gboolean _gemba_store_server_grant (GembaDb *db, gboolean create, GError **error);
/* When @error is the server's refusal of a privilege (SQLSTATE 42501), replaces it with a
 * message naming @action, the project, the server user, its role and the @needed role. */
void _gemba_store_explain_refusal (GembaStore *self, GembaRole needed, const char *action,
                                   GError **error);

/* Tells the members watching a team project (gemba-store-watch.h) that @kind changed, at the
 * commit of the caller's transaction (at once outside one); nothing on SQLite. */
gboolean _gemba_store_notify (GembaStore *self, GembaChangeKind kind, gint64 id, GError **error);

/* Ends the lease on @frame_id, whoever holds it: the frame was labeled (caller's
 * transaction). */
gboolean _gemba_store_end_lease (GembaStore *self, gint64 frame_id, GError **error);
/* Releases the leases of the store's default holder, best effort (at finalize). */
void _gemba_store_release_own_leases (GembaStore *self);

/* Increments the dataset revision, inside the caller's transaction. */
gboolean _gemba_store_bump_revision (GembaStore *self, GError **error);

/* The production model's id, or 0. Caller holds the lock. */
gint64 _gemba_store_production_model (GembaStore *self);

/* splitmix64: a stable pseudo-random order of frames for a seed. */
guint64 _gemba_store_mix (guint64 x);

/* Runs @update ("UPDATE frames SET split = ? WHERE id = ?") for one frame; @doing names the
 * failure. */
gboolean _gemba_store_set_split (GembaStore *self, GembaStmt *update, gint64 frame_id, int split,
                                 const char *doing, GError **error);

/* Microseconds since the epoch, UTC. */
gint64 _gemba_store_now (void);

/* Binds a UTF-8 string, or NULL. */
void _gemba_store_bind_text (GembaStmt *stmt, int index, const char *text);
/* A column's text duplicated, or NULL. */
char *_gemba_store_dup_column (GembaStmt *stmt, int column);

/* Creates the database of the project folder @path (which must exist and have none) with
 * the current schema and nothing else, and the frames/thumbs/models folders it lacks: the
 * empty target of gemba_store_migrate(). */
gboolean _gemba_store_create_database (const char *path, GError **error);

G_END_DECLS
