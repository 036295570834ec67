/* gemba-drift.c: drift statistics of a set of frames and the test that compares two sets
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-drift"

#include "config.h"

#include <math.h>

#include "gemba-drift.h"

GembaDriftStats *
gemba_drift_stats_new (guint n_classes)
{
  GembaDriftStats *stats = g_new0 (GembaDriftStats, 1);

  stats->n_classes = n_classes;
  stats->class_counts = g_new0 (double, MAX (n_classes, 1));
  return stats;
}

void
gemba_drift_stats_free (GembaDriftStats *stats)
{
  if (stats == NULL)
    return;
  g_free (stats->class_counts);
  g_free (stats);
}

void
gemba_drift_measure (const guint8 *pixels, guint width, guint height, gsize stride, guint bpp,
                     guint r, guint g, guint b, double *brightness, double *contrast)
{
  double sum = 0, sum2 = 0, n = 0;

  for (guint y = 0; y < height; y += 2)
    {
      const guint8 *row = pixels + y * stride;
      for (guint x = 0; x < width; x += 2)
        {
          const guint8 *p = row + (gsize) x * bpp;
          double luma = 0.299 * p[r] + 0.587 * p[g] + 0.114 * p[b];
          sum += luma;
          sum2 += luma * luma;
          n++;
        }
    }
  *brightness = n > 0 ? sum / n : 0;
  *contrast = n > 0 ? sqrt (MAX (0.0, sum2 / n - *brightness * *brightness)) : 0;
}

void
gemba_drift_stats_add (GembaDriftStats *stats, double top_confidence, guint top_class,
                       gboolean uncertain, double brightness, double contrast, int sign)
{
  int bin = (int) (CLAMP (top_confidence, 0.0, 1.0) * GEMBA_DRIFT_BINS);

  stats->n += sign;
  stats->hist[MIN (bin, GEMBA_DRIFT_BINS - 1)] += sign;
  stats->n_uncertain += uncertain ? sign : 0;
  if (top_class < stats->n_classes)
    stats->class_counts[top_class] += sign;
  stats->brightness += sign * brightness;
  stats->brightness2 += sign * brightness * brightness;
  stats->contrast += sign * contrast;
  stats->contrast2 += sign * contrast * contrast;
}

static double
mean_of (double sum, double n)
{
  return n > 0 ? sum / n : 0;
}

static double
std_of (double sum, double sum2, double n)
{
  double mean = mean_of (sum, n);

  return n > 0 ? sqrt (MAX (0.0, sum2 / n - mean * mean)) : 0;
}

static void
add_mean_std (JsonBuilder *b, const char *key, double sum, double sum2, double n)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "mean");
  json_builder_add_double_value (b, mean_of (sum, n));
  json_builder_set_member_name (b, "std");
  json_builder_add_double_value (b, std_of (sum, sum2, n));
  json_builder_end_object (b);
}

void
gemba_drift_stats_to_json (const GembaDriftStats *stats, JsonBuilder *b)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "frames");
  json_builder_add_int_value (b, (gint64) stats->n);
  json_builder_set_member_name (b, "confidence_histogram");
  json_builder_begin_array (b);
  for (guint i = 0; i < GEMBA_DRIFT_BINS; i++)
    json_builder_add_double_value (b, mean_of (stats->hist[i], stats->n));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "uncertain_share");
  json_builder_add_double_value (b, mean_of (stats->n_uncertain, stats->n));
  json_builder_set_member_name (b, "class_rates");
  json_builder_begin_array (b);
  for (guint i = 0; i < stats->n_classes; i++)
    json_builder_add_double_value (b, mean_of (stats->class_counts[i], stats->n));
  json_builder_end_array (b);
  add_mean_std (b, "brightness", stats->brightness, stats->brightness2, stats->n);
  add_mean_std (b, "contrast", stats->contrast, stats->contrast2, stats->n);
  json_builder_end_object (b);
}

static void
read_mean_std (JsonObject *o, double n, double *sum, double *sum2)
{
  double mean = json_object_get_double_member (o, "mean");
  double std = json_object_get_double_member (o, "std");

  *sum = mean * n;
  *sum2 = (std * std + mean * mean) * n;
}

GembaDriftStats *
gemba_drift_stats_from_json (JsonObject *reference, guint n_classes)
{
  GembaDriftStats *stats = gemba_drift_stats_new (n_classes);
  JsonArray *hist = json_object_get_array_member (reference, "confidence_histogram");
  JsonArray *rates = json_object_get_array_member (reference, "class_rates");

  stats->n = json_object_get_int_member (reference, "frames");
  for (guint i = 0; i < GEMBA_DRIFT_BINS; i++)
    stats->hist[i] = json_array_get_double_element (hist, i) * stats->n;
  stats->n_uncertain = json_object_get_double_member (reference, "uncertain_share") * stats->n;
  for (guint i = 0; i < n_classes && i < json_array_get_length (rates); i++)
    stats->class_counts[i] = json_array_get_double_element (rates, i) * stats->n;
  read_mean_std (json_object_get_object_member (reference, "brightness"), stats->n,
                 &stats->brightness, &stats->brightness2);
  read_mean_std (json_object_get_object_member (reference, "contrast"), stats->n,
                 &stats->contrast, &stats->contrast2);
  return stats;
}

/* Population stability index of two distributions given as counts: sum (p - q) ln (p / q),
 * with empty bins counted as 0.0001 so that the logarithm stays finite. */
static double
psi (const double *a, double na, const double *b, double nb, guint n)
{
  double sum = 0;

  if (na <= 0 || nb <= 0)
    return 0;
  for (guint i = 0; i < n; i++)
    {
      double p = MAX (a[i] / na, 1e-4), q = MAX (b[i] / nb, 1e-4);
      sum += (p - q) * log (p / q);
    }
  return sum;
}

static void
add_double (JsonObject *o, const char *key, double value)
{
  json_object_set_double_member (o, key, round (value * 1e4) / 1e4);
}

/* Checks one image statistic: the difference of means in reference standard deviations. */
static void
check_mean (JsonObject *o, GString *shifted, const char *key, double ref_sum, double ref_sum2,
            double ref_n, double sum, double n)
{
  g_autofree char *ref_key = g_strconcat (key, "_reference", NULL);
  g_autofree char *d_key = g_strconcat (key, "_d", NULL);
  double ref_mean = mean_of (ref_sum, ref_n), mean = mean_of (sum, n);
  double d = fabs (mean - ref_mean) / MAX (std_of (ref_sum, ref_sum2, ref_n), GEMBA_DRIFT_MIN_STD);

  add_double (o, key, mean);
  add_double (o, ref_key, ref_mean);
  add_double (o, d_key, d);
  if (d > GEMBA_DRIFT_D_ALARM)
    g_string_append_printf (shifted, "%s%s", shifted->len ? "," : "", key);
}

JsonObject *
gemba_drift_compare (const GembaDriftStats *reference, const GembaDriftStats *window)
{
  JsonObject *o = json_object_new ();
  g_autoptr(GString) shifted = g_string_new (NULL);
  double conf_psi = psi (window->hist, window->n, reference->hist, reference->n,
                         GEMBA_DRIFT_BINS);
  double class_psi = psi (window->class_counts, window->n, reference->class_counts,
                          reference->n, MIN (window->n_classes, reference->n_classes));
  double u[2] = { window->n_uncertain, window->n - window->n_uncertain };
  double ru[2] = { reference->n_uncertain, reference->n - reference->n_uncertain };
  double uncertain_psi = psi (u, window->n, ru, reference->n, 2);

  json_object_set_int_member (o, "frames", (gint64) window->n);
  add_double (o, "confidence_psi", conf_psi);
  if (conf_psi > GEMBA_DRIFT_PSI_ALARM)
    g_string_append (shifted, "confidence");
  add_double (o, "uncertain_share", mean_of (window->n_uncertain, window->n));
  add_double (o, "uncertain_share_reference", mean_of (reference->n_uncertain, reference->n));
  add_double (o, "uncertain_psi", uncertain_psi);
  if (uncertain_psi > GEMBA_DRIFT_PSI_ALARM)
    g_string_append_printf (shifted, "%suncertain", shifted->len ? "," : "");
  add_double (o, "class_psi", class_psi);
  if (class_psi > GEMBA_DRIFT_PSI_ALARM)
    g_string_append_printf (shifted, "%sclasses", shifted->len ? "," : "");
  check_mean (o, shifted, "brightness", reference->brightness, reference->brightness2,
              reference->n, window->brightness, window->n);
  check_mean (o, shifted, "contrast", reference->contrast, reference->contrast2, reference->n,
              window->contrast, window->n);
  json_object_set_string_member (o, "shifted", shifted->str);
  return o;
}
