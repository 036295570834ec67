/* test-gst.c: the gembaclassify element through GstHarness, with packages made and signed at
 * test time by the gemba CLI (demo project, one epoch, keygen, export).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <json-glib/json-glib.h>

#include "gemba.h"
#include "gemba-test-cli.h"

static char *work_dir;
static char *package_a;   /* version 1, trusted key */
static char *package_b;   /* version 2, same model, trusted key */
static char *package_bad; /* signed by a key the line does not trust */
static char *trust_dir;
static char *project_dir;  /* the demo project the packages come from */

#define W 64
#define H 48
#define CAPS "video/x-raw,format=BGRx,width=64,height=48,framerate=30/1"

static void
make_packages (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *secret = NULL, *other = NULL, *other_secret = NULL;
  const char *project;

  work_dir = g_dir_make_tmp ("gemba-gst-XXXXXX", &error);
  g_assert_no_error (error);
  project = project_dir = g_build_filename (work_dir, "line", NULL);
  trust_dir = g_build_filename (work_dir, "keys", NULL);
  secret = g_build_filename (trust_dir, "secret", NULL);
  other = g_build_filename (work_dir, "other-keys", NULL);
  other_secret = g_build_filename (other, "secret", NULL);
  package_a = g_build_filename (work_dir, "washer-1.gemba", NULL);
  package_b = g_build_filename (work_dir, "washer-2.gemba", NULL);
  package_bad = g_build_filename (work_dir, "washer-evil.gemba", NULL);

  gemba_test_cli_run ("demo", project, "--quiet", NULL);
  gemba_test_cli_run ("train", project, "--size", "32", "--epochs", "1", "--quiet", NULL);
  gemba_test_cli_run ("keygen", "--out", trust_dir, NULL);
  gemba_test_cli_run ("keygen", "--out", other, NULL);
  gemba_test_cli_run ("export", project, "1", "-o", package_a, "--key", secret, "--version", "1",
                      NULL);
  gemba_test_cli_run ("export", project, "1", "-o", package_b, "--key", secret, "--version", "2",
                      NULL);
  gemba_test_cli_run ("export", project, "1", "-o", package_bad, "--key", other_secret,
                      "--version", "3", NULL);
}

static GstHarness *
harness_new (const char *extra_props)
{
  g_autofree char *desc = g_strdup_printf ("gembaclassify package=\"%s\" trust=\"%s\" %s",
                                           package_a, trust_dir, extra_props ? extra_props : "");
  GstElement *element = gst_parse_launch (desc, NULL);
  GstHarness *h;

  g_assert_nonnull (element);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_object_unref (element);
  gst_harness_set_src_caps_str (h, CAPS);
  return h;
}

static GstHarness *
harness_with_bus (const char *extra_props, GstBus **bus)
{
  g_autofree char *desc = g_strdup_printf ("gembaclassify package=\"%s\" trust=\"%s\" %s",
                                           package_a, trust_dir, extra_props ? extra_props : "");
  GstElement *element = gst_parse_launch (desc, NULL);
  GstHarness *h;

  g_assert_nonnull (element);
  *bus = gst_bus_new ();
  gst_element_set_bus (element, *bus);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_object_unref (element);
  gst_harness_set_src_caps_str (h, CAPS);
  return h;
}

static GstBuffer *
pattern_buffer (guint seed, guint8 scale)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, W * H * 4, NULL);
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (guint8) (((i * 37 + seed * 11) % 256) * scale / 255);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = seed * GST_SECOND / 30;
  return buf;
}

static const GstStructure *
verdict_of (GstBuffer *buf)
{
  GstCustomMeta *meta = gst_buffer_get_custom_meta (buf, "GembaVerdictMeta");
  return meta ? gst_custom_meta_get_structure (meta) : NULL;
}

static void
test_meta_and_pixels (void)
{
  GstHarness *h = harness_new ("roi=8,4,40,30");
  GstBuffer *in = pattern_buffer (1, 255);
  GstBuffer *out;
  GstMapInfo a, b;
  GstVideoRegionOfInterestMeta *roi;
  GstStructure *cls;
  const GstStructure *v;
  const char *label;
  double conf;
  int label_id;

  out = gst_harness_push_and_pull (h, gst_buffer_ref (in));
  g_assert_nonnull (out);
  gst_buffer_map (in, &a, GST_MAP_READ);
  gst_buffer_map (out, &b, GST_MAP_READ);
  g_assert_cmpuint (a.size, ==, b.size);
  g_assert_cmpmem (a.data, a.size, b.data, b.size);
  gst_buffer_unmap (in, &a);
  gst_buffer_unmap (out, &b);

  roi = gst_buffer_get_video_region_of_interest_meta (out);
  g_assert_nonnull (roi);
  g_assert_cmpuint (roi->x, ==, 8);
  g_assert_cmpuint (roi->y, ==, 4);
  g_assert_cmpuint (roi->w, ==, 40);
  g_assert_cmpuint (roi->h, ==, 30);
  cls = gst_video_region_of_interest_meta_get_param (roi, "classification");
  g_assert_nonnull (cls);
  label = gst_structure_get_string (cls, "label");
  g_assert_nonnull (label);
  g_assert_true (gst_structure_get_int (cls, "label_id", &label_id));
  g_assert_cmpint (label_id, >=, 0);
  g_assert_cmpint (label_id, <, 4);
  g_assert_true (gst_structure_get_double (cls, "confidence", &conf));
  g_assert_cmpfloat (conf, >, 0.0);
  g_assert_cmpfloat (conf, <=, 1.0);

  v = verdict_of (out);
  g_assert_nonnull (v);
  g_assert_true (g_strv_contains ((const char *[]) { "ok", "reject", "uncertain", NULL },
                                  gst_structure_get_string (v, "verdict")));
  g_assert_cmpstr (gst_structure_get_string (v, "label"), ==, label);
  g_assert_cmpstr (gst_structure_get_string (v, "package-version"), ==, "1");
  g_assert_cmpuint (strlen (gst_structure_get_string (v, "package-sha256")), ==, 64);
  g_assert_cmpuint (gst_value_array_get_size (gst_structure_get_value (v, "scores")), ==, 4);

  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

/* Returns the number of non-OK frames seen in the metas, and checks every gemba-verdict
 * message is for a non-OK frame, and that messages plus the suppressed counts add up. */
static void
check_messages (const char *props, guint n, guint *n_not_ok)
{
  GstBus *bus = NULL;
  GstHarness *h = harness_with_bus (props, &bus);
  GstMessage *msg;
  guint64 announced = 0;
  guint not_ok = 0;

  for (guint i = 0; i < n; i++)
    {
      GstBuffer *out = gst_harness_push_and_pull (h, pattern_buffer (i, 255));
      const GstStructure *v = verdict_of (out);
      g_assert_nonnull (v);
      if (!g_str_equal (gst_structure_get_string (v, "verdict"), "ok"))
        not_ok++;
      gst_buffer_unref (out);
    }
  gst_harness_teardown (h);
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)))
    {
      const GstStructure *s = gst_message_get_structure (msg);
      if (gst_structure_has_name (s, "gemba-verdict"))
        {
          guint64 suppressed = 0;
          g_assert_cmpstr (gst_structure_get_string (s, "verdict"), !=, "ok");
          g_assert_true (gst_structure_get_uint64 (s, "suppressed", &suppressed));
          announced += 1 + suppressed;
        }
      gst_message_unref (msg);
    }
  /* Suppressed frames are announced with the next message; the last ones may wait. */
  g_assert_cmpuint (announced, <=, not_ok);
  if (not_ok > 0)
    g_assert_cmpuint (announced, >=, 1);
  else
    g_assert_cmpuint (announced, ==, 0);
  gst_object_unref (bus);
  *n_not_ok = not_ok;
}

static void
test_messages (void)
{
  guint not_ok;

  /* Nothing is uncertain and nothing is rejected: every frame is a plain verdict. */
  check_messages ("uncertain-below=0 reject-below=0", 12, &not_ok);
  /* With reject-below=0 a winning defect is "uncertain" (the good class is still likely),
   * so only frames whose winner is the good class are OK; force all to be uncertain: */
  check_messages ("uncertain-below=1", 12, &not_ok);
  g_assert_cmpuint (not_ok, ==, 12);
}

static void
test_interval (void)
{
  GstHarness *h = harness_new ("inference-interval=3");
  GstStructure *stats = NULL;
  guint64 skipped = 0, inferred = 0;

  for (guint i = 0; i < 9; i++)
    {
      GstBuffer *out = gst_harness_push_and_pull (h, pattern_buffer (i, 255));
      if (i % 3 == 0)
        {
          g_assert_nonnull (verdict_of (out));
          g_assert_nonnull (gst_buffer_get_video_region_of_interest_meta (out));
        }
      else
        {
          g_assert_null (verdict_of (out));
          g_assert_null (gst_buffer_get_video_region_of_interest_meta (out));
        }
      gst_buffer_unref (out);
    }
  g_object_get (h->element, "stats", &stats, NULL);
  g_assert_true (gst_structure_get_uint64 (stats, "skipped", &skipped));
  g_assert_true (gst_structure_get_uint64 (stats, "inferred", &inferred));
  g_assert_cmpuint (skipped, ==, 6);
  g_assert_cmpuint (inferred, ==, 3);
  gst_structure_free (stats);
  gst_harness_teardown (h);
}

/* Pushes frames until one carries @version (at most 60 s); every frame has a verdict. */
static guint
push_until_version (GstHarness *h, const char *version, const char *before)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  guint n = 0;

  for (;;)
    {
      GstBuffer *out = gst_harness_push_and_pull (h, pattern_buffer (n, 255));
      const GstStructure *v = verdict_of (out);
      const char *got;

      g_assert_nonnull (v);   /* no gap: every frame is classified */
      got = gst_structure_get_string (v, "package-version");
      n++;
      if (g_str_equal (got, version))
        {
          gst_buffer_unref (out);
          return n;
        }
      g_assert_cmpstr (got, ==, before);
      gst_buffer_unref (out);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (2000);
    }
}

static gboolean
wait_for_package_event (GstBus *bus, const char *event)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      GstMessage *msg = gst_bus_timed_pop_filtered (bus, 100 * GST_MSECOND,
                                                    GST_MESSAGE_ELEMENT);
      gboolean found = FALSE;
      if (msg == NULL)
        continue;
      if (gst_structure_has_name (gst_message_get_structure (msg), "gemba-package"))
        found = g_str_equal (gst_structure_get_string (gst_message_get_structure (msg),
                                                       "event"), event);
      gst_message_unref (msg);
      if (found)
        return TRUE;
    }
  return FALSE;
}

static void
test_swap (void)
{
  GstBus *bus = NULL;
  GstHarness *h = harness_with_bus (NULL, &bus);
  g_autofree char *version = NULL;
  GstBuffer *out;

  out = gst_harness_push_and_pull (h, pattern_buffer (0, 255));
  gst_buffer_unref (out);
  g_object_get (h->element, "package-version", &version, NULL);
  g_assert_cmpstr (version, ==, "line 1");

  /* Untrusted: refused, the running package is kept. */
  g_object_set (h->element, "package", package_bad, NULL);
  g_assert_true (wait_for_package_event (bus, "refused"));
  for (guint i = 0; i < 3; i++)
    {
      out = gst_harness_push_and_pull (h, pattern_buffer (i, 255));
      g_assert_cmpstr (gst_structure_get_string (verdict_of (out), "package-version"), ==, "1");
      gst_buffer_unref (out);
    }

  /* Trusted: swapped in at a frame boundary, no frame without a verdict. */
  g_object_set (h->element, "package", package_b, NULL);
  push_until_version (h, "2", "1");
  g_clear_pointer (&version, g_free);
  g_object_get (h->element, "package-version", &version, NULL);
  g_assert_cmpstr (version, ==, "line 2");
  gst_harness_teardown (h);
  gst_object_unref (bus);
}

static void
copy_file (const char *from, const char *to)
{
  g_autofree char *contents = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (from, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (to, contents, len, NULL));
}

/* A watched folder: the newest version that verifies wins; an untrusted newer one (3) does
 * not. */
static void
test_package_dir (void)
{
  g_autofree char *dir = g_build_filename (work_dir, "packages", NULL);
  g_autofree char *a = g_build_filename (dir, "washer-1.gemba", NULL);
  g_autofree char *b = g_build_filename (dir, "washer-2.gemba", NULL);
  g_autofree char *bad = g_build_filename (dir, "washer-3.gemba", NULL);
  g_autofree char *desc = NULL;
  GstElement *element;
  GstHarness *h;
  GstBuffer *out;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  copy_file (package_a, a);
  desc = g_strdup_printf ("gembaclassify package-dir=\"%s\" trust=\"%s\"", dir, trust_dir);
  element = gst_parse_launch (desc, NULL);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_object_unref (element);
  gst_harness_set_src_caps_str (h, CAPS);
  out = gst_harness_push_and_pull (h, pattern_buffer (0, 255));
  g_assert_cmpstr (gst_structure_get_string (verdict_of (out), "package-version"), ==, "1");
  gst_buffer_unref (out);

  copy_file (package_bad, bad);
  copy_file (package_b, b);
  push_until_version (h, "2", "1");
  for (guint i = 0; i < 3; i++)
    {
      out = gst_harness_push_and_pull (h, pattern_buffer (i, 255));
      g_assert_cmpstr (gst_structure_get_string (verdict_of (out), "package-version"), ==, "2");
      gst_buffer_unref (out);
    }
  gst_harness_teardown (h);
}

static void
test_no_trust (void)
{
  g_autofree char *desc = g_strdup_printf ("gembaclassify package=\"%s\"", package_a);
  GstElement *element = gst_parse_launch (desc, NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;

  gst_element_set_bus (element, bus);
  g_assert_cmpint (gst_element_set_state (element, GST_STATE_PAUSED), ==,
                   GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  gst_message_unref (msg);
  gst_element_set_state (element, GST_STATE_NULL);
  gst_object_unref (element);
  gst_object_unref (bus);

  /* A package signed by an untrusted key never starts either. */
  desc = (g_free (desc), g_strdup_printf ("gembaclassify package=\"%s\" trust=\"%s\"",
                                          package_bad, trust_dir));
  element = gst_parse_launch (desc, NULL);
  g_assert_cmpint (gst_element_set_state (element, GST_STATE_PAUSED), ==,
                   GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (element, GST_STATE_NULL);
  gst_object_unref (element);
}

static void
collect_records (const char *dir, GPtrArray *json)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d)))
    {
      char *path = g_build_filename (dir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          collect_records (path, json);
          g_free (path);
        }
      else if (g_str_has_suffix (name, ".json"))
        g_ptr_array_add (json, path);
      else
        g_free (path);
    }
}

static void
test_spool (void)
{
  g_autofree char *spool = g_build_filename (work_dir, "spool", NULL);
  g_autofree char *props = g_strdup_printf ("uncertain-below=1 spool-dir=\"%s\" line=\"Line 3\"",
                                            spool);
  GstHarness *h = harness_new (props);
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func (g_free);
  GstStructure *stats = NULL;
  guint64 spooled = 0, dropped = 0;

  for (guint i = 0; i < 6; i++)
    {
      gst_buffer_unref (gst_harness_push_and_pull (h, pattern_buffer (i, 255)));
      g_usleep (20000);
    }
  gst_harness_play (h);
  gst_element_set_state (h->element, GST_STATE_NULL);   /* drains the spool writer */
  g_object_get (h->element, "stats", &stats, NULL);
  gst_structure_get_uint64 (stats, "spooled", &spooled);
  gst_structure_get_uint64 (stats, "spool-dropped", &dropped);
  gst_structure_free (stats);
  g_assert_cmpuint (spooled + dropped, ==, 6);
  g_assert_cmpuint (spooled, >=, 1);

  collect_records (spool, records);
  g_assert_cmpuint (records->len, ==, spooled);
  for (guint i = 0; i < records->len; i++)
    {
      const char *path = records->pdata[i];
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      g_autofree char *png = NULL, *png_contents = NULL, *sha = NULL;
      JsonObject *o;
      gsize len;

      g_assert_true (json_parser_load_from_file (parser, path, &error));
      o = json_node_get_object (json_parser_get_root (parser));
      g_assert_cmpstr (json_object_get_string_member (o, "line"), ==, "Line 3");
      g_assert_cmpstr (json_object_get_string_member (o, "verdict"), ==, "uncertain");
      g_assert_cmpstr (json_object_get_string_member (o, "reason"), ==, "uncertain");
      g_assert_true (json_object_has_member (o, "time"));
      g_assert_true (json_object_has_member (o, "pts"));
      g_assert_true (json_object_has_member (o, "host"));
      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "scores")), ==,
                        4);
      g_assert_cmpfloat (json_object_get_double_member (
                           json_object_get_object_member (o, "thresholds"),
                           "uncertain_below"), ==, 1.0);
      g_assert_cmpstr (json_object_get_string_member (
                         json_object_get_object_member (o, "package"), "version"), ==, "1");
      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "roi")), ==, 4);
      png = g_strdup (path);
      strcpy (png + strlen (png) - 5, ".png");
      g_assert_true (g_file_get_contents (png, &png_contents, &len, &error));
      sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) png_contents, len);
      g_assert_cmpstr (sha, ==, json_object_get_string_member (
                                  json_object_get_object_member (o, "image"), "sha256"));
    }
  gst_harness_teardown (h);
}

/* Pushes @n distinct frames, all uncertain, through an element spooling to @spool. Returns how
 * many records it wrote. */
static guint64
write_spool (const char *spool, guint n, guint first_seed)
{
  g_autofree char *props = g_strdup_printf ("uncertain-below=1 spool-dir=\"%s\" line=\"Line 3\"",
                                            spool);
  GstHarness *h = harness_new (props);
  GstStructure *stats = NULL;
  guint64 spooled = 0;

  for (guint i = 0; i < n; i++)
    {
      gst_buffer_unref (gst_harness_push_and_pull (h, pattern_buffer (first_seed + i, 255)));
      g_usleep (20000);
    }
  gst_element_set_state (h->element, GST_STATE_NULL);   /* drains the spool writer */
  g_object_get (h->element, "stats", &stats, NULL);
  gst_structure_get_uint64 (stats, "spooled", &spooled);
  gst_structure_free (stats);
  gst_harness_teardown (h);
  return spooled;
}

/* The JSON lines of `gemba import --json`: how many, and how many were new. */
static guint
count_imported (const char *out, guint *n_new, gint64 model)
{
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
  guint n = 0;

  *n_new = 0;
  for (guint i = 0; lines[i]; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *o;

      if (lines[i][0] == '\0')
        continue;
      g_assert_true (json_parser_load_from_data (parser, lines[i], -1, NULL));
      o = json_node_get_object (json_parser_get_root (parser));
      n++;
      *n_new += !json_object_get_boolean_member (o, "duplicate");
      g_assert_cmpint (json_object_get_int_member (o, "model"), ==, model);
    }
  return n;
}

static char *
image_of (const char *sidecar)
{
  char *png = g_strdup (sidecar);

  strcpy (png + strlen (png) - 5, ".png");
  return png;
}

/* Copies a spool record (sidecar and image) into @dir; returns the copy's sidecar. */
static char *
copy_record (const char *sidecar, const char *dir)
{
  g_autofree char *base = g_path_get_basename (sidecar);
  char *to = g_build_filename (dir, base, NULL);
  g_autofree char *png = image_of (sidecar);
  g_autofree char *png_to = image_of (to);

  copy_file (sidecar, to);
  copy_file (png, png_to);
  return to;
}

/* The frames of `gemba ls --json` @ls that came from the spool (by image sha256 in
 * @confidence): each from the line, predicted with the element's confidence. */
static guint
check_line_frames (const char *ls, GHashTable *confidence)
{
  g_auto(GStrv) lines = g_strsplit (ls, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i]; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *o;
      const double *expected;

      if (lines[i][0] == '\0')
        continue;
      g_assert_true (json_parser_load_from_data (parser, lines[i], -1, NULL));
      o = json_node_get_object (json_parser_get_root (parser));
      if (!(expected = g_hash_table_lookup (confidence, json_object_get_string_member (o, "id"))))
        continue;
      n++;
      g_assert_cmpstr (json_object_get_string_member (o, "source"), ==, "Line 3");
      g_assert_false (json_object_get_null_member (o, "prediction"));
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (o, "confidence"),
                                      *expected, 1e-5);
    }
  return n;
}

static void
test_spool_import (void)
{
  g_autofree char *spool = g_build_filename (work_dir, "spool-import", NULL);
  g_autofree char *part = g_build_filename (work_dir, "spool-part", NULL);
  g_autofree char *bad = g_build_filename (work_dir, "spool-bad", NULL);
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GHashTable) confidence = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                            g_free);
  g_autofree char *out = NULL, *err = NULL, *ls = NULL;
  g_autofree char *lone = NULL, *broken_json = NULL, *no_image = NULL, *bad_hash = NULL;
  guint64 spooled = write_spool (spool, 12, 100);
  guint n, n_new, half;

  g_assert_cmpuint (spooled, >=, 6);
  collect_records (spool, records);
  g_ptr_array_sort (records, (GCompareFunc) g_strcmp0);
  g_assert_cmpuint (records->len, ==, spooled);
  for (guint i = 0; i < records->len; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *o;
      g_assert_true (json_parser_load_from_file (parser, records->pdata[i], NULL));
      o = json_node_get_object (json_parser_get_root (parser));
      g_hash_table_insert (confidence,
                           g_strdup (json_object_get_string_member (
                                       json_object_get_object_member (o, "image"), "sha256")),
                           g_memdup2 ((double[]) { json_object_get_double_member (o, "confidence") },
                                      sizeof (double)));
    }
  gemba_test_cli_run ("promote", project_dir, "1", NULL);

  /* What a run killed part-way leaves: the first half of the records imported, and one more
   * frame stored without its verdict. */
  half = records->len / 2;
  g_assert_cmpint (g_mkdir_with_parents (part, 0755), ==, 0);
  for (guint i = 0; i < half; i++)
    g_free (copy_record (records->pdata[i], part));
  g_assert_cmpint (gemba_test_cli_capture (&out, NULL, "import", project_dir, part, "--json",
                                           "--quiet", NULL), ==, 0);
  g_assert_cmpuint (count_imported (out, &n_new, 1), ==, half);
  g_assert_cmpuint (n_new, ==, half);
  g_clear_pointer (&out, g_free);
  lone = image_of (records->pdata[half]);
  gemba_test_cli_run ("import", project_dir, lone, "--source", "Line 3", "--quiet", NULL);

  /* The whole spool: the rest is imported, nothing twice, every verdict stored. */
  g_assert_cmpint (gemba_test_cli_capture (&out, NULL, "import", project_dir, spool, "--json",
                                           "--quiet", NULL), ==, 0);
  n = count_imported (out, &n_new, 1);
  g_assert_cmpuint (n, ==, records->len);
  g_assert_cmpuint (n_new, ==, records->len - half - 1);
  g_clear_pointer (&out, g_free);

  /* Again: nothing new. */
  g_assert_cmpint (gemba_test_cli_capture (&out, NULL, "import", project_dir, spool, "--json",
                                           "--quiet", NULL), ==, 0);
  g_assert_cmpuint (count_imported (out, &n_new, 1), ==, records->len);
  g_assert_cmpuint (n_new, ==, 0);
  g_clear_pointer (&out, g_free);

  /* Every frame of the spool, the one first imported by hand too, records the package that
   * classified it: what the workbench's Package versions filter lists. */
  {
    g_autoptr(GembaStore) store = gemba_store_open (project_dir, NULL);
    g_autoptr(GPtrArray) packages = gemba_store_list_frame_packages (store, NULL);
    g_autoptr(JsonParser) parser = json_parser_new ();
    JsonObject *package;
    GembaFramePackage *p;

    g_assert_true (json_parser_load_from_file (parser, records->pdata[0], NULL));
    package = json_object_get_object_member (json_node_get_object (
                                               json_parser_get_root (parser)), "package");
    g_assert_nonnull (packages);
    g_assert_cmpuint (packages->len, ==, 1);
    p = packages->pdata[0];
    g_assert_cmpstr (p->version, ==, json_object_get_string_member (package, "version"));
    g_assert_cmpstr (p->sha256, ==, json_object_get_string_member (package, "sha256"));
    g_assert_cmpint (p->n_frames, ==, records->len);
  }

  /* Every record is a frame of the line with the element's confidence as production's
   * prediction; the review queue shows them (near-duplicates once, by design). */
  g_assert_cmpint (gemba_test_cli_capture (&ls, NULL, "ls", project_dir, "--source", "Line 3",
                                           "--json", NULL), ==, 0);
  g_assert_cmpuint (check_line_frames (ls, confidence), ==, records->len);
  g_clear_pointer (&ls, g_free);
  g_assert_cmpint (gemba_test_cli_capture (&ls, NULL, "ls", project_dir, "--review", "--json",
                                           NULL), ==, 0);
  g_assert_cmpuint (check_line_frames (ls, confidence), >=, 1);

  /* Damaged records are named and skipped; the rest still import; a record still being
   * written (no sidecar yet) is left alone. */
  g_assert_cmpint (g_mkdir_with_parents (bad, 0755), ==, 0);
  for (guint i = 0; i < records->len; i++)
    {
      g_autofree char *base = g_path_get_basename (records->pdata[i]);
      g_autofree char *to = copy_record (records->pdata[i], bad);
      g_autofree char *png_to = image_of (to);

      if (i == 0)
        {
          g_assert_true (g_file_set_contents (to, "{\"format\": \"gemba-spool-rec", -1, NULL));
          broken_json = g_strdup (base);
        }
      else if (i == 1)
        {
          g_assert_cmpint (g_unlink (png_to), ==, 0);
          no_image = g_strdup (base);
        }
      else if (i == 2)
        {
          g_autofree char *contents = NULL;
          gsize len;
          g_assert_true (g_file_get_contents (png_to, &contents, &len, NULL));
          contents[len / 2] ^= 0x55;
          g_assert_true (g_file_set_contents (png_to, contents, len, NULL));
          bad_hash = image_of (base);
        }
    }
  {
    g_autofree char *pending = g_build_filename (bad, "20990101T000000_000000_1.png", NULL);
    g_assert_true (g_file_set_contents (pending, "not yet", -1, NULL));
  }
  g_assert_cmpint (gemba_test_cli_capture (&out, &err, "import", project_dir, bad, "--json",
                                           "--quiet", NULL), ==, 1);
  g_assert_cmpuint (count_imported (out, &n_new, 1), ==, records->len - 3);
  g_assert_cmpuint (n_new, ==, 0);
  g_assert_nonnull (strstr (err, broken_json));
  g_assert_nonnull (strstr (err, no_image));
  g_assert_nonnull (strstr (err, bad_hash));
  g_assert_null (strstr (err, "20990101T000000"));
}

static guint64
tree_size (const char *path)
{
  g_autoptr(GDir) d = g_dir_open (path, 0, NULL);
  const char *name;
  guint64 total = 0;

  if (d == NULL)
    return 0;
  while ((name = g_dir_read_name (d)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      GStatBuf st;
      g_assert_cmpint (g_lstat (child, &st), ==, 0);
      total += S_ISDIR (st.st_mode) ? tree_size (child) : (guint64) st.st_size;
    }
  return total;
}

/* Noise does not compress: each 320×240 PNG is about 230 KB, so a 1 MiB quota holds 4. */
static void
test_spool_quota (void)
{
  g_autofree char *spool = g_build_filename (work_dir, "spool-quota", NULL);
  g_autofree char *props = g_strdup_printf ("uncertain-below=1 spool-dir=\"%s\" spool-max-mb=1",
                                            spool);
  GstHarness *h = harness_new (props);
  GstStructure *stats = NULL;
  guint64 spooled = 0, dropped = 0, quota = 0;
  GRand *rand = g_rand_new_with_seed (7);

  gst_harness_set_src_caps_str (h, "video/x-raw,format=RGB,width=320,height=240,"
                                   "framerate=30/1");
  for (guint i = 0; i < 10; i++)
    {
      GstBuffer *buf = gst_buffer_new_allocate (NULL, 320 * 240 * 3, NULL);
      GstMapInfo map;
      gst_buffer_map (buf, &map, GST_MAP_WRITE);
      for (gsize k = 0; k < map.size; k++)
        map.data[k] = g_rand_int (rand) & 0xff;
      gst_buffer_unmap (buf, &map);
      gst_buffer_unref (gst_harness_push_and_pull (h, buf));
      g_usleep (50000);
    }
  gst_element_set_state (h->element, GST_STATE_NULL);
  g_object_get (h->element, "stats", &stats, NULL);
  gst_structure_get_uint64 (stats, "spooled", &spooled);
  gst_structure_get_uint64 (stats, "spool-dropped", &dropped);
  gst_structure_get_uint64 (stats, "spool-quota-dropped", &quota);
  gst_structure_free (stats);
  g_assert_cmpuint (spooled + dropped + quota, ==, 10);
  g_assert_cmpuint (spooled, >=, 1);
  g_assert_cmpuint (quota, >=, 1);
  g_assert_cmpuint (tree_size (spool), <=, 1024 * 1024);
  g_rand_free (rand);
  gst_harness_teardown (h);
}

/* The labeled test-split frames of the demo project the packages were exported from. */
static GPtrArray *
test_split_images (void)
{
  GPtrArray *images = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_image_free);
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_cmpint (gemba_test_cli_capture (&out, NULL, "ls", project_dir, "--split", "test",
                                           "--json", NULL), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      JsonObject *o;
      GembaImage *image;

      if (lines[i][0] == '\0')
        continue;
      g_assert_true (json_parser_load_from_data (parser, lines[i], -1, NULL));
      o = json_node_get_object (json_parser_get_root (parser));
      if (json_object_get_null_member (o, "label"))
        continue;
      image = gemba_image_load (json_object_get_string_member (o, "path"), &error);
      g_assert_no_error (error);
      g_ptr_array_add (images, image);
    }
  return images;
}

/* Streams the test split three times over (each pixel times @gain) through an element with a
 * window of 40 frames; returns the gemba-drift messages posted, and how many drift records
 * the spool got in @n_records. */
static guint
stream_for_drift (GPtrArray *images, double gain, char **shifted, guint *n_records)
{
  g_autofree char *spool = g_dir_make_tmp ("gemba-drift-XXXXXX", NULL);
  g_autofree char *props = g_strdup_printf ("drift-window=40 spool=0 spool-dir=\"%s\"", spool);
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func (g_free);
  GembaImage *first = images->pdata[0];
  g_autofree char *caps = g_strdup_printf ("video/x-raw,format=RGB,width=%u,height=%u,"
                                           "framerate=30/1", first->width, first->height);
  g_autofree char *desc = g_strdup_printf ("gembaclassify package=\"%s\" trust=\"%s\" %s",
                                           package_a, trust_dir, props);
  GstElement *element = gst_parse_launch (desc, NULL);
  GstBus *bus = gst_bus_new ();
  GstHarness *h;
  GstMessage *msg;
  guint n_messages = 0;
  guint64 alarms = 0;
  GstStructure *stats = NULL;

  gst_element_set_bus (element, bus);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_object_unref (element);
  gst_harness_set_src_caps_str (h, caps);
  for (guint round = 0; round < 3; round++)
    for (guint i = 0; i < images->len; i++)
      {
        GembaImage *image = images->pdata[i];
        gsize size = (gsize) image->width * image->height * 3;
        GstBuffer *buf;
        GstMapInfo map;

        g_assert_cmpuint (image->width, ==, first->width);
        g_assert_cmpuint (image->height, ==, first->height);
        buf = gst_buffer_new_allocate (NULL, size, NULL);
        gst_buffer_map (buf, &map, GST_MAP_WRITE);
        for (gsize k = 0; k < size; k++)
          map.data[k] = (guint8) MIN (255.0, image->pixels[k] * gain);
        gst_buffer_unmap (buf, &map);
        gst_buffer_unref (gst_harness_push_and_pull (h, buf));
      }
  gst_element_set_state (h->element, GST_STATE_NULL);   /* drains the spool writer */
  g_object_get (h->element, "stats", &stats, NULL);
  gst_structure_get_uint64 (stats, "drift-alarms", &alarms);
  gst_structure_free (stats);
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)))
    {
      const GstStructure *st = gst_message_get_structure (msg);
      if (gst_structure_has_name (st, "gemba-drift"))
        {
          double d = 0;
          n_messages++;
          g_assert_true (gst_structure_get_double (st, "brightness-d", &d));
          g_assert_nonnull (gst_structure_get_string (st, "shifted"));
          if (*shifted == NULL)
            *shifted = g_strdup (gst_structure_get_string (st, "shifted"));
        }
      gst_message_unref (msg);
    }
  g_assert_cmpuint (alarms, ==, n_messages);
  collect_records (spool, records);
  *n_records = records->len;
  for (guint i = 0; i < records->len; i++)
    g_assert_true (g_str_has_suffix (records->pdata[i], ".drift.json"));
  if (records->len > 0)
    {
      /* gemba monitor counts the alarms, per line and day, with what shifted. */
      g_autofree char *out = NULL;
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *o;

      g_assert_cmpint (gemba_test_cli_capture (&out, NULL, "monitor", spool, "--json", NULL),
                       ==, 0);
      g_assert_true (json_parser_load_from_data (parser, out, -1, NULL));
      o = json_node_get_object (json_parser_get_root (parser));
      g_assert_cmpstr (json_object_get_string_member (o, "line"), ==, "line");
      g_assert_cmpint (json_object_get_int_member (o, "drift_alarms"), ==, records->len);
      g_assert_nonnull (strstr (json_object_get_string_member (o, "shifted"), "brightness"));
    }
  gst_harness_teardown (h);
  gst_object_unref (bus);
  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", spool);
    (void) !system (cmd);
  }
  return n_messages;
}

/* The test split itself does not raise the drift alarm; the same frames darkened do. */
static void
test_drift (void)
{
  g_autoptr(GPtrArray) images = test_split_images ();
  g_autofree char *same = NULL, *dark = NULL;
  guint n_records = 0;

  g_assert_cmpuint (images->len, >=, 40);
  g_assert_cmpuint (stream_for_drift (images, 1.0, &same, &n_records), ==, 0);
  g_assert_cmpuint (n_records, ==, 0);
  g_assert_cmpuint (stream_for_drift (images, 0.35, &dark, &n_records), >=, 1);
  g_assert_cmpuint (n_records, >=, 1);
  g_assert_nonnull (strstr (dark, "brightness"));
}


/* Runs a gst-launch description to EOS (or fails on an error). */
static void
run_pipeline (const char *desc)
{
  g_autoptr(GError) error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  GstBus *bus;
  GstMessage *msg;

  g_assert_no_error (error);
  bus = gst_element_get_bus (pipeline);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    {
      g_autofree char *debug = NULL;
      gst_message_parse_error (msg, &error, &debug);
      g_printerr ("%s: %s\n", error->message, debug ? debug : "");
    }
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}

/* The README's production example on a video file: its spool imports into the project and
 * shows in the review queue. */
static void
test_readme_example (void)
{
  g_autofree char *video = g_build_filename (work_dir, "line3.webm", NULL);
  g_autofree char *spool = g_build_filename (work_dir, "spool-readme", NULL);
  g_autofree char *make = NULL, *line = NULL, *out = NULL, *ls = NULL;
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func (g_free);
  GstElementFactory *vp8 = gst_element_factory_find ("vp8enc");
  gboolean in_review = FALSE;

  if (vp8 == NULL)
    {
      g_test_skip ("no vp8enc (gstreamer1.0-plugins-good)");
      return;
    }
  gst_object_unref (vp8);
  make = g_strdup_printf ("videotestsrc num-buffers=30 pattern=ball ! "
                          "video/x-raw,width=320,height=240,framerate=15/1 ! vp8enc ! webmmux ! "
                          "filesink location=\"%s\"", video);
  run_pipeline (make);
  /* README.md, "On the line", with fakesink for autovideosink; a line of its own, or its frames
   * would be near-duplicates of spool-import's "Line 3" frames in the review queue. */
  line = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! videoconvert ! "
                          "queue leaky=downstream max-size-buffers=2 ! "
                          "gembaclassify package=\"%s\" trust=\"%s\" spool-dir=\"%s\" "
                          "line=\"Line 3 video\" uncertain-below=1 ! videoconvert ! fakesink",
                          video, package_a, trust_dir, spool);
  run_pipeline (line);
  collect_records (spool, records);
  g_assert_cmpuint (records->len, >=, 1);

  g_assert_cmpint (gemba_test_cli_capture (&out, NULL, "import", project_dir, spool, "--json",
                                           "--quiet", NULL), ==, 0);
  g_assert_cmpint (gemba_test_cli_capture (&ls, NULL, "ls", project_dir, "--review", "--json",
                                           NULL), ==, 0);
  for (guint i = 0; i < records->len; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      const char *sha;
      g_assert_true (json_parser_load_from_file (parser, records->pdata[i], NULL));
      sha = json_object_get_string_member (json_object_get_object_member (
        json_node_get_object (json_parser_get_root (parser)), "image"), "sha256");
      g_assert_nonnull (strstr (out, sha));
      in_review |= strstr (ls, sha) != NULL;
    }
  /* Near-duplicates are shown once: at least one record of the video is in the queue. */
  g_assert_true (in_review);
}


static void
test_cycles (void)
{
  g_autofree char *desc = g_strdup_printf (
    "videotestsrc num-buffers=5 ! video/x-raw,format=RGB,width=96,height=64 ! "
    "gembaclassify package=\"%s\" trust=\"%s\" ! fakesink", package_a, trust_dir);
  GstElement *pipeline = gst_parse_launch (desc, NULL);

  g_assert_nonnull (pipeline);
  for (guint i = 0; i < 4; i++)
    {
      GstBus *bus = gst_element_get_bus (pipeline);
      GstMessage *msg;

      g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                       GST_STATE_CHANGE_FAILURE);
      msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
      g_assert_nonnull (msg);
      g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
      gst_message_unref (msg);
      g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_NULL), ==,
                       GST_STATE_CHANGE_SUCCESS);
      gst_object_unref (bus);
    }
  gst_object_unref (pipeline);
}

int
main (int argc, char **argv)
{
  int status;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  make_packages ();

  g_test_add_func ("/gst/classify/meta-and-pixels", test_meta_and_pixels);
  g_test_add_func ("/gst/classify/messages", test_messages);
  g_test_add_func ("/gst/classify/inference-interval", test_interval);
  g_test_add_func ("/gst/classify/swap", test_swap);
  g_test_add_func ("/gst/classify/package-dir", test_package_dir);
  g_test_add_func ("/gst/classify/no-trust", test_no_trust);
  g_test_add_func ("/gst/classify/spool", test_spool);
  g_test_add_func ("/gst/classify/spool-quota", test_spool_quota);
  g_test_add_func ("/gst/classify/spool-import", test_spool_import);
  g_test_add_func ("/gst/classify/drift", test_drift);
  g_test_add_func ("/gst/classify/readme-example", test_readme_example);
  g_test_add_func ("/gst/classify/cycles", test_cycles);
  status = g_test_run ();

  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", work_dir);
    if (status == 0)
      (void) !system (cmd);
  }
  return status;
}
