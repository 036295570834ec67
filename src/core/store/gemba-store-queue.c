/* gemba-store-queue.c: the review queue and the frames reserved for testing
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-store"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "gemba-error.h"
#include "gemba-store-private.h"

/* Within a doubt, each frame already taken from a source lowers the doubt of that source's
 * next frame by this much (in nats), so that sources of similar doubt alternate while a
 * source that is clearly less sure still comes first. */
#define SOURCE_PENALTY 0.02

typedef struct
{
  gint64 id;
  gint64 source_id;
  int source_rank;        /* 0: newest source */
  gint64 captured_at;
  gint64 class_id;        /* production's verdict, 0 when none */
  int top, second;        /* indexes of the two likeliest classes, -1 when not classified */
  double margin;          /* top probability minus the second; 0 when not classified */
  double entropy;         /* of production's probabilities, in nats; +inf when not classified */
  gboolean hidden;        /* a near-duplicate of a frame shown instead */
} QueueItem;

typedef struct
{
  int source_rank;
  GArray *items;          /* QueueItem*, least sure first */
  guint next;
  guint taken;
} SourceQueue;

/* The frames production hesitates on between the same two classes. */
typedef struct
{
  int top, second;
  gint64 class_id;
  GArray *sources;        /* SourceQueue */
} DoubtQueue;

static void
read_probabilities (QueueItem *item, const void *blob, int bytes)
{
  const float *p = blob;
  int n = bytes / (int) sizeof (float);
  float top = -1, second = -1;

  item->top = item->second = -1;
  item->margin = 0;
  item->entropy = INFINITY;
  if (!blob || n < 1)
    return;
  item->entropy = 0;
  for (int i = 0; i < n; i++)
    {
      float v = p[i];
      if (v > 0)
        item->entropy -= v * log (v);
      if (v > top)
        {
          second = top;
          item->second = item->top;
          top = v;
          item->top = i;
        }
      else if (v > second)
        {
          second = v;
          item->second = i;
        }
    }
  item->margin = n < 2 ? top : top - second;
}

static int
by_source_time (gconstpointer a, gconstpointer b)
{
  const QueueItem *x = a, *y = b;

  if (x->source_rank != y->source_rank)
    return x->source_rank - y->source_rank;
  if (x->captured_at != y->captured_at)
    return x->captured_at < y->captured_at ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* The least sure first: the highest entropy, then the smallest margin. */
static int
by_doubt (gconstpointer a, gconstpointer b)
{
  const QueueItem *x = *(QueueItem * const *) a, *y = *(QueueItem * const *) b;

  if (x->entropy != y->entropy)
    return x->entropy > y->entropy ? -1 : 1;
  if (x->margin != y->margin)
    return x->margin < y->margin ? -1 : 1;
  /* Newer frames first among equals. */
  if (x->captured_at != y->captured_at)
    return x->captured_at > y->captured_at ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Marks near-duplicates hidden: consecutive frames of one source captured close together
 * with the same production verdict and a similar margin form a run; only its least sure
 * frame shows. Frames production has not classified are never merged. */
static void
hide_near_duplicates (GArray *items)
{
  guint start = 0;

  g_array_sort (items, by_source_time);
  while (start < items->len)
    {
      QueueItem *shown = &g_array_index (items, QueueItem, start);
      guint end = start + 1;

      while (end < items->len)
        {
          QueueItem *prev = &g_array_index (items, QueueItem, end - 1);
          QueueItem *item = &g_array_index (items, QueueItem, end);
          /* Without a verdict nothing says two frames look alike. */
          if (item->source_id == 0 || item->class_id == 0 || item->source_id != prev->source_id ||
              item->captured_at - prev->captured_at > GEMBA_REVIEW_DUPLICATE_USEC ||
              item->class_id != prev->class_id ||
              fabs (item->margin - prev->margin) > GEMBA_REVIEW_DUPLICATE_MARGIN)
            break;
          if (by_doubt (&item, &shown) < 0)
            {
              shown->hidden = TRUE;
              shown = item;
            }
          else
            item->hidden = TRUE;
          end++;
        }
      start = end;
    }
}

static void
doubt_queue_clear (gpointer data)
{
  DoubtQueue *d = data;

  for (guint i = 0; i < d->sources->len; i++)
    g_array_unref (g_array_index (d->sources, SourceQueue, i).items);
  g_array_unref (d->sources);
}

/* The next frame of a doubt: the least sure head over its sources, after the penalty for
 * what was taken from each source; newest source first on ties. */
static SourceQueue *
pick_source (DoubtQueue *d)
{
  SourceQueue *best = NULL;
  double best_score = -INFINITY;

  for (guint i = 0; i < d->sources->len; i++)
    {
      SourceQueue *s = &g_array_index (d->sources, SourceQueue, i);
      const QueueItem *head;
      double v;
      if (s->next >= s->items->len)
        continue;
      head = g_array_index (s->items, QueueItem *, s->next);
      /* Frames not classified (entropy +inf) alternate by source through the penalty too. */
      v = (isinf (head->entropy) ? 1e6 : head->entropy) - SOURCE_PENALTY * s->taken;
      if (!best || v > best_score || (v == best_score && s->source_rank < best->source_rank))
        {
          best = s;
          best_score = v;
        }
    }
  return best;
}

typedef struct
{
  SourceQueue *source;
  const QueueItem *item;
  int order;
} Pick;

static int
by_pick_doubt (gconstpointer a, gconstpointer b)
{
  const Pick *x = a, *y = b;
  int c = by_doubt (&x->item, &y->item);

  return c ? c : x->order - y->order;
}

typedef struct
{
  gint64 class_id;
  guint n;
} ClassCount;

static guint *
class_count (GArray *counts, gint64 class_id)
{
  ClassCount fresh = { class_id, 0 };

  for (guint i = 0; i < counts->len; i++)
    if (g_array_index (counts, ClassCount, i).class_id == class_id)
      return &g_array_index (counts, ClassCount, i).n;
  g_array_append_val (counts, fresh);
  return &g_array_index (counts, ClassCount, counts->len - 1).n;
}

GArray *
gemba_store_list_review_queue (GembaStore *self, GError **error)
{
  g_autoptr(GArray) items = g_array_new (FALSE, FALSE, sizeof (QueueItem));
  g_autoptr(GArray) doubts = g_array_new (FALSE, FALSE, sizeof (DoubtQueue));
  g_autoptr(GArray) queue = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) round = g_array_new (FALSE, FALSE, sizeof (Pick));
  g_autoptr(GArray) counts = g_array_new (FALSE, FALSE, sizeof (ClassCount));
  const guint cap = (guint) (GEMBA_REVIEW_BATCH * GEMBA_REVIEW_MAX_CLASS_SHARE);
  g_autoptr(GembaStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  g_array_set_clear_func (doubts, doubt_queue_clear);
  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self,
                               "SELECT f.id, coalesce(f.source_id, 0), f.captured_at, "
                               "  coalesce(p.class_id, 0), p.probabilities, "
                               "  coalesce((SELECT count(*) FROM sources n WHERE "
                               "    n.created_at > s.created_at OR (n.created_at = s.created_at "
                               "    AND n.id > s.id)), 1000000) "
                               "FROM frames f LEFT JOIN labels l ON l.id = f.label_id "
                               "LEFT JOIN sources s ON s.id = f.source_id "
                               "LEFT JOIN predictions p ON p.model_id = ?1 AND p.frame_id = f.id "
                               "WHERE l.class_id IS NULL AND f.split != 3", error);
  if (!stmt)
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  gemba_db_bind_int64 (stmt, 1, _gemba_store_production_model (self));
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      QueueItem item = { 0 };
      gsize bytes = 0;
      const guint8 *blob = NULL;

      item.id = gemba_db_column_int64 (stmt, 0);
      item.source_id = gemba_db_column_int64 (stmt, 1);
      item.captured_at = gemba_db_column_int64 (stmt, 2);
      item.class_id = gemba_db_column_int64 (stmt, 3);
      if (gemba_db_column_type (stmt, 4) != GEMBA_DB_NULL)
        blob = gemba_db_column_blob (stmt, 4, &bytes);
      read_probabilities (&item, blob, blob ? (int) bytes : 0);
      item.source_rank = gemba_db_column_int (stmt, 5);
      g_array_append_val (items, item);
    }
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not read the review queue"));
      _gemba_store_unlock (self);
      return NULL;
    }
  _gemba_store_unlock (self);

  hide_near_duplicates (items);

  /* Per doubt (the two likeliest classes), per source (items are sorted by source rank). */
  for (guint i = 0; i < items->len; i++)
    {
      QueueItem *item = &g_array_index (items, QueueItem, i);
      DoubtQueue *d = NULL;
      SourceQueue *s = NULL;

      if (item->hidden)
        continue;
      for (guint k = 0; k < doubts->len && !d; k++)
        {
          DoubtQueue *e = &g_array_index (doubts, DoubtQueue, k);
          if (e->top == item->top && e->second == item->second && e->class_id == item->class_id)
            d = e;
        }
      if (!d)
        {
          DoubtQueue fresh = { item->top, item->second, item->class_id,
                               g_array_new (FALSE, FALSE, sizeof (SourceQueue)) };
          g_array_append_val (doubts, fresh);
          d = &g_array_index (doubts, DoubtQueue, doubts->len - 1);
        }
      for (guint k = 0; k < d->sources->len && !s; k++)
        if (g_array_index (d->sources, SourceQueue, k).source_rank == item->source_rank)
          s = &g_array_index (d->sources, SourceQueue, k);
      if (!s)
        {
          SourceQueue fresh = { item->source_rank, g_array_new (FALSE, FALSE, sizeof (QueueItem *)),
                                0, 0 };
          g_array_append_val (d->sources, fresh);
          s = &g_array_index (d->sources, SourceQueue, d->sources->len - 1);
        }
      g_array_append_val (s->items, item);
    }
  for (guint k = 0; k < doubts->len; k++)
    {
      DoubtQueue *d = &g_array_index (doubts, DoubtQueue, k);
      for (guint j = 0; j < d->sources->len; j++)
        g_array_sort (g_array_index (d->sources, SourceQueue, j).items, by_doubt);
    }

  /* Rounds: one frame per doubt, the round's frames least sure first. In each batch of
   * GEMBA_REVIEW_BATCH places a predicted class takes at most GEMBA_REVIEW_MAX_CLASS_SHARE of
   * them while frames of another class wait; a frame over the cap waits for the next round. */
  for (;;)
    {
      guint taken = 0;

      g_array_set_size (round, 0);
      for (guint k = 0; k < doubts->len; k++)
        {
          SourceQueue *s = pick_source (&g_array_index (doubts, DoubtQueue, k));
          Pick pick;
          if (!s)
            continue;
          pick.source = s;
          pick.item = g_array_index (s->items, QueueItem *, s->next);
          pick.order = (int) k;
          g_array_append_val (round, pick);
        }
      if (round->len == 0)
        break;
      g_array_sort (round, by_pick_doubt);
      for (int pass = 0; pass < 2 && taken == 0; pass++)
        for (guint i = 0; i < round->len; i++)
          {
            Pick *pick = &g_array_index (round, Pick, i);
            guint *n;
            if (queue->len % GEMBA_REVIEW_BATCH == 0)
              g_array_set_size (counts, 0);
            n = class_count (counts, pick->item->class_id);
            /* The second pass runs only when every frame left is over the cap. */
            if (pass == 0 && *n >= cap)
              continue;
            (*n)++;
            g_array_append_val (queue, pick->item->id);
            pick->source->next++;
            pick->source->taken++;
            taken++;
          }
    }
  return g_steal_pointer (&queue);
}

/* --- Testing ---------------------------------------------------------------------------- */

typedef struct
{
  gint64 id;
  guint64 order;
} Drawn;

static int
by_order (gconstpointer a, gconstpointer b)
{
  const Drawn *x = a, *y = b;

  return x->order < y->order ? -1 : x->order > y->order;
}

gint64
gemba_store_reserve_test_batch (GembaStore *self, gint64 source_id, guint n, guint64 seed,
                                GError **error)
{
  g_autoptr(GArray) drawn = g_array_new (FALSE, FALSE, sizeof (Drawn));
  g_autoptr(GembaStmt) select = NULL;
  g_autoptr(GembaStmt) update = NULL;
  guint take;

  g_return_val_if_fail (GEMBA_IS_STORE (self), -1);

  if (!gemba_store_require_role (self, GEMBA_ROLE_OWNER,
                                 _("reserving frames for the test split"), error))
    return -1;
  _gemba_store_lock (self);
  if (!_gemba_store_begin (self, error))
    goto out;
  select = _gemba_store_prepare (self, "SELECT f.id FROM frames f LEFT JOIN labels l "
                                       "ON l.id = f.label_id WHERE f.split = 0 "
                                       "AND l.class_id IS NULL AND f.source_id = ?", error);
  if (!select)
    goto fail;
  gemba_db_bind_int64 (select, 1, source_id);
  while (gemba_db_step (select, NULL) == GEMBA_DB_STEP_ROW)
    {
      Drawn d;
      d.id = gemba_db_column_int64 (select, 0);
      d.order = _gemba_store_mix (seed ^ _gemba_store_mix ((guint64) d.id));
      g_array_append_val (drawn, d);
    }
  g_array_sort (drawn, by_order);
  take = MIN (n, drawn->len);
  if (!(update = _gemba_store_prepare (self, "UPDATE frames SET split = ? WHERE id = ?", error)))
    goto fail;
  for (guint i = 0; i < take; i++)
    {
      if (!_gemba_store_set_split (self, update, g_array_index (drawn, Drawn, i).id,
                                   GEMBA_SPLIT_TEST, _("could not reserve frames for testing"),
                                   error))
        goto fail;
    }
  {
    g_autofree char *detail = g_strdup_printf ("{\"source\": %" G_GINT64_FORMAT ", \"reserved\": "
                                               "%u, \"seed\": %" G_GUINT64_FORMAT "}",
                                               source_id, take, seed);
    if (!gemba_store_audit (self, "test-batch", NULL, detail, error) ||
        !_gemba_store_bump_revision (self, error) ||
        !_gemba_store_commit (self, error))
      goto fail;
  }
  _gemba_store_unlock (self);
  return take;

fail:
  _gemba_store_rollback (self);
  _gemba_store_explain_refusal (self, GEMBA_ROLE_OWNER,
                                _("reserving frames for the test split"), error);
out:
  _gemba_store_unlock (self);
  return -1;
}

void
gemba_source_test_counts_free (GArray *counts)
{
  if (!counts)
    return;
  for (guint i = 0; i < counts->len; i++)
    g_free (g_array_index (counts, GembaSourceTestCount, i).source_name);
  g_array_unref (counts);
}

GArray *
gemba_store_count_test_frames_per_source (GembaStore *self, GError **error)
{
  GArray *counts = g_array_new (FALSE, TRUE, sizeof (GembaSourceTestCount));
  g_autoptr(GembaStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self,
                               /* Grouped by the frames' source id alone (frames without a
                                * source are one group), then named: cheaper than grouping
                                * by the joined source's columns too, which PostgreSQL
                                * would want for selecting them. */
                               "SELECT coalesce(c.source_id, 0), s.name, c.labeled, c.test, "
                               "  c.reserved FROM ("
                               "  SELECT f.source_id, "
                               "    sum(CASE WHEN l.class_id IS NOT NULL THEN 1 ELSE 0 END) "
                               "      AS labeled, "
                               "    sum(CASE WHEN l.class_id IS NOT NULL AND f.split = 3 "
                               "        THEN 1 ELSE 0 END) AS test, "
                               "    sum(CASE WHEN l.class_id IS NULL AND f.split = 3 "
                               "        THEN 1 ELSE 0 END) AS reserved "
                               "  FROM frames f LEFT JOIN labels l ON l.id = f.label_id "
                               "  GROUP BY f.source_id) c "
                               "LEFT JOIN sources s ON s.id = c.source_id "
                               "ORDER BY s.created_at IS NULL, s.created_at DESC, s.id DESC",
                               error);
  if (!stmt)
    goto fail;
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      GembaSourceTestCount c;
      c.source_id = gemba_db_column_int64 (stmt, 0);
      c.source_name = _gemba_store_dup_column (stmt, 1);
      c.n_labeled = gemba_db_column_int64 (stmt, 2);
      c.n_test = gemba_db_column_int64 (stmt, 3);
      c.n_reserved = gemba_db_column_int64 (stmt, 4);
      g_array_append_val (counts, c);
    }
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not count the test frames"));
      goto fail;
    }
  _gemba_store_unlock (self);
  return counts;

fail:
  _gemba_store_unlock (self);
  gemba_source_test_counts_free (counts);
  return NULL;
}

gint64
gemba_store_top_up_test_batch (GembaStore *self, gint64 source_id, GError **error)
{
  GArray *counts;
  gint64 have = 0;

  g_return_val_if_fail (GEMBA_IS_STORE (self), -1);

  if (!(counts = gemba_store_count_test_frames_per_source (self, error)))
    return -1;
  for (guint i = 0; i < counts->len; i++)
    {
      const GembaSourceTestCount *c = &g_array_index (counts, GembaSourceTestCount, i);
      if (c->source_id == source_id)
        have = c->n_test + c->n_reserved;
    }
  gemba_source_test_counts_free (counts);
  /* Reserving is the owner's; the others label what an owner reserved. */
  if (have >= GEMBA_MIN_TEST_FRAMES || gemba_store_get_role (self) < GEMBA_ROLE_OWNER)
    return 0;
  return gemba_store_reserve_test_batch (self, source_id, (guint) (GEMBA_MIN_TEST_FRAMES - have),
                                         (guint64) source_id, error);
}
