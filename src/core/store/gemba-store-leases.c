/* gemba-store-leases.c: review-queue leases — several annotators on one queue
 *
 * A lease is a row (frame, holder, claimed_at, expires_at): the frame is handed to nobody
 * else while it is live. Labeling the frame deletes it (in the label's transaction), a
 * release deletes it, and an expired one is taken over by the next claim and removed now
 * and then. Holders are names, not sessions, so a holder that connects again (a restarted
 * server, a new process of the same name) keeps what it held.
 *
 * On a server a claim is a short transaction of its own that does not take the project's
 * write lock (gemba_db_begin's advisory lock), so that claims never queue behind labels and
 * imports: the candidates' frame rows are locked FOR NO KEY UPDATE SKIP LOCKED (concurrent
 * claimers skip each other's candidates instead of waiting, and a label being written is
 * skipped too; NO KEY: the foreign keys that point at frames are not blocked), then
 * INSERT … ON CONFLICT (frame_id) DO UPDATE … WHERE the old lease expired or is the
 * holder's own … RETURNING, in a statement of its own whose snapshot is taken after those
 * row locks: two claimers never both get a frame, even when one read before the other
 * committed, and a frame labeled meanwhile is never leased. Expiry uses the server's clock.
 * On SQLite a claim is one BEGIN IMMEDIATE transaction (serialized with every writer).
 *
 * Statements that touch several leases without the frames' locks (renewing, releasing,
 * cleaning up) skip rows another transaction holds, so that no two of them can wait on each
 * other in a cycle.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-store"

#include "config.h"

#include <unistd.h>
#include <glib/gi18n-lib.h>

#include "gemba-error.h"
#include "gemba-store-private.h"

/* Queue ids sent per statement: a 10,000-frame queue is never sent, nor scanned, whole. */
#define CHUNK 256

/* Frame f has no current label. A scalar subquery, looked up per frame of the chunk: as
 * NOT EXISTS, PostgreSQL may plan an anti-join over every frame of the project, and with
 * statistics that lag behind a labeling session (labels are added fast) it misjudged that
 * join at one row and scanned the chunk once per frame (0.5 s a claim at 2,500 labels). */
#define UNLABELED "(SELECT l.class_id FROM labels l WHERE l.id = f.label_id) IS NULL"

/* --- Helpers -------------------------------------------------------------------------- */

void
gemba_lease_free (GembaLease *lease)
{
  if (!lease)
    return;
  g_free (lease->holder);
  g_free (lease);
}

/* "Now" in µs in SQL: the server's clock on a server (the same all through a statement); on
 * SQLite, this machine's, as a literal. */
static char *
now_sql (GembaStore *self)
{
  if (_gemba_store_is_server (self))
    return g_strdup ("CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000 AS BIGINT)");
  return g_strdup_printf ("%" G_GINT64_FORMAT, _gemba_store_now ());
}

/* A table q(id, pos) of the ids bound as text to parameter ?N (see ids_text), pos counting
 * from 0 in their order. */
static char *
ids_table (GembaStore *self, int n)
{
  if (_gemba_store_is_server (self))
    return g_strdup_printf ("(SELECT id, pos - 1 AS pos FROM unnest(CAST(?%d AS BIGINT[]))"
                            " WITH ORDINALITY AS u(id, pos)) AS q", n);
  return g_strdup_printf ("(SELECT value AS id, key AS pos FROM json_each(?%d)) AS q", n);
}

/* @n ids from @ids as one parameter: a PostgreSQL array, or a JSON array for SQLite. */
static char *
ids_text (GembaStore *self, const gint64 *ids, guint n)
{
  gboolean server = _gemba_store_is_server (self);
  GString *text = g_string_sized_new (16 + n * 8);

  g_string_append_c (text, server ? '{' : '[');
  for (guint i = 0; i < n; i++)
    g_string_append_printf (text, "%s%" G_GINT64_FORMAT, i ? "," : "", ids[i]);
  g_string_append_c (text, server ? '}' : ']');
  return g_string_free (text, FALSE);
}

/* Row locks of the lease rows a statement changes are skipped when another transaction
 * holds them (a server), rather than waited for. */
static const char *
skip_locked (GembaStore *self)
{
  return _gemba_store_is_server (self) ? " FOR UPDATE SKIP LOCKED" : "";
}

static const char *
holder (GembaStore *self)
{
  static gint counter;

  if (!self->lease_holder)
    self->lease_holder = g_strdup_printf ("%s@%s:%d:%d", self->author, g_get_host_name (),
                                          (int) getpid (), g_atomic_int_add (&counter, 1) + 1);
  return self->lease_holder;
}

/* The claim's own transaction: on a server without the project's write lock (see above);
 * inside a caller's batch, a savepoint of it. */
static gboolean
begin_claim (GembaStore *self, GError **error)
{
  if (self->batch_depth > 0 || !_gemba_store_is_server (self))
    return _gemba_store_begin (self, error);
  if (!gemba_store_check_writable (self, error) || !gemba_db_exec (self->conn, "BEGIN", error))
    return FALSE;
  self->batch_depth++;
  return TRUE;
}

/* Runs @stmt, which returns one id per row, adding each to @out (may be NULL). */
static gboolean
collect_ids (GembaStore *self, GembaStmt *stmt, GHashTable *out, const char *doing,
             GError **error)
{
  GembaDbStep step;

  while ((step = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      gint64 id = gemba_db_column_int64 (stmt, 0);
      if (out)
        g_hash_table_add (out, g_memdup2 (&id, sizeof id));
    }
  if (step == GEMBA_DB_STEP_ERROR)
    return _gemba_store_fail (self, error, doing);
  return TRUE;
}

/* A hash of the queue's ids, to know it again. */
static guint
queue_hash (GArray *queue)
{
  guint h = 5381;

  for (guint i = 0; i < queue->len; i++)
    {
      guint64 id = (guint64) g_array_index (queue, gint64, i);
      h = h * 33 + (guint) (id ^ (id >> 32));
    }
  return h;
}

/* --- Claiming --------------------------------------------------------------------------- */

/* Renews the holder's live leases on frames of @queue, first in the queue first, at most
 * @n; adds them to @got. */
static gboolean
take_own (GembaStore *self, GArray *queue, guint n, GHashTable *got, const char *now,
          GError **error)
{
  g_autoptr(GHashTable) own = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g_autoptr(GArray) chosen = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GembaStmt) stmt = NULL;
  g_autofree char *sql = NULL;
  g_autofree char *ids = NULL;
  g_autofree char *table = NULL;

  sql = g_strdup_printf ("SELECT frame_id FROM leases WHERE holder = ? AND expires_at >= %s",
                         now);
  if (!(stmt = _gemba_store_prepare (self, sql, error)))
    return FALSE;
  _gemba_store_bind_text (stmt, 1, holder (self));
  if (!collect_ids (self, stmt, own, _("could not read the leases"), error))
    return FALSE;
  for (guint i = 0; i < queue->len && chosen->len < n && g_hash_table_size (own) > 0; i++)
    if (g_hash_table_remove (own, &g_array_index (queue, gint64, i)))
      g_array_append_val (chosen, g_array_index (queue, gint64, i));
  if (chosen->len == 0)
    return TRUE;

  g_clear_pointer (&stmt, gemba_db_stmt_free);
  g_free (sql);
  table = ids_table (self, 2);
  sql = g_strdup_printf ("UPDATE leases SET expires_at = %1$s + ?3 WHERE frame_id IN "
                         "(SELECT frame_id FROM leases WHERE holder = ?1 AND expires_at >= %1$s "
                         "AND frame_id IN (SELECT id FROM %2$s)%3$s) RETURNING frame_id",
                         now, table, skip_locked (self));
  if (!(stmt = _gemba_store_prepare (self, sql, error)))
    return FALSE;
  ids = ids_text (self, (gint64 *) chosen->data, chosen->len);
  _gemba_store_bind_text (stmt, 1, holder (self));
  _gemba_store_bind_text (stmt, 2, ids);
  gemba_db_bind_int64 (stmt, 3, self->lease_timeout);
  return collect_ids (self, stmt, got, _("could not renew the leases"), error);
}

/* Looks at @len ids of the queue from @ids: the frames that are unlabeled, in order, into
 * @free when nobody holds a live lease on them (leaving out what @got has); *@first is the
 * index of the first unlabeled one (@len when none). */
static gboolean
scan_chunk (GembaStore *self, const gint64 *ids, guint len, GHashTable *got, const char *now,
            GArray *free, guint *first, GError **error)
{
  g_autofree char *table = ids_table (self, 1);
  g_autofree char *text = ids_text (self, ids, len);
  g_autofree char *sql = NULL;
  g_autoptr(GembaStmt) stmt = NULL;
  GembaDbStep step;

  sql = g_strdup_printf ("SELECT q.pos, f.id, EXISTS (SELECT 1 FROM leases le "
                         "WHERE le.frame_id = f.id AND le.expires_at >= %s) "
                         "FROM %s JOIN frames f ON f.id = q.id "
                         "WHERE " UNLABELED " ORDER BY q.pos", now, table);
  if (!(stmt = _gemba_store_prepare (self, sql, error)))
    return FALSE;
  _gemba_store_bind_text (stmt, 1, text);
  *first = len;
  g_array_set_size (free, 0);
  while ((step = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      gint64 id = gemba_db_column_int64 (stmt, 1);

      *first = MIN (*first, (guint) gemba_db_column_int64 (stmt, 0));
      if (gemba_db_column_int64 (stmt, 2) == 0 && !g_hash_table_contains (got, &id))
        {
          gboolean seen = FALSE;
          /* A queue that names a frame twice: claimed once. */
          for (guint i = 0; i < free->len && !seen; i++)
            seen = g_array_index (free, gint64, i) == id;
          if (!seen)
            g_array_append_val (free, id);
        }
    }
  if (step == GEMBA_DB_STEP_ERROR)
    return _gemba_store_fail (self, error, _("could not read the review queue"));
  return TRUE;
}

/* Leases up to @need frames of @candidates (in order) to the holder, adding them to @got;
 * *@n_got is how many. */
static gboolean
lease_candidates (GembaStore *self, GArray *candidates, guint need, const char *now,
                  GHashTable *got, guint *n_got, GError **error)
{
  g_autofree char *table = ids_table (self, 1);
  g_autofree char *text = NULL;
  g_autofree char *sql = NULL;
  g_autoptr(GembaStmt) stmt = NULL;
  g_autoptr(GArray) locked = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint before = g_hash_table_size (got);

  *n_got = 0;
  if (_gemba_store_is_server (self))
    {
      /* Lock the first @need candidates nobody else is locking (another claimer, a label). */
      text = ids_text (self, (gint64 *) candidates->data, candidates->len);
      sql = g_strdup_printf ("SELECT f.id FROM %s JOIN frames f ON f.id = q.id ORDER BY q.pos "
                             "LIMIT ?2 FOR NO KEY UPDATE OF f SKIP LOCKED", table);
      if (!(stmt = _gemba_store_prepare (self, sql, error)))
        return FALSE;
      _gemba_store_bind_text (stmt, 1, text);
      gemba_db_bind_int64 (stmt, 2, need);
      GembaDbStep step;

      while ((step = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
        {
          gint64 id = gemba_db_column_int64 (stmt, 0);
          g_array_append_val (locked, id);
        }
      if (step == GEMBA_DB_STEP_ERROR)
        return _gemba_store_fail (self, error, _("could not claim frames"));
      g_clear_pointer (&stmt, gemba_db_stmt_free);
      g_clear_pointer (&text, g_free);
      g_clear_pointer (&sql, g_free);
    }
  else
    g_array_append_vals (locked, candidates->data, MIN (need, candidates->len));
  if (locked->len == 0)
    return TRUE;

  /* A statement of its own, after the locks: it sees every label and lease committed
   * before them, and nobody labels these frames until the claim commits. */
  text = ids_text (self, (gint64 *) locked->data, locked->len);
  sql = g_strdup_printf ("INSERT INTO leases (frame_id, holder, claimed_at, expires_at) "
                         "SELECT f.id, ?2, %1$s, %1$s + ?3 FROM %2$s JOIN frames f "
                         "ON f.id = q.id WHERE " UNLABELED " "
                         "ON CONFLICT (frame_id) DO UPDATE SET holder = excluded.holder, "
                         "claimed_at = excluded.claimed_at, expires_at = excluded.expires_at "
                         "WHERE leases.expires_at < excluded.claimed_at "
                         "OR leases.holder = excluded.holder "
                         "RETURNING frame_id", now, table);
  if (!(stmt = _gemba_store_prepare (self, sql, error)))
    return FALSE;
  _gemba_store_bind_text (stmt, 1, text);
  _gemba_store_bind_text (stmt, 2, holder (self));
  gemba_db_bind_int64 (stmt, 3, self->lease_timeout);
  if (!collect_ids (self, stmt, got, _("could not claim frames"), error))
    return FALSE;
  *n_got = g_hash_table_size (got) - before;
  return TRUE;
}

/* Removes expired leases now and then (a claim takes an expired lease over anyway): at most
 * once per lease timeout per store, outside the claim's transaction. */
static void
clean_expired (GembaStore *self)
{
  g_autofree char *now = NULL;
  g_autofree char *sql = NULL;
  g_autoptr(GembaStmt) stmt = NULL;
  gint64 t = g_get_monotonic_time ();

  if (self->batch_depth > 0 ||
      (self->lease_cleaned_at && t - self->lease_cleaned_at < self->lease_timeout))
    return;
  self->lease_cleaned_at = t;
  now = now_sql (self);
  sql = g_strdup_printf ("DELETE FROM leases WHERE frame_id IN (SELECT frame_id FROM leases "
                         "WHERE expires_at < %s%s)", now, skip_locked (self));
  if ((stmt = _gemba_store_prepare (self, sql, NULL)))
    gemba_db_step (stmt, NULL);
}

static gboolean
claim (GembaStore *self, GArray *queue, guint n, GHashTable *got, GError **error)
{
  g_autofree char *now = now_sql (self);
  g_autoptr(GArray) free = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint hash = queue_hash (queue);
  guint start;
  gboolean contiguous = TRUE;

  if (!take_own (self, queue, n, got, now, error))
    return FALSE;

  /* The leading frames of this queue that were labeled when it was last claimed from are
   * not looked at again (they leave the queue for good, unless a label is cleared: the next
   * listing of the queue brings such a frame back). */
  if (hash != self->lease_queue_hash || queue->len != self->lease_queue_len)
    {
      self->lease_queue_hash = hash;
      self->lease_queue_len = queue->len;
      self->lease_queue_done = 0;
    }
  for (start = self->lease_queue_done; start < queue->len && g_hash_table_size (got) < n;
       start += CHUNK)
    {
      guint len = MIN (CHUNK, queue->len - start);
      const gint64 *ids = &g_array_index (queue, gint64, start);

      /* A second pass when some were lost to another claimer that committed first: those
       * are leased now, and left out. */
      for (guint pass = 0; pass < 2 && g_hash_table_size (got) < n; pass++)
        {
          guint first, need = n - g_hash_table_size (got), n_got;

          if (!scan_chunk (self, ids, len, got, now, free, &first, error))
            return FALSE;
          if (pass == 0 && contiguous)
            {
              self->lease_queue_done = start + first;
              contiguous = first == len;
            }
          if (free->len == 0)
            break;
          if (!lease_candidates (self, free, need, now, got, &n_got, error))
            return FALSE;
          if (n_got == MIN (free->len, need))
            break;
        }
    }
  return TRUE;
}

GArray *
gemba_store_claim_frames (GembaStore *self, GArray *queue, guint n, GError **error)
{
  g_autoptr(GHashTable) got = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g_autoptr(GArray) claimed = g_array_new (FALSE, FALSE, sizeof (gint64));
  gboolean ok;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  g_return_val_if_fail (queue != NULL, NULL);

  if (n == 0 || queue->len == 0)
    return g_steal_pointer (&claimed);
  if (!gemba_store_require_role (self, GEMBA_ROLE_ANNOTATOR, _("claiming frames"), error))
    return NULL;
  _gemba_store_lock (self);
  self->lease_claimed = TRUE;
  if (!begin_claim (self, error))
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  if (!(ok = claim (self, queue, n, got, error)))
    {
      _gemba_store_rollback (self);
      _gemba_store_explain_refusal (self, GEMBA_ROLE_ANNOTATOR, _("claiming frames"), error);
    }
  else if ((ok = _gemba_store_commit (self, error)))
    clean_expired (self);
  if (!ok)
    {
      /* A rolled-back claim changed nothing: the labeled prefix it saw may not hold. */
      self->lease_queue_len = 0;
    }
  _gemba_store_unlock (self);
  if (!ok)
    return NULL;
  for (guint i = 0; i < queue->len && g_hash_table_size (got) > 0; i++)
    {
      gint64 id = g_array_index (queue, gint64, i);
      if (g_hash_table_remove (got, &id))
        g_array_append_val (claimed, id);
    }
  return g_steal_pointer (&claimed);
}

/* --- Holding and releasing ------------------------------------------------------------ */

void
gemba_store_set_lease_holder (GembaStore *self, const char *name)
{
  g_return_if_fail (GEMBA_IS_STORE (self));
  g_return_if_fail (name != NULL && *name);

  _gemba_store_lock (self);
  if (g_strcmp0 (self->lease_holder, name) != 0)
    {
      g_free (self->lease_holder);
      self->lease_holder = g_strdup (name);
    }
  self->lease_holder_named = TRUE;
  _gemba_store_unlock (self);
}

const char *
gemba_store_get_lease_holder (GembaStore *self)
{
  const char *name;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  _gemba_store_lock (self);
  name = holder (self);
  _gemba_store_unlock (self);
  return name;
}

void
gemba_store_set_lease_timeout (GembaStore *self, gint64 usec)
{
  g_return_if_fail (GEMBA_IS_STORE (self));
  g_return_if_fail (usec > 0);
  _gemba_store_lock (self);
  self->lease_timeout = usec;
  _gemba_store_unlock (self);
}

gint64
gemba_store_get_lease_timeout (GembaStore *self)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), 0);
  return self->lease_timeout;
}

/* Runs one statement on the holder's leases (:holder, :timeout, :frame),
 * without a transaction of its own: it changes only leases. */
static gboolean
run_on_leases (GembaStore *self, const char *sql, gint64 frame_id, const char *doing,
               GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gboolean ok = FALSE;

  if (!gemba_store_check_writable (self, error))
    return FALSE;
  _gemba_store_lock (self);
  if ((stmt = _gemba_store_prepare (self, sql, error)))
    {
      int index;
      if ((index = gemba_db_bind_parameter_index (stmt, ":holder")) > 0)
        _gemba_store_bind_text (stmt, index, holder (self));
      if ((index = gemba_db_bind_parameter_index (stmt, ":timeout")) > 0)
        gemba_db_bind_int64 (stmt, index, self->lease_timeout);
      if ((index = gemba_db_bind_parameter_index (stmt, ":frame")) > 0)
        gemba_db_bind_int64 (stmt, index, frame_id);
      ok = gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_DONE ||
           _gemba_store_fail (self, error, doing);
      if (!ok)
        _gemba_store_explain_refusal (self, GEMBA_ROLE_ANNOTATOR, doing, error);
    }
  _gemba_store_unlock (self);
  return ok;
}

gboolean
gemba_store_renew_leases (GembaStore *self, GError **error)
{
  g_autofree char *now = NULL;
  g_autofree char *sql = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  now = now_sql (self);
  sql = g_strdup_printf ("UPDATE leases SET expires_at = %1$s + :timeout WHERE frame_id IN "
                         "(SELECT frame_id FROM leases WHERE holder = :holder "
                         "AND expires_at >= %1$s%2$s)", now, skip_locked (self));
  return run_on_leases (self, sql, 0, _("renewing the leases"), error);
}

gboolean
gemba_store_release_frame (GembaStore *self, gint64 frame_id, GError **error)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  return run_on_leases (self, "DELETE FROM leases WHERE holder = :holder AND frame_id = :frame",
                        frame_id, _("releasing a frame"), error);
}

gboolean
gemba_store_release_leases (GembaStore *self, GError **error)
{
  g_autofree char *sql = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  sql = g_strdup_printf ("DELETE FROM leases WHERE frame_id IN (SELECT frame_id FROM leases "
                         "WHERE holder = :holder%s)", skip_locked (self));
  return run_on_leases (self, sql, 0, _("releasing the leases"), error);
}

GPtrArray *
gemba_store_list_leases (GembaStore *self, GError **error)
{
  g_autoptr(GPtrArray) leases = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_lease_free);
  g_autoptr(GembaStmt) stmt = NULL;
  g_autofree char *now = NULL;
  g_autofree char *sql = NULL;
  GembaDbStep step;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  now = now_sql (self);
  sql = g_strdup_printf ("SELECT frame_id, holder, claimed_at, expires_at, %1$s FROM leases "
                         "WHERE expires_at >= %1$s ORDER BY holder, claimed_at, frame_id", now);
  if (!(stmt = _gemba_store_prepare (self, sql, error)))
    goto out;
  while ((step = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      GembaLease *lease = g_new0 (GembaLease, 1);
      /* The server's clock to this machine's. */
      gint64 shift = _gemba_store_now () - gemba_db_column_int64 (stmt, 4);

      lease->frame_id = gemba_db_column_int64 (stmt, 0);
      lease->holder = _gemba_store_dup_column (stmt, 1);
      lease->claimed_at = gemba_db_column_int64 (stmt, 2) + shift;
      lease->expires_at = gemba_db_column_int64 (stmt, 3) + shift;
      g_ptr_array_add (leases, lease);
    }
  if (step == GEMBA_DB_STEP_ERROR)
    {
      _gemba_store_fail (self, error, _("could not read the leases"));
      g_clear_pointer (&leases, g_ptr_array_unref);
    }
out:
  _gemba_store_unlock (self);
  return stmt ? g_steal_pointer (&leases) : NULL;
}

/* --- Private -------------------------------------------------------------------------- */

gboolean
_gemba_store_end_lease (GembaStore *self, gint64 frame_id, GError **error)
{
  g_auto(GembaCachedStmt) cached = _gemba_store_take_cached (
    self, "DELETE FROM leases WHERE frame_id = ?", error);

  if (!cached.stmt)
    return FALSE;
  gemba_db_bind_int64 (cached.stmt, 1, frame_id);
  if (gemba_db_step (cached.stmt, NULL) != GEMBA_DB_STEP_DONE)
    return _gemba_store_fail (self, error, _("could not save the label"));
  return TRUE;
}

void
_gemba_store_release_own_leases (GembaStore *self)
{
  /* Best effort: never connect again for it, nor write inside a caller's batch. */
  if (!self->lease_claimed || self->lease_holder_named || self->read_only ||
      self->batch_depth > 0 || !gemba_db_is_connected (self->conn))
    return;
  gemba_store_release_leases (self, NULL);
}
