#define G_LOG_DOMAIN "gemba-gst"
/* gstgembaclassify.c: the production element. Classifies each frame (or every Nth) with a
 * signed package, attaches the result as a GstVideoRegionOfInterestMeta ("classification")
 * and a GstCustomMeta ("GembaVerdictMeta"), posts rate-limited bus messages for frames that
 * are not OK, spools frames to disk from one writer thread, and swaps packages while playing.
 *
 * Threads: the streaming thread runs inference and owns `current`; a loader thread pool (one
 * thread) verifies new packages and publishes them through `pending` with an atomic exchange;
 * one spool writer thread takes buffer references from a bounded queue.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>
#include <json-glib/json-glib.h>
#include "gemba.h"

GST_DEBUG_CATEGORY_STATIC (gemba_classify_debug);
#define GST_CAT_DEFAULT gemba_classify_debug

#define GEMBA_VERDICT_META "GembaVerdictMeta"
#define SPOOL_QUEUE_MAX 16
#define MESSAGE_MIN_INTERVAL_US (G_USEC_PER_SEC / 10)  /* at most 10 verdict messages/s */

typedef enum {
  SPOOL_REJECTED = 1 << 0,
  SPOOL_UNCERTAIN = 1 << 1,
  SPOOL_SAMPLED = 1 << 2,
} GembaSpoolFlags;

typedef enum { VERDICT_OK, VERDICT_REJECT, VERDICT_UNCERTAIN } Verdict;
static const char *const verdict_names[] = { "ok", "reject", "uncertain" };

/* A verified package ready to run. Immutable once published. */
typedef struct {
  GembaClassifier *classifier;
  char *path;
  char *name;
  char *version;
  char *sha256;
  char *weights_sha256;   /* the manifest's model.weights_sha256: finds the project's model */
  char *key_id;
  int n_classes;
  int ok_index;          /* the class named "ok", else 0 */
  double *thresholds;    /* the manifest's per-class thresholds */
  GembaDriftStats *reference;   /* the manifest's drift reference, NULL without one */
} Loaded;

/* What every package swapped in must match: the first package's classes and input. Set in
 * start(), immutable until stop(), so the loader reads it while the streaming thread swaps. */
typedef struct {
  char **classes;
  int width, height, channels;
} Contract;

typedef struct {
  GstBuffer *buffer;
  GstVideoInfo info;
  GDateTime *time;
  char *reason;
  Verdict verdict;
  int label_id;
  char *label;
  double confidence;
  float *scores;
  int n_scores;
  double reject_below, uncertain_below;
  int roi[4];
  char *package_name, *package_version, *package_sha256, *weights_sha256;
  char **classes;
  char *drift_json;          /* a drift record instead of a frame (buffer NULL) */
} SpoolItem;

typedef struct {
  float confidence, brightness, contrast;
  guint16 label;
  gboolean uncertain;
} DriftSample;

struct _GstGembaClassify {
  GstBaseTransform parent;

  /* Properties (GST_OBJECT_LOCK). */
  char *package_path;
  char *trust_path;
  char *spool_dir;
  char *line;
  int roi[4];
  guint inference_interval;
  double reject_below;      /* < 0: from the manifest */
  double uncertain_below;   /* < 0: from the manifest */
  guint spool_flags;
  guint spool_sample_interval;
  guint spool_max_mb;
  guint drift_window;

  GstVideoInfo info;
  GembaTrust *trust;
  Loaded *current;          /* streaming thread only (and start/stop) */
  gpointer pending;         /* Loaded *, atomic */
  GThreadPool *loader;
  Contract contract;
  char *package_dir;
  GThread *watch_thread;     /* polls package_dir */
  gboolean watch_quit;       /* spool_lock */
  GCond watch_cond;
  char *watch_sha256;        /* watch thread only: the package it last chose */
  gint generation;          /* atomic: the newest load request wins */
  guint8 *rgb;              /* ROI converted to RGB */
  gsize rgb_size;
  float *probs;

  /* Drift window (streaming thread only). */
  DriftSample *drift_samples;
  guint drift_size, drift_head, drift_count;
  guint drift_since_check, drift_since_alarm;
  GembaDriftStats *drift;

  /* Counters (GST_OBJECT_LOCK). */
  guint64 n_frames, n_inferred, n_skipped, n_ok, n_reject, n_uncertain;
  guint64 n_spooled, n_spool_dropped, n_spool_quota, n_messages_suppressed, n_drift_alarms;
  guint64 inference_us_total;
  gint64 last_message_us;

  /* Spool writer. */
  GMutex spool_lock;
  GCond spool_cond;
  GQueue spool_queue;
  gboolean spool_quit;
  GThread *spool_thread;
  guint64 spool_bytes;
  guint64 spool_seq;
  gint64 last_spool_message_us;
};

G_DECLARE_FINAL_TYPE (GstGembaClassify, gst_gemba_classify, GST, GEMBA_CLASSIFY,
                      GstBaseTransform)
static void drift_reset (GstGembaClassify *self, guint size, int n_classes);
G_DEFINE_FINAL_TYPE (GstGembaClassify, gst_gemba_classify, GST_TYPE_BASE_TRANSFORM)

enum {
  PROP_0,
  PROP_PACKAGE,
  PROP_TRUST,
  PROP_ROI,
  PROP_INFERENCE_INTERVAL,
  PROP_REJECT_BELOW,
  PROP_UNCERTAIN_BELOW,
  PROP_SPOOL_DIR,
  PROP_SPOOL,
  PROP_SPOOL_SAMPLE_INTERVAL,
  PROP_SPOOL_MAX_MB,
  PROP_LINE,
  PROP_PACKAGE_DIR,
  PROP_DRIFT_WINDOW,
  PROP_PACKAGE_VERSION,
  PROP_STATS,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

#define CAPS_STR GST_VIDEO_CAPS_MAKE ("{ RGB, BGR, RGBx, BGRx, RGBA, BGRA }")

static GstStaticPadTemplate sink_template =
  GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS_STR));
static GstStaticPadTemplate src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS_STR));

static GType
gemba_spool_flags_get_type (void)
{
  static GType type = 0;
  static const GFlagsValue values[] = {
    { SPOOL_REJECTED, "Frames with a reject verdict", "rejected" },
    { SPOOL_UNCERTAIN, "Frames with an uncertain verdict", "uncertain" },
    { SPOOL_SAMPLED, "Every spool-sample-interval'th classified frame", "sampled" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_flags_register_static ("GstGembaSpoolFlags", values));
  return type;
}

/* --- packages ------------------------------------------------------------------------- */

static void
loaded_free (Loaded *l)
{
  if (l == NULL)
    return;
  g_clear_object (&l->classifier);
  g_free (l->path);
  g_free (l->name);
  g_free (l->version);
  g_free (l->sha256);
  g_free (l->weights_sha256);
  g_free (l->key_id);
  g_free (l->thresholds);
  gemba_drift_stats_free (l->reference);
  g_free (l);
}

/* Loads and verifies @path against @trust, checks it against @like (classes and input), and
 * runs one warm-up inference. */
static Loaded *
loaded_new (const char *path, GembaTrust *trust, const Contract *like, GError **error)
{
  g_autoptr(GembaPackage) package = NULL;
  g_autoptr(GembaModel) model = NULL;
  g_autofree char *contents = NULL;
  g_autofree float *probs = NULL;
  g_autofree guint8 *gray = NULL;
  Loaded *l;
  JsonObject *manifest, *m;
  JsonArray *thresholds;
  const GembaPreprocess *pp;
  gsize len;

  if (!g_file_get_contents (path, &contents, &len, error))
    return NULL;
  if (!(package = gemba_package_open_bytes (g_bytes_new_static (contents, len), path, trust,
                                            NULL, error)))
    return NULL;
  if (!gemba_package_is_verified (package))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
                   "%s: the package is not signed by a trusted key; refused", path);
      return NULL;
    }
  if (!(model = gemba_package_get_model (package, error)))
    return NULL;

  l = g_new0 (Loaded, 1);
  l->path = g_strdup (path);
  l->sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
  l->key_id = g_strdup (gemba_package_get_key_id (package));
  manifest = gemba_package_get_manifest (package);
  m = json_object_get_object_member (manifest, "model");
  l->name = g_strdup (json_object_get_string_member (m, "name"));
  l->version = g_strdup (json_object_get_string_member (m, "version"));
  l->weights_sha256 = g_strdup (json_object_get_string_member_with_default (m, "weights_sha256",
                                                                            NULL));
  l->n_classes = gemba_model_get_n_classes (model);
  thresholds = json_object_get_array_member (manifest, "thresholds");
  l->thresholds = g_new0 (double, l->n_classes);
  for (int i = 0; i < l->n_classes; i++)
    l->thresholds[i] = json_array_get_double_element (thresholds, i);
  l->ok_index = MAX (0, gemba_model_find_class (model, "ok"));
  if (json_object_has_member (manifest, "reference"))   /* validated by the package reader */
    l->reference = gemba_drift_stats_from_json (
                     json_object_get_object_member (manifest, "reference"), l->n_classes);

  if (like != NULL)
    {
      const GembaPreprocess *a = gemba_model_get_preprocess (model);
      if (!gemba_model_check_classes (model, (const char *const *) like->classes, error))
        {
          g_prefix_error (error, "%s: ", path);
          loaded_free (l);
          return NULL;
        }
      if (a->width != like->width || a->height != like->height || a->channels != like->channels)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                       "%s: its input is %d×%d×%d, the running package's %d×%d×%d; refused",
                       path, a->width, a->height, a->channels, like->width, like->height,
                       like->channels);
          loaded_free (l);
          return NULL;
        }
    }

  /* One thread: inference runs in the streaming thread, which is one thread already. */
  if (!(l->classifier = gemba_classifier_new_from_model (model, 1, error)))
    {
      loaded_free (l);
      return NULL;
    }
  pp = gemba_model_get_preprocess (model);
  gray = g_malloc (pp->width * pp->height * 3);
  memset (gray, 128, pp->width * pp->height * 3);
  probs = g_new (float, l->n_classes);
  if (gemba_classifier_classify_rgb (l->classifier, gray, pp->width, pp->height, pp->width * 3,
                                     probs, error) < 0)
    {
      g_prefix_error (error, "%s: warm-up inference failed: ", path);
      loaded_free (l);
      return NULL;
    }
  return l;
}

static void
post_package_message (GstGembaClassify *self, const char *event, const char *path,
                      Loaded *l, const char *reason)
{
  GstStructure *s = gst_structure_new ("gemba-package", "event", G_TYPE_STRING, event,
                                       "path", G_TYPE_STRING, path, NULL);
  if (l)
    gst_structure_set (s, "package-name", G_TYPE_STRING, l->name,
                       "package-version", G_TYPE_STRING, l->version,
                       "package-sha256", G_TYPE_STRING, l->sha256,
                       "key-id", G_TYPE_STRING, l->key_id, NULL);
  if (reason)
    gst_structure_set (s, "reason", G_TYPE_STRING, reason, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

typedef struct {
  char *path;
  gint generation;
} LoadRequest;

static void
loader_run_cb (gpointer data, gpointer user_data)
{
  LoadRequest *req = data;
  GstGembaClassify *self = user_data;
  g_autoptr(GError) error = NULL;
  Loaded *l;

  /* Only the newest request is worth loading. */
  if (req->generation == g_atomic_int_get (&self->generation))
    {
      l = loaded_new (req->path, self->trust, &self->contract, &error);
      if (l == NULL)
        {
          GST_ELEMENT_WARNING (self, RESOURCE, READ,
                               ("Package refused; the running package is kept"),
                               ("%s", error->message));
          post_package_message (self, "refused", req->path, NULL, error->message);
        }
      else if (req->generation != g_atomic_int_get (&self->generation))
        loaded_free (l);
      else
        {
          post_package_message (self, "loaded", req->path, l, NULL);
          loaded_free (g_atomic_pointer_exchange (&self->pending, l));
        }
    }
  g_free (req->path);
  g_free (req);
}

static void
request_load (GstGembaClassify *self, const char *path)
{
  LoadRequest *req = g_new0 (LoadRequest, 1);
  req->path = g_strdup (path);
  req->generation = g_atomic_int_add (&self->generation, 1) + 1;
  g_thread_pool_push (self->loader, req, NULL);
}

/* --- spool ---------------------------------------------------------------------------- */

static void
spool_item_free (SpoolItem *item)
{
  if (item->buffer)
    gst_buffer_unref (item->buffer);
  g_free (item->drift_json);
  g_date_time_unref (item->time);
  g_free (item->reason);
  g_free (item->label);
  g_free (item->scores);
  g_free (item->package_name);
  g_free (item->package_version);
  g_free (item->package_sha256);
  g_free (item->weights_sha256);
  g_strfreev (item->classes);
  g_free (item);
}

static char *
line_folder_name (const char *line)
{
  GString *s = g_string_new (NULL);
  for (const char *p = line; *p; p++)
    g_string_append_c (s, g_ascii_isalnum (*p) || *p == '-' || *p == '_' ? *p : '_');
  if (s->len == 0)
    g_string_append (s, "line");
  return g_string_free (s, FALSE);
}

static guint64
folder_size (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  guint64 total = 0;

  if (dir == NULL)
    return 0;
  while ((name = g_dir_read_name (dir)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      GStatBuf st;
      if (g_lstat (child, &st) != 0)
        continue;
      if (S_ISDIR (st.st_mode))
        total += folder_size (child);
      else if (S_ISREG (st.st_mode))
        total += st.st_size;
    }
  return total;
}

static void
post_spool_message (GstGembaClassify *self, const char *event, const char *detail)
{
  GstStructure *s;
  gint64 now = g_get_monotonic_time ();

  GST_OBJECT_LOCK (self);
  if (now - self->last_spool_message_us < G_USEC_PER_SEC && self->last_spool_message_us)
    {
      GST_OBJECT_UNLOCK (self);
      return;
    }
  self->last_spool_message_us = now;
  s = gst_structure_new ("gemba-spool", "event", G_TYPE_STRING, event,
                         "detail", G_TYPE_STRING, detail ? detail : "",
                         "spooled", G_TYPE_UINT64, self->n_spooled,
                         "dropped", G_TYPE_UINT64, self->n_spool_dropped,
                         "quota-dropped", G_TYPE_UINT64, self->n_spool_quota, NULL);
  GST_OBJECT_UNLOCK (self);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* Copies the rectangle @roi (x, y, w, h) of a mapped packed-RGB-family frame into @dst as RGB. */
static void
copy_rgb (GstVideoFrame *frame, const int *roi, guint8 *dst)
{
  int ro = GST_VIDEO_FRAME_COMP_POFFSET (frame, 0);
  int go = GST_VIDEO_FRAME_COMP_POFFSET (frame, 1);
  int bo = GST_VIDEO_FRAME_COMP_POFFSET (frame, 2);
  int ps = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, 0);

  for (int y = 0; y < roi[3]; y++)
    {
      const guint8 *src = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (frame, 0) +
                          (gsize) (roi[1] + y) * GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0) +
                          (gsize) roi[0] * ps;
      for (int x = 0; x < roi[2]; x++, src += ps, dst += 3)
        {
          dst[0] = src[ro];
          dst[1] = src[go];
          dst[2] = src[bo];
        }
    }
}

/* The whole frame as packed RGB. */
static GembaImage *
frame_to_rgb (GstBuffer *buffer, const GstVideoInfo *info)
{
  GstVideoFrame frame;
  GembaImage *image;
  int roi[4] = { 0, 0, 0, 0 };

  if (!gst_video_frame_map (&frame, (GstVideoInfo *) info, buffer, GST_MAP_READ))
    return NULL;
  roi[2] = GST_VIDEO_FRAME_WIDTH (&frame);
  roi[3] = GST_VIDEO_FRAME_HEIGHT (&frame);
  image = gemba_image_new (roi[2], roi[3]);
  copy_rgb (&frame, roi, image->pixels);
  gst_video_frame_unmap (&frame);
  return image;
}

static gboolean
spool_write (GstGembaClassify *self, SpoolItem *item, const char *spool_dir, const char *line,
             guint64 max_bytes, GError **error)
{
  g_autoptr(GembaImage) image = frame_to_rgb (item->buffer, &item->info);
  g_autoptr(GBytes) png = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *line_dir = line_folder_name (line);
  g_autofree char *day = g_date_time_format (item->time, "%Y-%m-%d");
  g_autofree char *stamp = g_date_time_format (item->time, "%Y%m%dT%H%M%S");
  g_autofree char *iso = g_date_time_format_iso8601 (item->time);
  g_autofree char *dir = g_build_filename (spool_dir, line_dir, day, NULL);
  g_autofree char *base = NULL, *png_path = NULL, *json_path = NULL, *json = NULL;
  g_autofree char *image_sha = NULL;
  char host[256] = "";
  gsize json_len;

  if (image == NULL)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, "cannot map the frame");
      return FALSE;
    }
  if (!(png = gemba_image_encode_png (image, error)))
    return FALSE;
  image_sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, png);

  gethostname (host, sizeof host - 1);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "gemba-spool-record");
  json_builder_set_member_name (b, "format_version");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "time");
  json_builder_add_string_value (b, iso);
  json_builder_set_member_name (b, "pts");
  if (GST_BUFFER_PTS_IS_VALID (item->buffer))
    json_builder_add_int_value (b, (gint64) GST_BUFFER_PTS (item->buffer));
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "line");
  json_builder_add_string_value (b, line);
  json_builder_set_member_name (b, "host");
  json_builder_add_string_value (b, host);
  json_builder_set_member_name (b, "reason");
  json_builder_add_string_value (b, item->reason);
  json_builder_set_member_name (b, "verdict");
  json_builder_add_string_value (b, verdict_names[item->verdict]);
  json_builder_set_member_name (b, "label");
  json_builder_add_string_value (b, item->label);
  json_builder_set_member_name (b, "label_id");
  json_builder_add_int_value (b, item->label_id);
  json_builder_set_member_name (b, "confidence");
  json_builder_add_double_value (b, item->confidence);
  json_builder_set_member_name (b, "classes");
  json_builder_begin_array (b);
  for (int i = 0; i < item->n_scores; i++)
    json_builder_add_string_value (b, item->classes[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "scores");
  json_builder_begin_array (b);
  for (int i = 0; i < item->n_scores; i++)
    json_builder_add_double_value (b, item->scores[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "thresholds");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "reject_below");
  json_builder_add_double_value (b, item->reject_below);
  json_builder_set_member_name (b, "uncertain_below");
  json_builder_add_double_value (b, item->uncertain_below);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "package");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, item->package_name);
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, item->package_version);
  json_builder_set_member_name (b, "sha256");
  json_builder_add_string_value (b, item->package_sha256);
  json_builder_set_member_name (b, "weights_sha256");
  json_builder_add_string_value (b, item->weights_sha256);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "roi");
  json_builder_begin_array (b);
  for (int i = 0; i < 4; i++)
    json_builder_add_int_value (b, item->roi[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "image");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "width");
  json_builder_add_int_value (b, image->width);
  json_builder_set_member_name (b, "height");
  json_builder_add_int_value (b, image->height);
  json_builder_set_member_name (b, "sha256");
  json_builder_add_string_value (b, image_sha);
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json = json_generator_to_data (gen, &json_len);

  if (max_bytes && self->spool_bytes + g_bytes_get_size (png) + json_len > max_bytes)
    {
      GST_OBJECT_LOCK (self);
      self->n_spool_quota++;
      GST_OBJECT_UNLOCK (self);
      post_spool_message (self, "quota", spool_dir);
      return TRUE;
    }
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "%s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  base = g_strdup_printf ("%s_%06d_%" G_GUINT64_FORMAT, stamp,
                          g_date_time_get_microsecond (item->time), ++self->spool_seq);
  png_path = g_strconcat (dir, G_DIR_SEPARATOR_S, base, ".png", NULL);
  json_path = g_strconcat (dir, G_DIR_SEPARATOR_S, base, ".json", NULL);
  /* The sidecar is written last: its presence means the record is complete. */
  if (!g_file_set_contents_full (png_path, g_bytes_get_data (png, NULL), g_bytes_get_size (png),
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0644, error) ||
      !g_file_set_contents_full (json_path, json, json_len, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0644, error))
    {
      g_unlink (png_path);
      return FALSE;
    }
  self->spool_bytes += g_bytes_get_size (png) + json_len;
  GST_OBJECT_LOCK (self);
  self->n_spooled++;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* A drift record: LINE/DAY/TIME_SEQ.drift.json, for gemba monitor (gemba import skips it). */
static gboolean
spool_write_drift (GstGembaClassify *self, SpoolItem *item, const char *spool_dir,
                   const char *line, GError **error)
{
  g_autofree char *line_dir = line_folder_name (line);
  g_autofree char *day = g_date_time_format (item->time, "%Y-%m-%d");
  g_autofree char *stamp = g_date_time_format (item->time, "%Y%m%dT%H%M%S");
  g_autofree char *dir = g_build_filename (spool_dir, line_dir, day, NULL);
  g_autofree char *path = NULL;

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "%s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  path = g_strdup_printf ("%s%s%s_%06d_%" G_GUINT64_FORMAT ".drift.json", dir, G_DIR_SEPARATOR_S,
                          stamp, g_date_time_get_microsecond (item->time), ++self->spool_seq);
  if (!g_file_set_contents_full (path, item->drift_json, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0644, error))
    return FALSE;
  self->spool_bytes += strlen (item->drift_json);
  return TRUE;
}

static gpointer
spool_thread_func (gpointer data)
{
  GstGembaClassify *self = data;
  g_autofree char *spool_dir = NULL;
  g_autofree char *line = NULL;

  GST_OBJECT_LOCK (self);
  spool_dir = g_strdup (self->spool_dir);
  line = g_strdup (self->line);
  GST_OBJECT_UNLOCK (self);
  self->spool_bytes = folder_size (spool_dir);

  g_mutex_lock (&self->spool_lock);
  for (;;)
    {
      SpoolItem *item;
      g_autoptr(GError) error = NULL;
      guint64 max_bytes;

      while (g_queue_is_empty (&self->spool_queue) && !self->spool_quit)
        g_cond_wait (&self->spool_cond, &self->spool_lock);
      /* On quit, the queue is drained first: it holds at most SPOOL_QUEUE_MAX frames. */
      if (g_queue_is_empty (&self->spool_queue))
        break;
      item = g_queue_pop_head (&self->spool_queue);
      g_mutex_unlock (&self->spool_lock);

      GST_OBJECT_LOCK (self);
      max_bytes = (guint64) self->spool_max_mb * 1024 * 1024;
      GST_OBJECT_UNLOCK (self);
      if (item->drift_json ? !spool_write_drift (self, item, spool_dir, line, &error)
                           : !spool_write (self, item, spool_dir, line, max_bytes, &error))
        {
          GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("Could not write a spooled frame"),
                               ("%s", error->message));
          post_spool_message (self, "error", error->message);
        }
      spool_item_free (item);
      g_mutex_lock (&self->spool_lock);
    }
  g_mutex_unlock (&self->spool_lock);
  return NULL;
}

/* Streaming thread: takes a reference, never waits. */
static void
spool_enqueue (GstGembaClassify *self, GstBuffer *buffer, const char *reason, Verdict verdict,
               int label_id, double confidence, const float *scores, double reject_below,
               double uncertain_below, const int *roi)
{
  Loaded *l = self->current;
  SpoolItem *item;
  gboolean dropped = FALSE;

  g_mutex_lock (&self->spool_lock);
  if (self->spool_thread == NULL || self->spool_queue.length >= SPOOL_QUEUE_MAX)
    dropped = TRUE;
  g_mutex_unlock (&self->spool_lock);
  if (dropped)
    {
      GST_OBJECT_LOCK (self);
      self->n_spool_dropped++;
      GST_OBJECT_UNLOCK (self);
      post_spool_message (self, "dropped", "the spool writer is behind");
      return;
    }

  item = g_new0 (SpoolItem, 1);
  item->buffer = gst_buffer_ref (buffer);
  item->info = self->info;
  item->time = g_date_time_new_now_utc ();
  item->reason = g_strdup (reason);
  item->verdict = verdict;
  item->label_id = label_id;
  item->label = g_strdup (gemba_classifier_get_class_name (l->classifier, label_id));
  item->confidence = confidence;
  item->n_scores = l->n_classes;
  item->scores = g_memdup2 (scores, sizeof (float) * l->n_classes);
  item->reject_below = reject_below;
  item->uncertain_below = uncertain_below;
  memcpy (item->roi, roi, sizeof item->roi);
  item->package_name = g_strdup (l->name);
  item->package_version = g_strdup (l->version);
  item->package_sha256 = g_strdup (l->sha256);
  item->weights_sha256 = g_strdup (l->weights_sha256);
  item->classes = g_strdupv ((char **) gemba_model_get_class_names (
                                gemba_classifier_get_model (l->classifier)));
  g_mutex_lock (&self->spool_lock);
  g_queue_push_tail (&self->spool_queue, item);
  g_cond_signal (&self->spool_cond);
  g_mutex_unlock (&self->spool_lock);
}

static void
spool_stop (GstGembaClassify *self)
{
  g_mutex_lock (&self->spool_lock);
  self->spool_quit = TRUE;
  g_cond_signal (&self->spool_cond);
  g_mutex_unlock (&self->spool_lock);
  if (self->spool_thread)
    g_thread_join (self->spool_thread);
  self->spool_thread = NULL;
  self->spool_quit = FALSE;
}

/* --- the watched package folder ------------------------------------------------------- */

#define WATCH_INTERVAL_US (2 * G_USEC_PER_SEC)

typedef struct {
  char *path;
  char *version;
  char *sha256;
} Candidate;

static void
candidate_free (Candidate *c)
{
  g_free (c->path);
  g_free (c->version);
  g_free (c->sha256);
  g_free (c);
}

static int
candidate_newest_first (gconstpointer a, gconstpointer b)
{
  const Candidate *ca = *(Candidate **) a, *cb = *(Candidate **) b;
  return strverscmp (cb->version, ca->version);
}

/* Names, sizes and times of the folder's *.gemba files: the scan runs again only when this
 * changes. */
static char *
folder_signature (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (d == NULL)
    return g_strdup ("");
  while ((name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      GStatBuf st;
      if (!g_str_has_suffix (name, ".gemba") || g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
        continue;
      g_ptr_array_add (lines, g_strdup_printf ("%s %" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
                                               name, (gint64) st.st_size,
                                               (gint64) st.st_mtime));
    }
  g_ptr_array_sort (lines, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (lines, NULL);
  return g_strjoinv ("\n", (char **) lines->pdata);
}

/* The newest version among the folder's packages that verify against @trust, or NULL. Those
 * that do not verify are reported once per change of the folder. */
static Candidate *
newest_valid (GstGembaClassify *self, const char *dir, GembaTrust *trust)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func ((GDestroyNotify) candidate_free);
  const char *name;

  if (d == NULL)
    return NULL;
  while ((name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *contents = NULL;
      g_autoptr(GembaPackage) package = NULL;
      g_autoptr(GError) error = NULL;
      Candidate *c;
      gsize len;

      if (!g_str_has_suffix (name, ".gemba"))
        continue;
      if (!g_file_get_contents (path, &contents, &len, &error) ||
          !(package = gemba_package_open_bytes (g_bytes_new_static (contents, len), path,
                                                trust, NULL, &error)))
        {
          post_package_message (self, "refused", path, NULL, error->message);
          continue;
        }
      c = g_new0 (Candidate, 1);
      c->path = g_steal_pointer (&path);
      c->version = g_strdup (json_object_get_string_member (
        json_object_get_object_member (gemba_package_get_manifest (package), "model"),
        "version"));
      c->sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents,
                                               len);
      g_ptr_array_add (found, c);
    }
  if (found->len == 0)
    return NULL;
  g_ptr_array_sort (found, candidate_newest_first);
  return g_ptr_array_steal_index (found, 0);
}

static gpointer
watch_thread_func (gpointer data)
{
  GstGembaClassify *self = data;
  g_autofree char *dir = NULL;
  g_autofree char *last = NULL;

  GST_OBJECT_LOCK (self);
  dir = g_strdup (self->package_dir);
  GST_OBJECT_UNLOCK (self);
  last = folder_signature (dir);

  g_mutex_lock (&self->spool_lock);
  while (!self->watch_quit)
    {
      gint64 until = g_get_monotonic_time () + WATCH_INTERVAL_US;
      g_autofree char *now = NULL;

      while (!self->watch_quit && g_cond_wait_until (&self->watch_cond, &self->spool_lock, until))
        ;
      if (self->watch_quit)
        break;
      g_mutex_unlock (&self->spool_lock);
      now = folder_signature (dir);
      if (!g_str_equal (now, last))
        {
          Candidate *c = newest_valid (self, dir, self->trust);
          if (c != NULL && g_strcmp0 (c->sha256, self->watch_sha256) != 0)
            {
              GST_INFO_OBJECT (self, "%s is the newest valid package in %s", c->path, dir);
              g_free (self->watch_sha256);
              self->watch_sha256 = g_strdup (c->sha256);
              request_load (self, c->path);
            }
          g_clear_pointer (&c, candidate_free);
          g_free (last);
          last = g_steal_pointer (&now);
        }
      g_mutex_lock (&self->spool_lock);
    }
  g_mutex_unlock (&self->spool_lock);
  return NULL;
}

/* --- GstBaseTransform ----------------------------------------------------------------- */

static gboolean
gemba_classify_start (GstBaseTransform *trans)
{
  GstGembaClassify *self = GST_GEMBA_CLASSIFY (trans);
  g_autoptr(GError) error = NULL;
  g_autofree char *package = NULL, *trust = NULL, *spool_dir = NULL, *package_dir = NULL;
  Loaded *l;

  GST_OBJECT_LOCK (self);
  package = g_strdup (self->package_path);
  trust = g_strdup (self->trust_path);
  spool_dir = g_strdup (self->spool_dir);
  package_dir = g_strdup (self->package_dir);
  GST_OBJECT_UNLOCK (self);

  if ((package == NULL && package_dir == NULL) || trust == NULL)
    {
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No package to run"),
                         ("“package” or “package-dir”, and “trust”, must be set: no unsigned "
                          "package is ever run"));
      return FALSE;
    }
  g_clear_pointer (&self->trust, gemba_trust_unref);
  self->trust = gemba_trust_new ();
  if (!gemba_trust_add_path (self->trust, trust, &error))
    {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Cannot read the trusted keys"),
                         ("%s", error->message));
      return FALSE;
    }
  g_clear_pointer (&self->watch_sha256, g_free);
  if (package == NULL)
    {
      Candidate *c = newest_valid (self, package_dir, self->trust);
      if (c == NULL)
        {
          GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No valid package could be loaded"),
                             ("%s holds no package signed by a trusted key", package_dir));
          return FALSE;
        }
      package = g_strdup (c->path);
      self->watch_sha256 = g_strdup (c->sha256);
      candidate_free (c);
    }
  if (!(l = loaded_new (package, self->trust, NULL, &error)))
    {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("No valid package could be loaded"),
                         ("%s", error->message));
      return FALSE;
    }
  self->current = l;
  {
    const GembaPreprocess *pp =
      gemba_model_get_preprocess (gemba_classifier_get_model (l->classifier));
    self->contract.classes = g_strdupv ((char **) gemba_model_get_class_names (
                                          gemba_classifier_get_model (l->classifier)));
    self->contract.width = pp->width;
    self->contract.height = pp->height;
    self->contract.channels = pp->channels;
  }
  if (self->watch_sha256 == NULL)
    self->watch_sha256 = g_strdup (l->sha256);
  post_package_message (self, "loaded", package, l, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PACKAGE_VERSION]);

  self->loader = g_thread_pool_new (loader_run_cb, self, 1, FALSE, NULL);
  if (spool_dir != NULL)
    self->spool_thread = g_thread_new ("gemba-spool", spool_thread_func, self);
  if (package_dir != NULL)
    self->watch_thread = g_thread_new ("gemba-watch", watch_thread_func, self);
  return TRUE;
}

static gboolean
gemba_classify_stop (GstBaseTransform *trans)
{
  GstGembaClassify *self = GST_GEMBA_CLASSIFY (trans);

  g_mutex_lock (&self->spool_lock);
  self->watch_quit = TRUE;
  g_cond_signal (&self->watch_cond);
  g_mutex_unlock (&self->spool_lock);
  if (self->watch_thread)
    g_thread_join (self->watch_thread);
  self->watch_thread = NULL;
  self->watch_quit = FALSE;
  g_clear_pointer (&self->watch_sha256, g_free);
  spool_stop (self);
  if (self->loader)
    g_thread_pool_free (self->loader, FALSE, TRUE);
  self->loader = NULL;
  loaded_free (g_atomic_pointer_exchange (&self->pending, NULL));
  g_clear_pointer (&self->current, loaded_free);
  g_clear_pointer (&self->contract.classes, g_strfreev);
  g_clear_pointer (&self->trust, gemba_trust_unref);
  g_clear_pointer (&self->rgb, g_free);
  g_clear_pointer (&self->probs, g_free);
  drift_reset (self, 0, 0);
  self->rgb_size = 0;
  return TRUE;
}

static gboolean
gemba_classify_set_caps (GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps)
{
  GstGembaClassify *self = GST_GEMBA_CLASSIFY (trans);
  return gst_video_info_from_caps (&self->info, incaps);
}

/* The ROI clipped to the frame; the whole frame when unset or empty after clipping. */
static void
effective_roi (GstGembaClassify *self, const int *want, int *roi)
{
  int w = GST_VIDEO_INFO_WIDTH (&self->info), h = GST_VIDEO_INFO_HEIGHT (&self->info);
  int x0 = CLAMP (want[0], 0, w), y0 = CLAMP (want[1], 0, h);
  int x1 = CLAMP (want[0] + want[2], 0, w), y1 = CLAMP (want[1] + want[3], 0, h);

  if (want[2] <= 0 || want[3] <= 0 || x1 <= x0 || y1 <= y0)
    {
      roi[0] = roi[1] = 0;
      roi[2] = w;
      roi[3] = h;
      return;
    }
  roi[0] = x0;
  roi[1] = y0;
  roi[2] = x1 - x0;
  roi[3] = y1 - y0;
}

static gboolean
classify_roi (GstGembaClassify *self, GstBuffer *buf, const int *roi, int *label,
              GError **error)
{
  GstVideoFrame frame;
  int rc;
  gsize need = (gsize) roi[2] * roi[3] * 3;

  if (!gst_video_frame_map (&frame, &self->info, buf, GST_MAP_READ))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, "cannot map the frame");
      return FALSE;
    }
  if (self->rgb_size < need)
    {
      g_free (self->rgb);
      self->rgb = g_malloc (need);
      self->rgb_size = need;
    }
  copy_rgb (&frame, roi, self->rgb);
  gst_video_frame_unmap (&frame);
  rc = gemba_classifier_classify_rgb (self->current->classifier, self->rgb, roi[2], roi[3],
                                      roi[2] * 3, self->probs, error);
  *label = rc;
  return rc >= 0;
}

/* Empties the drift window and sizes it for @size frames of @n_classes classes. */
static void
drift_reset (GstGembaClassify *self, guint size, int n_classes)
{
  g_clear_pointer (&self->drift_samples, g_free);
  g_clear_pointer (&self->drift, gemba_drift_stats_free);
  self->drift_size = size;
  self->drift_head = self->drift_count = self->drift_since_check = 0;
  self->drift_since_alarm = size;
  if (size > 0)
    {
      self->drift_samples = g_new0 (DriftSample, size);
      self->drift = gemba_drift_stats_new (n_classes);
    }
}

/* Streaming thread: adds one classified frame to the window; once the window is full, every
 * tenth of it is compared with the package's reference, and a shift is posted (gemba-drift)
 * and spooled at most once per window. */
static void
drift_update (GstGembaClassify *self, Loaded *l, guint window, double confidence, int label,
              const int *roi)
{
  g_autoptr(JsonObject) result = NULL;
  DriftSample *sample;
  double brightness, contrast;
  const char *shifted;
  GstStructure *m;
  JsonObjectIter iter;
  const char *key;
  JsonNode *node;

  if (window == 0 || l->reference == NULL)
    return;
  if (self->drift_size != window || self->drift->n_classes != (guint) l->n_classes)
    drift_reset (self, window, l->n_classes);
  gemba_drift_measure (self->rgb, roi[2], roi[3], (gsize) roi[2] * 3, 3, 0, 1, 2, &brightness,
                       &contrast);
  sample = &self->drift_samples[self->drift_head];
  if (self->drift_count == self->drift_size)
    gemba_drift_stats_add (self->drift, sample->confidence, sample->label, sample->uncertain,
                           sample->brightness, sample->contrast, -1);
  sample->confidence = confidence;
  sample->label = label;
  sample->uncertain = confidence < l->thresholds[label];
  sample->brightness = brightness;
  sample->contrast = contrast;
  gemba_drift_stats_add (self->drift, sample->confidence, sample->label, sample->uncertain,
                         sample->brightness, sample->contrast, 1);
  self->drift_head = (self->drift_head + 1) % self->drift_size;
  self->drift_count = MIN (self->drift_count + 1, self->drift_size);
  self->drift_since_alarm++;
  if (self->drift_count < self->drift_size ||
      ++self->drift_since_check < MAX (1, self->drift_size / 10) ||
      self->drift_since_alarm < self->drift_size)
    return;
  self->drift_since_check = 0;
  result = gemba_drift_compare (l->reference, self->drift);
  shifted = json_object_get_string_member (result, "shifted");
  if (shifted[0] == '\0')
    return;
  self->drift_since_alarm = 0;
  GST_OBJECT_LOCK (self);
  self->n_drift_alarms++;
  GST_OBJECT_UNLOCK (self);

  m = gst_structure_new ("gemba-drift", "window", G_TYPE_UINT, window,
                         "package-version", G_TYPE_STRING, l->version, NULL);
  json_object_iter_init (&iter, result);
  while (json_object_iter_next (&iter, &key, &node))
    {
      g_autofree char *name = g_strdelimit (g_strdup (key), "_", '-');
      if (json_node_get_value_type (node) == G_TYPE_STRING)
        gst_structure_set (m, name, G_TYPE_STRING, json_node_get_string (node), NULL);
      else if (json_node_get_value_type (node) == G_TYPE_INT64)
        gst_structure_set (m, name, G_TYPE_INT64, json_node_get_int (node), NULL);
      else
        gst_structure_set (m, name, G_TYPE_DOUBLE, json_node_get_double (node), NULL);
    }
  GST_WARNING_OBJECT (self, "drift: %s", shifted);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), m));

  /* For gemba monitor: a drift record in the spool, past the frame queue's limit (one per
   * window at most). */
  g_mutex_lock (&self->spool_lock);
  if (self->spool_thread != NULL)
    {
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
      g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
      g_autofree char *iso = g_date_time_format_iso8601 (now);
      SpoolItem *item = g_new0 (SpoolItem, 1);

      json_object_set_string_member (result, "format", "gemba-spool-drift");
      GST_OBJECT_LOCK (self);
      json_object_set_string_member (result, "line", self->line);
      GST_OBJECT_UNLOCK (self);
      json_object_set_string_member (result, "time", iso);
      json_object_set_int_member (result, "window", window);
      json_object_set_string_member (result, "package_version", l->version);
      json_object_set_string_member (result, "package_sha256", l->sha256);
      json_node_set_object (root, result);
      item->time = g_date_time_ref (now);
      item->drift_json = json_to_string (root, TRUE);
      g_queue_push_tail (&self->spool_queue, item);
      g_cond_signal (&self->spool_cond);
    }
  g_mutex_unlock (&self->spool_lock);
}

static GstFlowReturn
gemba_classify_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstGembaClassify *self = GST_GEMBA_CLASSIFY (trans);
  g_autoptr(GError) error = NULL;
  Loaded *swapped = g_atomic_pointer_exchange (&self->pending, NULL);
  Loaded *l;
  guint interval, spool_flags, sample_interval, drift_window;
  double reject_below, uncertain_below;
  int want_roi[4], roi[4], label = -1;
  guint64 seq;
  gint64 t0, us;
  Verdict verdict;
  double conf;
  GstVideoRegionOfInterestMeta *roi_meta;
  GstCustomMeta *custom;
  GstStructure *s;
  GValue scores = G_VALUE_INIT;
  gboolean post = FALSE;
  guint64 suppressed = 0;

  if (swapped != NULL)
    {
      Loaded *old = self->current;
      self->current = swapped;
      g_free (self->probs);
      self->probs = NULL;
      post_package_message (self, "swapped", swapped->path, swapped, NULL);
      drift_reset (self, 0, 0);   /* another package: another reference */
      GST_INFO_OBJECT (self, "swapped %s %s for %s %s", old->name, old->version,
                       swapped->name, swapped->version);
      loaded_free (old);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PACKAGE_VERSION]);
    }
  l = self->current;
  if (self->probs == NULL)
    self->probs = g_new0 (float, l->n_classes);

  GST_OBJECT_LOCK (self);
  seq = self->n_frames++;
  interval = MAX (1, self->inference_interval);
  memcpy (want_roi, self->roi, sizeof want_roi);
  reject_below = self->reject_below;
  uncertain_below = self->uncertain_below;
  spool_flags = self->spool_flags;
  sample_interval = self->spool_sample_interval;
  drift_window = self->drift_window;
  if (seq % interval != 0)
    {
      self->n_skipped++;
      GST_OBJECT_UNLOCK (self);
      return GST_FLOW_OK;   /* no verdict: a missing verdict never reads as OK */
    }
  GST_OBJECT_UNLOCK (self);

  effective_roi (self, want_roi, roi);
  t0 = g_get_monotonic_time ();
  if (!classify_roi (self, buf, roi, &label, &error))
    {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Inference failed"), ("%s", error->message));
      return GST_FLOW_ERROR;
    }
  us = g_get_monotonic_time () - t0;

  conf = self->probs[label];
  drift_update (self, l, drift_window, conf, label, roi);
  if (reject_below < 0)
    reject_below = l->thresholds[l->ok_index];
  if (uncertain_below < 0)
    uncertain_below = l->thresholds[label];
  if (conf < uncertain_below)
    verdict = VERDICT_UNCERTAIN;
  else if (label != l->ok_index && self->probs[l->ok_index] < reject_below)
    verdict = VERDICT_REJECT;
  else if (label != l->ok_index)
    verdict = VERDICT_UNCERTAIN;   /* a defect won, but the good class is still likely */
  else
    verdict = VERDICT_OK;

  roi_meta = gst_buffer_add_video_region_of_interest_meta (buf, "gemba", roi[0], roi[1],
                                                           roi[2], roi[3]);
  gst_video_region_of_interest_meta_add_param (
    roi_meta, gst_structure_new ("classification",
                                 "label", G_TYPE_STRING,
                                 gemba_classifier_get_class_name (l->classifier, label),
                                 "label_id", G_TYPE_INT, label,
                                 "confidence", G_TYPE_DOUBLE, conf, NULL));

  g_value_init (&scores, GST_TYPE_ARRAY);
  for (int i = 0; i < l->n_classes; i++)
    {
      GValue v = G_VALUE_INIT;
      g_value_init (&v, G_TYPE_DOUBLE);
      g_value_set_double (&v, self->probs[i]);
      gst_value_array_append_and_take_value (&scores, &v);
    }
  custom = gst_buffer_add_custom_meta (buf, GEMBA_VERDICT_META);
  s = gst_custom_meta_get_structure (custom);
  gst_structure_set (s, "verdict", G_TYPE_STRING, verdict_names[verdict],
                     "label", G_TYPE_STRING,
                     gemba_classifier_get_class_name (l->classifier, label),
                     "label-id", G_TYPE_INT, label,
                     "confidence", G_TYPE_DOUBLE, conf,
                     "reject-below", G_TYPE_DOUBLE, reject_below,
                     "uncertain-below", G_TYPE_DOUBLE, uncertain_below,
                     "package-name", G_TYPE_STRING, l->name,
                     "package-version", G_TYPE_STRING, l->version,
                     "package-sha256", G_TYPE_STRING, l->sha256,
                     "frame-seq", G_TYPE_UINT64, seq,
                     "inference-us", G_TYPE_INT64, us,
                     "roi-x", G_TYPE_INT, roi[0], "roi-y", G_TYPE_INT, roi[1],
                     "roi-w", G_TYPE_INT, roi[2], "roi-h", G_TYPE_INT, roi[3], NULL);
  gst_structure_set_value (s, "scores", &scores);

  GST_OBJECT_LOCK (self);
  self->n_inferred++;
  self->inference_us_total += us;
  if (verdict == VERDICT_OK)
    self->n_ok++;
  else if (verdict == VERDICT_REJECT)
    self->n_reject++;
  else
    self->n_uncertain++;
  if (verdict != VERDICT_OK)
    {
      gint64 now = g_get_monotonic_time ();
      if (self->last_message_us == 0 || now - self->last_message_us >= MESSAGE_MIN_INTERVAL_US)
        {
          post = TRUE;
          suppressed = self->n_messages_suppressed;
          self->n_messages_suppressed = 0;
          self->last_message_us = now;
        }
      else
        self->n_messages_suppressed++;
    }
  GST_OBJECT_UNLOCK (self);

  if (post)
    {
      GstStructure *m = gst_structure_copy (s);
      gst_structure_set_name (m, "gemba-verdict");
      gst_structure_set (m, "pts", G_TYPE_UINT64, GST_BUFFER_PTS (buf),
                         "suppressed", G_TYPE_UINT64, suppressed, NULL);
      gst_element_post_message (GST_ELEMENT (self),
                                gst_message_new_element (GST_OBJECT (self), m));
    }

  if (self->spool_thread != NULL)
    {
      const char *reason = NULL;
      if (verdict == VERDICT_REJECT && (spool_flags & SPOOL_REJECTED))
        reason = "rejected";
      else if (verdict == VERDICT_UNCERTAIN && (spool_flags & SPOOL_UNCERTAIN))
        reason = "uncertain";
      else if ((spool_flags & SPOOL_SAMPLED) && sample_interval > 0 &&
               (seq / interval) % sample_interval == 0)
        reason = "sampled";
      if (reason)
        spool_enqueue (self, buf, reason, verdict, label, conf, self->probs, reject_below,
                       uncertain_below, roi);
    }
  g_value_unset (&scores);
  return GST_FLOW_OK;
}

/* Keeps our custom meta and the ROI meta when the buffer is copied. */
static gboolean
gemba_classify_transform_meta (GstBaseTransform *trans, GstBuffer *outbuf, GstMeta *meta,
                               GstBuffer *inbuf)
{
  return TRUE;
}

/* --- GObject -------------------------------------------------------------------------- */

static gboolean
parse_roi (const char *text, int *roi)
{
  g_auto(GStrv) parts = NULL;
  int v[4];

  if (text == NULL || *text == '\0')
    {
      memset (roi, 0, 4 * sizeof (int));
      return TRUE;
    }
  parts = g_strsplit (text, ",", -1);
  if (g_strv_length (parts) != 4)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      gint64 n;
      if (!g_ascii_string_to_signed (g_strstrip (parts[i]), 10, 0, G_MAXINT / 2, &n, NULL))
        return FALSE;
      v[i] = n;
    }
  if (v[2] == 0 || v[3] == 0)
    return FALSE;
  memcpy (roi, v, sizeof v);
  return TRUE;
}

static GstStructure *
make_stats (GstGembaClassify *self)
{
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  s = gst_structure_new ("gemba-stats",
                         "frames", G_TYPE_UINT64, self->n_frames,
                         "inferred", G_TYPE_UINT64, self->n_inferred,
                         "skipped", G_TYPE_UINT64, self->n_skipped,
                         "ok", G_TYPE_UINT64, self->n_ok,
                         "reject", G_TYPE_UINT64, self->n_reject,
                         "uncertain", G_TYPE_UINT64, self->n_uncertain,
                         "spooled", G_TYPE_UINT64, self->n_spooled,
                         "spool-dropped", G_TYPE_UINT64, self->n_spool_dropped,
                         "spool-quota-dropped", G_TYPE_UINT64, self->n_spool_quota,
                         "drift-alarms", G_TYPE_UINT64, self->n_drift_alarms,
                         "mean-inference-us", G_TYPE_UINT64,
                         self->n_inferred ? self->inference_us_total / self->n_inferred : 0,
                         NULL);
  GST_OBJECT_UNLOCK (self);
  return s;
}

static void
gemba_classify_set_property (GObject *object, guint prop_id, const GValue *value,
                             GParamSpec *pspec)
{
  GstGembaClassify *self = GST_GEMBA_CLASSIFY (object);
  gboolean reload = FALSE;

  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_PACKAGE:
      g_free (self->package_path);
      self->package_path = g_value_dup_string (value);
      reload = self->loader != NULL && self->package_path != NULL;
      break;
    case PROP_TRUST:
      g_free (self->trust_path);
      self->trust_path = g_value_dup_string (value);
      break;
    case PROP_ROI:
      if (!parse_roi (g_value_get_string (value), self->roi))
        GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS, ("Invalid roi"),
                             ("“%s” is not x,y,w,h with w and h positive; roi unchanged",
                              g_value_get_string (value)));
      break;
    case PROP_INFERENCE_INTERVAL:
      self->inference_interval = g_value_get_uint (value);
      break;
    case PROP_REJECT_BELOW:
      self->reject_below = g_value_get_double (value);
      break;
    case PROP_UNCERTAIN_BELOW:
      self->uncertain_below = g_value_get_double (value);
      break;
    case PROP_SPOOL_DIR:
      g_free (self->spool_dir);
      self->spool_dir = g_value_dup_string (value);
      break;
    case PROP_SPOOL:
      self->spool_flags = g_value_get_flags (value);
      break;
    case PROP_SPOOL_SAMPLE_INTERVAL:
      self->spool_sample_interval = g_value_get_uint (value);
      break;
    case PROP_SPOOL_MAX_MB:
      self->spool_max_mb = g_value_get_uint (value);
      break;
    case PROP_DRIFT_WINDOW:
      self->drift_window = g_value_get_uint (value);
      break;
    case PROP_PACKAGE_DIR:
      g_free (self->package_dir);
      self->package_dir = g_value_dup_string (value);
      break;
    case PROP_LINE:
      g_free (self->line);
      self->line = g_strdup (g_value_get_string (value) ? g_value_get_string (value) : "");
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
  if (reload)
    request_load (self, g_value_get_string (value));
}

static void
gemba_classify_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstGembaClassify *self = GST_GEMBA_CLASSIFY (object);

  if (prop_id == PROP_STATS)
    {
      g_value_take_boxed (value, make_stats (self));
      return;
    }
  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_PACKAGE:
      g_value_set_string (value, self->package_path);
      break;
    case PROP_TRUST:
      g_value_set_string (value, self->trust_path);
      break;
    case PROP_ROI:
      if (self->roi[2] > 0)
        g_value_take_string (value, g_strdup_printf ("%d,%d,%d,%d", self->roi[0], self->roi[1],
                                                     self->roi[2], self->roi[3]));
      else
        g_value_set_string (value, "");
      break;
    case PROP_INFERENCE_INTERVAL:
      g_value_set_uint (value, self->inference_interval);
      break;
    case PROP_REJECT_BELOW:
      g_value_set_double (value, self->reject_below);
      break;
    case PROP_UNCERTAIN_BELOW:
      g_value_set_double (value, self->uncertain_below);
      break;
    case PROP_SPOOL_DIR:
      g_value_set_string (value, self->spool_dir);
      break;
    case PROP_SPOOL:
      g_value_set_flags (value, self->spool_flags);
      break;
    case PROP_SPOOL_SAMPLE_INTERVAL:
      g_value_set_uint (value, self->spool_sample_interval);
      break;
    case PROP_SPOOL_MAX_MB:
      g_value_set_uint (value, self->spool_max_mb);
      break;
    case PROP_DRIFT_WINDOW:
      g_value_set_uint (value, self->drift_window);
      break;
    case PROP_PACKAGE_DIR:
      g_value_set_string (value, self->package_dir);
      break;
    case PROP_LINE:
      g_value_set_string (value, self->line);
      break;
    case PROP_PACKAGE_VERSION:
      /* Read without the streaming lock: `current` is replaced only between frames and the
       * strings are copied here; callers read it from notify or between frames. */
      if (self->current)
        g_value_take_string (value, g_strdup_printf ("%s %s", self->current->name,
                                                     self->current->version));
      else
        g_value_set_string (value, NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
}

static void
gemba_classify_finalize (GObject *object)
{
  GstGembaClassify *self = GST_GEMBA_CLASSIFY (object);

  g_free (self->package_path);
  g_free (self->trust_path);
  g_free (self->spool_dir);
  g_free (self->line);
  g_free (self->package_dir);
  g_cond_clear (&self->watch_cond);
  g_clear_pointer (&self->trust, gemba_trust_unref);  /* kept after a failed start() */
  g_mutex_clear (&self->spool_lock);
  g_cond_clear (&self->spool_cond);
  G_OBJECT_CLASS (gst_gemba_classify_parent_class)->finalize (object);
}

static void
gst_gemba_classify_class_init (GstGembaClassifyClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  const GParamFlags playing = rw | GST_PARAM_MUTABLE_PLAYING;
  const GParamFlags ready = rw | GST_PARAM_MUTABLE_READY;

  object_class->set_property = gemba_classify_set_property;
  object_class->get_property = gemba_classify_get_property;
  object_class->finalize = gemba_classify_finalize;

  properties[PROP_PACKAGE] =
    g_param_spec_string ("package", "Package",
                         "The signed .gemba package; set while playing to swap it live", NULL,
                         playing);
  properties[PROP_TRUST] =
    g_param_spec_string ("trust", "Trust",
                         "A public key file or a folder of them; only packages they signed run",
                         NULL, ready);
  properties[PROP_ROI] =
    g_param_spec_string ("roi", "Region of interest",
                         "x,y,w,h in pixels, clipped to the frame; empty for the whole frame",
                         "", playing);
  properties[PROP_INFERENCE_INTERVAL] =
    g_param_spec_uint ("inference-interval", "Inference interval",
                       "Classify every Nth frame; the others carry no verdict", 1, G_MAXUINT, 1,
                       playing);
  properties[PROP_REJECT_BELOW] =
    g_param_spec_double ("reject-below", "Reject below",
                         "Reject when a defect wins and the good class scores below this; "
                         "-1: the manifest's threshold of the good class", -1.0, 1.0, -1.0,
                         playing);
  properties[PROP_UNCERTAIN_BELOW] =
    g_param_spec_double ("uncertain-below", "Uncertain below",
                         "Uncertain when the top score is below this; -1: the manifest's "
                         "threshold of the top class", -1.0, 1.0, -1.0, playing);
  properties[PROP_SPOOL_DIR] =
    g_param_spec_string ("spool-dir", "Spool folder",
                         "Where spooled frames go (LINE/DAY/TIME.png + .json); unset: no spool",
                         NULL, ready);
  properties[PROP_SPOOL] =
    g_param_spec_flags ("spool", "Spool", "Which frames to spool", gemba_spool_flags_get_type (),
                        SPOOL_REJECTED | SPOOL_UNCERTAIN, playing);
  properties[PROP_SPOOL_SAMPLE_INTERVAL] =
    g_param_spec_uint ("spool-sample-interval", "Spool sample interval",
                       "With spool=sampled, every Nth classified frame is spooled", 0,
                       G_MAXUINT, 1000, playing);
  properties[PROP_SPOOL_MAX_MB] =
    g_param_spec_uint ("spool-max-mb", "Spool quota",
                       "Stop spooling once the spool folder holds this many MiB; 0: no limit",
                       0, G_MAXUINT, 1024, playing);
  properties[PROP_DRIFT_WINDOW] =
    g_param_spec_uint ("drift-window", "Drift window",
                       "Compare the last N classified frames with the package's test-split "
                       "reference and post gemba-drift when they differ; 0: off",
                       0, 1000000, 500, ready);
  properties[PROP_LINE] =
    g_param_spec_string ("line", "Line", "The line's name, recorded with spooled frames",
                         "line", ready);
  properties[PROP_PACKAGE_DIR] =
    g_param_spec_string ("package-dir", "Package folder",
                         "A folder watched every 2 s: the newest version among its .gemba files "
                         "that verify against trust is swapped in", NULL, ready);
  properties[PROP_PACKAGE_VERSION] =
    g_param_spec_string ("package-version", "Package version",
                         "Name and version of the package running", NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATS] =
    g_param_spec_boxed ("stats", "Statistics",
                        "Frame, verdict and spool counters, mean inference time",
                        GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gst_element_class_set_static_metadata (element_class, "Gemba classifier",
                                         "Filter/Analyzer/Video",
                                         "Classifies frames with a signed Gemba package, spools "
                                         "uncertain frames for review",
                                         "Gemba <gemba@gemba.dev>");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_type_mark_as_plugin_api (gemba_spool_flags_get_type (), 0);

  trans_class->start = gemba_classify_start;
  trans_class->stop = gemba_classify_stop;
  trans_class->set_caps = gemba_classify_set_caps;
  trans_class->transform_ip = gemba_classify_transform_ip;
  trans_class->transform_meta = gemba_classify_transform_meta;
  trans_class->passthrough_on_same_caps = FALSE;
}

static void
gst_gemba_classify_init (GstGembaClassify *self)
{
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), FALSE);
  self->inference_interval = 1;
  self->reject_below = -1.0;
  self->uncertain_below = -1.0;
  self->spool_flags = SPOOL_REJECTED | SPOOL_UNCERTAIN;
  self->spool_sample_interval = 1000;
  self->spool_max_mb = 1024;
  self->drift_window = 500;
  self->line = g_strdup ("line");
  g_mutex_init (&self->spool_lock);
  g_cond_init (&self->spool_cond);
  g_cond_init (&self->watch_cond);
  g_queue_init (&self->spool_queue);
}

GST_ELEMENT_REGISTER_DECLARE (gembaclassify);
GST_ELEMENT_REGISTER_DEFINE (gembaclassify, "gembaclassify", GST_RANK_NONE,
                             gst_gemba_classify_get_type ());

static gboolean
plugin_init (GstPlugin *plugin)
{
  static const char *tags[] = { NULL };

  GST_DEBUG_CATEGORY_INIT (gemba_classify_debug, "gembaclassify", 0, "Gemba classifier");
  if (gst_meta_get_info (GEMBA_VERDICT_META) == NULL)
    gst_meta_register_custom (GEMBA_VERDICT_META, tags, NULL, NULL, NULL);
  return GST_ELEMENT_REGISTER (gembaclassify, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, gemba,
                   "Classify frames with a signed Gemba package", plugin_init, PACKAGE_VERSION,
                   "GPL", "gemba", "https://gemba.dev/")
