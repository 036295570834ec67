/* gemba-thumbnailer.c: makes and loads thumbnails in worker threads, caches the textures
 *
 * The grid asks for the thumbnails of the cells it shows. Requests go to a small thread pool
 * sorted newest first, so that after a fast scroll the cells now on screen are served before
 * the ones that went by; a cell that is recycled cancels its request, and a cancelled request
 * is dropped before any disk access. Workers only decode into bytes: the texture is made on
 * the main thread, which costs no copy.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <sys/resource.h>
#include <unistd.h>

#include "gemba-image.h"
#include "gemba-image-canvas.h"
#include "gemba-thumbnailer.h"

#define CACHE_SIZE 800
#define N_WORKERS 2

struct _GembaThumbnailer
{
  GObject parent_instance;

  GembaStore *store;
  GThreadPool *pool;
  guint64 next_serial;

  GHashTable *cache;    /* "sha:size" → GList link in lru (data: CacheEntry) */
  GQueue lru;           /* most recent first */
};

G_DEFINE_FINAL_TYPE (GembaThumbnailer, gemba_thumbnailer, G_TYPE_OBJECT)

typedef struct
{
  char *key;
  GdkTexture *texture;
} CacheEntry;

typedef struct
{
  guint64 serial;
  GTask *task;
  char *frame_path;
  char *thumb_path;   /* NULL: load the full frame */
  guint size;
  guint fit_side;     /* full frame only: decoded to this longer side, for drawing; 0: as is */
  char *key;
} Request;

typedef struct
{
  GBytes *pixels;
  GdkMemoryFormat format;
  guint width;
  guint height;
} Decoded;

static void
cache_entry_free (CacheEntry *entry)
{
  g_free (entry->key);
  g_clear_object (&entry->texture);
  g_free (entry);
}

static void
request_free (Request *request)
{
  g_clear_object (&request->task);
  g_free (request->frame_path);
  g_free (request->thumb_path);
  g_free (request->key);
  g_free (request);
}

static void
decoded_free (Decoded *decoded)
{
  g_clear_pointer (&decoded->pixels, g_bytes_unref);
  g_free (decoded);
}

/* A SHA-256 in hex, a colon and a size. */
#define KEY_SIZE (64 + 1 + 10 + 1)

/* Into a caller's buffer: a lookup while scrolling allocates nothing. */
static const char *
cache_key (char key[KEY_SIZE], const GembaFrame *frame, guint size)
{
  g_snprintf (key, KEY_SIZE, "%s:%u", frame->sha256, size);
  return key;
}

static gint
request_newest_first (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const Request *ra = a, *rb = b;

  return ra->serial < rb->serial ? 1 : ra->serial > rb->serial ? -1 : 0;
}

static void
worker (gpointer data, gpointer user_data)
{
  static GPrivate niced;
  Request *request = data;
  g_autoptr(GembaImage) image = NULL;
  GError *error = NULL;
  Decoded *decoded;

  /* On a busy line PC the main thread (drawing, keys) comes before decoding: lower this
   * thread's priority once (Linux applies it per thread). */
  if (!g_private_get (&niced))
    {
      setpriority (PRIO_PROCESS, (id_t) gettid (), 5);
      g_private_set (&niced, GINT_TO_POINTER (1));
    }

  if (g_task_return_error_if_cancelled (request->task))
    {
      request_free (request);
      return;
    }
  if (request->thumb_path)
    {
      if (gemba_image_ensure_thumbnail (request->frame_path, request->thumb_path, request->size,
                                        &error))
        image = gemba_image_load (request->thumb_path, &error);
    }
  else if (request->fit_side > 0)
    image = gemba_image_load_scaled (request->frame_path, request->fit_side, &error);
  else
    image = gemba_image_load (request->frame_path, &error);

  if (!image)
    {
      g_task_return_error (request->task, error);
      request_free (request);
      return;
    }
  decoded = g_new0 (Decoded, 1);
  decoded->width = image->width;
  decoded->height = image->height;
  if (!request->thumb_path)
    {
      /* A frame shown large is drawn often: in the layout the renderers take as is
       * (GDK_MEMORY_DEFAULT, cairo's native-endian ARGB32; opaque), so that drawing it is a
       * copy, not a conversion (see gemba-image-canvas.c). */
      gsize n = (gsize) image->width * image->height;
      guint32 *argb = g_new (guint32, n);
      const guint8 *rgb = image->pixels;

      for (gsize i = 0; i < n; i++)
        argb[i] = 0xff000000u | (guint32) rgb[i * 3] << 16 | (guint32) rgb[i * 3 + 1] << 8 |
                  rgb[i * 3 + 2];
      decoded->format = GDK_MEMORY_DEFAULT;
      decoded->pixels = g_bytes_new_take (argb, n * sizeof (guint32));
    }
  else
    {
      decoded->format = GDK_MEMORY_R8G8B8;
      decoded->pixels = g_bytes_new_take (g_steal_pointer (&image->pixels),
                                          (gsize) image->width * image->height * 3);
    }
  g_task_return_pointer (request->task, decoded, (GDestroyNotify) decoded_free);
  request_free (request);
}

static void
cache_insert (GembaThumbnailer *self, const char *key, GdkTexture *texture)
{
  CacheEntry *entry;

  if (g_hash_table_contains (self->cache, key))
    return;
  entry = g_new0 (CacheEntry, 1);
  entry->key = g_strdup (key);
  entry->texture = g_object_ref (texture);
  g_queue_push_head (&self->lru, entry);
  g_hash_table_insert (self->cache, entry->key, self->lru.head);
  while (self->lru.length > CACHE_SIZE)
    {
      CacheEntry *old = g_queue_pop_tail (&self->lru);
      g_hash_table_remove (self->cache, old->key);
      cache_entry_free (old);
    }
}

static void
gemba_thumbnailer_dispose (GObject *object)
{
  GembaThumbnailer *self = GEMBA_THUMBNAILER (object);

  gemba_thumbnailer_shutdown (self);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (gemba_thumbnailer_parent_class)->dispose (object);
}

static void
gemba_thumbnailer_finalize (GObject *object)
{
  GembaThumbnailer *self = GEMBA_THUMBNAILER (object);

  g_hash_table_destroy (self->cache);
  g_queue_clear_full (&self->lru, (GDestroyNotify) cache_entry_free);
  G_OBJECT_CLASS (gemba_thumbnailer_parent_class)->finalize (object);
}

static void
gemba_thumbnailer_class_init (GembaThumbnailerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gemba_thumbnailer_dispose;
  object_class->finalize = gemba_thumbnailer_finalize;
}

static void
gemba_thumbnailer_init (GembaThumbnailer *self)
{
  self->cache = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&self->lru);
  self->pool = g_thread_pool_new (worker, self, N_WORKERS, FALSE, NULL);
  g_thread_pool_set_sort_function (self->pool, request_newest_first, NULL);
}

GembaThumbnailer *
gemba_thumbnailer_new (GembaStore *store)
{
  GembaThumbnailer *self = g_object_new (GEMBA_TYPE_THUMBNAILER, NULL);

  self->store = g_object_ref (store);
  return self;
}

void
gemba_thumbnailer_shutdown (GembaThumbnailer *self)
{
  g_return_if_fail (GEMBA_IS_THUMBNAILER (self));

  /* Waits for the requests being worked on; queued ones are dropped (their tasks return
   * nothing, which only the dropped cells would have read). */
  if (self->pool)
    g_thread_pool_free (g_steal_pointer (&self->pool), TRUE, TRUE);
}

GdkTexture *
gemba_thumbnailer_lookup (GembaThumbnailer *self, const GembaFrame *frame, guint size)
{
  char key[KEY_SIZE];
  GList *link;

  g_return_val_if_fail (GEMBA_IS_THUMBNAILER (self), NULL);

  if (!(link = g_hash_table_lookup (self->cache, cache_key (key, frame, size))))
    return NULL;
  g_queue_unlink (&self->lru, link);
  g_queue_push_head_link (&self->lru, link);
  return ((CacheEntry *) link->data)->texture;
}

static void
push_request (GembaThumbnailer *self, GTask *task, const GembaFrame *frame, guint size,
              guint fit_side)
{
  Request *request = g_new0 (Request, 1);

  request->serial = ++self->next_serial;
  request->task = g_object_ref (task);
  request->frame_path = gemba_store_dup_frame_path (self->store, frame);
  if (size > 0)
    {
      request->thumb_path = gemba_store_dup_thumbnail_path (self->store, frame, size);
      char key[KEY_SIZE];

      request->key = g_strdup (cache_key (key, frame, size));
      g_task_set_task_data (task, g_strdup (request->key), g_free);
    }
  request->size = size;
  request->fit_side = fit_side;
  if (!self->pool)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED, "shut down");
      request_free (request);
      return;
    }
  g_thread_pool_push (self->pool, request, NULL);
}

void
gemba_thumbnailer_load_async (GembaThumbnailer *self, const GembaFrame *frame, guint size,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (GEMBA_IS_THUMBNAILER (self));
  g_return_if_fail (frame != NULL && size > 0);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, gemba_thumbnailer_load_async);
  g_task_set_check_cancellable (task, TRUE);
  push_request (self, task, frame, size, 0);
}

static GdkTexture *
texture_from_result (GAsyncResult *result, GError **error)
{
  Decoded *decoded = g_task_propagate_pointer (G_TASK (result), error);
  GdkTexture *texture;

  if (!decoded)
    return NULL;
  if (decoded->format == GDK_MEMORY_DEFAULT)
    texture = gemba_image_canvas_texture_new (decoded->pixels, (int) decoded->width,
                                              (int) decoded->height);
  else
    texture = gdk_memory_texture_new (decoded->width, decoded->height, decoded->format,
                                      decoded->pixels, decoded->width * 3);
  decoded_free (decoded);
  return texture;
}

GdkTexture *
gemba_thumbnailer_load_finish (GembaThumbnailer *self, GAsyncResult *result, GError **error)
{
  GdkTexture *texture;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  if ((texture = texture_from_result (result, error)))
    cache_insert (self, g_task_get_task_data (G_TASK (result)), texture);
  return texture;
}

void
gemba_thumbnailer_load_full_async (GembaThumbnailer *self, const GembaFrame *frame,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (GEMBA_IS_THUMBNAILER (self));
  g_return_if_fail (frame != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, gemba_thumbnailer_load_full_async);
  g_task_set_check_cancellable (task, TRUE);
  push_request (self, task, frame, 0, 0);
}

void
gemba_thumbnailer_load_fitted_async (GembaThumbnailer *self, const GembaFrame *frame,
                                     guint width, guint height, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (GEMBA_IS_THUMBNAILER (self));
  g_return_if_fail (frame != NULL && width > 0 && height > 0);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, gemba_thumbnailer_load_full_async);
  g_task_set_check_cancellable (task, TRUE);
  push_request (self, task, frame, 0, MAX (width, height));
}

GdkTexture *
gemba_thumbnailer_load_full_finish (GembaThumbnailer *self, GAsyncResult *result,
                                    GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return texture_from_result (result, error);
}
