/* gemba-store-watch.c: notifications of other members' changes in a team project
 *
 * A write sends NOTIFY gemba_changes, 'KIND:ID:ORIGIN' inside its transaction (PostgreSQL
 * delivers it at commit, and drops it on rollback; equal payloads in one transaction are
 * delivered once). ORIGIN names the writing process, so that a workbench can skip what it
 * wrote itself. A watch holds a connection of its own doing LISTEN, its socket polled by
 * the main context; when the connection is lost it reconnects without blocking
 * (PQconnectStart/PQconnectPoll), with a growing delay.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-store"

#include "config.h"

#include <unistd.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#ifdef GEMBA_HAVE_POSTGRESQL
#include <libpq-fe.h>
#endif

#include "gemba-error.h"
#include "gemba-store-private.h"
#include "gemba-store-watch.h"

#define CHANNEL "gemba_changes"
#define FIRST_RETRY_MS 500
#define LAST_RETRY_MS 30000

static const char *const kind_names[] = {
  [GEMBA_CHANGE_FRAMES] = "frames",
  [GEMBA_CHANGE_CLASSES] = "classes",
  [GEMBA_CHANGE_MODEL] = "model",
  [GEMBA_CHANGE_PRODUCTION] = "production",
  [GEMBA_CHANGE_RESYNC] = "resync",
};

/* This process, in the notifications it sends: its pid and a random number (pids repeat
 * across PCs). */
static const char *
own_origin (void)
{
  static gsize once;
  static char *origin;

  if (g_once_init_enter (&once))
    {
      origin = g_strdup_printf ("%d-%08x", (int) getpid (), g_random_int ());
      g_once_init_leave (&once, 1);
    }
  return origin;
}

gboolean
_gemba_store_notify (GembaStore *self, GembaChangeKind kind, gint64 id, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  g_autofree char *payload = NULL;

  if (!_gemba_store_is_server (self))
    return TRUE;
  payload = g_strdup_printf ("%s:%" G_GINT64_FORMAT ":%s", kind_names[kind], id, own_origin ());
  if (!(stmt = _gemba_store_prepare (self, "SELECT pg_notify('" CHANNEL "', ?)", error)))
    return FALSE;
  _gemba_store_bind_text (stmt, 1, payload);
  if (gemba_db_step (stmt, NULL) != GEMBA_DB_STEP_ROW)
    return _gemba_store_fail (self, error, _("could not notify the other members"));
  return TRUE;
}

struct _GembaStoreWatch
{
  GembaWatchFlags flags;
  GMainContext *context;
  GembaChangeFunc func;
  gpointer user_data;
  char *uri;
  char *name;              /* for messages: the server without its password */
#ifdef GEMBA_HAVE_POSTGRESQL
  PGconn *conn;
  gboolean connecting;     /* conn is between PQconnectStart and CONNECTION_OK */
  gboolean lost;           /* the loss was reported; a RESYNC is due once connected */
  GSource *io;             /* the socket of conn */
  GSource *retry;          /* the next reconnection */
  guint delay_ms;
#endif
};

#ifdef GEMBA_HAVE_POSTGRESQL
static void watch_socket (GembaStoreWatch *watch, GIOCondition condition);

/* Server notices (such as the FATAL of a terminated session) are reported as a lost
 * connection, not printed on stderr by libpq. */
static void
notice_cb (void *arg, const char *message)
{
  g_debug ("%s", message);
}

static gboolean
parse_payload (const char *payload, GembaChangeKind *kind, gint64 *id, const char **origin)
{
  g_auto(GStrv) parts = g_strsplit (payload, ":", 3);

  if (g_strv_length (parts) != 3)
    return FALSE;
  for (guint k = 0; k < G_N_ELEMENTS (kind_names); k++)
    if (k != GEMBA_CHANGE_RESYNC && g_str_equal (parts[0], kind_names[k]))
      {
        *kind = k;
        *id = g_ascii_strtoll (parts[1], NULL, 10);
        *origin = payload + strlen (parts[0]) + strlen (parts[1]) + 2;
        return TRUE;
      }
  return FALSE;
}

static void
drop_connection (GembaStoreWatch *watch)
{
  if (watch->io)
    {
      g_source_destroy (watch->io);
      g_clear_pointer (&watch->io, g_source_unref);
    }
  g_clear_pointer (&watch->conn, PQfinish);
  watch->connecting = FALSE;
}

static gboolean retry_cb (gpointer user_data);

/* Reports the loss once, and tries again later, each time waiting longer. */
static void
connection_lost (GembaStoreWatch *watch, const char *why)
{
  if (!watch->lost)
    {
      g_autofree char *text = g_strchomp (g_strdup (why ? why : ""));
      g_warning (_("%s: lost the connection that hears other members' changes (%s); "
                   "reconnecting"), watch->name, text);
      watch->lost = TRUE;
    }
  drop_connection (watch);
  watch->retry = g_timeout_source_new (watch->delay_ms);
  g_source_set_callback (watch->retry, retry_cb, watch, NULL);
  g_source_attach (watch->retry, watch->context);
  watch->delay_ms = MIN (watch->delay_ms * 2, LAST_RETRY_MS);
}

static void
deliver_notifications (GembaStoreWatch *watch)
{
  PGnotify *notify;

  while ((notify = PQnotifies (watch->conn)))
    {
      GembaChangeKind kind;
      gint64 id;
      const char *origin;

      if (parse_payload (notify->extra, &kind, &id, &origin) &&
          !((watch->flags & GEMBA_WATCH_SKIP_OWN_PROCESS) && g_str_equal (origin, own_origin ())))
        watch->func (kind, id, watch->user_data);
      PQfreemem (notify);
    }
}

/* Connected: LISTEN (a short query on a live connection), then wait for notifications. */
static gboolean
start_listening (GembaStoreWatch *watch, GError **error)
{
  PGresult *result;

  PQsetNoticeProcessor (watch->conn, notice_cb, NULL);
  PQsetnonblocking (watch->conn, 0);
  result = PQexec (watch->conn, "SET client_min_messages = warning; LISTEN " CHANNEL);
  if (PQresultStatus (result) != PGRES_COMMAND_OK)
    {
      g_autofree char *text = g_strchomp (g_strdup (PQerrorMessage (watch->conn)));
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot listen for changes: %s"),
                   watch->name, text);
      PQclear (result);
      return FALSE;
    }
  PQclear (result);
  watch->connecting = FALSE;
  watch->delay_ms = FIRST_RETRY_MS;
  watch_socket (watch, G_IO_IN);
  return TRUE;
}

static gboolean
socket_cb (int fd, GIOCondition condition, gpointer user_data)
{
  GembaStoreWatch *watch = user_data;

  if (watch->connecting)
    {
      g_autoptr(GError) error = NULL;

      switch (PQconnectPoll (watch->conn))
        {
        case PGRES_POLLING_READING:
          watch_socket (watch, G_IO_IN);
          break;
        case PGRES_POLLING_WRITING:
          watch_socket (watch, G_IO_OUT);
          break;
        case PGRES_POLLING_OK:
          if (!start_listening (watch, &error))
            {
              connection_lost (watch, error->message);
              break;
            }
          g_message (_("%s: reconnected; other members' changes are heard again"), watch->name);
          watch->lost = FALSE;
          watch->func (GEMBA_CHANGE_RESYNC, 0, watch->user_data);
          break;
        case PGRES_POLLING_FAILED:
        default:
          connection_lost (watch, PQerrorMessage (watch->conn));
          break;
        }
      return G_SOURCE_REMOVE;  /* watch_socket made the next one, if any */
    }
  if (!PQconsumeInput (watch->conn) || PQstatus (watch->conn) != CONNECTION_OK)
    {
      connection_lost (watch, PQerrorMessage (watch->conn));
      return G_SOURCE_REMOVE;
    }
  deliver_notifications (watch);
  return G_SOURCE_CONTINUE;
}

/* Polls conn's socket (which may change while connecting) for @condition. */
static void
watch_socket (GembaStoreWatch *watch, GIOCondition condition)
{
  if (watch->io)
    {
      g_source_destroy (watch->io);
      g_clear_pointer (&watch->io, g_source_unref);
    }
  watch->io = g_unix_fd_source_new (PQsocket (watch->conn), condition | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (watch->io, G_SOURCE_FUNC (socket_cb), watch, NULL);
  g_source_attach (watch->io, watch->context);
}

static gboolean
retry_cb (gpointer user_data)
{
  GembaStoreWatch *watch = user_data;

  g_clear_pointer (&watch->retry, g_source_unref);
  watch->conn = PQconnectStart (watch->uri);
  if (!watch->conn || PQstatus (watch->conn) == CONNECTION_BAD)
    {
      connection_lost (watch, watch->conn ? PQerrorMessage (watch->conn) : NULL);
      return G_SOURCE_REMOVE;
    }
  PQsetNoticeProcessor (watch->conn, notice_cb, NULL);
  watch->connecting = TRUE;
  watch_socket (watch, G_IO_OUT);
  return G_SOURCE_REMOVE;
}
#endif

GembaStoreWatch *
gemba_store_watch_new (GembaStore *store, GembaWatchFlags flags, GMainContext *context,
                       GembaChangeFunc func, gpointer user_data, GError **error)
{
  g_autoptr(GembaStoreWatch) watch = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (store), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  watch = g_new0 (GembaStoreWatch, 1);
  watch->flags = flags;
  watch->context = context ? g_main_context_ref (context) : g_main_context_ref_thread_default ();
  watch->func = func;
  watch->user_data = user_data;
  if (!gemba_store_get_server (store))
    return g_steal_pointer (&watch);
#ifdef GEMBA_HAVE_POSTGRESQL
  watch->uri = g_strdup (gemba_store_get_server (store));
  watch->name = g_strdup (store->db_path);
  watch->delay_ms = FIRST_RETRY_MS;
  watch->conn = PQconnectdb (watch->uri);
  if (PQstatus (watch->conn) != CONNECTION_OK)
    {
      g_autofree char *text = g_strchomp (g_strdup (PQerrorMessage (watch->conn)));
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot connect to the server: %s"),
                   watch->name, text);
      return NULL;
    }
  if (!start_listening (watch, error))
    return NULL;
  return g_steal_pointer (&watch);
#else
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
               _("%s: this Gemba was built without PostgreSQL support"), store->path);
  return NULL;
#endif
}

gboolean
gemba_store_watch_is_connected (GembaStoreWatch *watch)
{
  g_return_val_if_fail (watch != NULL, FALSE);
#ifdef GEMBA_HAVE_POSTGRESQL
  return !watch->uri || (watch->conn && !watch->connecting);
#else
  return TRUE;
#endif
}

void
gemba_store_watch_free (GembaStoreWatch *watch)
{
  if (!watch)
    return;
#ifdef GEMBA_HAVE_POSTGRESQL
  drop_connection (watch);
  if (watch->retry)
    {
      g_source_destroy (watch->retry);
      g_clear_pointer (&watch->retry, g_source_unref);
    }
#endif
  g_main_context_unref (watch->context);
  g_free (watch->uri);
  g_free (watch->name);
  g_free (watch);
}
