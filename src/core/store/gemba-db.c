/* gemba-db.c: one small SQL interface over SQLite and PostgreSQL
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-store"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <sqlite3.h>
#ifdef GEMBA_HAVE_POSTGRESQL
#include <libpq-fe.h>
#endif

#include "gemba-error.h"
#include "gemba-db-private.h"

#define BUSY_TIMEOUT_MS 30000

struct _GembaDb
{
  GembaDbBackend backend;
  char *name;
  sqlite3 *lite;
  gint64 busy_since;  /* when the current wait for SQLite's write lock began (monotonic µs) */
#ifdef GEMBA_HAVE_POSTGRESQL
  PGconn *pg;
  char *pg_error;  /* the last error's message and GembaError code */
  int pg_code;
  gint64 changes;  /* rows changed by the last command */
  /* The connection is gone (see statement_lost()); with a transaction open, which the
   * server rolled back: every statement fails until the caller's ROLLBACK. */
  gboolean lost;
  gboolean lost_in_transaction;
  gboolean reconnecting;
  gboolean repeating;  /* a statement runs again after a reconnection: not a third time */
  guint n_reconnects;
  GembaDbReconnectFunc reconnected;
  gpointer reconnected_data;
#endif
};

typedef struct {
  char *value;     /* text form, or the bytes of a blob */
  int length;
  gboolean is_null;
  gboolean is_blob;
} Param;

struct _GembaDbStmt
{
  GembaDb *db;
  sqlite3_stmt *lite;
  char *given_sql;
#ifdef GEMBA_HAVE_POSTGRESQL
  char *sql;       /* with $n placeholders */
  GPtrArray *names; /* ":name" of parameter i + 1, or NULL */
  GArray *params;  /* of Param */
  PGresult *result;
  int row;         /* the current row of result, -1 before the first */
  guint8 **blobs;  /* unescaped bytea of the current row, per column */
  gsize *blob_sizes;
#endif
};

gboolean
gemba_db_has_server_support (void)
{
#ifdef GEMBA_HAVE_POSTGRESQL
  return TRUE;
#else
  return FALSE;
#endif
}

gboolean
gemba_db_is_server_uri (const char *text)
{
  return text && (g_str_has_prefix (text, "postgresql://") || g_str_has_prefix (text, "postgres://"));
}

GembaDbBackend
gemba_db_get_backend (GembaDb *db)
{
  return db->backend;
}

const char *
gemba_db_get_name (GembaDb *db)
{
  return db->name;
}

static void
set_lite_error (GembaDb *db, GError **error)
{
  int code = sqlite3_errcode (db->lite) & 0xff;

  g_set_error (error, GEMBA_ERROR,
               code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? GEMBA_ERROR_CORRUPT
               : code == SQLITE_CONSTRAINT ? GEMBA_ERROR_LOCKED : GEMBA_ERROR_FAILED,
               "%s: %s", db->name, sqlite3_errmsg (db->lite));
}

/* SQLite's own busy wait sleeps up to 100 ms between tries, so a writer that has waited a
 * while keeps missing the lock to the writers that come back at once: with four processes
 * labeling as fast as they could, one waited over 5 s for its label (and its review-queue
 * lease expired meanwhile). This one tries again every 0.5–1.5 ms, for up to
 * BUSY_TIMEOUT_MS. */
static int
busy_cb (void *data, int count)
{
  GembaDb *db = data;
  gint64 now = g_get_monotonic_time ();

  if (count == 0)
    db->busy_since = now;
  if (now - db->busy_since > (gint64) BUSY_TIMEOUT_MS * 1000)
    return 0;
  g_usleep (500 + g_random_int_range (0, 1000));
  return 1;
}

GembaDb *
gemba_db_new_for_sqlite (sqlite3 *handle, const char *name)
{
  GembaDb *db = g_new0 (GembaDb, 1);

  db->backend = GEMBA_DB_SQLITE;
  db->name = g_strdup (name);
  db->lite = handle;
  sqlite3_busy_handler (handle, busy_cb, db);
  return db;
}

sqlite3 *
gemba_db_get_sqlite (GembaDb *db)
{
  return db->lite;
}

const char *
gemba_db_errmsg (GembaDb *db)
{
  if (db->lite)
    return sqlite3_errmsg (db->lite);
#ifdef GEMBA_HAVE_POSTGRESQL
  return db->pg_error ? db->pg_error : "";
#else
  return "";
#endif
}

int
gemba_db_errcode (GembaDb *db)
{
  if (db->lite)
    {
      int code = sqlite3_errcode (db->lite) & 0xff;
      return code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? GEMBA_ERROR_CORRUPT
             : code == SQLITE_CONSTRAINT ? GEMBA_ERROR_LOCKED : GEMBA_ERROR_FAILED;
    }
#ifdef GEMBA_HAVE_POSTGRESQL
  return db->pg_code;
#else
  return GEMBA_ERROR_FAILED;
#endif
}

gint64
gemba_db_changes (GembaDb *db)
{
  if (db->lite)
    return sqlite3_changes (db->lite);
#ifdef GEMBA_HAVE_POSTGRESQL
  return db->changes;
#else
  return 0;
#endif
}

GembaDb *
gemba_db_open_sqlite (const char *path, gboolean create, GError **error)
{
  GembaDb *db = g_new0 (GembaDb, 1);
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);

  db->backend = GEMBA_DB_SQLITE;
  db->name = g_strdup (path);
  if (sqlite3_open_v2 (path, &db->lite, flags, NULL) != SQLITE_OK)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot open the project database: %s"),
                   path, db->lite ? sqlite3_errmsg (db->lite) : g_strerror (ENOMEM));
      gemba_db_close (db);
      return NULL;
    }
  sqlite3_busy_handler (db->lite, busy_cb, db);
  sqlite3_extended_result_codes (db->lite, 0);
  return db;
}

#ifdef GEMBA_HAVE_POSTGRESQL
/* libpq's messages end in a newline. */
static void
set_pg_error (GembaDb *db, const char *message, const char *sqlstate, GError **error)
{
  g_autofree char *text = g_strchomp (g_strdup (message ? message : ""));
  int code = GEMBA_ERROR_FAILED;

  if (sqlstate && g_str_has_prefix (sqlstate, "23"))
    code = GEMBA_ERROR_LOCKED;          /* integrity constraint violation */
  else if (sqlstate && g_str_has_prefix (sqlstate, "42501"))
    code = GEMBA_ERROR_REFUSED;         /* insufficient privilege */
  else if (sqlstate && g_str_has_prefix (sqlstate, "08"))
    code = GEMBA_ERROR_IO;              /* connection exception */
  else if (sqlstate && g_str_has_prefix (sqlstate, "53100"))
    code = GEMBA_ERROR_NO_SPACE;        /* disk full */
  g_free (db->pg_error);
  db->pg_error = g_strdup (text);
  db->pg_code = code;
  g_set_error (error, GEMBA_ERROR, code, "%s: %s", db->name, text);
}

/* A statement failed because the connection is gone, or is going: libpq lost it (its own
 * errors carry no SQLSTATE: "server closed the connection unexpectedly" may come before
 * PQstatus says CONNECTION_BAD), a connection exception (class 08), or the server shutting
 * down or crashing (57P01–57P03). */
static gboolean
is_disconnect (GembaDb *db, const char *sqlstate)
{
  return PQstatus (db->pg) == CONNECTION_BAD || !sqlstate || !*sqlstate ||
         g_str_has_prefix (sqlstate, "08") || g_str_equal (sqlstate, "57P01") ||
         g_str_equal (sqlstate, "57P02") || g_str_equal (sqlstate, "57P03");
}

static gboolean
check_result (GembaDb *db, PGresult *result, GError **error)
{
  ExecStatusType status = result ? PQresultStatus (result) : PGRES_FATAL_ERROR;

  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
    {
      const char *tuples = PQcmdTuples (result);
      db->changes = *tuples ? g_ascii_strtoll (tuples, NULL, 10) : 0;
      return TRUE;
    }
  set_pg_error (db, result ? PQresultErrorMessage (result) : PQerrorMessage (db->pg),
                result ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : "08000", error);
  return FALSE;
}
#endif

#ifdef GEMBA_HAVE_POSTGRESQL
static void
notice_cb (void *arg, const char *message)
{
  g_debug ("%s", message);
}
#endif

gboolean
gemba_db_uri_has_password (const char *uri)
{
#ifdef GEMBA_HAVE_POSTGRESQL
  PQconninfoOption *options = PQconninfoParse (uri, NULL);
  gboolean has = FALSE;

  for (PQconninfoOption *o = options; o && o->keyword; o++)
    if (g_str_equal (o->keyword, "password") && o->val && *o->val)
      has = TRUE;
  PQconninfoFree (options);
  return has;
#else
  return FALSE;
#endif
}

#ifdef GEMBA_HAVE_POSTGRESQL
/* UTF-8 text both ways; the shortest exact text of a double (PostgreSQL ≥ 12); no notices
 * on stderr. Run on every (re)connection. */
static gboolean
set_up_session (GembaDb *db, GError **error)
{
  PGresult *result;
  gboolean ok;

  PQsetNoticeProcessor (db->pg, notice_cb, NULL);
  result = PQexec (db->pg, "SET client_encoding = 'UTF8'; SET extra_float_digits = 1;"
                           "SET client_min_messages = warning;");
  ok = check_result (db, result, error);
  PQclear (result);
  return ok;
}

/* Connects to @uri. What the URI does not set itself: give up connecting after 10 s, and
 * notice a silent peer (a lost network) in seconds instead of the system's two hours: a 10 s
 * limit on unacknowledged data (a statement sent into a lost network fails after 10–20 s, as
 * the retransmissions back off; /core/store/team-lost-network measures it), and TCP
 * keepalives while waiting for an answer (5 s idle, then 3 probes 2 s apart: 11 s). The
 * server's kernel acknowledges at once however busy the server is, so a long statement is
 * not cut short. Unix sockets ignore all of these. */
static PGconn *
connect_server (const char *uri)
{
  const char *const keywords[] = { "connect_timeout", "keepalives_idle", "keepalives_interval",
                                   "keepalives_count", "tcp_user_timeout", "dbname", NULL };
  const char *const values[] = { "10", "5", "2", "3", "10000", uri, NULL };

  /* The expanded dbname (the URI) overrides the keywords before it. */
  return PQconnectdbParams (keywords, values, 1);
}
#endif

GembaDb *
gemba_db_open_server (const char *uri, GError **error)
{
#ifdef GEMBA_HAVE_POSTGRESQL
  GembaDb *db = g_new0 (GembaDb, 1);

  db->backend = GEMBA_DB_POSTGRESQL;
  db->pg = connect_server (uri);
  if (!db->pg || PQstatus (db->pg) != CONNECTION_OK)
    {
      g_autofree char *text = g_strchomp (g_strdup (db->pg ? PQerrorMessage (db->pg) : ""));
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot connect to the server: %s"),
                   uri, text);
      gemba_db_close (db);
      return NULL;
    }
  /* Never the password: it stays with libpq. */
  db->name = g_strdup_printf ("postgresql://%s@%s%s%s/%s", PQuser (db->pg),
                              PQhost (db->pg), *PQport (db->pg) ? ":" : "", PQport (db->pg),
                              PQdb (db->pg));
  if (!set_up_session (db, error))
    {
      gemba_db_close (db);
      return NULL;
    }
  return db;
#else
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
               _("%s: this Gemba was built without PostgreSQL support"), uri);
  return NULL;
#endif
}

void
gemba_db_close (GembaDb *db)
{
  if (!db)
    return;
  if (db->lite)
    sqlite3_close_v2 (db->lite);
#ifdef GEMBA_HAVE_POSTGRESQL
  if (db->pg)
    PQfinish (db->pg);
  g_free (db->pg_error);
#endif
  g_free (db->name);
  g_free (db);
}

#ifdef GEMBA_HAVE_POSTGRESQL
static void
set_disconnected (GembaDb *db, const char *message, GError **error)
{
  g_free (db->pg_error);
  db->pg_error = g_strdup (message);
  db->pg_code = GEMBA_ERROR_DISCONNECTED;
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_DISCONNECTED, "%s: %s", db->name, message);
}

/* Statements that may run again on a new connection when the old one died under them
 * outside a transaction: reads, and the start of a transaction (nothing of it happened). A
 * write outside a transaction may have committed, so it is never repeated. */
static gboolean
may_repeat (const char *sql)
{
  while (g_ascii_isspace (*sql))
    sql++;
  return g_ascii_strncasecmp (sql, "SELECT", 6) == 0 || g_ascii_strncasecmp (sql, "BEGIN", 5) == 0;
}

static gboolean
is_rollback (const char *sql)
{
  return g_ascii_strcasecmp (sql, "ROLLBACK") == 0;
}

/* Runs @sql (with @n parameters when @values) on the connection; NULL with @error when it
 * failed. A lost connection (GEMBA_ERROR_DISCONNECTED) is remembered: outside a transaction
 * the next statement connects again (and a read, or a BEGIN, is repeated at once on the new
 * connection); inside one, statements fail until the caller's ROLLBACK, which then succeeds
 * without the server, which has rolled the transaction back already. */
static PGresult *
pg_run (GembaDb *db, const char *sql, int n, const char *const *values, const int *lengths,
        const int *formats, GError **error)
{
  gboolean idle;
  PGresult *result;
  const char *sqlstate;

  if (db->lost)
    {
      if (is_rollback (sql))
        {
          db->lost_in_transaction = FALSE;
          return PQmakeEmptyPGresult (NULL, PGRES_COMMAND_OK);
        }
      if (db->lost_in_transaction)
        {
          set_disconnected (db, _("the connection to the server was lost; the change was not "
                                  "saved"), error);
          return NULL;
        }
      if (db->reconnecting || !gemba_db_reconnect (db, error))
        {
          if (db->reconnecting)
            set_disconnected (db, _("the connection to the server was lost"), error);
          return NULL;
        }
    }
  idle = PQtransactionStatus (db->pg) == PQTRANS_IDLE;
  result = values ? PQexecParams (db->pg, sql, n, NULL, values, lengths, formats, 0)
                  : PQexec (db->pg, sql);
  if (result && (PQresultStatus (result) == PGRES_COMMAND_OK ||
                 PQresultStatus (result) == PGRES_TUPLES_OK))
    {
      check_result (db, result, NULL);
      return result;
    }
  sqlstate = result ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;
  if (!is_disconnect (db, sqlstate))
    {
      check_result (db, result, error);
      PQclear (result);
      return NULL;
    }
  {
    g_autofree char *text = g_strchomp (g_strdup (result ? PQresultErrorMessage (result)
                                                         : PQerrorMessage (db->pg)));
    PQclear (result);
    db->lost = TRUE;
    db->lost_in_transaction = !idle && !is_rollback (sql);
    g_debug ("%s: lost the connection (%s)", db->name, text);
    if (idle && !db->reconnecting && !db->repeating && may_repeat (sql) &&
        gemba_db_reconnect (db, NULL))
      {
        db->repeating = TRUE;
        result = pg_run (db, sql, n, values, lengths, formats, error);
        db->repeating = FALSE;
        return result;
      }
    if (g_ascii_strcasecmp (sql, "COMMIT") == 0)
      {
        g_autofree char *message = g_strdup_printf (
          _("the connection to the server was lost while saving, so the change may or may not "
            "have been saved (%s)"), text);
        set_disconnected (db, message, error);
      }
    else
      {
        g_autofree char *message = g_strdup_printf (
          _("the connection to the server was lost (%s)"), text);
        set_disconnected (db, message, error);
      }
    return NULL;
  }
}
#endif

gboolean
gemba_db_reconnect (GembaDb *db, GError **error)
{
#ifdef GEMBA_HAVE_POSTGRESQL
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (db->backend == GEMBA_DB_POSTGRESQL, FALSE);
  g_return_val_if_fail (!db->lost_in_transaction, FALSE);

  PQreset (db->pg);
  if (PQstatus (db->pg) != CONNECTION_OK)
    {
      g_autofree char *text = g_strchomp (g_strdup (PQerrorMessage (db->pg)));
      g_autofree char *message = g_strdup_printf (_("cannot reach the server (%s)"), text);
      db->lost = TRUE;
      set_disconnected (db, message, error);
      return FALSE;
    }
  if (!set_up_session (db, &local))
    {
      db->lost = TRUE;
      set_disconnected (db, local->message, error);
      return FALSE;
    }
  db->lost = FALSE;
  db->n_reconnects++;
  g_debug ("%s: connected again", db->name);
  if (db->reconnected)
    {
      db->reconnecting = TRUE;
      db->reconnected (db, db->reconnected_data);
      db->reconnecting = FALSE;
    }
  return !db->lost;
#else
  g_return_val_if_reached (FALSE);
#endif
}

gboolean
gemba_db_is_connected (GembaDb *db)
{
#ifdef GEMBA_HAVE_POSTGRESQL
  if (db->pg)
    return !db->lost;
#endif
  return TRUE;
}

guint
gemba_db_get_n_reconnects (GembaDb *db)
{
#ifdef GEMBA_HAVE_POSTGRESQL
  return db->n_reconnects;
#else
  return 0;
#endif
}

void
gemba_db_set_reconnect_func (GembaDb *db, GembaDbReconnectFunc func, gpointer user_data)
{
#ifdef GEMBA_HAVE_POSTGRESQL
  db->reconnected = func;
  db->reconnected_data = user_data;
#endif
}

gboolean
gemba_db_exec (GembaDb *db, const char *sql, GError **error)
{
  if (db->backend == GEMBA_DB_SQLITE)
    {
      if (sqlite3_exec (db->lite, sql, NULL, NULL, NULL) != SQLITE_OK)
        {
          set_lite_error (db, error);
          return FALSE;
        }
      return TRUE;
    }
#ifdef GEMBA_HAVE_POSTGRESQL
  {
    PGresult *result = pg_run (db, sql, 0, NULL, NULL, NULL, error);
    gboolean ok = result != NULL;
    PQclear (result);
    return ok;
  }
#else
  /* Without libpq no server connection can exist. */
  g_return_val_if_reached (FALSE);
#endif
}

gboolean
gemba_db_begin (GembaDb *db, GError **error)
{
  /* Take the write lock now, so that a second writer waits instead of failing: on a server,
   * a transaction advisory lock that every Gemba client takes ("GEMB"), as SQLite's
   * BEGIN IMMEDIATE; readers are never blocked by it. */
  return gemba_db_exec (db, db->backend == GEMBA_DB_SQLITE ? "BEGIN IMMEDIATE"
                        : "BEGIN; SELECT pg_advisory_xact_lock(1195724098)", error);
}

gboolean
gemba_db_commit (GembaDb *db, GError **error)
{
  return gemba_db_exec (db, "COMMIT", error);
}

void
gemba_db_rollback (GembaDb *db)
{
  gemba_db_exec (db, "ROLLBACK", NULL);
}

#ifdef GEMBA_HAVE_POSTGRESQL
static void
param_clear (gpointer data)
{
  Param *param = data;
  g_clear_pointer (&param->value, g_free);
}

/* "?" → "$1", "$2", …; "?N" → "$N"; ":name" → "$N" numbered as SQLite does (the same name,
 * the same number); not inside quotes, and not PostgreSQL's "::" casts. @names gets the name
 * of each numbered parameter (NULL for the unnamed). */
static char *
to_dollar_placeholders (const char *sql, int *n_params, GPtrArray *names)
{
  GString *out = g_string_sized_new (strlen (sql) + 16);
  char quote = 0;
  int max = 0;

  for (const char *p = sql; *p; p++)
    {
      if (quote)
        {
          if (*p == quote)
            quote = 0;
          g_string_append_c (out, *p);
        }
      else if (*p == '\'' || *p == '"')
        {
          quote = *p;
          g_string_append_c (out, *p);
        }
      else if (*p == '?')
        {
          int n;
          if (g_ascii_isdigit (p[1]))
            {
              char *end;
              n = (int) g_ascii_strtoll (p + 1, &end, 10);
              p = end - 1;
            }
          else
            n = max + 1;
          max = MAX (max, n);
          g_string_append_printf (out, "$%d", n);
        }
      else if (*p == ':' && p[1] == ':')
        {
          g_string_append (out, "::");
          p++;
        }
      else if (*p == ':' && (g_ascii_isalpha (p[1]) || p[1] == '_'))
        {
          const char *end = p + 1;
          g_autofree char *name = NULL;
          int n = 0;

          while (g_ascii_isalnum (*end) || *end == '_')
            end++;
          name = g_strndup (p, end - p);
          for (guint i = 0; i < names->len; i++)
            if (g_strcmp0 (g_ptr_array_index (names, i), name) == 0)
              n = (int) i + 1;
          if (n == 0)
            n = max + 1;
          max = MAX (max, n);
          while (names->len < (guint) n)
            g_ptr_array_add (names, NULL);
          if (!g_ptr_array_index (names, n - 1))
            g_ptr_array_index (names, n - 1) = g_steal_pointer (&name);
          g_string_append_printf (out, "$%d", n);
          p = end - 1;
        }
      else
        g_string_append_c (out, *p);
    }
  *n_params = max;
  return g_string_free (out, FALSE);
}

static void
clear_rows (GembaDbStmt *stmt)
{
  if (stmt->blobs)
    {
      int n = stmt->result ? PQnfields (stmt->result) : 0;
      for (int i = 0; i < n; i++)
        PQfreemem (stmt->blobs[i]);
      g_clear_pointer (&stmt->blobs, g_free);
    }
  g_clear_pointer (&stmt->blob_sizes, g_free);
  g_clear_pointer (&stmt->result, PQclear);
  stmt->row = -1;
}
#endif

GembaDbStmt *
gemba_db_prepare (GembaDb *db, const char *sql, GError **error)
{
  GembaDbStmt *stmt = g_new0 (GembaDbStmt, 1);

  stmt->db = db;
  stmt->given_sql = g_strdup (sql);
  if (db->backend == GEMBA_DB_SQLITE)
    {
      if (sqlite3_prepare_v2 (db->lite, sql, -1, &stmt->lite, NULL) != SQLITE_OK)
        {
          set_lite_error (db, error);
          g_free (stmt->given_sql);
          g_free (stmt);
          return NULL;
        }
      return stmt;
    }
#ifdef GEMBA_HAVE_POSTGRESQL
  {
    int n_params;
    stmt->names = g_ptr_array_new_with_free_func (g_free);
    stmt->sql = to_dollar_placeholders (sql, &n_params, stmt->names);
    stmt->params = g_array_new (FALSE, TRUE, sizeof (Param));
    g_array_set_clear_func (stmt->params, param_clear);
    g_array_set_size (stmt->params, n_params);
    for (int i = 0; i < n_params; i++)
      g_array_index (stmt->params, Param, i).is_null = TRUE;
    stmt->row = -1;
  }
#endif
  return stmt;
}

void
gemba_db_stmt_free (GembaDbStmt *stmt)
{
  if (!stmt)
    return;
  if (stmt->lite)
    sqlite3_finalize (stmt->lite);
#ifdef GEMBA_HAVE_POSTGRESQL
  clear_rows (stmt);
  g_free (stmt->sql);
  if (stmt->params)
    g_array_unref (stmt->params);
  if (stmt->names)
    g_ptr_array_unref (stmt->names);
#endif
  g_free (stmt->given_sql);
  g_free (stmt);
}

const char *
gemba_db_stmt_get_sql (GembaDbStmt *stmt)
{
  return stmt->given_sql;
}

int
gemba_db_bind_parameter_index (GembaDbStmt *stmt, const char *name)
{
  if (stmt->lite)
    return sqlite3_bind_parameter_index (stmt->lite, name);
#ifdef GEMBA_HAVE_POSTGRESQL
  for (guint i = 0; i < stmt->names->len; i++)
    if (g_strcmp0 (g_ptr_array_index (stmt->names, i), name) == 0)
      return (int) i + 1;
#endif
  return 0;
}

void
gemba_db_clear_bindings (GembaDbStmt *stmt)
{
  if (stmt->lite)
    {
      sqlite3_clear_bindings (stmt->lite);
      return;
    }
#ifdef GEMBA_HAVE_POSTGRESQL
  for (guint i = 0; i < stmt->params->len; i++)
    gemba_db_bind_null (stmt, (int) i + 1);
#endif
}

#ifdef GEMBA_HAVE_POSTGRESQL
/* Sets parameter @index to @value (taken; NULL: SQL NULL), sent as text, or as @length raw
 * bytes when @is_blob. */
static void
pg_bind (GembaDbStmt *stmt, int index, char *value, int length, gboolean is_blob)
{
  Param *param;

  if (index < 1 || (guint) index > stmt->params->len)
    {
      g_critical ("parameter %d out of range in: %s", index, stmt->sql);
      g_free (value);
      return;
    }
  param = &g_array_index (stmt->params, Param, index - 1);
  g_free (param->value);
  param->value = value;
  param->is_null = value == NULL;
  param->length = length;
  param->is_blob = is_blob;
}
#endif

void
gemba_db_bind_null (GembaDbStmt *stmt, int index)
{
  if (stmt->lite)
    sqlite3_bind_null (stmt->lite, index);
#ifdef GEMBA_HAVE_POSTGRESQL
  else
    pg_bind (stmt, index, NULL, 0, FALSE);
#endif
}

void
gemba_db_bind_int64 (GembaDbStmt *stmt, int index, gint64 value)
{
  if (stmt->lite)
    sqlite3_bind_int64 (stmt->lite, index, value);
#ifdef GEMBA_HAVE_POSTGRESQL
  else
    pg_bind (stmt, index, g_strdup_printf ("%" G_GINT64_FORMAT, value), 0, FALSE);
#endif
}

void
gemba_db_bind_double (GembaDbStmt *stmt, int index, double value)
{
  if (stmt->lite)
    sqlite3_bind_double (stmt->lite, index, value);
#ifdef GEMBA_HAVE_POSTGRESQL
  else
    {
      /* The shortest text that reads back as the same double. */
      char *text = g_malloc (G_ASCII_DTOSTR_BUF_SIZE);
      g_ascii_dtostr (text, G_ASCII_DTOSTR_BUF_SIZE, value);
      pg_bind (stmt, index, text, 0, FALSE);
    }
#endif
}

void
gemba_db_bind_text (GembaDbStmt *stmt, int index, const char *text)
{
  if (!text)
    gemba_db_bind_null (stmt, index);
  else if (stmt->lite)
    sqlite3_bind_text (stmt->lite, index, text, -1, SQLITE_TRANSIENT);
#ifdef GEMBA_HAVE_POSTGRESQL
  else if (!g_utf8_validate (text, -1, NULL))
    /* PostgreSQL's text is UTF-8 only (SQLite keeps any bytes): a file name in another
     * encoding is stored with U+FFFD for the bytes that are not UTF-8. */
    pg_bind (stmt, index, g_utf8_make_valid (text, -1), 0, FALSE);
  else
    pg_bind (stmt, index, g_strdup (text), 0, FALSE);
#endif
}

void
gemba_db_bind_blob (GembaDbStmt *stmt, int index, const void *data, gsize size)
{
  if (stmt->lite)
    sqlite3_bind_blob64 (stmt->lite, index, size ? data : "", size, SQLITE_TRANSIENT);
#ifdef GEMBA_HAVE_POSTGRESQL
  else if (size > G_MAXINT)
    g_critical ("a blob of %" G_GSIZE_FORMAT " bytes is too large for one parameter", size);
  else
    pg_bind (stmt, index, g_memdup2 (size ? data : "", size ? size : 1), (int) size, TRUE);
#endif
}

GembaDbStep
gemba_db_step (GembaDbStmt *stmt, GError **error)
{
  if (stmt->lite)
    {
      int rc = sqlite3_step (stmt->lite);
      if (rc == SQLITE_ROW)
        return GEMBA_DB_STEP_ROW;
      if (rc == SQLITE_DONE)
        return GEMBA_DB_STEP_DONE;
      set_lite_error (stmt->db, error);
      return GEMBA_DB_STEP_ERROR;
    }
#ifdef GEMBA_HAVE_POSTGRESQL
  if (!stmt->result)
    {
      guint n = stmt->params->len;
      g_autofree const char **values = g_new0 (const char *, n + 1);
      g_autofree int *lengths = g_new0 (int, n + 1);
      g_autofree int *formats = g_new0 (int, n + 1);

      for (guint i = 0; i < n; i++)
        {
          Param *param = &g_array_index (stmt->params, Param, i);
          values[i] = param->is_null ? NULL : param->value;
          lengths[i] = param->length;
          formats[i] = param->is_blob ? 1 : 0;
        }
      stmt->result = pg_run (stmt->db, stmt->sql, (int) n, values, lengths, formats, error);
      stmt->row = -1;
      if (!stmt->result)
        return GEMBA_DB_STEP_ERROR;
      stmt->blobs = g_new0 (guint8 *, MAX (PQnfields (stmt->result), 1));
      stmt->blob_sizes = g_new0 (gsize, MAX (PQnfields (stmt->result), 1));
    }
  for (int i = 0; i < PQnfields (stmt->result); i++)
    g_clear_pointer (&stmt->blobs[i], PQfreemem);
  if (stmt->row + 1 >= PQntuples (stmt->result))
    {
      stmt->row = PQntuples (stmt->result);
      return GEMBA_DB_STEP_DONE;
    }
  stmt->row++;
  return GEMBA_DB_STEP_ROW;
#else
  g_return_val_if_reached (GEMBA_DB_STEP_ERROR);
#endif
}

void
gemba_db_reset (GembaDbStmt *stmt)
{
  if (stmt->lite)
    {
      sqlite3_reset (stmt->lite);
      return;
    }
#ifdef GEMBA_HAVE_POSTGRESQL
  clear_rows (stmt);
#endif
}

int
gemba_db_column_count (GembaDbStmt *stmt)
{
  if (stmt->lite)
    return sqlite3_column_count (stmt->lite);
#ifdef GEMBA_HAVE_POSTGRESQL
  return stmt->result ? PQnfields (stmt->result) : 0;
#else
  return 0;
#endif
}

/* Type OIDs of pg_type.h (stable across releases). */
enum {
  PG_BOOL = 16, PG_BYTEA = 17, PG_INT8 = 20, PG_INT2 = 21, PG_INT4 = 23, PG_OID = 26,
  PG_FLOAT4 = 700, PG_FLOAT8 = 701,
};

GembaDbType
gemba_db_column_type (GembaDbStmt *stmt, int column)
{
  if (stmt->lite)
    {
      switch (sqlite3_column_type (stmt->lite, column))
        {
        case SQLITE_INTEGER: return GEMBA_DB_INTEGER;
        case SQLITE_FLOAT: return GEMBA_DB_REAL;
        case SQLITE_TEXT: return GEMBA_DB_TEXT;
        case SQLITE_BLOB: return GEMBA_DB_BLOB;
        default: return GEMBA_DB_NULL;
        }
    }
#ifdef GEMBA_HAVE_POSTGRESQL
  g_return_val_if_fail (stmt->result && stmt->row >= 0 && stmt->row < PQntuples (stmt->result),
                        GEMBA_DB_NULL);
  if (PQgetisnull (stmt->result, stmt->row, column))
    return GEMBA_DB_NULL;
  switch (PQftype (stmt->result, column))
    {
    case PG_BOOL: case PG_INT8: case PG_INT2: case PG_INT4: case PG_OID:
      return GEMBA_DB_INTEGER;
    case PG_FLOAT4: case PG_FLOAT8:
      return GEMBA_DB_REAL;
    case PG_BYTEA:
      return GEMBA_DB_BLOB;
    default:
      return GEMBA_DB_TEXT;
    }
#else
  return GEMBA_DB_NULL;
#endif
}

#ifdef GEMBA_HAVE_POSTGRESQL
static const char *
pg_value (GembaDbStmt *stmt, int column)
{
  g_return_val_if_fail (stmt->result && stmt->row >= 0 && stmt->row < PQntuples (stmt->result)
                        && column < PQnfields (stmt->result), NULL);
  if (PQgetisnull (stmt->result, stmt->row, column))
    return NULL;
  return PQgetvalue (stmt->result, stmt->row, column);
}
#endif

gint64
gemba_db_column_int64 (GembaDbStmt *stmt, int column)
{
  if (stmt->lite)
    return sqlite3_column_int64 (stmt->lite, column);
#ifdef GEMBA_HAVE_POSTGRESQL
  {
    const char *value = pg_value (stmt, column);
    if (!value)
      return 0;
    if (PQftype (stmt->result, column) == PG_BOOL)
      return value[0] == 't';
    return g_ascii_strtoll (value, NULL, 10);
  }
#else
  return 0;
#endif
}

int
gemba_db_column_int (GembaDbStmt *stmt, int column)
{
  if (stmt->lite)
    return sqlite3_column_int (stmt->lite, column);
  return (int) gemba_db_column_int64 (stmt, column);
}

double
gemba_db_column_double (GembaDbStmt *stmt, int column)
{
  if (stmt->lite)
    return sqlite3_column_double (stmt->lite, column);
#ifdef GEMBA_HAVE_POSTGRESQL
  {
    const char *value = pg_value (stmt, column);
    return value ? g_ascii_strtod (value, NULL) : 0.0;
  }
#else
  return 0.0;
#endif
}

const char *
gemba_db_column_text (GembaDbStmt *stmt, int column)
{
  if (stmt->lite)
    return (const char *) sqlite3_column_text (stmt->lite, column);
#ifdef GEMBA_HAVE_POSTGRESQL
  return pg_value (stmt, column);
#else
  return NULL;
#endif
}

const guint8 *
gemba_db_column_blob (GembaDbStmt *stmt, int column, gsize *size)
{
  if (stmt->lite)
    {
      const guint8 *data = sqlite3_column_blob (stmt->lite, column);
      *size = sqlite3_column_bytes (stmt->lite, column);
      return data ? data : (const guint8 *) "";
    }
#ifdef GEMBA_HAVE_POSTGRESQL
  {
    const char *value = pg_value (stmt, column);
    size_t length = 0;

    *size = 0;
    if (!value)
      return NULL;
    if (!stmt->blobs[column])
      {
        stmt->blobs[column] = PQunescapeBytea ((const unsigned char *) value, &length);
        stmt->blob_sizes[column] = length;
      }
    if (!stmt->blobs[column])
      return NULL;
    length = stmt->blob_sizes[column];
    *size = length;
    return stmt->blobs[column];
  }
#else
  *size = 0;
  return NULL;
#endif
}
