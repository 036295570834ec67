#define G_LOG_DOMAIN "bench-team"
/* team-bench: the parts of bench/team/run.sh that talk to the store (issue 13)
 *
 *   team-bench make PROJECT N_QUEUE N_TRAIN SIZE
 *       a SQLite project with the demo's classes: N_TRAIN frames labeled on import (to train a
 *       first model on) and N_QUEUE unlabeled frames for the review queue, SIZE × SIZE PNGs
 *       made from demo renders, each one distinct
 *   team-bench label PROJECT NAME LOG [PAUSE_MS]
 *       one annotator (author and lease holder NAME): claims frames of the review queue and
 *       labels them, as fast as it can, until the queue is empty and nobody else holds a
 *       frame; appends "frame-id class-id label-id" to LOG for every label the store
 *       confirmed (before the next claim: a kill -9 can lose a confirmation from the log,
 *       never log a label that was not confirmed). A call that fails because the server
 *       went away (GEMBA_ERROR_DISCONNECTED) is tried again on the same store, which
 *       connects again by itself; a label is sent again with the same time
 *       (gemba_store_set_label_at), so that it is saved once
 *   team-bench check PROJECT N_QUEUE LOG…
 *       proves the run: every confirmed label of the logs is in the store's label history (0
 *       lost), no frame has two labels from annotators (0 labeled twice), every frame of the
 *       queue got one (0 left), no lease is held (0 leaked); prints the counts, exits 1 when
 *       one of them is not 0
 *
 * A frame's class is a hash of its SHA-256, so that two annotators would choose the same
 * class and "labeled twice" is visible only in the history, never in the current labels.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gemba.h"

/* How long an annotator keeps trying a call again while the server cannot be reached. */
#define RECONNECT_SECONDS 120

/* --- make ------------------------------------------------------------------------------- */

static int
cmd_make (const char *path, guint n_queue, guint n_train, guint size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GPtrArray) bases = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_image_free);
  const char *classes[GEMBA_DEMO_N_CLASSES + 1] = { NULL };
  const guint per_class = 16;
  gint64 t0 = (gint64) 1765000000 * G_USEC_PER_SEC;

  for (guint k = 0; k < GEMBA_DEMO_N_CLASSES; k++)
    classes[k] = gemba_demo_class_name (k);
  if (!(store = gemba_store_create (path, classes, &error)))
    goto fail;
  /* A few renders per class and source; each frame is one of them with its number written
   * into its first pixels, so that every frame's content (and SHA-256) differs. */
  for (guint i = 0; i < GEMBA_DEMO_N_CLASSES * per_class; i++)
    {
      g_autoptr(GembaImage) render = gemba_demo_render (i % 2, i % GEMBA_DEMO_N_CLASSES, 7000 + i);
      g_ptr_array_add (bases, gemba_image_resize (render, size, size));
    }
  if (!gemba_store_begin_batch (store, &error))
    goto fail;
  for (guint i = 0; i < n_train + n_queue; i++)
    {
      guint b = i % bases->len;
      g_autoptr(GembaImage) image = gemba_image_copy (g_ptr_array_index (bases, b));
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GembaFrame) frame = NULL;
      g_autofree char *name = g_strdup_printf ("frame-%06u.png", i);
      GembaFrameInfo info;
      gboolean duplicate = FALSE;

      for (guint j = 0; j < 4; j++)
        image->pixels[j] = (guint8) (i >> (8 * j));
      gemba_frame_info_init (&info);
      info.source_name = gemba_demo_source_name (b % 2);
      /* 10 s apart: the review queue shows frames of one line captured within 3 s once. */
      info.captured_at = t0 + (gint64) i * 10 * G_USEC_PER_SEC;
      info.original_name = name;
      if (i < n_train)
        info.label_class = gemba_demo_class_name (b % GEMBA_DEMO_N_CLASSES);
      if (!(bytes = gemba_image_encode_png (image, &error)) ||
          !(frame = gemba_store_add_frame (store, bytes, "png", size, size, &info, &duplicate,
                                           &error)))
        {
          gemba_store_rollback_batch (store);
          goto fail;
        }
      if (duplicate)
        {
          gemba_store_rollback_batch (store);
          g_printerr ("team-bench make: frame %u is a duplicate\n", i);
          return 1;
        }
    }
  if (!gemba_store_commit_batch (store, &error))
    goto fail;
  return 0;

fail:
  g_printerr ("team-bench make: %s\n", error->message);
  return 1;
}

/* --- label ------------------------------------------------------------------------------ */

typedef struct
{
  char *path;
  char *name;               /* the author of its labels, and its lease holder */
  gint64 lease_usec;        /* the lease timeout; 0: the store's default */
  guint claim_n;            /* frames claimed at a time */
  GembaStore *store;
  GPtrArray *classes;       /* GembaClass, not retired */
  GArray *queue;            /* the review queue as listed at the start */
  GArray *claimed;          /* the last claim's frames (with leases) */
  guint next;
  guint n_labels;
  guint n_claims;
  gint64 last_at;           /* the time of its last label (µs), to keep them distinct */
  guint n_disconnected;     /* calls that failed with GEMBA_ERROR_DISCONNECTED */
  guint n_resent;           /* labels sent again after such a failure */
  guint n_waits;            /* the queue had no free frame while others held leases */
} Annotator;

static gboolean
open_store (Annotator *a, GError **error)
{
  g_clear_pointer (&a->classes, g_ptr_array_unref);
  g_clear_object (&a->store);
  if (!(a->store = gemba_store_open (a->path, error)))
    return FALSE;
  gemba_store_set_author (a->store, a->name);
#ifdef GEMBA_LEASE_TIMEOUT_USEC
  /* Named: a store opened again after a lost connection holds the same leases. */
  gemba_store_set_lease_holder (a->store, a->name);
  if (a->lease_usec > 0)
    gemba_store_set_lease_timeout (a->store, a->lease_usec);
#endif
  if (!(a->classes = gemba_store_list_classes (a->store, FALSE, error)))
    return FALSE;
  if (a->classes->len == 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, "%s: no classes", a->path);
      return FALSE;
    }
  return TRUE;
}

/* Whether @error is a lost server connection, after which the same call is tried again: the
 * store connects again by itself on the next call (it is not opened again). Waits 50 ms
 * doubling to 1 s between tries, for at most RECONNECT_SECONDS in a row. */
static gboolean
wait_for_server (Annotator *a, const GError *error, gint64 *since, gulong *wait)
{
  if (!g_error_matches (error, GEMBA_ERROR, GEMBA_ERROR_DISCONNECTED))
    return FALSE;
  if (*since == 0)
    {
      *since = g_get_monotonic_time ();
      *wait = 50000;
      g_printerr ("%s: %s; trying again\n", a->name, error->message);
    }
  else if (g_get_monotonic_time () - *since > RECONNECT_SECONDS * G_USEC_PER_SEC)
    return FALSE;
  a->n_disconnected++;
  g_usleep (*wait);
  *wait = MIN (*wait * 2, 1000000);
  return TRUE;
}

/* The class this frame gets: the same for every annotator. */
static gint64
class_for (Annotator *a, const GembaFrame *frame)
{
  guint h = g_str_hash (frame->sha256);

  return ((GembaClass *) g_ptr_array_index (a->classes, h % a->classes->len))->id;
}

/* The next frame to label: its row id, 0 when the queue is empty, -1 on error. */
static gint64
claim_next (Annotator *a, GError **error)
{
  if (!a->queue && !(a->queue = gemba_store_list_review_queue (a->store, error)))
    return -1;
#ifdef GEMBA_LEASE_TIMEOUT_USEC
  for (;;)
    {
      g_autoptr(GPtrArray) leases = NULL;
      guint others = 0;

      if (a->claimed && a->next < a->claimed->len)
        return g_array_index (a->claimed, gint64, a->next++);
      g_clear_pointer (&a->claimed, g_array_unref);
      a->next = 0;
      /* The holder's own live leases come back first, then free frames of the queue. */
      if (!(a->claimed = gemba_store_claim_frames (a->store, a->queue, a->claim_n, error)))
        return -1;
      a->n_claims++;
      if (a->claimed->len > 0)
        continue;
      /* Nothing free. Done, unless other holders still hold frames: their leases end when
       * they label them, or at their timeout (a killed annotator's). */
      if (!(leases = gemba_store_list_leases (a->store, error)))
        return -1;
      for (guint i = 0; i < leases->len; i++)
        if (g_strcmp0 (((GembaLease *) g_ptr_array_index (leases, i))->holder, a->name) != 0)
          others++;
      if (others == 0)
        return 0;
      a->n_waits++;
      g_usleep (100000);
    }
#else
  /* No leases in this build: every annotator walks the queue as it was at its start,
   * skipping what is labeled by now. Two annotators can take the same frame. */
  while (a->next < a->queue->len)
    {
      gint64 id = g_array_index (a->queue, gint64, a->next);
      g_autoptr(GembaFrame) frame = gemba_store_get_frame (a->store, id, error);
      if (!frame)
        return -1;
      a->next++;
      if (frame->label_class_id == 0)
        return id;
    }
  return 0;
#endif
}

/* Labels @frame_id as given at @created_at: sent again with the same time after a lost
 * connection, it is saved once (gemba_store_set_label_at). */
static GembaLabel *
label_frame (Annotator *a, gint64 frame_id, gint64 created_at, GError **error)
{
  g_autoptr(GembaFrame) frame = gemba_store_get_frame (a->store, frame_id, error);

  if (!frame)
    return NULL;
  return gemba_store_set_label_at (a->store, frame_id, class_for (a, frame), GEMBA_LABEL_SET,
                                   created_at, error);
}

static gboolean
log_label (int fd, const GembaLabel *label, GError **error)
{
  g_autofree char *line = g_strdup_printf ("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %"
                                           G_GINT64_FORMAT "\n", label->frame_id,
                                           label->class_id, label->id);
  gsize len = strlen (line);

  if (write (fd, line, len) != (gssize) len)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "cannot write the log: %s",
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static int
cmd_label (Annotator *a, const char *log_path, guint pause_ms)
{
  g_autoptr(GError) error = NULL;
  gint64 start, end;
  int fd, status = 1;

  if ((fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
    {
      g_printerr ("team-bench label: %s: %s\n", log_path, g_strerror (errno));
      goto out;
    }
  if (!open_store (a, &error))
    goto fail;
  start = g_get_monotonic_time ();
  for (;;)
    {
      g_autoptr(GembaLabel) label = NULL;
      gint64 id, since = 0, created_at;
      gulong wait = 0;

      while ((id = claim_next (a, &error)) < 0)
        {
          if (!wait_for_server (a, error, &since, &wait))
            goto fail;
          g_clear_error (&error);
        }
      if (id == 0)
        break;
      created_at = MAX (g_get_real_time (), a->last_at + 1);
      a->last_at = created_at;
      since = 0;
      while (!(label = label_frame (a, id, created_at, &error)))
        {
          if (!wait_for_server (a, error, &since, &wait))
            goto fail;
          g_clear_error (&error);
          a->n_resent++;
        }
      if (!log_label (fd, label, &error))
        goto fail;
      a->n_labels++;
      if (pause_ms)
        g_usleep (pause_ms * 1000);
    }
  end = g_get_monotonic_time ();
  g_print ("annotator %s labels %u seconds %.3f disconnected %u resent %u claims %u waits %u\n",
           a->name, a->n_labels, (end - start) / 1e6, a->n_disconnected, a->n_resent,
           a->n_claims, a->n_waits);
  status = 0;
  goto out;

fail:
  g_printerr ("team-bench label %s: %s\n", a->name, error->message);
out:
  if (fd >= 0)
    close (fd);
  g_clear_pointer (&a->queue, g_array_unref);
  g_clear_pointer (&a->claimed, g_array_unref);
  g_clear_pointer (&a->classes, g_ptr_array_unref);
  g_clear_object (&a->store);
  return status;
}

/* --- check ------------------------------------------------------------------------------ */

typedef struct
{
  gint64 frame_id;
  gint64 class_id;
} Logged;

static gboolean
read_log (const char *path, GHashTable *logged, guint *n_lines, GError **error)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &text, NULL, error))
    return FALSE;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      gint64 frame_id, class_id, label_id;
      Logged *l;
      if (!lines[i][0])
        continue;
      if (sscanf (lines[i], "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
                  &frame_id, &class_id, &label_id) != 3)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, "%s:%u: not a label line", path,
                       i + 1);
          return FALSE;
        }
      l = g_new (Logged, 1);
      l->frame_id = frame_id;
      l->class_id = class_id;
      g_hash_table_insert (logged, g_memdup2 (&label_id, sizeof label_id), l);
      (*n_lines)++;
    }
  return TRUE;
}

/* Frames held by a killed annotator ("frame-id holder" lines): frame id → holder. */
static GHashTable *
read_orphans (const char *path, GError **error)
{
  g_autoptr(GHashTable) orphans = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      gint64 frame_id;
      char holder[256];
      if (!lines[i][0])
        continue;
      if (sscanf (lines[i], "%" G_GINT64_FORMAT " %255s", &frame_id, holder) != 2)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, "%s:%u: not a lease line", path,
                       i + 1);
          return NULL;
        }
      g_hash_table_insert (orphans, g_memdup2 (&frame_id, sizeof frame_id), g_strdup (holder));
    }
  return g_steal_pointer (&orphans);
}

static int
cmd_check (const char *path, guint n_queue, const char *orphans_path, char **logs)
{
  g_autoptr(GHashTable) orphans = NULL;
  guint n_orphans = 0, orphans_once = 0;
  gint64 leases_held = -1;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GHashTable) logged = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  g_autoptr(GHashTable) per_author = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GArray) ids = NULL;
  GembaFrameQuery query = { 0 };
  guint n_logged = 0, n_queue_frames = 0, twice = 0, left = 0, n_labels = 0, found = 0;
  guint lost;
  GHashTableIter iter;
  gpointer key, value;

  for (guint i = 0; logs[i]; i++)
    if (!read_log (logs[i], logged, &n_logged, &error))
      goto fail;
  if (orphans_path && !(orphans = read_orphans (orphans_path, &error)))
    goto fail;
  if (!(store = gemba_store_open (path, &error)))
    goto fail;
#ifdef GEMBA_LEASE_TIMEOUT_USEC
  {
    g_autoptr(GPtrArray) leases = gemba_store_list_leases (store, &error);
    if (!leases)
      goto fail;
    leases_held = leases->len;
  }
#endif
  if (!(ids = gemba_store_list_frame_ids (store, &query, &error)))
    goto fail;
  for (guint i = 0; i < ids->len; i++)
    {
      gint64 id = g_array_index (ids, gint64, i);
      g_autoptr(GPtrArray) history = gemba_store_list_label_history (store, id, &error);
      guint by_annotators = 0;
      gboolean imported = FALSE;

      if (!history)
        goto fail;
      for (guint k = 0; k < history->len; k++)
        {
          GembaLabel *l = g_ptr_array_index (history, k);
          Logged *e;
          if (l->kind == GEMBA_LABEL_IMPORT)
            imported = TRUE;
          if (l->kind != GEMBA_LABEL_SET)
            continue;
          by_annotators++;
          n_labels++;
          g_hash_table_insert (per_author, g_strdup (l->author),
                               GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (per_author,
                                                                                        l->author)) + 1));
          e = g_hash_table_lookup (logged, &l->id);
          if (e && e->frame_id == l->frame_id && e->class_id == l->class_id)
            {
              found++;
              g_hash_table_remove (logged, &l->id);
            }
        }
      if (orphans && g_hash_table_contains (orphans, &id))
        {
          const char *holder = g_hash_table_lookup (orphans, &id);
          GembaLabel *last = history->len ? g_ptr_array_index (history, history->len - 1) : NULL;
          n_orphans++;
          if (by_annotators == 1)
            orphans_once++;
          g_print ("killed annotator's lease: frame %" G_GINT64_FORMAT " held by %s, then "
                   "labeled %u time(s), by %s\n", id, holder, by_annotators,
                   last && last->kind == GEMBA_LABEL_SET ? last->author : "nobody");
        }
      if (imported)
        continue;
      n_queue_frames++;
      if (by_annotators == 0)
        left++;
      else if (by_annotators > 1)
        {
          if (twice < 10)
            g_print ("labeled twice: frame %" G_GINT64_FORMAT " (%u labels)\n", id, by_annotators);
          twice++;
        }
    }
  lost = g_hash_table_size (logged);
  g_hash_table_iter_init (&iter, logged);
  for (guint shown = 0; shown < 10 && g_hash_table_iter_next (&iter, &key, &value); shown++)
    g_print ("lost: label %" G_GINT64_FORMAT " on frame %" G_GINT64_FORMAT "\n",
             *(gint64 *) key, ((Logged *) value)->frame_id);

  g_hash_table_iter_init (&iter, per_author);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_print ("author %s labels %u\n", (char *) key, GPOINTER_TO_UINT (value));
  g_print ("queue_frames %u labels %u logged %u confirmed_in_history %u lost %u "
           "labeled_twice %u left_unlabeled %u orphans %u orphans_labeled_once %u",
           n_queue_frames, n_labels, n_logged, found, lost, twice, left, n_orphans, orphans_once);
  if (leases_held >= 0)
    g_print (" leases_held %" G_GINT64_FORMAT "\n", leases_held);
  else
    g_print (" leases_held - (this build has no leases)\n");
  if (n_queue_frames != n_queue)
    g_print ("FAIL: %u frames without an imported label, expected %u\n", n_queue_frames, n_queue);
  return lost || twice || left || n_queue_frames != n_queue || leases_held > 0 ||
         orphans_once != n_orphans ? 1 : 0;

fail:
  g_printerr ("team-bench check: %s\n", error->message);
  return 2;
}

#ifdef GEMBA_LEASE_TIMEOUT_USEC
static int
cmd_leases (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GPtrArray) leases = NULL;

  if (!(store = gemba_store_open (path, &error)) ||
      !(leases = gemba_store_list_leases (store, &error)))
    {
      g_printerr ("team-bench leases: %s\n", error->message);
      return 1;
    }
  for (guint i = 0; i < leases->len; i++)
    {
      GembaLease *l = g_ptr_array_index (leases, i);
      g_print ("%" G_GINT64_FORMAT " %s\n", l->frame_id, l->holder);
    }
  return 0;
}
#endif

static void
usage (void)
{
  g_printerr ("usage: team-bench make PROJECT N_QUEUE N_TRAIN SIZE\n"
              "       team-bench label PROJECT NAME LOG [--pause-ms N] [--lease-seconds S]"
              " [--claim N]\n"
              "       team-bench leases PROJECT\n"
              "       team-bench check PROJECT N_QUEUE [--orphans FILE] LOG…\n");
}

int
main (int argc, char **argv)
{
  if (argc == 6 && strcmp (argv[1], "make") == 0)
    return cmd_make (argv[2], atoi (argv[3]), atoi (argv[4]), atoi (argv[5]));
  if (argc >= 5 && strcmp (argv[1], "label") == 0)
    {
      Annotator a = { 0 };
      guint pause_ms = 0;
      int status;

      a.claim_n = 1;
      for (int i = 5; i < argc; i += 2)
        {
          if (i + 1 >= argc)
            {
              usage ();
              return 2;
            }
          if (strcmp (argv[i], "--pause-ms") == 0)
            pause_ms = atoi (argv[i + 1]);
          else if (strcmp (argv[i], "--lease-seconds") == 0)
            a.lease_usec = (gint64) (g_ascii_strtod (argv[i + 1], NULL) * G_USEC_PER_SEC);
          else if (strcmp (argv[i], "--claim") == 0)
            a.claim_n = MAX (1, atoi (argv[i + 1]));
          else
            {
              usage ();
              return 2;
            }
        }
      a.path = g_strdup (argv[2]);
      a.name = g_strdup (argv[3]);
      status = cmd_label (&a, argv[4], pause_ms);
      g_free (a.path);
      g_free (a.name);
      return status;
    }
#ifdef GEMBA_LEASE_TIMEOUT_USEC
  if (argc == 3 && strcmp (argv[1], "leases") == 0)
    return cmd_leases (argv[2]);
#endif
  if (argc >= 5 && strcmp (argv[1], "check") == 0)
    {
      const char *orphans = NULL;
      char **logs = argv + 4;
      if (strcmp (argv[4], "--orphans") == 0 && argc >= 7)
        {
          orphans = argv[5];
          logs = argv + 6;
        }
      return cmd_check (argv[2], atoi (argv[3]), orphans, logs);
    }
  usage ();
  return 2;
}
