/* gemba-leaser.c: the frames of a team project's review queue this workbench holds
 *
 * While the Frames page shows a team project's review queue, the frames from the selected one
 * on are claimed a few ahead of the annotator (leases, gemba_store_claim_frames()): the frame
 * shown and the next AHEAD - 1. A claim is made when fewer than LOW_WATER of the frames from
 * the selected one on are held, one claim at a time, on the project's team thread (never
 * behind labels, never on the main thread). Frames that other members hold are taken out of
 * the list: the annotator does not see them, and when the frame shown is one, the next one is
 * shown. The project renews what is held every GEMBA_LEASE_TIMEOUT_USEC / 4.
 *
 * Skipping: a frame the annotator moved past without labeling stays held while it is at most
 * BEHIND places behind the selected one (stepping back a frame or two finds it still there),
 * and is released once further behind, so that someone else gets it now rather than after the
 * timeout. A labeled frame's lease ends with its label. Leaving the review queue (another
 * filter, another project, closing the window) releases everything held; a workbench that
 * dies leaves its leases to the timeout.
 *
 * While the server is away, claims fail quietly (the window's bar says it is reconnecting):
 * the annotator goes on through the frames already listed, and labels wait in the outbox.
 * Once the server answers, the next move claims again; the holder's own live leases come
 * back first.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include "gemba-leaser.h"
#include "gemba-probe.h"

#define AHEAD 8          /* frames claimed from the selected one on */
#define LOW_WATER 4      /* claim again when fewer of the next ones are held */
#define WINDOW 48        /* frames of the list offered to a claim (others may hold some) */
#define BEHIND 2         /* skipped frames kept this many places behind the selected one */

struct _GembaLeaser
{
  GObject parent_instance;

  GembaProject *project;         /* a team project, else NULL */
  GembaFrameList *list;
  GtkSingleSelection *selection;
  gboolean active;
  GHashTable *held;              /* gint64 * frame ids claimed and not labeled or released */
  GHashTable *unavailable;       /* gint64 * frame ids a claim skipped (labeled meanwhile) */
  gboolean claiming;
  gboolean claim_again;
  guint generation;              /* bumped when the list or activity changes */
  guint update_id;
};

G_DEFINE_FINAL_TYPE (GembaLeaser, gemba_leaser, G_TYPE_OBJECT)

typedef struct
{
  GembaLeaser *self;             /* a reference */
  guint generation;
  GArray *queue;
} ClaimCall;

static void schedule_update (GembaLeaser *self);

static void
claim_call_free (ClaimCall *call)
{
  g_object_unref (call->self);
  g_array_unref (call->queue);
  g_free (call);
}

static void
add_id (GHashTable *set, gint64 id)
{
  g_hash_table_add (set, g_memdup2 (&id, sizeof id));
}

/* Releases the frames held outside [pos - BEHIND, pos + 2 AHEAD): skipped, or left behind by a
 * jump elsewhere in the list. */
static void
release_far (GembaLeaser *self, const GArray *ids, guint pos)
{
  g_autoptr(GHashTable) near = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autoptr(GArray) far = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint start = pos > BEHIND ? pos - BEHIND : 0;
  guint end = MIN (pos + 2 * AHEAD, ids->len);
  GHashTableIter iter;
  gint64 *id;

  for (guint i = start; i < end; i++)
    g_hash_table_add (near, &g_array_index (ids, gint64, i));
  g_hash_table_iter_init (&iter, self->held);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, NULL))
    if (!g_hash_table_contains (near, id))
      {
        g_array_append_val (far, *id);
        g_hash_table_iter_remove (&iter);
      }
  if (far->len > 0)
    {
      gemba_probe_log ("leases-released", "n=%u", far->len);
      gemba_project_release_frames (self->project, far);
    }
}

static void
claimed_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  ClaimCall *call = user_data;
  GembaLeaser *self = call->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaProjectClaim) claim =
    gemba_project_claim_finish (GEMBA_PROJECT (object), result, &error);
  g_autoptr(GHashTable) claimed = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autoptr(GHashTable) others = g_hash_table_new (g_int64_hash, g_int64_equal);
  GHashTableIter iter;
  gint64 *id;
  guint removed = 0;
  guint last = 0;

  /* A claim for a list or a queue left since: what it got is released with the rest when
   * the queue is left, or comes back first at the next claim. */
  if (call->generation != self->generation)
    {
      claim_call_free (call);
      return;
    }
  self->claiming = FALSE;
  if (!claim)
    {
      g_debug ("could not claim frames of the review queue: %s", error->message);
      gemba_probe_log ("leases-failed", "reconnecting=%d",
                       gemba_project_get_reconnecting (self->project));
      claim_call_free (call);
      return;
    }
  for (guint i = 0; i < claim->claimed->len; i++)
    {
      add_id (self->held, g_array_index (claim->claimed, gint64, i));
      g_hash_table_add (claimed, &g_array_index (claim->claimed, gint64, i));
    }
  g_hash_table_iter_init (&iter, claim->others);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, NULL))
    if (!g_hash_table_contains (self->held, id))
      g_hash_table_add (others, id);
  /* Frames of the queue before the last one claimed that nobody holds were labeled since the
   * list was read: claiming them again would not help. */
  for (guint i = 0; i < call->queue->len; i++)
    if (g_hash_table_contains (claimed, &g_array_index (call->queue, gint64, i)))
      last = i;
  for (guint i = 0; i < last; i++)
    {
      gint64 qid = g_array_index (call->queue, gint64, i);
      if (!g_hash_table_contains (claimed, &qid) && !g_hash_table_contains (others, &qid))
        add_id (self->unavailable, qid);
    }
  if (g_hash_table_size (others) > 0)
    removed = gemba_frame_list_remove_frames (self->list, others);
  gemba_probe_log ("leases", "claimed=%u held=%u others=%u removed=%u first=%" G_GINT64_FORMAT,
                   claim->claimed->len, g_hash_table_size (self->held),
                   g_hash_table_size (claim->others), removed,
                   claim->claimed->len ? g_array_index (claim->claimed, gint64, 0) : 0);
  if (self->claim_again || removed > 0)
    {
      self->claim_again = FALSE;
      schedule_update (self);
    }
  claim_call_free (call);
}

static gboolean
update_cb (gpointer user_data)
{
  GembaLeaser *self = user_data;
  const GArray *ids;
  ClaimCall *call;
  gboolean needed = FALSE;
  guint pos, end, n_held = 0;

  self->update_id = 0;
  if (!self->active || !self->project || !self->list)
    return G_SOURCE_REMOVE;
  if (self->claiming)
    {
      self->claim_again = TRUE;
      return G_SOURCE_REMOVE;
    }
  ids = gemba_frame_list_get_ids (self->list);
  if (!ids || ids->len == 0 || gemba_frame_list_is_loading (self->list))
    return G_SOURCE_REMOVE;
  pos = gtk_single_selection_get_selected (self->selection);
  if (pos == GTK_INVALID_LIST_POSITION || pos >= ids->len)
    pos = 0;
  release_far (self, ids, pos);
  end = MIN (pos + LOW_WATER, ids->len);
  for (guint i = pos; i < end && !needed; i++)
    {
      const gint64 *id = &g_array_index (ids, gint64, i);
      needed = !g_hash_table_contains (self->held, id) &&
               !g_hash_table_contains (self->unavailable, id);
    }
  if (!needed)
    return G_SOURCE_REMOVE;
  call = g_new0 (ClaimCall, 1);
  call->self = g_object_ref (self);
  call->generation = self->generation;
  end = MIN (pos + WINDOW, ids->len);
  call->queue = g_array_sized_new (FALSE, FALSE, sizeof (gint64), end - pos);
  g_array_append_vals (call->queue, &g_array_index (ids, gint64, pos), end - pos);
  /* A claim gives the holder's own leases in the queue first: ask for those and AHEAD more,
   * the first free ones from the selected frame on. */
  for (guint i = 0; i < call->queue->len; i++)
    n_held += g_hash_table_contains (self->held, &g_array_index (call->queue, gint64, i));
  self->claiming = TRUE;
  gemba_project_claim_async (self->project, call->queue, AHEAD + n_held, claimed_cb, call);
  return G_SOURCE_REMOVE;
}

/* In an idle: a reload sets the selection twice (GTK's, then the page's) in one go. */
static void
schedule_update (GembaLeaser *self)
{
  if (self->active && self->project && !self->update_id)
    self->update_id = g_idle_add (update_cb, self);
}

static void
list_loaded_cb (GembaFrameList *list, GError *error, GembaLeaser *self)
{
  /* The list was read again: it shows what is labeled and held now. */
  g_hash_table_remove_all (self->unavailable);
  schedule_update (self);
}

static void
reconnecting_cb (GembaProject *project, GParamSpec *pspec, GembaLeaser *self)
{
  if (!gemba_project_get_reconnecting (project))
    schedule_update (self);
}

/* Forgets and releases everything held; results of claims under way are not ours. */
static void
let_go (GembaLeaser *self)
{
  self->generation++;
  self->claiming = FALSE;
  self->claim_again = FALSE;
  g_clear_handle_id (&self->update_id, g_source_remove);
  /* All of this workbench's: a claim that was under way got some too. */
  if (self->project)
    gemba_project_release_leases (self->project);
  g_hash_table_remove_all (self->held);
  g_hash_table_remove_all (self->unavailable);
}

static void
gemba_leaser_dispose (GObject *object)
{
  gemba_leaser_set_model (GEMBA_LEASER (object), NULL, NULL, NULL);
  G_OBJECT_CLASS (gemba_leaser_parent_class)->dispose (object);
}

static void
gemba_leaser_finalize (GObject *object)
{
  GembaLeaser *self = GEMBA_LEASER (object);

  g_hash_table_destroy (self->held);
  g_hash_table_destroy (self->unavailable);
  G_OBJECT_CLASS (gemba_leaser_parent_class)->finalize (object);
}

static void
gemba_leaser_class_init (GembaLeaserClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gemba_leaser_dispose;
  object_class->finalize = gemba_leaser_finalize;
}

static void
gemba_leaser_init (GembaLeaser *self)
{
  self->held = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  self->unavailable = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
}

GembaLeaser *
gemba_leaser_new (void)
{
  return g_object_new (GEMBA_TYPE_LEASER, NULL);
}

void
gemba_leaser_set_model (GembaLeaser *self, GembaProject *project, GembaFrameList *list,
                        GtkSingleSelection *selection)
{
  g_return_if_fail (GEMBA_IS_LEASER (self));

  let_go (self);
  if (self->list)
    g_signal_handlers_disconnect_by_data (self->list, self);
  if (self->selection)
    g_signal_handlers_disconnect_by_data (self->selection, self);
  if (self->project)
    g_signal_handlers_disconnect_by_data (self->project, self);
  g_clear_object (&self->project);
  g_clear_object (&self->list);
  g_clear_object (&self->selection);
  /* A project file has one annotator at a time: nothing to share, nothing to slow down. */
  if (!project || !list || !selection || !gemba_project_get_is_team (project))
    return;
  self->project = g_object_ref (project);
  self->list = g_object_ref (list);
  self->selection = g_object_ref (selection);
  g_signal_connect (list, "loaded", G_CALLBACK (list_loaded_cb), self);
  g_signal_connect_swapped (selection, "notify::selected", G_CALLBACK (schedule_update), self);
  g_signal_connect (project, "notify::reconnecting", G_CALLBACK (reconnecting_cb), self);
  schedule_update (self);
}

void
gemba_leaser_set_active (GembaLeaser *self, gboolean active)
{
  g_return_if_fail (GEMBA_IS_LEASER (self));

  if (self->active == active)
    return;
  self->active = active;
  if (!active)
    let_go (self);
  else
    schedule_update (self);
}

void
gemba_leaser_labeled (GembaLeaser *self, gint64 frame_id)
{
  g_return_if_fail (GEMBA_IS_LEASER (self));

  g_hash_table_remove (self->held, &frame_id);
  if (self->project)
    add_id (self->unavailable, frame_id);
}
