#define G_LOG_DOMAIN "gemba-fuzz-package"

#include "config.h"

/* fuzz-package.c: the package reader and the manifest parser under libFuzzer
 *
 * Every input goes to gemba_package_open_bytes() twice (without a trust, so the manifest and
 * the hashes are checked whatever the signature; and with a trust, so the signature check
 * runs first) and to gemba_package_parse_manifest() as raw manifest bytes.
 *
 * Built with clang (-Dc_args=-fsanitize=fuzzer-no-link, see run-fuzzer.sh) it is a libFuzzer
 * target. Built otherwise it is a replay driver: `fuzz-package FILE|DIR…` runs every seed, then
 * a fixed number of deterministic mutations of each (flipped bytes, truncations), so the normal
 * test suite runs the same code on the committed corpus (tests/package/corpus).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "gemba.h"
#include "gemba-util-private.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#ifdef GEMBA_FUZZ_SIGNED

/* fuzz-manifest (this file built with GEMBA_FUZZ_SIGNED): the input is a manifest's JSON text.
 * Its "members" is replaced by the true sizes and hashes of a small real model's members, it is
 * signed at fuzz time with a key the trust holds, zipped with those members and opened. So
 * mutations reach past the signature and the hashes, into the manifest's checks, the model
 * built from it and a classification of frames of several sizes: hostile values (crop, sizes,
 * normalisation, architecture) in a validly signed package, as on a production line. */

static GembaTrust *trust;
static GembaSecretKey *secret;
static GBytes *members[3];          /* weights.bin, model.onnx, MODEL_CARD.md */
static JsonNode *members_node;      /* their "members" object */
static const char *member_names[3] = { GEMBA_PACKAGE_WEIGHTS, GEMBA_PACKAGE_ONNX,
                                       GEMBA_PACKAGE_MODEL_CARD };

static guint64 n_opened, n_classified;   /* how deep inputs went, printed by the replay driver */

static const char base_manifest[] =
  "{\"format\": \"gemba-package\", \"format_version\": 1, \"gemba_version\": \"0.1.0\","
  " \"model\": {\"name\": \"fuzz\", \"version\": \"1\", \"parent\": null, \"trained_by\": \"a\","
  "  \"exported_by\": \"b\", \"created\": \"2026-01-01T00:00:00Z\","
  "  \"exported\": \"2026-01-01T00:00:00Z\"},"
  " \"classes\": [\"ok\", \"scratch\", \"dent\"], \"thresholds\": [0.5, 0.5, 0.5],"
  " \"input\": {\"width\": 16, \"height\": 16, \"channels\": 3, \"color\": \"rgb\","
  "  \"layout\": \"nhwc\", \"resize\": \"stretch\", \"crop\": null, \"scale\": 0.00392156862745098,"
  "  \"mean\": [0.485, 0.456, 0.406], \"std\": [0.229, 0.224, 0.225]},"
  " \"architecture\": {\"name\": \"small-cnn\", \"widths\": [4, 8], \"depth\": 1},"
  " \"dataset\": {\"revision\": 1, \"counts\": {}}, \"metrics\": {\"test\": {\"accuracy\": 0.9}},"
  " \"training\": {\"seed\": 1, \"settings\": {}}}";

static la_ssize_t
append_cb (struct archive *a, void *user_data, const void *buffer, size_t length)
{
  g_byte_array_append (user_data, buffer, length);
  return length;
}

static GBytes *
zip (const char * const *names, GBytes * const *contents, guint n)
{
  GByteArray *out = g_byte_array_new ();
  struct archive *a = archive_write_new ();

  archive_write_set_format_zip (a);
  archive_write_set_options (a, "zip:compression=store");
  g_assert (archive_write_open2 (a, out, NULL, append_cb, NULL, NULL) == ARCHIVE_OK);
  for (guint i = 0; i < n; i++)
    {
      struct archive_entry *entry = archive_entry_new ();
      gsize size = g_bytes_get_size (contents[i]);

      archive_entry_set_pathname (entry, names[i]);
      archive_entry_set_filetype (entry, AE_IFREG);
      archive_entry_set_perm (entry, 0644);
      archive_entry_set_size (entry, size);
      g_assert (archive_write_header (a, entry) == ARCHIVE_OK);
      if (size)
        g_assert (archive_write_data (a, g_bytes_get_data (contents[i], NULL), size)
                  == (la_ssize_t) size);
      archive_entry_free (entry);
    }
  g_assert (archive_write_close (a) == ARCHIVE_OK);
  archive_write_free (a);
  return g_byte_array_free_to_bytes (out);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("gemba-fuzz-manifest-XXXXXX", &error);
  g_autofree char *secret_path = NULL;
  g_autofree char *public_path = NULL;
  g_autoptr(GembaModel) model = NULL;
  g_autoptr(GBytes) package = NULL;
  g_autoptr(GembaPackage) pkg = NULL;
  g_autoptr(JsonNode) manifest = json_from_string (base_manifest, &error);
  static const char * const classes[] = { "ok", "scratch", "dent", NULL };
  GembaNetConfig config;
  GembaPreprocess pp;

  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  g_assert_no_error (error);
  g_free (gemba_keys_generate (dir, &error));
  g_assert_no_error (error);
  secret_path = g_build_filename (dir, "secret", NULL);
  public_path = g_build_filename (dir, "public", NULL);
  secret = gemba_secret_key_load (secret_path, &error);
  g_assert_no_error (error);
  trust = gemba_trust_new ();
  g_assert (gemba_trust_add_path (trust, public_path, &error));
  _gemba_remove_tree (dir);

  gemba_net_config_init (&config, GEMBA_ARCH_SMALL_CNN, 3);
  config.input_w = config.input_h = 16;
  config.widths[0] = 4;
  config.widths[1] = 8;
  config.n_widths = 2;
  config.depth = 1;
  gemba_preprocess_init (&pp, 16);
  model = gemba_model_new (&config, &pp, classes, 1, &error);
  g_assert_no_error (error);
  members[0] = gemba_model_serialize_weights (model);
  members[1] = g_bytes_new_static ("not an ONNX file", 16);
  members[2] = g_bytes_new_static ("# fuzz\n", 7);
  package = gemba_package_build (json_node_get_object (manifest), members[0], members[1],
                                 "# fuzz\n", secret, &error);
  g_assert_no_error (error);
  pkg = gemba_package_open_bytes (package, "fuzz.gemba", trust, NULL, &error);
  g_assert_no_error (error);
  members_node = json_node_copy (json_object_get_member (gemba_package_get_manifest (pkg),
                                                         "members"));
  return 0;
}

static void
classify (GembaClassifier *classifier, int width, int height)
{
  gsize n = (gsize) width * height * 3;
  g_autofree guint8 *rgb = g_malloc (n);   /* exactly the frame: ASan sees any read past it */
  g_autoptr(GError) error = NULL;
  int verdict;

  for (gsize i = 0; i < n; i++)
    rgb[i] = (guint8) (i * 13);
  verdict = gemba_classifier_classify_rgb (classifier, rgb, width, height, width * 3, NULL,
                                           &error);
  g_assert ((verdict >= 0) == (error == NULL));
  g_assert (verdict < gemba_classifier_get_n_classes (classifier));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* libFuzzer may pass an empty input; g_strndup (NULL, 0) would be NULL */
  g_autofree char *text = g_strndup (size ? (const char *) data : "", size);
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *manifest_text = NULL;
  g_autoptr(GBytes) manifest = NULL;
  g_autoptr(GBytes) sig = NULL;
  g_autoptr(GBytes) package = NULL;
  g_autoptr(GembaPackage) pkg = NULL;
  g_autoptr(GembaModel) model = NULL;
  g_autoptr(GembaClassifier) classifier = NULL;
  g_autoptr(GError) error = NULL;
  guint8 signature[GEMBA_SIGNATURE_BYTES];
  g_autofree char *b64 = NULL;
  const char *names[5] = { GEMBA_PACKAGE_MANIFEST, GEMBA_PACKAGE_SIGNATURE, member_names[0],
                           member_names[1], member_names[2] };
  GBytes *contents[5];

  if (strlen (text) != size || !(root = json_from_string (text, NULL)) ||
      !JSON_NODE_HOLDS_OBJECT (root))
    return 0;
  json_object_set_member (json_node_get_object (root), "members", json_node_copy (members_node));
  manifest_text = json_to_string (root, FALSE);
  manifest = g_bytes_new (manifest_text, strlen (manifest_text));
  gemba_secret_key_sign (secret, manifest_text, strlen (manifest_text), signature);
  b64 = g_base64_encode (signature, sizeof signature);
  {
    char *s = g_strdup_printf ("{\"format\": \"gemba-signature\", \"version\": 1, "
                               "\"algorithm\": \"ed25519\", \"key_id\": \"%s\", "
                               "\"signature\": \"%s\"}", gemba_secret_key_get_id (secret), b64);
    sig = g_bytes_new_take (s, strlen (s));
  }
  contents[0] = manifest;
  contents[1] = sig;
  for (guint i = 0; i < 3; i++)
    contents[2 + i] = members[i];
  package = zip (names, contents, 5);

  pkg = gemba_package_open_bytes (package, "fuzz.gemba", trust, NULL, &error);
  if (pkg == NULL)
    {
      g_assert (error != NULL && error->domain == GEMBA_ERROR && error->message[0] != '\0');
      return 0;
    }
  g_assert (gemba_package_is_verified (pkg));
  n_opened++;
  model = gemba_package_get_model (pkg, &error);
  if (model == NULL)
    {
      g_assert (error != NULL && error->domain == GEMBA_ERROR);
      return 0;
    }
  classifier = gemba_classifier_new_from_model (model, 1, &error);
  if (classifier == NULL)
    return 0;
  classify (classifier, 64, 48);
  classify (classifier, 1, 1);
  classify (classifier, 300, 7);
  n_classified++;
  return 0;
}

#else

static GembaTrust *trust;
static GembaPackageLimits limits;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  guint8 pk[GEMBA_PUBLIC_KEY_BYTES];
  g_autoptr(GembaPublicKey) key = NULL;

  /* A g_return_if_fail() reached from bad input is a bug: make it a crash the fuzzer sees. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  for (guint i = 0; i < sizeof pk; i++)
    pk[i] = (guint8) (i * 7 + 1);
  key = gemba_public_key_new_from_bytes (pk);
  trust = gemba_trust_new ();
  gemba_trust_add (trust, key);

  /* Small limits: a zip bomb costs the fuzzer a few MiB, not half a GiB. */
  gemba_package_limits_init (&limits);
  limits.max_binary_size = 1 << 20;
  limits.max_text_size = 256 << 10;
  limits.max_total_size = 2 << 20;
  limits.max_archive_size = 4 << 20;
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaPackage) pkg = NULL;
  g_autoptr(GembaPackage) trusted = NULL;
  g_autoptr(JsonObject) manifest = NULL;

  pkg = gemba_package_open_bytes (bytes, "fuzz.gemba", NULL, &limits, &error);
  if (pkg)
    {
      const char * const *classes = gemba_package_get_classes (pkg);
      g_assert (classes != NULL && classes[0] != NULL && classes[1] != NULL);
      g_assert (gemba_package_get_model_card (pkg) != NULL);
      g_assert (!gemba_package_is_verified (pkg));
      g_clear_error (&error);
      /* The fuzzer cannot sign with the trusted key, so this must fail. */
      g_assert (!gemba_package_verify (pkg, trust, &error));
      g_assert (error != NULL && error->domain == GEMBA_ERROR);
    }
  else
    g_assert (error != NULL && error->domain == GEMBA_ERROR && error->message[0] != '\0');
  g_clear_error (&error);

  trusted = gemba_package_open_bytes (bytes, "fuzz.gemba", trust, &limits, &error);
  g_assert (trusted == NULL && error != NULL && error->domain == GEMBA_ERROR);
  g_clear_error (&error);

  manifest = gemba_package_parse_manifest ("fuzz.gemba", data, size, size % 2 == 0, &error);
  g_assert ((manifest == NULL) == (error != NULL));
  if (manifest)
    g_assert (json_object_has_member (manifest, "classes"));
  return 0;
}

#endif

#ifndef GEMBA_LIBFUZZER

static guint64 n_runs;

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
run (const guint8 *data, gsize size)
{
  /* A copy of exactly @size bytes, so ASan sees any read past the end. malloc(), not
   * g_memdup2(): like libFuzzer, an empty input is a valid pointer, not NULL. */
  guint8 *copy = malloc (size);

  g_assert (copy != NULL);
  if (size)
    memcpy (copy, data, size);
  LLVMFuzzerTestOneInput (copy, size);
  free (copy);
  n_runs++;
}

static void
replay_file (const char *path, guint mutations)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;
  g_autofree char *base = g_path_get_basename (path);
  /* seeded by the file's name, not its path: the same mutations from any checkout */
  guint32 state = g_str_hash (base);

  if (!g_file_get_contents (path, &contents, &len, &error))
    g_error ("%s", error->message);
  run ((guint8 *) contents, len);
  for (guint i = 0; i < mutations && len > 0; i++)
    {
      g_autofree guint8 *m = g_memdup2 (contents, len);
      gsize at;

      state = state * 1664525u + 1013904223u;
      at = state % len;
      switch (i % 4)
        {
        case 0:
          m[at] ^= (guint8) (1u << (state >> 29));
          run (m, len);
          break;
        case 1:
          m[at] = (guint8) (state >> 24);
          run (m, len);
          break;
        case 2:
          run (m, at);   /* truncated */
          break;
        default:
          /* A little-endian size or offset field set to something large. */
          if (at + 4 <= len)
            memcpy (m + at, "\xf0\xff\xff\x7f", 4);
          run (m, len);
          break;
        }
    }
}

int
main (int argc, char **argv)
{
  guint mutations = 200;

  g_set_prgname (strrchr (argv[0], '/') ? strrchr (argv[0], '/') + 1 : argv[0]);
  LLVMFuzzerInitialize (&argc, &argv);
  if (g_getenv ("GEMBA_FUZZ_MUTATIONS"))
    mutations = atoi (g_getenv ("GEMBA_FUZZ_MUTATIONS"));
  if (argc < 2)
    {
      g_printerr ("usage: %s FILE|DIR…\n", argv[0]);
      return 2;
    }
  run ((const guint8 *) "", 0);   /* the empty input, which libFuzzer tries too */
  for (int i = 1; i < argc; i++)
    {
      if (g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        {
          g_autoptr(GDir) dir = g_dir_open (argv[i], 0, NULL);
          g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
          const char *name;

          while (dir && (name = g_dir_read_name (dir)))
            g_ptr_array_add (names, g_build_filename (argv[i], name, NULL));
          g_ptr_array_sort (names, compare_names);
          for (guint j = 0; j < names->len; j++)
            replay_file (g_ptr_array_index (names, j), mutations);
        }
      else
        replay_file (argv[i], mutations);
    }
  g_print ("%s: %" G_GUINT64_FORMAT " executions without a finding\n", g_get_prgname (), n_runs);
#ifdef GEMBA_FUZZ_SIGNED
  g_print ("%s: %" G_GUINT64_FORMAT " opened as validly signed packages, %" G_GUINT64_FORMAT
           " classified frames\n", g_get_prgname (), n_opened, n_classified);
#endif
  gemba_trust_unref (trust);
  return 0;
}

#endif
