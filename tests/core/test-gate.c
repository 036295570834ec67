#define G_LOG_DOMAIN "test-gate"

/* The regression gate's decision from paired verdicts.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "gemba.h"

static const char * const classes[] = { "ok", "scratch", "dent", NULL };

/* Three classes of 32 test frames; production gets @prod_wrong of each wrong (the first
 * ones), the candidate @cand_wrong (the last ones, so that they pair as fixed/broken). */
static GembaGateResult *
judge (const guint prod_wrong[3], const guint cand_wrong[3])
{
  GembaGateResult *r = gemba_gate_result_new (classes, GEMBA_GATE_DEFAULT_ALPHA,
                                              GEMBA_GATE_DEFAULT_MIN_EFFECT);

  for (int k = 0; k < 3; k++)
    for (guint i = 0; i < 32; i++)
      {
        g_autofree char *id = g_strdup_printf ("%02d%010u", k, i);
        gemba_gate_add_test_frame (r, id, k, i >= prod_wrong[k], i < 32 - cand_wrong[k]);
      }
  gemba_gate_result_finish (r);
  return r;
}

static void
test_mcnemar (void)
{
  /* 0 broken: nothing to test; 1 of 1 is a coin toss; 10 of 10 is 1/1024. */
  g_assert_cmpfloat (gemba_gate_mcnemar (0, 5), ==, 1.0);
  g_assert_cmpfloat_with_epsilon (gemba_gate_mcnemar (1, 0), 0.5, 1e-12);
  g_assert_cmpfloat_with_epsilon (gemba_gate_mcnemar (10, 0), 1.0 / 1024, 1e-12);
  /* P(X >= 3 | n = 4) = 5/16 */
  g_assert_cmpfloat_with_epsilon (gemba_gate_mcnemar (3, 1), 5.0 / 16, 1e-12);
}

static void
test_better_passes (void)
{
  const guint prod[3] = { 6, 4, 5 }, cand[3] = { 1, 1, 2 };
  g_autoptr(GembaGateResult) r = judge (prod, cand);
  g_auto(GStrv) failures = gemba_gate_result_dup_failures (r);
  g_autofree char *text = gemba_gate_result_describe (r);

  g_assert_true (gemba_gate_result_passed (r));
  g_assert_cmpuint (g_strv_length (failures), ==, 0);
  g_assert_cmpuint (r->overall.fixed, ==, 15);
  g_assert_cmpuint (r->overall.broken, ==, 4);
  g_assert_nonnull (strstr (text, "scratch: 32 test frames, 4 fixed, 1 broken"));
}

static void
test_worse_refused (void)
{
  const guint prod[3] = { 1, 1, 1 }, cand[3] = { 1, 9, 1 };
  g_autoptr(GembaGateResult) r = judge (prod, cand);
  g_auto(GStrv) failures = gemba_gate_result_dup_failures (r);

  g_assert_false (gemba_gate_result_passed (r));
  g_assert_true (g_array_index (r->classes, GembaGateGroup, 1).worse);
  g_assert_false (g_array_index (r->classes, GembaGateGroup, 0).worse);
  g_assert_cmpuint (g_strv_length (failures), >=, 1);
  g_assert_nonnull (strstr (failures[g_strv_length (failures) - 1], "“scratch”"));
  g_assert_nonnull (strstr (failures[g_strv_length (failures) - 1], "01"));
}

/* One frame of noise in a 32-frame class is no regression; frames both get wrong neither. */
static void
test_noise_passes (void)
{
  const guint prod[3] = { 0, 0, 3 }, cand[3] = { 1, 0, 3 };
  g_autoptr(GembaGateResult) r = judge (prod, cand);
  GembaGateGroup *dent = &g_array_index (r->classes, GembaGateGroup, 2);

  g_assert_true (gemba_gate_result_passed (r));
  g_assert_cmpuint (g_array_index (r->classes, GembaGateGroup, 0).broken, ==, 1);
  /* dent: 3 wrong each, at opposite ends: 3 fixed, 3 broken. */
  g_assert_cmpuint (dent->fixed, ==, 3);
  g_assert_cmpuint (dent->broken, ==, 3);
  g_assert_false (dent->worse);
}

static void
test_both_wrong_no_regression (void)
{
  g_autoptr(GembaGateResult) r = gemba_gate_result_new (classes, 0.05, 0.02);

  for (guint i = 0; i < 20; i++)
    gemba_gate_add_test_frame (r, "abcdefabcdef00", 0, FALSE, FALSE);
  /* A correction both get wrong passes; one production gets right and the candidate not
   * refuses. */
  gemba_gate_add_correction (r, "0123456789abcdef", "dent", "ok", FALSE, FALSE);
  gemba_gate_result_finish (r);
  g_assert_true (gemba_gate_result_passed (r));
  g_assert_cmpuint (r->overall.broken, ==, 0);
  gemba_gate_add_correction (r, "fedcba9876543210", "dent", "ok", TRUE, FALSE);
  gemba_gate_result_finish (r);
  g_assert_false (gemba_gate_result_passed (r));
  g_assert_cmpuint (r->n_corrections, ==, 2);
  {
    g_auto(GStrv) failures = gemba_gate_result_dup_failures (r);
    g_assert_cmpuint (g_strv_length (failures), ==, 1);
    g_assert_nonnull (strstr (failures[0], "fedcba987654 (dent, read as ok)"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/core/gate/mcnemar", test_mcnemar);
  g_test_add_func ("/core/gate/better-passes", test_better_passes);
  g_test_add_func ("/core/gate/worse-refused", test_worse_refused);
  g_test_add_func ("/core/gate/noise-passes", test_noise_passes);
  g_test_add_func ("/core/gate/both-wrong", test_both_wrong_no_regression);
  return g_test_run ();
}
