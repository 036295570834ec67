#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <math.h>

#include "gemba-metrics.h"

GembaMetrics *
gemba_metrics_new (int n_classes)
{
  GembaMetrics *m;

  g_return_val_if_fail (n_classes > 0, NULL);
  m = g_new0 (GembaMetrics, 1);
  m->n_classes = n_classes;
  m->confusion = g_new0 (guint, (gsize) n_classes * n_classes);
  return m;
}

void
gemba_metrics_free (GembaMetrics *m)
{
  if (m == NULL)
    return;
  g_free (m->confusion);
  g_free (m);
}

void
gemba_metrics_add (GembaMetrics *m, int truth, int prediction)
{
  g_return_if_fail (truth >= 0 && truth < m->n_classes);
  g_return_if_fail (prediction >= 0 && prediction < m->n_classes);
  m->confusion[(gsize) truth * m->n_classes + prediction]++;
  m->total++;
}

guint
gemba_metrics_count (const GembaMetrics *m, int truth, int prediction)
{
  return m->confusion[(gsize) truth * m->n_classes + prediction];
}

double
gemba_metrics_accuracy (const GembaMetrics *m)
{
  guint correct = 0;

  if (m->total == 0)
    return 0.0;
  for (int c = 0; c < m->n_classes; c++)
    correct += gemba_metrics_count (m, c, c);
  return (double) correct / m->total;
}

double
gemba_metrics_precision (const GembaMetrics *m, int cls)
{
  guint predicted = 0;

  for (int t = 0; t < m->n_classes; t++)
    predicted += gemba_metrics_count (m, t, cls);
  return predicted ? (double) gemba_metrics_count (m, cls, cls) / predicted : NAN;
}

double
gemba_metrics_recall (const GembaMetrics *m, int cls)
{
  guint actual = 0;

  for (int p = 0; p < m->n_classes; p++)
    actual += gemba_metrics_count (m, cls, p);
  return actual ? (double) gemba_metrics_count (m, cls, cls) / actual : NAN;
}

JsonNode *
gemba_metrics_to_json (const GembaMetrics *m, const char *const *class_names)
{
  JsonObject *o = json_object_new ();
  JsonArray *classes = json_array_new ();
  JsonArray *confusion = json_array_new ();

  json_object_set_double_member (o, "accuracy", gemba_metrics_accuracy (m));
  json_object_set_int_member (o, "total", m->total);
  for (int c = 0; c < m->n_classes; c++)
    {
      JsonObject *co = json_object_new ();
      JsonArray *row = json_array_new ();
      double p = gemba_metrics_precision (m, c), r = gemba_metrics_recall (m, c);
      guint support = 0;

      for (int k = 0; k < m->n_classes; k++)
        {
          support += gemba_metrics_count (m, c, k);
          json_array_add_int_element (row, gemba_metrics_count (m, c, k));
        }
      if (class_names)
        json_object_set_string_member (co, "name", class_names[c]);
      if (isnan (p))
        json_object_set_null_member (co, "precision");
      else
        json_object_set_double_member (co, "precision", p);
      if (isnan (r))
        json_object_set_null_member (co, "recall");
      else
        json_object_set_double_member (co, "recall", r);
      json_object_set_int_member (co, "support", support);
      json_array_add_object_element (classes, co);
      json_array_add_array_element (confusion, row);
    }
  json_object_set_array_member (o, "classes", classes);
  json_object_set_array_member (o, "confusion", confusion);
  return json_node_init_object (json_node_alloc (), o);
}
