/* gemba-db-private.h: one small SQL interface over SQLite and PostgreSQL
 *
 * The seam between Gemba's store and its two backends: a connection, statements with "?"
 * placeholders (written as "$n" for PostgreSQL), typed binds and columns, transactions. What
 * differs between the two dialects (DDL, upserts, sequences, triggers) is chosen by the
 * caller from gemba_db_get_backend(); the statement API itself is the same on both.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  GEMBA_DB_SQLITE,
  GEMBA_DB_POSTGRESQL,
} GembaDbBackend;

typedef enum {
  GEMBA_DB_NULL,
  GEMBA_DB_INTEGER,
  GEMBA_DB_REAL,
  GEMBA_DB_TEXT,
  GEMBA_DB_BLOB,
} GembaDbType;

typedef enum {
  GEMBA_DB_STEP_ERROR = -1,
  GEMBA_DB_STEP_DONE = 0,
  GEMBA_DB_STEP_ROW = 1,
} GembaDbStep;

typedef struct _GembaDb GembaDb;
struct sqlite3;
typedef struct _GembaDbStmt GembaDbStmt;

/* Takes over @handle, an open SQLite connection; @name is for messages. Like every SQLite
 * GembaDb, it waits up to 30 s for the write lock (busy_cb in gemba-db.c). */
GembaDb *gemba_db_new_for_sqlite (struct sqlite3 *handle, const char *name);
/* The SQLite connection of a SQLite GembaDb (NULL for a server), for what only SQLite has. */
struct sqlite3 *gemba_db_get_sqlite (GembaDb *db);
/* The last error's message and GembaError code on this connection (PostgreSQL: recorded by
 * the last failing call; SQLite: sqlite3_errmsg). */
const char *gemba_db_errmsg (GembaDb *db);
int gemba_db_errcode (GembaDb *db);
/* Rows changed by the last INSERT, UPDATE or DELETE run. */
gint64 gemba_db_changes (GembaDb *db);

/* Opens the SQLite database file @path (created when @create). */
GembaDb *gemba_db_open_sqlite (const char *path, gboolean create, GError **error);
/* Connects to a PostgreSQL server by a libpq URI or connection string. Credentials come from
 * libpq's own means (~/.pgpass, PGPASSWORD, service files). */
GembaDb *gemba_db_open_server (const char *uri, GError **error);
/* TRUE when this build can reach PostgreSQL servers. */
gboolean gemba_db_has_server_support (void);
/* TRUE when @text names a PostgreSQL server (a postgresql:// or postgres:// URI). */
gboolean gemba_db_is_server_uri (const char *text);
/* TRUE when the URI or connection string @uri carries a password. */
gboolean gemba_db_uri_has_password (const char *uri);
void gemba_db_close (GembaDb *db);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaDb, gemba_db_close)

/* A server connection that was lost (GEMBA_ERROR_DISCONNECTED) connects again by itself at
 * the next statement outside a transaction; these are for the owner of the connection. */
typedef void (*GembaDbReconnectFunc) (GembaDb *db, gpointer user_data);
/* Connects a lost server connection again (PQreset with the same parameters), sets the
 * session up and calls the reconnect func; FALSE with GEMBA_ERROR_DISCONNECTED if the server
 * cannot be reached. Not inside a lost transaction: roll it back first. */
gboolean gemba_db_reconnect (GembaDb *db, GError **error);
/* FALSE once a server connection is known to be lost, until it is connected again. */
gboolean gemba_db_is_connected (GembaDb *db);
/* How many times the connection was made again. */
guint gemba_db_get_n_reconnects (GembaDb *db);
/* @func runs after each reconnection, before the statement that needed it: to take again
 * what the old session held (session advisory locks). Statements it runs do not reconnect. */
void gemba_db_set_reconnect_func (GembaDb *db, GembaDbReconnectFunc func, gpointer user_data);

GembaDbBackend gemba_db_get_backend (GembaDb *db);
/* The file path or the server URI without its password, for messages. */
const char *gemba_db_get_name (GembaDb *db);

/* Runs one or more statements without results or parameters. */
gboolean gemba_db_exec (GembaDb *db, const char *sql, GError **error);
gboolean gemba_db_begin (GembaDb *db, GError **error);
gboolean gemba_db_commit (GembaDb *db, GError **error);
void gemba_db_rollback (GembaDb *db);

/* Prepares one statement; parameters are written "?", "?N" or ":name" on both backends. */
GembaDbStmt *gemba_db_prepare (GembaDb *db, const char *sql, GError **error);
void gemba_db_stmt_free (GembaDbStmt *stmt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaDbStmt, gemba_db_stmt_free)

/* The SQL text the statement was prepared from (as given). */
const char *gemba_db_stmt_get_sql (GembaDbStmt *stmt);
/* The index of the named parameter ":name" (the same on both backends), or 0. */
int gemba_db_bind_parameter_index (GembaDbStmt *stmt, const char *name);
/* Sets every parameter to NULL. */
void gemba_db_clear_bindings (GembaDbStmt *stmt);

/* Parameters count from 1; a bound value stays until bound again. */
void gemba_db_bind_null (GembaDbStmt *stmt, int index);
void gemba_db_bind_int64 (GembaDbStmt *stmt, int index, gint64 value);
void gemba_db_bind_double (GembaDbStmt *stmt, int index, double value);
void gemba_db_bind_text (GembaDbStmt *stmt, int index, const char *text);
void gemba_db_bind_blob (GembaDbStmt *stmt, int index, const void *data, gsize size);

/* Runs the statement (on the first call) and moves to its next row. */
GembaDbStep gemba_db_step (GembaDbStmt *stmt, GError **error);
/* Forgets the rows so that the statement runs again at the next step; binds stay. */
void gemba_db_reset (GembaDbStmt *stmt);

/* Columns count from 0; valid until the next step or reset. */
int gemba_db_column_count (GembaDbStmt *stmt);
GembaDbType gemba_db_column_type (GembaDbStmt *stmt, int column);
gint64 gemba_db_column_int64 (GembaDbStmt *stmt, int column);
int gemba_db_column_int (GembaDbStmt *stmt, int column);
double gemba_db_column_double (GembaDbStmt *stmt, int column);
const char *gemba_db_column_text (GembaDbStmt *stmt, int column);
const guint8 *gemba_db_column_blob (GembaDbStmt *stmt, int column, gsize *size);

G_END_DECLS
