/* test-production.c: a production program, as README.md shows it, linked against the shared
 * libgemba (so only its public, exported API): keygen, export from a trained demo project,
 * then load the package verified against the trusted key and classify buffers — and refuse
 * the same package once a byte of it changed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gemba.h>
#include <glib/gstdio.h>

#include "gemba-test-cli.h"


static void
test_load_and_classify (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("gemba-production-XXXXXX", &error);
  g_autofree char *project = g_build_filename (dir, "line", NULL);
  g_autofree char *keys = g_build_filename (dir, "keys", NULL);
  g_autofree char *secret = g_build_filename (keys, "secret", NULL);
  g_autofree char *package = g_build_filename (dir, "washer-1.gemba", NULL);
  g_autofree char *tampered = g_build_filename (dir, "tampered.gemba", NULL);
  g_autoptr(GembaTrust) trust = gemba_trust_new ();
  g_autoptr(GembaClassifier) classifier = NULL;
  g_autoptr(GembaImage) frame = NULL;
  g_autofree char *contents = NULL;
  float probs[8];
  double sum = 0;
  gsize len;
  int verdict;

  gemba_test_cli_run ("demo", project, "--quiet", NULL);
  gemba_test_cli_run ("train", project, "--size", "32", "--epochs", "2", "--quiet", NULL);
  gemba_test_cli_run ("keygen", "--out", keys, NULL);
  gemba_test_cli_run ("export", project, "1", "-o", package, "--key", secret, NULL);

  /* What README.md shows. */
  g_assert_true (gemba_trust_add_path (trust, keys, &error));
  g_assert_no_error (error);
  classifier = gemba_package_classifier_load (package, trust, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gemba_classifier_get_n_classes (classifier), ==, 4);

  frame = gemba_demo_render (0, GEMBA_DEMO_DENT, 99);
  verdict = gemba_classifier_classify_rgb (classifier, frame->pixels, frame->width,
                                           frame->height, frame->width * 3, probs, &error);
  g_assert_no_error (error);
  g_assert_cmpint (verdict, >=, 0);
  g_assert_cmpint (verdict, <, 4);
  for (int k = 0; k < 4; k++)
    sum += probs[k];
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-4);
  g_assert_nonnull (gemba_classifier_get_class_name (classifier, verdict));

  /* One byte changed: refused, never "warn and continue". */
  g_assert_true (g_file_get_contents (package, &contents, &len, NULL));
  contents[len / 2] ^= 0x01;
  g_assert_true (g_file_set_contents (tampered, contents, len, NULL));
  g_assert_null (gemba_package_classifier_load (tampered, trust, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "tampered.gemba"));
}

int
main (int argc, char **argv)
{

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/package/production-program", test_load_and_classify);
  return g_test_run ();
}
