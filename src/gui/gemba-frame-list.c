/* gemba-frame-list.c: a GListModel of the frames matching a query, read from the store a page
 * at a time
 *
 * The list holds only the row ids of its frames (8 bytes each: 800 kB for 100,000 frames),
 * read in one worker-thread query. Items are made when the view asks for a position and kept
 * in a small cache; their rows are read a page at a time by one worker thread, newest request
 * first, so after a jump to the end of the grid the rows on screen come before the rows that
 * scrolled by.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <sys/resource.h>
#include <unistd.h>

#include "gemba-frame-list.h"

#define PAGE_SIZE 48
#define CACHE_SIZE 1536
#define KEPT_PAGES 24      /* rows read ahead or behind, kept for items not made yet */

struct _GembaFrameList
{
  GObject parent_instance;

  GembaProject *project;
  GembaFrameQuery query;
  GArray *ids;                 /* gint64 row ids, in order */
  guint generation;            /* bumped on every reload; stale pages are ignored */
  gboolean loading;
  GCancellable *cancellable;

  GHashTable *items;           /* frame id → GList link in lru (data: GembaFrameItem, owned) */
  GQueue lru;
  GHashTable *pending_pages;   /* page index → TRUE */
  GHashTable *kept_frames;     /* frame id → GembaFrame, owned by a page in kept_pages */
  GHashTable *stale;           /* frame ids of items whose rows were read before a reload */
  GQueue kept_pages;           /* GPtrArray of GembaFrame, oldest first */
  GThreadPool *pool;
  guint64 next_serial;
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (GembaFrameList, gemba_frame_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

enum { LOADED, ROWS_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

typedef struct
{
  guint64 serial;
  GTask *task;
  GembaStore *store;
  GArray *ids;       /* the page's ids */
  guint page;
  guint generation;
  GPtrArray *frames; /* result */
} PageJob;

typedef struct
{
  GembaFrameQuery query;
  guint generation;
  char *lease_holder;
} ReloadData;

static void
reload_data_free (ReloadData *data)
{
  g_free (data->lease_holder);
  g_free (data);
}

static void
page_job_free (PageJob *job)
{
  g_clear_object (&job->task);
  g_clear_object (&job->store);
  g_clear_pointer (&job->ids, g_array_unref);
  g_clear_pointer (&job->frames, g_ptr_array_unref);
  g_free (job);
}

static gint
job_newest_first (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const PageJob *ja = a, *jb = b;

  return ja->serial < jb->serial ? 1 : ja->serial > jb->serial ? -1 : 0;
}

static void
page_worker (gpointer data, gpointer user_data)
{
  static GPrivate niced;
  PageJob *job = data;

  /* Behind the main thread, as the thumbnailer's workers: see there. */
  if (!g_private_get (&niced))
    {
      setpriority (PRIO_PROCESS, (id_t) gettid (), 3);
      g_private_set (&niced, GINT_TO_POINTER (1));
    }

  job->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_frame_free);
  for (guint i = 0; i < job->ids->len; i++)
    {
      g_autoptr(GError) error = NULL;
      GembaFrame *frame = gemba_store_get_frame (job->store, g_array_index (job->ids, gint64, i),
                                                 &error);
      /* A frame deleted since the ids were read stays a blank cell until the next reload. */
      if (frame)
        g_ptr_array_add (job->frames, frame);
    }
  g_task_return_pointer (job->task, job, (GDestroyNotify) page_job_free);
}

static void
forget_pages (GembaFrameList *self)
{
  g_hash_table_remove_all (self->pending_pages);
  g_hash_table_remove_all (self->kept_frames);
  g_queue_clear_full (&self->kept_pages, (GDestroyNotify) g_ptr_array_unref);
}

static void
clear_items (GembaFrameList *self)
{
  g_hash_table_remove_all (self->items);
  g_queue_clear_full (&self->lru, g_object_unref);
  g_hash_table_remove_all (self->stale);
  forget_pages (self);
}

/* A reload keeps the items (the same objects, so that the selection stays on its frame and a
 * label key pressed meanwhile finds its frame) with the rows they had, read again when next
 * asked for. Items of frames that left the list age out of the cache. */
static void
keep_items (GembaFrameList *self)
{
  for (GList *l = self->lru.head; l; l = l->next)
    if (gemba_frame_item_get_frame (l->data))
      {
        gint64 id = gemba_frame_item_get_id (l->data);
        g_hash_table_add (self->stale, g_memdup2 (&id, sizeof id));
      }
  forget_pages (self);
}

static void
keep_page (GembaFrameList *self, GPtrArray *frames)
{
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = g_ptr_array_index (frames, i);
      if (frame)
        g_hash_table_insert (self->kept_frames, &frame->id, frame);
    }
  g_queue_push_tail (&self->kept_pages, g_ptr_array_ref (frames));
  while (self->kept_pages.length > KEPT_PAGES)
    {
      g_autoptr(GPtrArray) old = g_queue_pop_head (&self->kept_pages);
      for (guint i = 0; i < old->len; i++)
        {
          GembaFrame *frame = g_ptr_array_index (old, i);
          if (frame && g_hash_table_lookup (self->kept_frames, &frame->id) == frame)
            g_hash_table_remove (self->kept_frames, &frame->id);
        }
    }
}

static GembaFrameItem *
lookup_item (GembaFrameList *self, gint64 id)
{
  GList *link = g_hash_table_lookup (self->items, &id);

  if (!link)
    return NULL;
  g_queue_unlink (&self->lru, link);
  g_queue_push_head_link (&self->lru, link);
  return link->data;
}

static void
evict (GembaFrameList *self)
{
  GList *link = self->lru.tail;

  /* Items a cell still shows (someone else holds a reference) stay, so that their rows
   * arrive where they are seen. */
  while (self->lru.length > CACHE_SIZE && link)
    {
      GList *prev = link->prev;
      GembaFrameItem *item = link->data;

      if (G_OBJECT (item)->ref_count == 1)
        {
          gint64 id = gemba_frame_item_get_id (item);
          g_hash_table_remove (self->items, &id);
          g_hash_table_remove (self->stale, &id);
          g_queue_delete_link (&self->lru, link);
          g_object_unref (item);
        }
      link = prev;
    }
}

static void
page_loaded_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  GembaFrameList *self = GEMBA_FRAME_LIST (object);
  PageJob *job = g_task_propagate_pointer (G_TASK (result), NULL);

  if (!job)
    return;
  if (job->generation == self->generation)
    {
      g_hash_table_remove (self->pending_pages, GUINT_TO_POINTER (job->page));
      for (guint i = 0; i < job->frames->len; i++)
        {
          GembaFrame *frame = g_ptr_array_index (job->frames, i);
          GList *link = g_hash_table_lookup (self->items, &frame->id);

          if (link && (g_hash_table_remove (self->stale, &frame->id) ||
                       !gemba_frame_item_get_frame (link->data)))
            gemba_frame_item_set_frame (link->data, gemba_frame_copy (frame));
        }
      /* Rows read ahead are kept, so that the items made when they scroll into view come
       * with their frame: one layout instead of a blank cell and a second one. */
      keep_page (self, job->frames);
      g_signal_emit (self, signals[ROWS_CHANGED], 0);
    }
  page_job_free (job);
}

static void
request_page (GembaFrameList *self, guint page)
{
  PageJob *job;
  guint start = page * PAGE_SIZE;
  guint end = MIN (start + PAGE_SIZE, self->ids->len);

  if (start >= end || g_hash_table_contains (self->pending_pages, GUINT_TO_POINTER (page)))
    return;
  g_hash_table_add (self->pending_pages, GUINT_TO_POINTER (page));

  job = g_new0 (PageJob, 1);
  job->serial = ++self->next_serial;
  job->store = g_object_ref (gemba_project_get_reader (self->project));
  job->ids = g_array_sized_new (FALSE, FALSE, sizeof (gint64), end - start);
  g_array_append_vals (job->ids, &g_array_index (self->ids, gint64, start), end - start);
  job->page = page;
  job->generation = self->generation;
  job->task = g_task_new (self, NULL, page_loaded_cb, NULL);
  g_task_set_source_tag (job->task, request_page);
  g_thread_pool_push (self->pool, job, NULL);
}

static GType
gemba_frame_list_get_item_type (GListModel *model)
{
  return GEMBA_TYPE_FRAME_ITEM;
}

static guint
gemba_frame_list_get_n_items (GListModel *model)
{
  GembaFrameList *self = GEMBA_FRAME_LIST (model);

  return self->ids ? self->ids->len : 0;
}

static gpointer
gemba_frame_list_get_item (GListModel *model, guint position)
{
  GembaFrameList *self = GEMBA_FRAME_LIST (model);
  GembaFrameItem *item;
  gint64 id;

  if (!self->ids || position >= self->ids->len)
    return NULL;
  id = g_array_index (self->ids, gint64, position);
  if (!(item = lookup_item (self, id)))
    {
      const GembaFrame *kept = g_hash_table_lookup (self->kept_frames, &id);

      item = gemba_frame_item_new (id);
      if (kept)
        gemba_frame_item_set_frame (item, gemba_frame_copy (kept));
      g_queue_push_head (&self->lru, item);
      g_hash_table_insert (self->items, g_memdup2 (&id, sizeof id), self->lru.head);
      evict (self);
    }
  if (!gemba_frame_item_get_frame (item) || g_hash_table_contains (self->stale, &id))
    {
      guint page = position / PAGE_SIZE;

      /* This page first (newest request first), then the pages around it. */
      if (page > 0)
        request_page (self, page - 1);
      request_page (self, page + 1);
      request_page (self, page);
    }
  return g_object_ref (item);
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = gemba_frame_list_get_item_type;
  iface->get_n_items = gemba_frame_list_get_n_items;
  iface->get_item = gemba_frame_list_get_item;
}

static void
gemba_frame_list_dispose (GObject *object)
{
  GembaFrameList *self = GEMBA_FRAME_LIST (object);

  g_cancellable_cancel (self->cancellable);
  if (self->pool)
    g_thread_pool_free (g_steal_pointer (&self->pool), TRUE, TRUE);
  clear_items (self);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->project);
  G_OBJECT_CLASS (gemba_frame_list_parent_class)->dispose (object);
}

static void
gemba_frame_list_finalize (GObject *object)
{
  GembaFrameList *self = GEMBA_FRAME_LIST (object);

  g_clear_pointer (&self->ids, g_array_unref);
  g_hash_table_destroy (self->items);
  g_hash_table_destroy (self->pending_pages);
  g_hash_table_destroy (self->kept_frames);
  g_hash_table_destroy (self->stale);
  G_OBJECT_CLASS (gemba_frame_list_parent_class)->finalize (object);
}

static void
gemba_frame_list_class_init (GembaFrameListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gemba_frame_list_dispose;
  object_class->finalize = gemba_frame_list_finalize;

  signals[LOADED] = g_signal_new ("loaded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
  /* Rows were read or changed: items show other frames now. */
  signals[ROWS_CHANGED] = g_signal_new ("rows-changed", G_TYPE_FROM_CLASS (klass),
                                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
gemba_frame_list_init (GembaFrameList *self)
{
  self->items = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  self->pending_pages = g_hash_table_new (NULL, NULL);
  self->kept_frames = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->stale = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g_queue_init (&self->kept_pages);
  g_queue_init (&self->lru);
  self->pool = g_thread_pool_new (page_worker, self, 1, FALSE, NULL);
  g_thread_pool_set_sort_function (self->pool, job_newest_first, NULL);
}

GembaFrameList *
gemba_frame_list_new (GembaProject *project)
{
  GembaFrameList *self = g_object_new (GEMBA_TYPE_FRAME_LIST, NULL);

  self->project = g_object_ref (project);
  return self;
}

static void
reload_thread (GTask *task, gpointer source_object, gpointer task_data,
               GCancellable *cancellable)
{
  GembaStore *store = source_object;
  ReloadData *data = task_data;
  GError *error = NULL;
  GArray *ids = gemba_store_list_frame_ids (store, &data->query, &error);
  g_autoptr(GPtrArray) leases = NULL;

  if (!ids)
    {
      g_task_return_error (task, error);
      return;
    }
  /* A team project's review queue: the frames other members hold are theirs to label. (A
   * lease that fails to read leaves them in: a claim tells again.) */
  if (data->query.filter == GEMBA_FILTER_REVIEW && data->lease_holder &&
      (leases = gemba_store_list_leases (store, NULL)) && leases->len > 0)
    {
      g_autoptr(GHashTable) others = g_hash_table_new (g_int64_hash, g_int64_equal);
      guint kept = 0;

      for (guint i = 0; i < leases->len; i++)
        {
          GembaLease *lease = g_ptr_array_index (leases, i);
          if (g_strcmp0 (lease->holder, data->lease_holder) != 0)
            g_hash_table_add (others, &lease->frame_id);
        }
      for (guint i = 0; i < ids->len; i++)
        if (!g_hash_table_contains (others, &g_array_index (ids, gint64, i)))
          g_array_index (ids, gint64, kept++) = g_array_index (ids, gint64, i);
      g_array_set_size (ids, kept);
    }
  g_task_return_pointer (task, ids, (GDestroyNotify) g_array_unref);
}

static void
reloaded_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaFrameList) self = user_data;
  ReloadData *data = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  GArray *ids = g_task_propagate_pointer (G_TASK (result), &error);
  guint old_len;

  if (data->generation != self->generation)
    {
      g_clear_pointer (&ids, g_array_unref);
      return;
    }
  self->loading = FALSE;
  if (!ids)
    {
      g_signal_emit (self, signals[LOADED], 0, error);
      return;
    }
  old_len = self->ids ? self->ids->len : 0;
  keep_items (self);
  g_clear_pointer (&self->ids, g_array_unref);
  self->ids = ids;
  g_list_model_items_changed (G_LIST_MODEL (self), 0, old_len, ids->len);
  g_signal_emit (self, signals[LOADED], 0, NULL);
}

void
gemba_frame_list_set_query (GembaFrameList *self, const GembaFrameQuery *query)
{
  g_autoptr(GTask) task = NULL;
  ReloadData *data;

  g_return_if_fail (GEMBA_IS_FRAME_LIST (self));

  self->query = *query;
  self->generation++;
  self->loading = TRUE;
  data = g_new0 (ReloadData, 1);
  data->query = *query;
  data->generation = self->generation;
  /* A team project: the review queue leaves out the frames other lease holders hold. */
  data->lease_holder = g_strdup (gemba_project_get_lease_holder (self->project));
  task = g_task_new (gemba_project_get_reader (self->project), NULL, reloaded_cb,
                     g_object_ref (self));
  g_task_set_source_tag (task, gemba_frame_list_set_query);
  g_task_set_task_data (task, data, (GDestroyNotify) reload_data_free);
  g_task_run_in_thread (task, reload_thread);
}

const GembaFrameQuery *
gemba_frame_list_get_query (GembaFrameList *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_LIST (self), NULL);
  return &self->query;
}

gboolean
gemba_frame_list_is_loading (GembaFrameList *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_LIST (self), FALSE);
  return self->loading;
}

guint
gemba_frame_list_find (GembaFrameList *self, gint64 frame_id)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_LIST (self), G_MAXUINT);

  if (!self->ids)
    return G_MAXUINT;
  for (guint i = 0; i < self->ids->len; i++)
    if (g_array_index (self->ids, gint64, i) == frame_id)
      return i;
  return G_MAXUINT;
}

void
gemba_frame_list_prefetch (GembaFrameList *self, guint position)
{
  g_return_if_fail (GEMBA_IS_FRAME_LIST (self));

  if (self->ids && position < self->ids->len)
    request_page (self, position / PAGE_SIZE);
}

void
gemba_frame_list_update_frame (GembaFrameList *self, GembaFrame *frame)
{
  GList *link;

  g_return_if_fail (GEMBA_IS_FRAME_LIST (self));

  /* A kept row is stale now: an item made later reads it again. */
  g_hash_table_remove (self->kept_frames, &frame->id);
  g_hash_table_remove (self->stale, &frame->id);
  if ((link = g_hash_table_lookup (self->items, &frame->id)))
    gemba_frame_item_set_frame (link->data, frame);
  else
    gemba_frame_free (frame);
  g_signal_emit (self, signals[ROWS_CHANGED], 0);
}

const GArray *
gemba_frame_list_get_ids (GembaFrameList *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_LIST (self), NULL);
  return self->ids;
}

guint
gemba_frame_list_remove_frames (GembaFrameList *self, GHashTable *frame_ids)
{
  guint removed = 0;

  g_return_val_if_fail (GEMBA_IS_FRAME_LIST (self), 0);

  if (!self->ids)
    return 0;
  /* From the end, so that the positions told are those of the list as it is then. */
  for (guint i = self->ids->len; i-- > 0;)
    if (g_hash_table_contains (frame_ids, &g_array_index (self->ids, gint64, i)))
      {
        g_array_remove_index (self->ids, i);
        /* The pages being read were cut at the old positions: their rows still land by id. */
        g_list_model_items_changed (G_LIST_MODEL (self), i, 1, 0);
        removed++;
      }
  return removed;
}
