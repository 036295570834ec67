/* gemba-gate.c: the regression gate's verdict from paired verdicts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-package"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>

#include "gemba-gate.h"

/* Frames named per list; the rest are counted. */
#define MAX_LISTED 10

double
gemba_gate_mcnemar (guint broken, guint fixed)
{
  guint n = broken + fixed;
  double p = 0;

  if (broken == 0)
    return 1.0;
  /* P(X >= broken), X ~ Binomial(n, 1/2), summed in the log domain. */
  for (guint i = broken; i <= n; i++)
    p += exp (lgamma (n + 1.0) - lgamma (i + 1.0) - lgamma (n - i + 1.0) - n * G_LN2);
  return MIN (p, 1.0);
}

static void
group_init (GembaGateGroup *g, const char *name)
{
  g->name = g_strdup (name);
  g->p_value = 1.0;
  g->fixed_frames = g_ptr_array_new_with_free_func (g_free);
  g->broken_frames = g_ptr_array_new_with_free_func (g_free);
}

static void
group_clear (gpointer data)
{
  GembaGateGroup *g = data;

  g_clear_pointer (&g->name, g_free);
  g_clear_pointer (&g->fixed_frames, g_ptr_array_unref);
  g_clear_pointer (&g->broken_frames, g_ptr_array_unref);
}

GembaGateResult *
gemba_gate_result_new (const char * const *class_names, double alpha, double min_effect)
{
  GembaGateResult *r = g_new0 (GembaGateResult, 1);

  r->alpha = alpha;
  r->min_effect = min_effect;
  group_init (&r->overall, NULL);
  r->classes = g_array_new (FALSE, TRUE, sizeof (GembaGateGroup));
  g_array_set_clear_func (r->classes, group_clear);
  for (guint i = 0; class_names && class_names[i]; i++)
    {
      GembaGateGroup g = { 0 };
      group_init (&g, class_names[i]);
      g_array_append_val (r->classes, g);
    }
  r->broken_corrections = g_ptr_array_new_with_free_func (g_free);
  return r;
}

void
gemba_gate_result_free (GembaGateResult *r)
{
  if (!r)
    return;
  group_clear (&r->overall);
  g_array_unref (r->classes);
  g_ptr_array_unref (r->broken_corrections);
  g_free (r);
}

static void
group_add (GembaGateGroup *g, const char *frame_id, gboolean production_right,
           gboolean candidate_right)
{
  g->n_frames++;
  if (!production_right && candidate_right)
    {
      g->fixed++;
      g_ptr_array_add (g->fixed_frames, g_strndup (frame_id, 12));
    }
  else if (production_right && !candidate_right)
    {
      g->broken++;
      g_ptr_array_add (g->broken_frames, g_strndup (frame_id, 12));
    }
}

void
gemba_gate_add_test_frame (GembaGateResult *r, const char *frame_id, int klass,
                           gboolean production_right, gboolean candidate_right)
{
  group_add (&r->overall, frame_id, production_right, candidate_right);
  if (klass >= 0 && (guint) klass < r->classes->len)
    group_add (&g_array_index (r->classes, GembaGateGroup, klass), frame_id, production_right,
               candidate_right);
}

void
gemba_gate_add_correction (GembaGateResult *r, const char *frame_id, const char *label,
                           const char *candidate_said, gboolean production_right,
                           gboolean candidate_right)
{
  r->n_corrections++;
  if (production_right && !candidate_right)
    {
      g_autofree char *id = g_strndup (frame_id, 12);
      /* TRANSLATORS: a frame id, its label, and what the model read it as */
      g_ptr_array_add (r->broken_corrections, g_strdup_printf (_("%s (%s, read as %s)"), id,
                                                               label ? label : "?",
                                                               candidate_said ? candidate_said
                                                                              : "?"));
    }
}

static void
group_finish (GembaGateGroup *g, double alpha, double min_effect)
{
  g->p_value = gemba_gate_mcnemar (g->broken, g->fixed);
  g->worse = g->broken > g->fixed && g->p_value < alpha &&
             (double) (g->broken - g->fixed) >= min_effect * g->n_frames;
}

void
gemba_gate_result_finish (GembaGateResult *r)
{
  group_finish (&r->overall, r->alpha, r->min_effect);
  for (guint i = 0; i < r->classes->len; i++)
    group_finish (&g_array_index (r->classes, GembaGateGroup, i), r->alpha, r->min_effect);
}

gboolean
gemba_gate_result_passed (const GembaGateResult *r)
{
  if (r->overall.worse || r->broken_corrections->len > 0)
    return FALSE;
  for (guint i = 0; i < r->classes->len; i++)
    if (g_array_index (r->classes, GembaGateGroup, i).worse)
      return FALSE;
  return TRUE;
}

static char *
join_listed (GPtrArray *items)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < items->len && i < MAX_LISTED; i++)
    {
      if (i)
        /* TRANSLATORS: separates the items of a list of frames */
        g_string_append (s, _(", "));
      g_string_append (s, g_ptr_array_index (items, i));
    }
  if (items->len > MAX_LISTED)
    g_string_append_printf (s, _(" and %u more"), items->len - MAX_LISTED);
  if (items->len == 0)
    g_string_append (s, "—");
  return g_string_free (s, FALSE);
}

char **
gemba_gate_result_dup_failures (const GembaGateResult *r)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new ();

  if (r->overall.worse)
    g_ptr_array_add (lines, g_strdup_printf (_("significantly worse on the test split: %u frames "
                                               "broken, %u fixed of %u (p = %.3g)"),
                                             r->overall.broken, r->overall.fixed,
                                             r->overall.n_frames, r->overall.p_value));
  for (guint i = 0; i < r->classes->len; i++)
    {
      GembaGateGroup *g = &g_array_index (r->classes, GembaGateGroup, i);
      g_autofree char *broken = NULL;
      if (!g->worse)
        continue;
      broken = join_listed (g->broken_frames);
      g_ptr_array_add (lines, g_strdup_printf (_("significantly worse on class “%s”: %u frames "
                                                 "broken, %u fixed of %u (p = %.3g; broken: %s)"),
                                               g->name, g->broken, g->fixed, g->n_frames,
                                               g->p_value, broken));
    }
  if (r->broken_corrections->len > 0)
    {
      g_autofree char *list = join_listed (r->broken_corrections);
      g_ptr_array_add (lines,
                       g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                     "%u correction that production gets right "
                                                     "is wrong now: %s",
                                                     "%u corrections that production gets right "
                                                     "are wrong now: %s",
                                                     r->broken_corrections->len),
                                        r->broken_corrections->len, list));
    }
  g_ptr_array_add (lines, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&lines), FALSE);
}

static void
describe_group (GString *s, const GembaGateGroup *g, const char *name)
{
  g_autofree char *fixed = join_listed (g->fixed_frames);
  g_autofree char *broken = join_listed (g->broken_frames);

  /* TRANSLATORS: a class (or "all"), its test frames, frames fixed and broken, the p-value */
  g_string_append_printf (s, _("%s: %u test frames, %u fixed, %u broken (p = %.3g)%s\n"),
                          name, g->n_frames, g->fixed, g->broken, g->p_value,
                          g->worse ? _(" — significantly worse") : "");
  if (g->fixed)
    g_string_append_printf (s, _("  fixed: %s\n"), fixed);
  if (g->broken)
    g_string_append_printf (s, _("  broken: %s\n"), broken);
}

char *
gemba_gate_result_describe (const GembaGateResult *r)
{
  GString *s = g_string_new (NULL);

  describe_group (s, &r->overall, _("all classes"));
  for (guint i = 0; i < r->classes->len; i++)
    {
      const GembaGateGroup *g = &g_array_index (r->classes, GembaGateGroup, i);
      describe_group (s, g, g->name);
    }
  g_string_append_printf (s, g_dngettext (GETTEXT_PACKAGE,
                                          "%u correction checked, %u broken\n",
                                          "%u corrections checked, %u broken\n",
                                          r->n_corrections),
                          r->n_corrections, r->broken_corrections->len);
  return g_string_free (s, FALSE);
}

static void
add_strings (JsonBuilder *b, const char *key, GPtrArray *items)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; i < items->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (items, i));
  json_builder_end_array (b);
}

static void
add_group (JsonBuilder *b, const GembaGateGroup *g)
{
  json_builder_begin_object (b);
  if (g->name)
    {
      json_builder_set_member_name (b, "class");
      json_builder_add_string_value (b, g->name);
    }
  json_builder_set_member_name (b, "frames");
  json_builder_add_int_value (b, g->n_frames);
  json_builder_set_member_name (b, "fixed");
  json_builder_add_int_value (b, g->fixed);
  json_builder_set_member_name (b, "broken");
  json_builder_add_int_value (b, g->broken);
  json_builder_set_member_name (b, "p_value");
  json_builder_add_double_value (b, g->p_value);
  json_builder_set_member_name (b, "worse");
  json_builder_add_boolean_value (b, g->worse);
  add_strings (b, "fixed_frames", g->fixed_frames);
  add_strings (b, "broken_frames", g->broken_frames);
  json_builder_end_object (b);
}

void
gemba_gate_result_add_json (const GembaGateResult *r, JsonBuilder *b)
{
  json_builder_set_member_name (b, "test");
  json_builder_add_string_value (b, "one-sided exact McNemar");
  json_builder_set_member_name (b, "alpha");
  json_builder_add_double_value (b, r->alpha);
  json_builder_set_member_name (b, "min_effect");
  json_builder_add_double_value (b, r->min_effect);
  json_builder_set_member_name (b, "overall");
  add_group (b, &r->overall);
  json_builder_set_member_name (b, "classes");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->classes->len; i++)
    add_group (b, &g_array_index (r->classes, GembaGateGroup, i));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "corrections");
  json_builder_add_int_value (b, r->n_corrections);
  add_strings (b, "broken_corrections", r->broken_corrections);
  json_builder_set_member_name (b, "passed");
  json_builder_add_boolean_value (b, gemba_gate_result_passed (r));
}
