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

#include "gemba.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

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
  /* A copy of exactly @size bytes, so ASan sees any read past the end. */
  g_autofree guint8 *copy = g_memdup2 (data, size);

  LLVMFuzzerTestOneInput (copy, size);
  n_runs++;
}

static void
replay_file (const char *path, guint mutations)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;
  guint32 state = g_str_hash (path);

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

  LLVMFuzzerInitialize (&argc, &argv);
  if (g_getenv ("GEMBA_FUZZ_MUTATIONS"))
    mutations = atoi (g_getenv ("GEMBA_FUZZ_MUTATIONS"));
  if (argc < 2)
    {
      g_printerr ("usage: %s FILE|DIR…\n", argv[0]);
      return 2;
    }
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
  g_print ("fuzz-package: %" G_GUINT64_FORMAT " executions without a finding\n", n_runs);
  gemba_trust_unref (trust);
  return 0;
}

#endif
