#define G_LOG_DOMAIN "gemba-test-package"

#include "config.h"

/* test-package.c: keys, signed packages, and every kind of malicious package the reader refuses
 *
 * The malicious packages are made here, entry by entry, with libarchive (and, for sizes that
 * lie, by patching the ZIP's headers), so the tests need no files. With GEMBA_WRITE_CORPUS=DIR
 * the test also writes each package it makes into DIR: that is how tests/package/corpus/, the
 * fuzzer's seeds, was made.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sodium.h>

#include "gemba.h"
#include "gemba-util-private.h"

typedef struct {
  char *dir;
  char *key_dir;
  GembaSecretKey *secret;
  GembaTrust *trust;
  GBytes *package;   /* a valid package signed with @secret */
  GembaPackage *pkg; /* @package, read back */
  GembaPackageLimits limits;
} Fixture;

typedef enum { REG, SYMLINK, HARDLINK, DIR_ENTRY } Kind;

typedef struct {
  const char *name;
  GBytes *bytes;     /* REG only */
  Kind kind;
  const char *target;
} Entry;

static void
save_corpus (const char *name, GBytes *bytes)
{
  const char *dir = g_getenv ("GEMBA_WRITE_CORPUS");
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;

  if (dir == NULL)
    return;
  path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
}

static JsonObject *
make_manifest (void)
{
  const char *json =
    "{"
    "  \"format\": \"gemba-package\", \"format_version\": 1, \"gemba_version\": \"0.1.0\","
    "  \"model\": {\"name\": \"washer-inspect\", \"version\": \"1.4.0\", \"parent\": \"1.3.0\","
    "             \"trained_by\": \"ana\", \"exported_by\": \"ben\","
    "             \"created\": \"2026-11-28T10:00:00Z\", \"exported\": \"2026-11-28T11:00:00Z\"},"
    "  \"classes\": [\"ok\", \"scratch\", \"dent\"],"
    "  \"thresholds\": [0.5, 0.5, 0.5],"
    "  \"input\": {\"width\": 64, \"height\": 64, \"channels\": 3, \"color\": \"rgb\","
    "             \"layout\": \"nchw\", \"resize\": \"bilinear\", \"scale\": 0.00392156862745098,"
    "             \"mean\": [0.485, 0.456, 0.406], \"std\": [0.229, 0.224, 0.225]},"
    "  \"architecture\": {\"name\": \"small-cnn\", \"widths\": [16, 32]},"
    "  \"dataset\": {\"revision\": 42, \"counts\": {\"test\": {\"ok\": 10, \"scratch\": 5}}},"
    "  \"metrics\": {\"test\": {\"accuracy\": 0.97}},"
    "  \"training\": {\"seed\": 7, \"settings\": {\"epochs\": 10}}"
    "}";
  g_autoptr(JsonNode) node = json_from_string (json, NULL);

  g_assert_nonnull (node);
  return json_object_ref (json_node_get_object (node));
}

static GBytes *
bytes_of (const char *text)
{
  return g_bytes_new (text, strlen (text));
}

static GBytes *
pattern_bytes (gsize n, guint8 seed)
{
  guint8 *data = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    data[i] = (guint8) (i * 31 + seed + (i >> 8));
  return g_bytes_new_take (data, n);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaPublicKey) pub = NULL;
  g_autoptr(JsonObject) manifest = make_manifest ();
  g_autoptr(GBytes) weights = pattern_bytes (10000, 1);
  g_autoptr(GBytes) onnx = pattern_bytes (3000, 2);
  g_autofree char *secret_path = NULL;
  g_autofree char *public_path = NULL;
  g_autofree char *id = NULL;

  f->dir = g_dir_make_tmp ("gemba-test-package-XXXXXX", &error);
  g_assert_no_error (error);
  f->key_dir = g_build_filename (f->dir, "keys", NULL);
  id = gemba_keys_generate (f->key_dir, &error);
  g_assert_no_error (error);
  secret_path = g_build_filename (f->key_dir, "secret", NULL);
  public_path = g_build_filename (f->key_dir, "public", NULL);
  f->secret = gemba_secret_key_load (secret_path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (gemba_secret_key_get_id (f->secret), ==, id);
  f->trust = gemba_trust_new ();
  g_assert_true (gemba_trust_add_path (f->trust, public_path, &error));
  g_assert_no_error (error);

  f->package = gemba_package_build (manifest, weights, onnx, "# washer-inspect 1.4.0\n",
                                    f->secret, &error);
  g_assert_no_error (error);
  f->pkg = gemba_package_open_bytes (f->package, "washer-1.4.0.gemba", f->trust, NULL, &error);
  g_assert_no_error (error);
  gemba_package_limits_init (&f->limits);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  gemba_package_unref (f->pkg);
  g_bytes_unref (f->package);
  gemba_trust_unref (f->trust);
  gemba_secret_key_free (f->secret);
  _gemba_remove_tree (f->dir);
  g_free (f->key_dir);
  g_free (f->dir);
}

/* --- making archives ------------------------------------------------------------------- */

static la_ssize_t
append_cb (struct archive *a, void *user_data, const void *buffer, size_t length)
{
  g_byte_array_append (user_data, buffer, length);
  return length;
}

static GBytes *
make_archive (const Entry *entries, guint n, gboolean zip, gboolean deflate)
{
  GByteArray *out = g_byte_array_new ();
  struct archive *a = archive_write_new ();

  if (zip)
    {
      archive_write_set_format_zip (a);
      archive_write_set_options (a, deflate ? "zip:compression=deflate"
                                            : "zip:compression=store");
    }
  else
    archive_write_set_format_pax_restricted (a);
  archive_write_set_bytes_in_last_block (a, 1);
  g_assert_cmpint (archive_write_open2 (a, out, NULL, append_cb, NULL, NULL), ==, ARCHIVE_OK);
  for (guint i = 0; i < n; i++)
    {
      struct archive_entry *entry = archive_entry_new ();
      gsize size = entries[i].bytes ? g_bytes_get_size (entries[i].bytes) : 0;

      archive_entry_set_pathname (entry, entries[i].name);
      archive_entry_set_mtime (entry, 1700000000, 0);
      switch (entries[i].kind)
        {
        case REG:
          archive_entry_set_filetype (entry, AE_IFREG);
          archive_entry_set_perm (entry, 0644);
          archive_entry_set_size (entry, size);
          break;
        case SYMLINK:
          archive_entry_set_filetype (entry, AE_IFLNK);
          archive_entry_set_perm (entry, 0777);
          archive_entry_set_symlink (entry, entries[i].target);
          size = 0;
          break;
        case HARDLINK:
          archive_entry_set_filetype (entry, AE_IFREG);
          archive_entry_set_perm (entry, 0644);
          archive_entry_set_hardlink (entry, entries[i].target);
          archive_entry_set_size (entry, 0);
          size = 0;
          break;
        case DIR_ENTRY:
          archive_entry_set_filetype (entry, AE_IFDIR);
          archive_entry_set_perm (entry, 0755);
          size = 0;
          break;
        }
      g_assert_cmpint (archive_write_header (a, entry), ==, ARCHIVE_OK);
      if (size)
        g_assert_cmpint (archive_write_data (a, g_bytes_get_data (entries[i].bytes, NULL), size),
                         ==, size);
      archive_entry_free (entry);
    }
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  archive_write_free (a);
  return g_byte_array_free_to_bytes (out);
}

/* The five members of the fixture's valid package, then @extra (which may replace one: an
 * entry in @extra with the name of a member and @replace set takes its place). */
static GBytes *
make_package (Fixture *f, const Entry *extra, guint n_extra, gboolean replace,
              const char *skip)
{
  const char *names[] = { GEMBA_PACKAGE_MANIFEST, GEMBA_PACKAGE_SIGNATURE,
                          GEMBA_PACKAGE_MODEL_CARD, GEMBA_PACKAGE_WEIGHTS, GEMBA_PACKAGE_ONNX };
  g_autoptr(GArray) entries = g_array_new (FALSE, TRUE, sizeof (Entry));

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      Entry e = { names[i], gemba_package_get_member (f->pkg, names[i]), REG, NULL };
      gboolean replaced = FALSE;

      if (skip && g_str_equal (skip, names[i]))
        continue;
      for (guint j = 0; replace && j < n_extra; j++)
        if (g_str_equal (extra[j].name, names[i]))
          {
            g_array_append_val (entries, extra[j]);
            replaced = TRUE;
          }
      if (!replaced)
        g_array_append_val (entries, e);
    }
  for (guint j = 0; !replace && j < n_extra; j++)
    g_array_append_val (entries, extra[j]);
  return make_archive ((Entry *) entries->data, entries->len, TRUE, TRUE);
}

static GBytes *
signature_file (GembaSecretKey *key, const char *key_id, GBytes *manifest)
{
  guint8 signature[GEMBA_SIGNATURE_BYTES];
  char b64[sodium_base64_ENCODED_LEN (GEMBA_SIGNATURE_BYTES, sodium_base64_VARIANT_ORIGINAL)];
  gsize len;
  const void *data = g_bytes_get_data (manifest, &len);
  char *text;

  gemba_secret_key_sign (key, data, len, signature);
  sodium_bin2base64 (b64, sizeof b64, signature, sizeof signature,
                     sodium_base64_VARIANT_ORIGINAL);
  text = g_strdup_printf ("{\"format\": \"gemba-signature\", \"version\": 1, "
                          "\"algorithm\": \"ed25519\", \"key_id\": \"%s\", "
                          "\"signature\": \"%s\"}",
                          key_id ? key_id : gemba_secret_key_get_id (key), b64);
  return g_bytes_new_take (text, strlen (text));
}

static char *
replace_once (const char *text, const char *old, const char *new)
{
  const char *at = strstr (text, old);

  g_assert_nonnull (at);
  return g_strdup_printf ("%.*s%s%s", (int) (at - text), text, new, at + strlen (old));
}

/* A package whose manifest is @manifest_text, correctly signed by the fixture's key. */
static GBytes *
package_with_manifest (Fixture *f, const char *manifest_text)
{
  g_autoptr(GBytes) manifest = bytes_of (manifest_text);
  g_autoptr(GBytes) sig = signature_file (f->secret, NULL, manifest);
  Entry entries[] = {
    { GEMBA_PACKAGE_MANIFEST, manifest, REG, NULL },
    { GEMBA_PACKAGE_SIGNATURE, sig, REG, NULL },
  };
  return make_package (f, entries, G_N_ELEMENTS (entries), TRUE, NULL);
}

/* Opens @bytes with the fixture's trust and asserts it is refused with @code and a message
 * that holds the package's name and @needle. Also opens it without trust (as `gemba show`
 * does): an archive-level problem is refused there as well. */
static void
assert_refused (Fixture *f, GBytes *bytes, const char *corpus_name, const GembaPackageLimits *limits,
                int code, const char *needle)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaPackage) pkg = NULL;

  save_corpus (corpus_name, bytes);
  pkg = gemba_package_open_bytes (bytes, "bad.gemba", f->trust, limits, &error);
  g_assert_null (pkg);
  g_assert_error (error, GEMBA_ERROR, code);
  g_test_message ("refused: %s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "bad.gemba: "));
  if (strstr (error->message, needle) == NULL)
    g_error ("“%s” does not mention “%s”", error->message, needle);
}

/* --- ZIP header patching: sizes that lie ------------------------------------------------ */

static guint32
rd32 (const guint8 *p)
{
  return p[0] | (p[1] << 8) | (p[2] << 16) | ((guint32) p[3] << 24);
}

static guint16
rd16 (const guint8 *p)
{
  return p[0] | (p[1] << 8);
}

static void
wr32 (guint8 *p, guint32 v)
{
  p[0] = v;
  p[1] = v >> 8;
  p[2] = v >> 16;
  p[3] = v >> 24;
}

/* Sets the uncompressed size of @member to @size in the central directory, in its local
 * header, and in its zip64 extra fields if there are any. */
static GBytes *
patch_size (GBytes *zip, const char *member, guint32 size)
{
  gsize len;
  guint8 *data = g_bytes_unref_to_data (g_bytes_ref (zip), &len);
  gsize eocd = len - 22;
  guint32 cd;
  guint n;
  gboolean found = FALSE;

  while (rd32 (data + eocd) != 0x06054b50)
    eocd--;
  n = rd16 (data + eocd + 10);
  cd = rd32 (data + eocd + 16);
  for (guint i = 0; i < n; i++)
    {
      guint16 name_len = rd16 (data + cd + 28);
      guint16 extra_len = rd16 (data + cd + 30);
      guint16 comment_len = rd16 (data + cd + 32);
      guint32 local = rd32 (data + cd + 42);

      g_assert_cmpuint (rd32 (data + cd), ==, 0x02014b50);
      if (name_len == strlen (member) && memcmp (data + cd + 46, member, name_len) == 0)
        {
          wr32 (data + cd + 24, size);
          g_assert_cmpuint (rd32 (data + local), ==, 0x04034b50);
          /* A local header that says 0 relies on the data descriptor / central directory. */
          if (rd32 (data + local + 22) != 0)
            wr32 (data + local + 22, size);
          found = TRUE;
        }
      cd += 46 + name_len + extra_len + comment_len;
    }
  g_assert_true (found);
  return g_bytes_new_take (data, len);
}

/* --- tests ----------------------------------------------------------------------------- */

static void
test_keys (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *secret_path = g_build_filename (f->key_dir, "secret", NULL);
  g_autofree char *public_path = g_build_filename (f->key_dir, "public", NULL);
  g_autofree char *other_dir = g_build_filename (f->dir, "other", NULL);
  g_autofree char *copy = g_build_filename (f->dir, "copy", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *id = NULL;
  g_autoptr(GembaPublicKey) pub = NULL;
  g_autoptr(GembaSecretKey) sk = NULL;
  g_autoptr(GString) altered = NULL;
  GStatBuf st;
  guint8 sig[GEMBA_SIGNATURE_BYTES];

  g_assert_cmpint (g_stat (secret_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (g_stat (public_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0644);
  g_assert_cmpint (g_stat (f->key_dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);

  /* The public file names the key id, and it is the secret key's. */
  pub = gemba_public_key_load (public_path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (gemba_public_key_get_id (pub), ==, gemba_secret_key_get_id (f->secret));
  g_assert_cmpuint (strlen (gemba_public_key_get_id (pub)), ==, GEMBA_KEY_ID_LEN);
  g_assert_true (g_file_get_contents (public_path, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, gemba_public_key_get_id (pub)));
  gemba_secret_key_sign (f->secret, "abc", 3, sig);
  g_assert_true (gemba_public_key_verify (pub, sig, "abc", 3));
  g_assert_false (gemba_public_key_verify (pub, sig, "abd", 3));

  /* keygen never overwrites a key. */
  id = gemba_keys_generate (f->key_dir, &error);
  g_assert_null (id);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS);
  g_clear_error (&error);

  /* A secret key others may read is refused. */
  g_assert_cmpint (g_chmod (secret_path, 0644), ==, 0);
  sk = gemba_secret_key_load (secret_path, &error);
  g_assert_null (sk);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY);
  g_assert_nonnull (strstr (error->message, "chmod 600"));
  g_clear_error (&error);
  g_assert_cmpint (g_chmod (secret_path, 0600), ==, 0);

  /* A public key file whose key was swapped for another keeps the old id: refused. */
  g_free (id);
  id = gemba_keys_generate (other_dir, &error);
  g_assert_no_error (error);
  {
    g_autofree char *other_public = g_build_filename (other_dir, "public", NULL);
    g_autofree char *other = NULL;
    g_auto(GStrv) lines = NULL;
    g_auto(GStrv) other_lines = NULL;

    g_assert_true (g_file_get_contents (other_public, &other, NULL, NULL));
    lines = g_strsplit (contents, "\n", -1);
    other_lines = g_strsplit (other, "\n", -1);
    altered = g_string_new (NULL);
    for (guint i = 0; lines[i]; i++)
      g_string_append_printf (altered, "%s\n", g_str_has_prefix (lines[i], "ed25519 ")
                                                 ? other_lines[i] : lines[i]);
    g_assert_true (g_file_set_contents (copy, altered->str, -1, NULL));
    g_clear_pointer (&pub, gemba_public_key_unref);
    pub = gemba_public_key_load (copy, &error);
    g_assert_null (pub);
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
    g_clear_error (&error);
  }

  /* A secret key is not a public key, and garbage is neither. */
  pub = gemba_public_key_load (secret_path, &error);
  g_assert_null (pub);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (copy, "gemba-public-key 1\nkey-id 0011223344556677\n"
                                            "ed25519 AAAA\n", -1, NULL));
  pub = gemba_public_key_load (copy, &error);
  g_assert_null (pub);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
  g_clear_error (&error);

  /* A folder of keys: the public keys count, the secret key next to them is skipped. */
  {
    g_autoptr(GembaTrust) trust = gemba_trust_new ();
    g_assert_true (gemba_trust_add_path (trust, other_dir, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (gemba_trust_get_n_keys (trust), ==, 1);
    g_assert_nonnull (gemba_trust_lookup (trust, id));
    g_assert_null (gemba_trust_lookup (trust, gemba_secret_key_get_id (f->secret)));
  }
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaPackage) pkg = NULL;
  g_autoptr(GembaPackage) unverified = NULL;
  g_autoptr(JsonObject) manifest = make_manifest ();
  g_autoptr(GBytes) weights = pattern_bytes (200000, 3);
  g_autoptr(GBytes) onnx = pattern_bytes (5000, 4);
  g_autofree char *path = g_build_filename (f->dir, "washer-inspect-1.4.0.gemba", NULL);
  const char *card = "# washer-inspect 1.4.0\n\nDetects scratches and dents — 検査.\n";
  const char * const *classes;
  JsonObject *members;
  g_autofree char *sha = NULL;
  GStatBuf st;

  save_corpus ("valid.gemba", f->package);
  g_assert_true (gemba_package_write (path, manifest, weights, onnx, card, f->secret, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0644);

  pkg = gemba_package_load (path, f->trust, &error);
  g_assert_no_error (error);
  g_assert_true (gemba_package_is_verified (pkg));
  g_assert_cmpstr (gemba_package_get_name (pkg), ==, path);
  g_assert_cmpstr (gemba_package_get_key_id (pkg), ==, gemba_secret_key_get_id (f->secret));
  g_assert_cmpstr (gemba_package_get_model_card (pkg), ==, card);
  g_assert_true (g_bytes_equal (gemba_package_get_member (pkg, GEMBA_PACKAGE_WEIGHTS), weights));
  g_assert_true (g_bytes_equal (gemba_package_get_member (pkg, GEMBA_PACKAGE_ONNX), onnx));
  classes = gemba_package_get_classes (pkg);
  g_assert_cmpuint (g_strv_length ((char **) classes), ==, 3);
  g_assert_cmpstr (classes[2], ==, "dent");
  g_assert_cmpstr (json_object_get_string_member (
                     json_object_get_object_member (gemba_package_get_manifest (pkg), "model"),
                     "version"), ==, "1.4.0");
  members = json_object_get_object_member (gemba_package_get_manifest (pkg), "members");
  sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, weights);
  g_assert_cmpstr (json_object_get_string_member (
                     json_object_get_object_member (members, "weights.bin"), "sha256"), ==, sha);
  g_assert_cmpint (json_object_get_int_member (
                     json_object_get_object_member (members, "weights.bin"), "size"), ==, 200000);

  /* Without a trust everything but the signature is checked; verify() completes it. */
  unverified = gemba_package_open (path, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (gemba_package_is_verified (unverified));
  g_assert_true (gemba_package_verify (unverified, f->trust, &error));
  g_assert_no_error (error);
  g_assert_true (gemba_package_is_verified (unverified));

  /* No temporary file is left next to the package. */
  {
    g_autoptr(GDir) dir = g_dir_open (f->dir, 0, NULL);
    const char *name;
    guint n = 0;
    while ((name = g_dir_read_name (dir)))
      n++;
    g_assert_cmpuint (n, ==, 2);   /* keys/ and the package */
  }

  /* A manifest the reader would refuse is not written either. */
  json_object_remove_member (manifest, "classes");
  g_assert_false (gemba_package_write (path, manifest, weights, onnx, card, f->secret, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "classes"));
}

static void
test_paths (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) passwd = bytes_of ("root:x:0:0::/root:/bin/sh\n");
  g_autoptr(GBytes) abs = NULL;
  g_autoptr(GBytes) dotdot = NULL;
  g_autoptr(GBytes) dotdot2 = NULL;
  g_autoptr(GBytes) unknown = NULL;
  g_autoptr(GBytes) folder = NULL;
  g_autoptr(GBytes) nested = NULL;
  Entry e_abs = { "/etc/passwd", passwd, REG, NULL };
  Entry e_dotdot = { "../../etc/passwd", passwd, REG, NULL };
  Entry e_dotdot2 = { "models/../../../weights.bin", passwd, REG, NULL };
  Entry e_unknown = { "extra.txt", passwd, REG, NULL };
  Entry e_folder = { "models/", NULL, DIR_ENTRY, NULL };
  Entry e_nested = { "models/weights.bin", passwd, REG, NULL };
  /* Not UTF-8 (the replay fuzzer found GRegex choking on such a name). */
  Entry e_binary = { "MODEL_CA\xf0\xff\xff\x7f\x01d", passwd, REG, NULL };
  g_autoptr(GBytes) binary = NULL;

  abs = make_package (f, &e_abs, 1, FALSE, NULL);
  assert_refused (f, abs, "absolute-path.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member /etc/passwd has an absolute path; refused");
  dotdot = make_package (f, &e_dotdot, 1, FALSE, NULL);
  assert_refused (f, dotdot, "dotdot.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member ../../etc/passwd has a path outside the package; refused");
  dotdot2 = make_package (f, &e_dotdot2, 1, FALSE, GEMBA_PACKAGE_WEIGHTS);
  assert_refused (f, dotdot2, "dotdot-inner.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "has a path outside the package");
  unknown = make_package (f, &e_unknown, 1, FALSE, NULL);
  assert_refused (f, unknown, "unknown-member.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member extra.txt is not part of a Gemba package");
  folder = make_package (f, &e_folder, 1, FALSE, NULL);
  assert_refused (f, folder, "folder.gemba", NULL, GEMBA_ERROR_SECURITY, "is a folder");
  nested = make_package (f, &e_nested, 1, FALSE, GEMBA_PACKAGE_WEIGHTS);
  assert_refused (f, nested, "nested.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member models/weights.bin is not part of a Gemba package");
  binary = make_package (f, &e_binary, 1, FALSE, NULL);
  assert_refused (f, binary, "binary-name.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "is not part of a Gemba package");
}

static void
test_links (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) symlink = NULL;
  g_autoptr(GBytes) hardlink = NULL;
  g_autoptr(GBytes) tar = NULL;
  Entry e_symlink = { GEMBA_PACKAGE_WEIGHTS, NULL, SYMLINK, "/etc/passwd" };
  Entry e_hardlink = { GEMBA_PACKAGE_ONNX, NULL, HARDLINK, GEMBA_PACKAGE_WEIGHTS };
  Entry tar_entries[] = {
    { GEMBA_PACKAGE_MANIFEST, gemba_package_get_member (f->pkg, GEMBA_PACKAGE_MANIFEST), REG },
    { GEMBA_PACKAGE_SIGNATURE, gemba_package_get_member (f->pkg, GEMBA_PACKAGE_SIGNATURE), REG },
    { GEMBA_PACKAGE_MODEL_CARD, gemba_package_get_member (f->pkg, GEMBA_PACKAGE_MODEL_CARD),
      REG },
    { GEMBA_PACKAGE_WEIGHTS, gemba_package_get_member (f->pkg, GEMBA_PACKAGE_WEIGHTS), REG },
    { GEMBA_PACKAGE_ONNX, NULL, HARDLINK, GEMBA_PACKAGE_WEIGHTS },
  };

  symlink = make_package (f, &e_symlink, 1, TRUE, NULL);
  assert_refused (f, symlink, "symlink.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member weights.bin is a symbolic link; refused");

  /* ZIP has no hard links: libarchive writes one as an empty regular file, which then fails
   * the manifest's hash. A format that has them (tar) is not a package at all. */
  hardlink = make_package (f, &e_hardlink, 1, TRUE, NULL);
  assert_refused (f, hardlink, "hardlink.gemba", NULL, GEMBA_ERROR_SECURITY, "model.onnx");
  tar = make_archive (tar_entries, G_N_ELEMENTS (tar_entries), FALSE, FALSE);
  assert_refused (f, tar, "hardlink-tar.gemba", NULL, GEMBA_ERROR_CORRUPT,
                  "not a complete ZIP archive");
}

static void
test_duplicates (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) other = pattern_bytes (10000, 9);
  g_autoptr(GBytes) dup = NULL;
  g_autoptr(GBytes) dup_manifest = NULL;
  Entry e_dup = { GEMBA_PACKAGE_WEIGHTS, other, REG, NULL };
  Entry e_manifest = { GEMBA_PACKAGE_MANIFEST, other, REG, NULL };

  dup = make_package (f, &e_dup, 1, FALSE, NULL);
  assert_refused (f, dup, "duplicate.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member weights.bin appears twice; refused");
  dup_manifest = make_package (f, &e_manifest, 1, FALSE, NULL);
  assert_refused (f, dup_manifest, "duplicate-manifest.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member manifest.json appears twice");
}

static void
test_tampered (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) weights = NULL;
  g_autoptr(GBytes) tampered = NULL;
  g_autoptr(GBytes) card = bytes_of ("# washer-inspect 1.4.0\nNow with 100% accuracy!\n");
  g_autoptr(GBytes) tampered_card = NULL;
  g_autoptr(GBytes) manifest = NULL;
  g_autoptr(GBytes) tampered_manifest = NULL;
  g_autoptr(GBytes) unsigned_pkg = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaPackage) pkg = NULL;
  GBytes *original = gemba_package_get_member (f->pkg, GEMBA_PACKAGE_WEIGHTS);
  gsize len = g_bytes_get_size (original);
  guint8 *data_copy = g_memdup2 (g_bytes_get_data (original, NULL), len);
  g_autofree char *text = NULL;
  char *at;

  /* One flipped byte in the weights (a new, consistent ZIP entry, so only the hash sees it). */
  data_copy[len / 2] ^= 1;
  weights = g_bytes_new_take (data_copy, len);
  {
    Entry e = { GEMBA_PACKAGE_WEIGHTS, weights, REG, NULL };
    tampered = make_package (f, &e, 1, TRUE, NULL);
  }
  assert_refused (f, tampered, "tampered-weights.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member weights.bin does not match the manifest");
  /* Also without a trust: the hashes are always checked. */
  pkg = gemba_package_open_bytes (tampered, "bad.gemba", NULL, NULL, &error);
  g_assert_null (pkg);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY);
  g_clear_error (&error);

  {
    Entry e = { GEMBA_PACKAGE_MODEL_CARD, card, REG, NULL };
    tampered_card = make_package (f, &e, 1, TRUE, NULL);
  }
  assert_refused (f, tampered_card, "tampered-card.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member MODEL_CARD.md does not match the manifest");

  /* The manifest edited after signing (accuracy 0.97 → 0.99). */
  text = g_strndup (g_bytes_get_data (gemba_package_get_manifest_bytes (f->pkg), NULL),
                    g_bytes_get_size (gemba_package_get_manifest_bytes (f->pkg)));
  at = strstr (text, "\"accuracy\" : 0.96");
  g_assert_nonnull (at);
  at[strlen ("\"accuracy\" : 0.9")] = '9';
  manifest = bytes_of (text);
  {
    Entry e = { GEMBA_PACKAGE_MANIFEST, manifest, REG, NULL };
    tampered_manifest = make_package (f, &e, 1, TRUE, NULL);
  }
  assert_refused (f, tampered_manifest, "tampered-manifest.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "the signature does not match the manifest");
  /* Without a trust it parses (for `gemba show`), but it never verifies. */
  pkg = gemba_package_open_bytes (tampered_manifest, "bad.gemba", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (gemba_package_verify (pkg, f->trust, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY);
  g_assert_false (gemba_package_is_verified (pkg));
  g_clear_error (&error);

  unsigned_pkg = make_package (f, NULL, 0, FALSE, GEMBA_PACKAGE_SIGNATURE);
  assert_refused (f, unsigned_pkg, "unsigned.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "the package is not signed");
  g_clear_pointer (&pkg, gemba_package_unref);
  pkg = gemba_package_open_bytes (unsigned_pkg, "bad.gemba", NULL, NULL, &error);
  g_assert_null (pkg);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY);
}

static void
test_wrong_key (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *other_dir = g_build_filename (f->dir, "other", NULL);
  g_autofree char *other_secret = g_build_filename (other_dir, "secret", NULL);
  g_autofree char *id = NULL;
  g_autoptr(GembaSecretKey) other = NULL;
  g_autoptr(JsonObject) manifest = make_manifest ();
  g_autoptr(GBytes) weights = pattern_bytes (100, 1);
  g_autoptr(GBytes) onnx = pattern_bytes (100, 2);
  g_autoptr(GBytes) foreign = NULL;
  g_autoptr(GBytes) forged_sig = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(GBytes) garbage_sig = bytes_of ("{\"format\": \"gemba-signature\"}");
  g_autoptr(GBytes) garbage = NULL;
  g_autoptr(GembaTrust) empty = gemba_trust_new ();
  g_autofree char *needle = NULL;

  id = gemba_keys_generate (other_dir, &error);
  g_assert_no_error (error);
  other = gemba_secret_key_load (other_secret, &error);
  g_assert_no_error (error);

  /* Signed by a key the line does not trust. */
  foreign = gemba_package_build (manifest, weights, onnx, "card", other, &error);
  g_assert_no_error (error);
  needle = g_strdup_printf ("signed by key %s, which is not a trusted key; refused", id);
  assert_refused (f, foreign, "untrusted-key.gemba", NULL, GEMBA_ERROR_SECURITY, needle);

  /* Signed by another key but claiming the trusted key's id. */
  forged_sig = signature_file (other, gemba_secret_key_get_id (f->secret),
                               gemba_package_get_manifest_bytes (f->pkg));
  {
    Entry e = { GEMBA_PACKAGE_SIGNATURE, forged_sig, REG, NULL };
    forged = make_package (f, &e, 1, TRUE, NULL);
  }
  assert_refused (f, forged, "forged-key-id.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "the signature does not match the manifest");

  {
    Entry e = { GEMBA_PACKAGE_SIGNATURE, garbage_sig, REG, NULL };
    garbage = make_package (f, &e, 1, TRUE, NULL);
  }
  assert_refused (f, garbage, "bad-signature-file.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "manifest.sig is not a valid Gemba signature");

  /* An empty trust accepts nothing. */
  {
    g_autoptr(GembaPackage) pkg = gemba_package_open_bytes (f->package, "x.gemba", empty, NULL,
                                                           &error);
    g_assert_null (pkg);
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY);
  }
}

static void
test_manifest (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) invalid = package_with_manifest (f, "{\"format\": \"gemba-package\", ");
  g_autoptr(GBytes) not_object = package_with_manifest (f, "[1, 2, 3]");
  g_autoptr(GBytes) deep = NULL;
  g_autoptr(GBytes) no_classes = NULL;
  g_autoptr(GBytes) bad_width = NULL;
  g_autoptr(GBytes) too_new = NULL;
  g_autoptr(GBytes) bad_sha = NULL;
  g_autoptr(JsonObject) m = NULL;
  g_autoptr(GString) nested = g_string_new (NULL);
  g_autofree char *text = NULL;
  char *at;

  assert_refused (f, invalid, "manifest-invalid-json.gemba", NULL, GEMBA_ERROR_CORRUPT,
                  "manifest.json is not valid JSON");
  assert_refused (f, not_object, "manifest-not-object.gemba", NULL, GEMBA_ERROR_CORRUPT,
                  "manifest.json is not a JSON object");
  for (guint i = 0; i < 10000; i++)
    g_string_append_c (nested, '[');
  deep = package_with_manifest (f, nested->str);
  assert_refused (f, deep, "manifest-deep.gemba", NULL, GEMBA_ERROR_CORRUPT,
                  "nests deeper than 32 levels");

  text = g_strndup (g_bytes_get_data (gemba_package_get_manifest_bytes (f->pkg), NULL),
                    g_bytes_get_size (gemba_package_get_manifest_bytes (f->pkg)));
  m = gemba_package_parse_manifest ("x", text, strlen (text), FALSE, NULL);
  g_assert_nonnull (m);

  /* A second "classes" after the first: json-glib would keep one, another reader the other. */
  {
    g_autofree char *edited = replace_once (text, "\"classes\" : [",
                                            "\"classes\" : [\"ok\", \"fine\"], "
                                            "\"classes\" : [");
    g_autoptr(GBytes) dup_key = package_with_manifest (f, edited);
    assert_refused (f, dup_key, "manifest-duplicate-key.gemba", NULL, GEMBA_ERROR_CORRUPT,
                    "has a key that appears twice in one object");
  }
  /* Keys that need escapes, and colons inside strings, are counted right. */
  {
    g_autofree char *edited = replace_once (text, "\"widths\" : [",
                                            "\"no\\\"te: \\\\\" : \"a: b\", \"widths\" : [");
    g_autoptr(JsonObject) ok = gemba_package_parse_manifest ("x", edited, strlen (edited), FALSE,
                                                             NULL);
    g_assert_nonnull (ok);
  }

  /* Fields removed or mistyped, each in a manifest correctly signed. */
  {
    g_autoptr(JsonObject) copy = json_object_ref (m);
    g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), copy);
    g_autofree char *s = NULL;
    json_object_remove_member (copy, "classes");
    s = json_to_string (root, TRUE);
    no_classes = package_with_manifest (f, s);
  }
  assert_refused (f, no_classes, "manifest-no-classes.gemba", NULL, GEMBA_ERROR_CORRUPT,
                  "the manifest lacks the field “classes”");

  {
    g_autofree char *edited = replace_once (text, "\"width\" : 64", "\"width\" : \"x\"");
    bad_width = package_with_manifest (f, edited);
  }
  assert_refused (f, bad_width, "manifest-bad-width.gemba", NULL, GEMBA_ERROR_CORRUPT,
                  "field “input.width” must be an integer");

  g_free (text);
  text = g_strndup (g_bytes_get_data (gemba_package_get_manifest_bytes (f->pkg), NULL),
                    g_bytes_get_size (gemba_package_get_manifest_bytes (f->pkg)));
  at = strstr (text, "\"format_version\" : 1");
  g_assert_nonnull (at);
  at[strlen ("\"format_version\" : ")] = '9';
  too_new = package_with_manifest (f, text);
  assert_refused (f, too_new, "manifest-too-new.gemba", NULL, GEMBA_ERROR_TOO_NEW,
                  "format version 9");

  g_free (text);
  text = g_strndup (g_bytes_get_data (gemba_package_get_manifest_bytes (f->pkg), NULL),
                    g_bytes_get_size (gemba_package_get_manifest_bytes (f->pkg)));
  at = strstr (text, "\"sha256\" : \"");
  g_assert_nonnull (at);
  at[strlen ("\"sha256\" : \"")] = 'Z';
  bad_sha = package_with_manifest (f, text);
  assert_refused (f, bad_sha, "manifest-bad-sha.gemba", NULL, GEMBA_ERROR_CORRUPT,
                  "must be 64 lowercase hexadecimal digits");
}

/* Issue 14: a correctly signed manifest with a hostile input.crop read memory before and far
 * outside the image. Every such value is refused when the package is opened, naming the
 * package and the field; the same check refuses it in a model.json, and the image code's own
 * bounds check does not overflow either. */
static void
test_hostile_input (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *edit;    /* replaces "\"width\" : 64" */
    const char *field;
    const char *corpus;
  } cases[] = {
    { "\"crop\" : [-8, -8, 64, 64], \"width\" : 64", "input.crop", "manifest-crop-negative" },
    { "\"crop\" : [-100000, -100000, 64, 64], \"width\" : 64", "input.crop",
      "manifest-crop-far" },
    { "\"crop\" : [2147483600, 0, 100, 100], \"width\" : 64", "input.crop",
      "manifest-crop-overflow" },
    { "\"crop\" : [0, 0, 2147483647, 2147483647], \"width\" : 64", "input.crop",
      "manifest-crop-huge" },
    { "\"crop\" : [0, 0, 4294967360, 64], \"width\" : 64", "input.crop",
      "manifest-crop-truncated" },
    { "\"crop\" : [0, 0, 0, 0], \"width\" : 64", "input.crop", "manifest-crop-empty" },
    { "\"crop\" : [0, 0, 64], \"width\" : 64", "input.crop", "manifest-crop-short" },
    { "\"crop\" : [0, 0, 6.5, 64], \"width\" : 64", "input.crop", "manifest-crop-float" },
    { "\"width\" : 4294967360", "input.width", "manifest-width-truncated" },
    { "\"width\" : 5000", "input.width", "manifest-width-large" },
  };
  g_autofree char *text = g_strndup (g_bytes_get_data (gemba_package_get_manifest_bytes (f->pkg),
                                                       NULL),
                                     g_bytes_get_size (gemba_package_get_manifest_bytes (f->pkg)));

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *edited = replace_once (text, "\"width\" : 64", cases[i].edit);
      g_autoptr(GBytes) bytes = package_with_manifest (f, edited);
      g_autofree char *corpus = g_strconcat (cases[i].corpus, ".gemba", NULL);
      g_autofree char *needle = g_strdup_printf ("field “%s” must be", cases[i].field);

      assert_refused (f, bytes, corpus, NULL, GEMBA_ERROR_CORRUPT, needle);
    }
  /* A crop inside the largest frame is accepted. */
  {
    g_autofree char *edited = replace_once (text, "\"width\" : 64",
                                            "\"crop\" : [8, 8, 32, 32], \"width\" : 64");
    g_autoptr(GBytes) bytes = package_with_manifest (f, edited);
    g_autoptr(GError) error = NULL;
    g_autoptr(GembaPackage) pkg = gemba_package_open_bytes (bytes, "ok.gemba", f->trust, NULL,
                                                            &error);
    g_assert_no_error (error);
    g_assert_nonnull (pkg);
  }

  /* The same values in a model.json's input. */
  {
    static const char *crops[] = { "[-8, -8, 64, 64]", "[-100000, 0, 64, 64]",
                                   "[2147483600, 0, 100, 100]" };

    for (guint i = 0; i < G_N_ELEMENTS (crops); i++)
      {
        g_autofree char *json = g_strdup_printf ("{\"width\": 64, \"height\": 64, "
                                                 "\"colour\": \"rgb\", \"crop\": %s, "
                                                 "\"mean\": [0, 0, 0], \"std\": [1, 1, 1]}",
                                                 crops[i]);
        g_autoptr(JsonNode) node = json_from_string (json, NULL);
        g_autoptr(GError) error = NULL;
        GembaPreprocess pp;

        g_assert_false (gemba_preprocess_from_json (&pp, node, &error));
        g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
        g_assert_nonnull (strstr (error->message, "“input.crop”"));
      }
  }

  /* And the image code's own check, given such a crop directly, neither overflows nor reads. */
  {
    static const int crops[][4] = { { -8, -8, 64, 64 }, { -100000, 0, 64, 64 },
                                    { 2147483600, 0, 100, 100 }, { 0, 2147483600, 100, 100 },
                                    { 10, 10, G_MAXINT, 10 } };
    guint8 rgb[64 * 64 * 3] = { 0 };
    guint8 out[32 * 32 * 3];

    for (guint i = 0; i < G_N_ELEMENTS (crops); i++)
      {
        g_autoptr(GError) error = NULL;
        GembaPreprocess pp;

        gemba_preprocess_init (&pp, 32);
        pp.crop_x = crops[i][0];
        pp.crop_y = crops[i][1];
        pp.crop_w = crops[i][2];
        pp.crop_h = crops[i][3];
        g_assert_false (gemba_preprocess_validate (&pp, "x.gemba", NULL));
        g_assert_false (gemba_preprocess_rgb (&pp, rgb, 64, 64, 64 * 3, out, &error));
        g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
      }
  }
}

static void
test_sizes (Fixture *f, gconstpointer data)
{
  GembaPackageLimits small = f->limits;
  g_autoptr(GBytes) zeros = g_bytes_new_take (g_malloc0 (8 << 20), 8 << 20);
  g_autoptr(GBytes) bomb = NULL;
  g_autoptr(GBytes) lying_bomb = NULL;
  g_autoptr(GBytes) huge = NULL;
  g_autoptr(GBytes) lying_small = NULL;
  g_autoptr(GBytes) big_manifest = NULL;
  Entry e_bomb = { GEMBA_PACKAGE_WEIGHTS, zeros, REG, NULL };
  g_autoptr(GError) error = NULL;

  small.max_binary_size = 1 << 20;

  /* 8 MiB of zeros deflate to a few KiB: refused on the declared size, before reading. */
  bomb = make_package (f, &e_bomb, 1, TRUE, NULL);
  g_assert_cmpuint (g_bytes_get_size (bomb), <, 64 << 10);
  assert_refused (f, bomb, "zip-bomb.gemba", &small, GEMBA_ERROR_SECURITY,
                  "member weights.bin declares 8388608 bytes, more than the limit of 1048576");

  /* The same bomb declaring 1000 bytes: refused while decompressing, one byte past the
   * declared size, not at the member limit (with the small limits and the default 256 MiB). */
  lying_bomb = patch_size (bomb, GEMBA_PACKAGE_WEIGHTS, 1000);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GembaPackage) pkg = gemba_package_open_bytes (lying_bomb, "bad.gemba",
                                                             f->trust, i ? NULL : &small,
                                                             &error);
      g_assert_null (pkg);
      g_test_message ("lying bomb: %s", error->message);
      g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY);
      g_assert_cmpstr (error->message, ==, "bad.gemba: member weights.bin holds more than the "
                                           "1000 bytes it declares; refused");
      g_clear_error (&error);
    }
  save_corpus ("zip-bomb-lying.gemba", lying_bomb);

  /* A declared size of 4 GiB on a small member. */
  huge = patch_size (f->package, GEMBA_PACKAGE_ONNX, 0xfffffff0u);
  assert_refused (f, huge, "huge-declared-size.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member model.onnx declares 4294967280 bytes, more than the limit");

  /* A member that holds more than it declares. */
  lying_small = patch_size (f->package, GEMBA_PACKAGE_ONNX, 10);
  {
    g_autoptr(GembaPackage) pkg = gemba_package_open_bytes (lying_small, "bad.gemba", f->trust,
                                                           NULL, &error);
    g_assert_null (pkg);
    g_test_message ("lying size: %s", error->message);
    g_assert_true (g_str_has_prefix (error->message, "bad.gemba: member model.onnx"));
    g_clear_error (&error);
  }
  save_corpus ("lying-size.gemba", lying_small);

  /* The manifest has its own, smaller limit. */
  {
    g_autoptr(GString) s = g_string_new ("{\"format\": \"gemba-package\", \"pad\": \"");
    for (guint i = 0; i < (1 << 20); i++)
      g_string_append_c (s, 'a');
    g_string_append (s, "\"}");
    big_manifest = package_with_manifest (f, s->str);
  }
  assert_refused (f, big_manifest, "big-manifest.gemba", NULL, GEMBA_ERROR_SECURITY,
                  "member manifest.json declares");

  /* And the whole package has a limit. */
  small = f->limits;
  small.max_total_size = 12000;
  assert_refused (f, f->package, "total.gemba", &small, GEMBA_ERROR_SECURITY,
                  "past the limit of 12000 bytes in all");
  small = f->limits;
  small.max_archive_size = 1000;
  assert_refused (f, f->package, "archive.gemba", &small, GEMBA_ERROR_SECURITY,
                  "larger than the limit of 1000 bytes");
}

static void
test_truncated (Fixture *f, gconstpointer data)
{
  gsize len = g_bytes_get_size (f->package);
  guint cuts[] = { 0, 1, 4, 30, len / 3, len / 2, len - 200, len - 23, len - 1 };
  g_autofree char *path = g_build_filename (f->dir, "truncated.gemba", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      g_autoptr(GBytes) cut = g_bytes_new_from_bytes (f->package, 0, cuts[i]);
      g_autoptr(GError) error = NULL;
      g_autoptr(GembaPackage) pkg = NULL;
      g_autofree char *corpus = g_strdup_printf ("truncated-%u.gemba", cuts[i]);

      save_corpus (corpus, cut);
      pkg = gemba_package_open_bytes (cut, "bad.gemba", f->trust, NULL, &error);
      g_assert_null (pkg);
      g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
      g_assert_true (g_str_has_prefix (error->message, "bad.gemba: "));
      g_clear_error (&error);

      /* From a file too. */
      g_assert_true (g_file_set_contents (path, g_bytes_get_data (cut, NULL), cuts[i], NULL));
      pkg = gemba_package_load (path, f->trust, &error);
      g_assert_null (pkg);
      g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
      g_assert_true (g_str_has_prefix (error->message, path));
    }
}

/* Every refusal above happened in memory: reading a package writes no file anywhere. Run the
 * path-traversal packages from a fresh working folder and check it stays empty. */
static void
test_nothing_written (Fixture *f, gconstpointer data)
{
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *work = g_build_filename (f->dir, "work", "a", "b", NULL);
  g_autofree char *pkg_path = g_build_filename (f->dir, "dotdot.gemba", NULL);
  g_autoptr(GBytes) passwd = bytes_of ("evil\n");
  Entry entries[] = {
    { "../../x-escaped", passwd, REG, NULL },
    { "/tmp/gemba-test-escaped", passwd, REG, NULL },
    { "link", NULL, SYMLINK, "../../x-link" },
  };

  g_assert_cmpint (g_mkdir_with_parents (work, 0700), ==, 0);
  g_assert_cmpint (g_chdir (work), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      g_autoptr(GBytes) bytes = make_package (f, &entries[i], 1, FALSE, NULL);
      g_autoptr(GError) error = NULL;
      g_autoptr(GembaPackage) pkg = NULL;

      g_assert_true (g_file_set_contents (pkg_path, g_bytes_get_data (bytes, NULL),
                                          g_bytes_get_size (bytes), NULL));
      pkg = gemba_package_open (pkg_path, NULL, NULL, &error);
      g_assert_null (pkg);
      g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY);
    }
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  {
    g_autoptr(GDir) dir = g_dir_open (work, 0, NULL);
    g_assert_null (g_dir_read_name (dir));
  }
  {
    g_autofree char *escaped = g_build_filename (f->dir, "work", "x-escaped", NULL);
    g_assert_false (g_file_test (escaped, G_FILE_TEST_EXISTS));
    g_assert_false (g_file_test ("/tmp/gemba-test-escaped", G_FILE_TEST_EXISTS));
  }
}

/* A temporary file a killed export left beside the package is removed by the next write; one
 * whose writer still holds its lock, and a file that only looks similar, are not. */
static void
test_write_leftovers (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) manifest = make_manifest ();
  g_autoptr(GBytes) weights = pattern_bytes (20000, 3);
  g_autoptr(GBytes) onnx = pattern_bytes (500, 4);
  g_autofree char *path = g_build_filename (f->dir, "line.gemba", NULL);
  g_autofree char *stale = g_build_filename (f->dir, ".line.gemba.export-AbC123", NULL);
  g_autofree char *live = g_build_filename (f->dir, ".line.gemba.export-LiVe12", NULL);
  g_autofree char *other = g_strconcat (path, ".backup", NULL);
  int fd;

  g_assert_true (g_file_set_contents (stale, "partial package", -1, NULL));
  g_assert_true (g_file_set_contents (live, "being written", -1, NULL));
  g_assert_true (g_file_set_contents (other, "a user's file", -1, NULL));
  fd = open (live, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (flock (fd, LOCK_EX), ==, 0);

  g_assert_true (gemba_package_write (path, manifest, weights, onnx, "# card\n", f->secret,
                                      &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (live, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (other, G_FILE_TEST_EXISTS));
  close (fd);
  {
    g_autoptr(GembaPackage) pkg = gemba_package_load (path, f->trust, &error);
    g_assert_no_error (error);
    g_assert_true (gemba_package_is_verified (pkg));
  }
  /* Once its writer is gone, the next write removes it too. */
  g_assert_true (gemba_package_write (path, manifest, weights, onnx, "# card\n", f->secret,
                                      &error));
  g_assert_false (g_file_test (live, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/package/keys", test_keys);
  ADD ("/package/round-trip", test_round_trip);
  ADD ("/package/write-leftovers", test_write_leftovers);
  ADD ("/package/refuse/paths", test_paths);
  ADD ("/package/refuse/links", test_links);
  ADD ("/package/refuse/duplicates", test_duplicates);
  ADD ("/package/refuse/tampered", test_tampered);
  ADD ("/package/refuse/wrong-key", test_wrong_key);
  ADD ("/package/refuse/manifest", test_manifest);
  ADD ("/package/refuse/hostile-input", test_hostile_input);
  ADD ("/package/refuse/sizes", test_sizes);
  ADD ("/package/refuse/truncated", test_truncated);
  ADD ("/package/refuse/nothing-written", test_nothing_written);
#undef ADD

  return g_test_run ();
}
