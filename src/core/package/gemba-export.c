#define G_LOG_DOMAIN "gemba-package"

#include "config.h"

#include <inttypes.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "gemba-drift.h"
#include "gemba-error.h"
#include "gemba-export.h"
#include "gemba-gate.h"
#include "gemba-image.h"
#include "gemba-metrics.h"
#include "gemba-model.h"
#include "gemba-onnx.h"
#include "gemba-package-private.h"
#include "gemba-store.h"
#include "gemba-store-models.h"
#include "gemba-store-team.h"

/* What one model makes of the labeled frames of the locked test split. */
typedef struct
{
  GembaMetrics *metrics;
  int *verdicts;            /* per test frame, model output index, -1 unreadable */
  float *probs;             /* per test frame, n_classes probabilities */
} Evaluation;

typedef struct
{
  GembaStore *store;
  GPtrArray *frames;        /* labeled test frames (GembaFrame) */
  char **paths;             /* their files */
  char **truth;             /* their labels' class names */
} TestSet;

static void
test_set_clear (TestSet *t)
{
  g_clear_pointer (&t->frames, g_ptr_array_unref);
  g_clear_pointer (&t->paths, g_strfreev);
  g_clear_pointer (&t->truth, g_strfreev);
}

static void
evaluation_clear (Evaluation *e)
{
  g_clear_pointer (&e->metrics, gemba_metrics_free);
  g_clear_pointer (&e->verdicts, g_free);
  g_clear_pointer (&e->probs, g_free);
}

static char *
class_name (GembaStore *store, gint64 class_id)
{
  g_autoptr(GembaClass) klass = class_id ? gemba_store_get_class (store, class_id, NULL) : NULL;

  return klass ? g_strdup (klass->name) : NULL;
}

static gboolean
load_test_set (GembaStore *store, TestSet *t, GError **error)
{
  GembaFrameQuery query = { .filter = GEMBA_FILTER_SPLIT, .split = GEMBA_SPLIT_TEST };
  g_autoptr(GPtrArray) all = gemba_store_list_frames (store, &query, 0, -1, error);
  g_autoptr(GPtrArray) paths = g_ptr_array_new ();
  g_autoptr(GPtrArray) truth = g_ptr_array_new ();

  if (all == NULL)
    return FALSE;
  t->store = store;
  t->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_frame_free);
  for (guint i = 0; i < all->len; i++)
    {
      GembaFrame *frame = g_ptr_array_index (all, i);
      if (frame->label_class_id == 0)
        continue;
      g_ptr_array_add (t->frames, gemba_frame_copy (frame));
      g_ptr_array_add (paths, gemba_store_dup_frame_path (store, frame));
      g_ptr_array_add (truth, class_name (store, frame->label_class_id));
    }
  g_ptr_array_add (paths, NULL);
  g_ptr_array_add (truth, NULL);
  t->paths = (char **) g_ptr_array_free (g_steal_pointer (&paths), FALSE);
  t->truth = (char **) g_ptr_array_free (g_steal_pointer (&truth), FALSE);
  return TRUE;
}

static gboolean
evaluate (GembaClassifier *classifier, TestSet *t, Evaluation *e, GError **error)
{
  GembaModel *model = gemba_classifier_get_model (classifier);
  guint n = t->frames->len;
  g_autofree GError **errors = g_new0 (GError *, MAX (n, 1));

  e->metrics = gemba_metrics_new (gemba_model_get_n_classes (model));
  e->verdicts = g_new0 (int, MAX (n, 1));
  e->probs = g_new0 (float, (gsize) MAX (n, 1) * gemba_model_get_n_classes (model));
  gemba_classifier_classify_files (classifier, (const char * const *) t->paths, n, e->verdicts,
                                   e->probs, errors);
  for (guint i = 0; i < n; i++)
    {
      int truth = gemba_model_find_class (model, t->truth[i]);
      if (errors[i])
        {
          g_propagate_prefixed_error (error, errors[i], _("test frame %s: "),
                                      ((GembaFrame *) g_ptr_array_index (t->frames, i))->sha256);
          errors[i] = NULL;
          for (guint j = i + 1; j < n; j++)
            g_clear_error (&errors[j]);
          return FALSE;
        }
      /* A frame of a class the model does not know counts against it. */
      gemba_metrics_add (e->metrics, truth < 0 ? e->verdicts[i] == 0 : truth, e->verdicts[i]);
    }
  return TRUE;
}

/* --- the gate --------------------------------------------------------------------------- */

static double
gate_setting (GembaStore *store, const char *key, double fallback)
{
  g_autofree char *text = gemba_store_dup_setting (store, key);
  char *end = NULL;
  double v;

  if (text == NULL)
    return fallback;
  v = g_ascii_strtod (text, &end);
  if (end == text || *end != '\0' || !(v >= 0 && v <= 1))
    return fallback;
  return v;
}

static gboolean
verdict_is (GembaModel *model, int verdict, const char *truth)
{
  return truth && verdict >= 0 && verdict < gemba_model_get_n_classes (model) &&
         g_strcmp0 (gemba_model_get_class_names (model)[verdict], truth) == 0;
}

/* Classifies the corrections with both models and adds them to @result. */
static gboolean
gate_corrections (GembaStore *store, GembaClassifier *candidate, GembaClassifier *production,
                  GembaGateResult *result, GError **error)
{
  g_autoptr(GArray) ids = gemba_store_list_corrections (store, error);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_frame_free);
  GembaClassifier *models[2] = { candidate, production };
  /* Two buffers: g_autofree on an array would free only the first. */
  g_autofree int *candidate_verdicts = g_new0 (int, MAX (ids ? ids->len : 0, 1));
  g_autofree int *production_verdicts = g_new0 (int, MAX (ids ? ids->len : 0, 1));
  int *verdicts[2] = { candidate_verdicts, production_verdicts };

  if (!ids)
    return FALSE;
  for (guint i = 0; i < ids->len; i++)
    {
      GembaFrame *frame = gemba_store_get_frame (store, g_array_index (ids, gint64, i), error);
      if (frame == NULL)
        return FALSE;
      g_ptr_array_add (paths, gemba_store_dup_frame_path (store, frame));
      g_ptr_array_add (frames, frame);
    }
  for (int m = 0; m < 2; m++)
    {
      g_autofree GError **errors = g_new0 (GError *, MAX (ids->len, 1));
      gemba_classifier_classify_files (models[m], (const char * const *) paths->pdata,
                                       paths->len, verdicts[m], NULL, errors);
      for (guint i = 0; i < ids->len; i++)
        if (errors[i])
          {
            g_propagate_prefixed_error (error, errors[i], _("corrected frame %s: "),
                                        ((GembaFrame *) frames->pdata[i])->sha256);
            for (guint j = i + 1; j < ids->len; j++)
              g_clear_error (&errors[j]);
            return FALSE;
          }
    }
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = frames->pdata[i];
      GembaModel *cm = gemba_classifier_get_model (candidate);
      g_autofree char *truth = class_name (store, frame->label_class_id);
      int said = verdicts[0][i];
      gemba_gate_add_correction (result, frame->sha256, truth,
                                 said >= 0 ? gemba_model_get_class_names (cm)[said] : NULL,
                                 verdict_is (gemba_classifier_get_model (production),
                                             verdicts[1][i], truth),
                                 verdict_is (cm, said, truth));
    }
  return TRUE;
}

/* Runs the gate; fills @failures (human-readable lines), @gate (for the manifest) and, when
 * there is a production model to compare with, *@result_out. */
static gboolean
run_gate (GembaStore *store, GembaModelRecord *record, GembaClassifier *candidate,
          TestSet *test, Evaluation *cand, const GembaExportOptions *options,
          GPtrArray *failures, JsonBuilder *gate, GembaGateResult **result_out, GError **error)
{
  gint64 production_id = gemba_store_get_production_model_id (store);
  GembaModel *model = gemba_classifier_get_model (candidate);
  g_autoptr(GembaGateResult) result = NULL;
  g_autoptr(GembaClassifier) production = NULL;
  g_auto(GStrv) lines = NULL;
  g_autofree char *dir = NULL;
  Evaluation prod = { 0 };
  gboolean ok = FALSE;

  json_builder_begin_object (gate);
  json_builder_set_member_name (gate, "production_model");
  if (production_id == 0 || production_id == record->id)
    {
      json_builder_add_null_value (gate);
      json_builder_set_member_name (gate, "checked");
      json_builder_add_boolean_value (gate, FALSE);
      json_builder_set_member_name (gate, "note");
      json_builder_add_string_value (gate, production_id == 0
                                             ? "no production model to compare with"
                                             : "this model is the production model");
      return TRUE;
    }
  json_builder_add_int_value (gate, production_id);
  json_builder_set_member_name (gate, "checked");
  json_builder_add_boolean_value (gate, TRUE);

  dir = gemba_store_dup_model_dir (store, production_id);
  if (!(production = gemba_classifier_new_from_dir (dir, options->n_threads, error)) ||
      !evaluate (production, test, &prod, error))
    goto out;

  json_builder_set_member_name (gate, "production_accuracy");
  json_builder_add_double_value (gate, gemba_metrics_accuracy (prod.metrics));
  json_builder_set_member_name (gate, "candidate_accuracy");
  json_builder_add_double_value (gate, gemba_metrics_accuracy (cand->metrics));

  /* Paired verdicts, by class name: the two models may order their outputs differently. */
  result = gemba_gate_result_new (gemba_model_get_class_names (model),
                                  gate_setting (store, "gate.alpha", GEMBA_GATE_DEFAULT_ALPHA),
                                  gate_setting (store, "gate.min_effect",
                                                GEMBA_GATE_DEFAULT_MIN_EFFECT));
  for (guint i = 0; i < test->frames->len; i++)
    gemba_gate_add_test_frame (result, ((GembaFrame *) test->frames->pdata[i])->sha256,
                               gemba_model_find_class (model, test->truth[i]),
                               verdict_is (gemba_classifier_get_model (production),
                                           prod.verdicts[i], test->truth[i]),
                               verdict_is (model, cand->verdicts[i], test->truth[i]));
  if (!gate_corrections (store, candidate, production, result, error))
    goto out;
  gemba_gate_result_finish (result);
  gemba_gate_result_add_json (result, gate);
  lines = gemba_gate_result_dup_failures (result);
  for (guint i = 0; lines[i]; i++)
    g_ptr_array_add (failures, g_strdup (lines[i]));
  if (result_out)
    *result_out = g_steal_pointer (&result);
  ok = TRUE;

out:
  evaluation_clear (&prod);
  return ok;
}

/* --- manifest and model card ------------------------------------------------------------ */

static void
add_string (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_json_text (JsonBuilder *b, const char *key, const char *text)
{
  g_autoptr(JsonNode) node = text ? json_from_string (text, NULL) : NULL;

  json_builder_set_member_name (b, key);
  if (node)
    json_builder_add_value (b, g_steal_pointer (&node));
  else
    {
      json_builder_begin_object (b);
      json_builder_end_object (b);
    }
}

static char *
iso8601 (gint64 usec)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
  return g_date_time_format_iso8601 (dt);
}

static void
add_counts (JsonBuilder *b, GembaStore *store, GError **error)
{
  static const struct { GembaSplit split; const char *name; } splits[] = {
    { GEMBA_SPLIT_TRAIN, "train" }, { GEMBA_SPLIT_VAL, "val" }, { GEMBA_SPLIT_TEST, "test" },
  };

  json_builder_begin_object (b);
  for (guint s = 0; s < G_N_ELEMENTS (splits); s++)
    {
      g_autoptr(GArray) counts = gemba_store_count_labels_per_class (store, splits[s].split,
                                                                     NULL);
      json_builder_set_member_name (b, splits[s].name);
      json_builder_begin_object (b);
      for (guint i = 0; counts && i < counts->len; i++)
        {
          GembaClassCount *c = &g_array_index (counts, GembaClassCount, i);
          g_autofree char *name = class_name (store, c->class_id);
          if (name == NULL)
            continue;
          json_builder_set_member_name (b, name);
          json_builder_add_int_value (b, c->count);
        }
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
}

static double
read_fraction (GembaStore *store, const char *key, double fallback)
{
  g_autofree char *text = gemba_store_dup_setting (store, key);
  char *end = NULL;
  double v;

  if (text == NULL)
    return fallback;
  v = g_ascii_strtod (text, &end);
  return end != text && *end == '\0' && v >= 0 && v <= 1 ? v : fallback;
}

static double
class_threshold (GembaStore *store, const char *name)
{
  g_autofree char *key = g_strconcat ("package.threshold.", name, NULL);

  return read_fraction (store, key, read_fraction (store, "package.threshold", 0.5));
}

/* The drift reference (gemba-drift.h) of the locked test split: the candidate's top
 * confidence, top class and uncertain share (top below its class's threshold), and each
 * frame's brightness and contrast. */
static void
add_reference (JsonBuilder *b, GembaStore *store, GembaModel *model, TestSet *test,
               Evaluation *cand)
{
  guint n_classes = gemba_model_get_n_classes (model);
  const char * const *classes = gemba_model_get_class_names (model);
  g_autoptr(GembaDriftStats) stats = gemba_drift_stats_new (n_classes);
  g_autofree double *thresholds = g_new (double, n_classes);

  for (guint k = 0; k < n_classes; k++)
    thresholds[k] = class_threshold (store, classes[k]);
  for (guint i = 0; i < test->frames->len; i++)
    {
      g_autoptr(GembaImage) image = gemba_image_load (test->paths[i], NULL);
      int top = cand->verdicts[i];
      double conf, brightness, contrast;

      if (image == NULL || top < 0 || (guint) top >= n_classes)
        continue;
      conf = cand->probs[(gsize) i * n_classes + top];
      gemba_drift_measure (image->pixels, image->width, image->height, image->width * 3, 3,
                           0, 1, 2, &brightness, &contrast);
      gemba_drift_stats_add (stats, conf, top, conf < thresholds[top], brightness, contrast, 1);
    }
  if (stats->n < 1)
    return;
  json_builder_set_member_name (b, "reference");
  gemba_drift_stats_to_json (stats, b);
}

static JsonObject *
make_manifest (GembaStore *store, GembaModelRecord *record, GembaModel *model,
               const char *name, const char *version, const GembaExportOptions *options,
               TestSet *test, Evaluation *cand, JsonNode *gate, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GembaModelRecord) parent = NULL;
  g_autofree char *created = iso8601 (record->created_at);
  g_autofree char *exported = iso8601 (g_get_real_time ());
  g_autofree char *parent_name = NULL;
  const GembaNetConfig *config = gemba_model_get_config (model);
  const GembaPreprocess *pp = gemba_model_get_preprocess (model);
  const char * const *classes = gemba_model_get_class_names (model);
  GembaStats stats;

  if (!gemba_store_get_stats (store, &stats, error))
    return NULL;
  if (record->parent_id && (parent = gemba_store_get_model (store, record->parent_id, NULL)))
    parent_name = g_strdup_printf ("model %" PRId64 " (%s)", parent->id, parent->name);

  json_builder_begin_object (b);
  add_string (b, "format", GEMBA_PACKAGE_FORMAT);
  json_builder_set_member_name (b, "format_version");
  json_builder_add_int_value (b, GEMBA_PACKAGE_FORMAT_VERSION);
  add_string (b, "gemba_version", PACKAGE_VERSION);

  json_builder_set_member_name (b, "model");
  json_builder_begin_object (b);
  add_string (b, "name", name);
  add_string (b, "version", version);
  add_string (b, "parent", parent_name);
  json_builder_set_member_name (b, "project_model");
  json_builder_add_int_value (b, record->id);
  add_string (b, "trained_by", record->author);
  add_string (b, "exported_by", gemba_store_get_author (store));
  add_string (b, "created", created);
  add_string (b, "exported", exported);
  add_string (b, "weights_sha256", record->weights_sha256);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "classes");
  json_builder_begin_array (b);
  for (guint i = 0; classes[i]; i++)
    json_builder_add_string_value (b, classes[i]);
  json_builder_end_array (b);
  /* The verdict is the most probable class; a line flags a verdict whose probability is
   * below its class's threshold for a person to look at. Project settings
   * "package.threshold.<class>", else "package.threshold", else 0.5. */
  json_builder_set_member_name (b, "thresholds");
  json_builder_begin_array (b);
  for (guint i = 0; classes[i]; i++)
    json_builder_add_double_value (b, class_threshold (store, classes[i]));
  json_builder_end_array (b);
  add_string (b, "thresholds_meaning", "below its class's threshold, a verdict should go to a "
                                       "person for review");

  json_builder_set_member_name (b, "input");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "width");
  json_builder_add_int_value (b, pp->width);
  json_builder_set_member_name (b, "height");
  json_builder_add_int_value (b, pp->height);
  json_builder_set_member_name (b, "channels");
  json_builder_add_int_value (b, pp->channels);
  add_string (b, "color", pp->channels == 1 ? "grey (0.299 R + 0.587 G + 0.114 B)" : "rgb");
  add_string (b, "layout", "nchw (model.onnx); Gemba runs the same values in nhwc");
  add_string (b, "resize", pp->resize == GEMBA_RESIZE_CENTER_CROP ? "center-crop" : "stretch");
  json_builder_set_member_name (b, "crop");
  if (pp->crop_w > 0)
    {
      json_builder_begin_array (b);
      json_builder_add_int_value (b, pp->crop_x);
      json_builder_add_int_value (b, pp->crop_y);
      json_builder_add_int_value (b, pp->crop_w);
      json_builder_add_int_value (b, pp->crop_h);
      json_builder_end_array (b);
    }
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "scale");
  json_builder_add_double_value (b, 1.0 / 255.0);
  json_builder_set_member_name (b, "mean");
  json_builder_begin_array (b);
  for (int c = 0; c < pp->channels; c++)
    json_builder_add_double_value (b, pp->mean[c]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "std");
  json_builder_begin_array (b);
  for (int c = 0; c < pp->channels; c++)
    json_builder_add_double_value (b, pp->std[c]);
  json_builder_end_array (b);
  add_string (b, "recipe", "crop (when set), resize to width × height, value × scale, then "
                           "(value − mean) / std per channel");
  json_builder_end_object (b);

  json_builder_set_member_name (b, "architecture");
  json_builder_begin_object (b);
  add_string (b, "name", gemba_arch_to_string (config->arch));
  json_builder_set_member_name (b, "widths");
  json_builder_begin_array (b);
  for (int i = 0; i < config->n_widths; i++)
    json_builder_add_int_value (b, config->widths[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "depth");
  json_builder_add_int_value (b, config->depth);
  json_builder_set_member_name (b, "width_mult");
  json_builder_add_double_value (b, config->width_mult);
  json_builder_set_member_name (b, "dropout");
  json_builder_add_double_value (b, config->dropout);
  json_builder_set_member_name (b, "batch_norm");
  json_builder_add_string_value (b, "folded into the convolutions at inference and in ONNX");
  json_builder_end_object (b);

  json_builder_set_member_name (b, "dataset");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "revision");
  json_builder_add_int_value (b, record->dataset_revision);
  json_builder_set_member_name (b, "revision_at_export");
  json_builder_add_int_value (b, stats.revision);
  json_builder_set_member_name (b, "trained_on");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "train");
  json_builder_add_int_value (b, record->n_train);
  json_builder_set_member_name (b, "val");
  json_builder_add_int_value (b, record->n_val);
  json_builder_set_member_name (b, "test");
  json_builder_add_int_value (b, record->n_test);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "counts");
  add_counts (b, store, error);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "metrics");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "test");
  json_builder_add_value (b, gemba_metrics_to_json (cand->metrics, classes));
  json_builder_end_object (b);

  json_builder_set_member_name (b, "training");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "seed");
  json_builder_add_int_value (b, (gint64) record->seed);
  json_builder_set_member_name (b, "duration_s");
  json_builder_add_double_value (b, record->duration);
  add_json_text (b, "settings", record->settings);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "gate");
  json_builder_add_value (b, json_node_copy (gate));
  add_reference (b, store, model, test, cand);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  return json_object_ref (json_node_get_object (root));
}

static char *
make_model_card (GembaModel *model, JsonObject *manifest, Evaluation *cand,
                 GPtrArray *failures, GembaGateResult *gate, const GembaExportOptions *options)
{
  JsonObject *m = json_object_get_object_member (manifest, "model");
  JsonObject *dataset = json_object_get_object_member (manifest, "dataset");
  JsonObject *counts = json_object_get_object_member (dataset, "counts");
  const GembaPreprocess *pp = gemba_model_get_preprocess (model);
  const char * const *classes = gemba_model_get_class_names (model);
  g_autofree char *list = g_strjoinv (", ", (char **) classes);
  GString *s = g_string_new (NULL);
  const char *splits[] = { "train", "val", "test" };
  int n = gemba_model_get_n_classes (model);
  gboolean any_limit = FALSE;

  g_string_append_printf (s, "# %s %s\n\n", json_object_get_string_member (m, "name"),
                          json_object_get_string_member (m, "version"));
  g_string_append_printf (s, "## What it detects\n\nEach frame gets one verdict of %d: %s. "
                          "The model looks at the %s frame scaled to %d × %d pixels (%s).\n\n",
                          n, list, pp->crop_w > 0 ? "cropped" : "whole", pp->width, pp->height,
                          pp->channels == 1 ? "grey" : "colour");

  g_string_append (s, "## Data\n\nLabeled frames per class and split at export (data set "
                      "revision ");
  g_string_append_printf (s, "%" PRId64 "; the model was trained at revision %"
                          PRId64 "):\n\n| class |",
                          json_object_get_int_member (dataset, "revision_at_export"),
                          json_object_get_int_member (dataset, "revision"));
  for (guint i = 0; i < G_N_ELEMENTS (splits); i++)
    g_string_append_printf (s, " %s |", splits[i]);
  g_string_append (s, "\n|---|---:|---:|---:|\n");
  for (int k = 0; k < n; k++)
    {
      g_string_append_printf (s, "| %s |", classes[k]);
      for (guint i = 0; i < G_N_ELEMENTS (splits); i++)
        {
          JsonObject *split = json_object_get_object_member (counts, splits[i]);
          g_string_append_printf (s, " %" PRId64 " |",
                                  split && json_object_has_member (split, classes[k])
                                    ? json_object_get_int_member (split, classes[k]) : 0);
        }
      g_string_append_c (s, '\n');
    }

  g_string_append_printf (s, "\n## How well\n\nOn the locked test split (%u frames): accuracy "
                          "%.1f %%.\n\n| class | precision | recall | frames |\n"
                          "|---|---:|---:|---:|\n", cand->metrics->total,
                          100 * gemba_metrics_accuracy (cand->metrics));
  for (int k = 0; k < n; k++)
    {
      guint support = 0;
      double p = gemba_metrics_precision (cand->metrics, k);
      double r = gemba_metrics_recall (cand->metrics, k);
      for (int j = 0; j < n; j++)
        support += gemba_metrics_count (cand->metrics, k, j);
      char ptext[32] = "—", rtext[32] = "—";
      if (!isnan (p))
        g_snprintf (ptext, sizeof ptext, "%.1f %%", 100 * p);
      if (!isnan (r))
        g_snprintf (rtext, sizeof rtext, "%.1f %%", 100 * r);
      g_string_append_printf (s, "| %s | %s | %s | %u |\n", classes[k], ptext, rtext, support);
    }

  g_string_append (s, "\n## Known limits\n\n");
  for (int k = 0; k < n; k++)
    {
      guint support = 0;
      double r = gemba_metrics_recall (cand->metrics, k);
      for (int j = 0; j < n; j++)
        support += gemba_metrics_count (cand->metrics, k, j);
      if (support < 30)
        {
          g_string_append_printf (s, "- “%s” has only %u test frames: its figures are rough.\n",
                                  classes[k], support);
          any_limit = TRUE;
        }
      if (!isnan (r) && r < 0.9)
        {
          g_string_append_printf (s, "- “%s” is missed in %.0f %% of its test frames.\n",
                                  classes[k], 100 * (1 - r));
          any_limit = TRUE;
        }
    }
  g_string_append (s, "- It only knows the classes above: anything else gets the nearest "
                      "one. It has seen only frames from this project's cameras and lighting; "
                      "a new camera, lens or light needs new labeled frames.\n");
  if (!any_limit)
    g_string_append (s, "- No class has fewer than 30 test frames or a recall below 90 %.\n");

  if (gate)
    {
      g_autofree char *described = gemba_gate_result_describe (gate);
      g_string_append_printf (s, "\n## Against production\n\nFrame by frame on the locked "
                              "test split (fixed: production wrong, this model right; broken: "
                              "the reverse; one-sided exact McNemar test, refused at p < %.3g "
                              "when the loss is at least %.1f %% of the frames):\n\n```\n%s```\n",
                              gate->alpha, 100 * gate->min_effect, described);
    }
  if (options->force)
    {
      g_string_append_printf (s, "\n## Exported despite the regression gate\n\nReason given by "
                              "%s: %s\n\nThe gate found:\n\n",
                              json_object_get_string_member (m, "exported_by"),
                              options->reason);
      for (guint i = 0; i < failures->len; i++)
        g_string_append_printf (s, "- %s\n", (char *) g_ptr_array_index (failures, i));
      if (failures->len == 0)
        g_string_append (s, "- nothing (the export was forced anyway)\n");
    }
  return g_string_free (s, FALSE);
}

/* --- export ---------------------------------------------------------------------------- */

static gboolean
has_text (const char *s)
{
  for (; s && *s; s++)
    if (!g_ascii_isspace (*s))
      return TRUE;
  return FALSE;
}

gboolean
gemba_package_check_gate (GembaStore *store, gint64 model_id, int n_threads, char ***failures,
                          GembaGateResult **result, GError **error)
{
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaClassifier) candidate = NULL;
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonBuilder) gate = json_builder_new ();
  g_autofree char *dir = NULL;
  GembaExportOptions options = { .n_threads = n_threads };
  TestSet test = { 0 };
  Evaluation cand = { 0 };
  gboolean ok = FALSE;

  g_return_val_if_fail (store != NULL, FALSE);
  g_return_val_if_fail (failures != NULL, FALSE);

  if (!(record = gemba_store_get_model (store, model_id, error)))
    return FALSE;
  dir = gemba_store_dup_model_dir (store, model_id);
  if (!(candidate = gemba_classifier_new_from_dir (dir, n_threads, error)))
    return FALSE;
  if (load_test_set (store, &test, error) && evaluate (candidate, &test, &cand, error) &&
      run_gate (store, record, candidate, &test, &cand, &options, lines, gate, result, error))
    {
      g_ptr_array_add (lines, NULL);
      *failures = (char **) g_ptr_array_free (g_steal_pointer (&lines), FALSE);
      ok = TRUE;
    }
  evaluation_clear (&cand);
  test_set_clear (&test);
  return ok;
}

gboolean
gemba_package_export (GembaStore *store, gint64 model_id, const char *path,
                      const GembaExportOptions *options, GError **error)
{
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaClassifier) candidate = NULL;
  g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonBuilder) gate = json_builder_new ();
  g_autoptr(JsonNode) gate_node = NULL;
  g_autoptr(GembaGateResult) gate_result = NULL;
  g_autoptr(JsonObject) manifest = NULL;
  g_autoptr(GBytes) weights = NULL;
  g_autoptr(GBytes) onnx = NULL;
  g_autoptr(GembaNet) onnx_net = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *name = NULL;
  g_autofree char *version = NULL;
  g_autofree char *card = NULL;
  g_autofree char *detail = NULL;
  g_autofree char *graph_name = NULL;
  GembaModel *model;
  TestSet test = { 0 };
  Evaluation cand = { 0 };
  gboolean ok = FALSE;

  g_return_val_if_fail (store != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (options != NULL && options->key != NULL, FALSE);

  if (options->force && !has_text (options->reason))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("a forced export needs a written reason (--reason \"…\")"));
      return FALSE;
    }
  /* A read-only project (an archive, a share) exports; only a forced export, which the audit
   * trail must record, needs to write to it. */
  if (options->force && !gemba_store_check_writable (store, error))
    {
      g_prefix_error (error, _("a forced export is recorded in the project's audit trail: "));
      return FALSE;
    }
  /* In a team project the server lets only engineers write the export's audit entry; ask
   * before the work rather than refuse after it. */
  if (!gemba_store_require_role (store, GEMBA_ROLE_ENGINEER, _("exporting a package"), error))
    return FALSE;
  if (!(record = gemba_store_get_model (store, model_id, error)))
    return FALSE;
  dir = gemba_store_dup_model_dir (store, model_id);
  if (!(candidate = gemba_classifier_new_from_dir (dir, options->n_threads, error)))
    return FALSE;
  model = gemba_classifier_get_model (candidate);

  if (!load_test_set (store, &test, error) || !evaluate (candidate, &test, &cand, error) ||
      !run_gate (store, record, candidate, &test, &cand, options, failures, gate, &gate_result,
                 error))
    goto out;

  json_builder_set_member_name (gate, "failures");
  json_builder_begin_array (gate);
  for (guint i = 0; i < failures->len; i++)
    json_builder_add_string_value (gate, g_ptr_array_index (failures, i));
  json_builder_end_array (gate);
  json_builder_set_member_name (gate, "forced");
  json_builder_add_boolean_value (gate, options->force);
  add_string (gate, "reason", options->force ? options->reason : NULL);
  json_builder_end_object (gate);
  gate_node = json_builder_get_root (gate);

  if (failures->len > 0 && !options->force)
    {
      g_autoptr(GString) message = g_string_new (NULL);
      g_string_append_printf (message, _("model %" PRId64 " does not pass the "
                                         "regression gate against production model %"
                                         PRId64 "; export refused:"), model_id,
                              gemba_store_get_production_model_id (store));
      for (guint i = 0; i < failures->len; i++)
        g_string_append_printf (message, "\n  - %s", (char *) g_ptr_array_index (failures, i));
      g_string_append (message, _("\nFix the model, or export anyway with --force --reason "
                                  "\"…\" (recorded in the audit trail and the model card)."));
      g_set_error_literal (error, GEMBA_ERROR, GEMBA_ERROR_REFUSED, message->str);
      goto out;
    }

  name = options->name ? g_strdup (options->name) : gemba_store_dup_name (store);
  version = options->version ? g_strdup (options->version)
                             : g_strdup_printf ("%" PRId64, model_id);
  if (!(manifest = make_manifest (store, record, model, name, version, options, &test, &cand,
                                  gate_node, error)))
    goto out;
  card = make_model_card (model, manifest, &cand, failures, gate_result, options);
  if (options->gate_result)
    *options->gate_result = NULL;

  weights = gemba_model_serialize_weights (model);
  graph_name = g_strdup_printf ("%s %s", name, version);
  if (!(onnx = gemba_onnx_export (gemba_model_get_net (model), graph_name,
                                  gemba_model_get_class_names (model), error)))
    goto out;
  {
    g_autoptr(JsonBuilder) b = json_builder_new ();
    g_autoptr(JsonNode) root = NULL;
    json_builder_begin_object (b);
    add_string (b, "package", path);
    add_string (b, "version", version);
    add_string (b, "key_id", gemba_secret_key_get_id (options->key));
    json_builder_set_member_name (b, "forced");
    json_builder_add_boolean_value (b, options->force);
    add_string (b, "reason", options->force ? options->reason : NULL);
    json_builder_set_member_name (b, "gate_failures");
    json_builder_begin_array (b);
    for (guint i = 0; i < failures->len; i++)
      json_builder_add_string_value (b, g_ptr_array_index (failures, i));
    json_builder_end_array (b);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    detail = json_to_string (root, FALSE);
  }
  /* The audit entry and the package go together: the entry is written first (the server
   * refuses it to whoever may not export) and committed once the package is in place. */
  {
    g_autofree char *subject = g_strdup_printf ("model %" PRId64, model_id);
    gboolean audited = !gemba_store_is_read_only (store);

    if (audited && !gemba_store_begin_batch (store, error))
      goto out;
    if (audited &&
        !gemba_store_audit (store, options->force ? "export-forced" : "export", subject, detail,
                            error))
      {
        gemba_store_rollback_batch (store);
        goto out;
      }
    if (!gemba_package_write (path, manifest, weights, onnx, card, options->key, error))
      {
        if (audited)
          gemba_store_rollback_batch (store);
        goto out;
      }
    if (audited && !gemba_store_commit_batch (store, error))
      {
        g_unlink (path);
        g_prefix_error (error, _("%s: removed again, since its audit entry could not be "
                                 "written: "), path);
        goto out;
      }
  }
  if (options->gate_result)
    *options->gate_result = g_steal_pointer (&gate_result);
  ok = TRUE;

out:
  evaluation_clear (&cand);
  test_set_clear (&test);
  return ok;
}

/* --- production ------------------------------------------------------------------------- */

GembaModel *
gemba_package_get_model (GembaPackage *package, GError **error)
{
  JsonObject *manifest = gemba_package_get_manifest (package);
  JsonObject *input = json_object_get_object_member (manifest, "input");
  JsonObject *arch = json_object_get_object_member (manifest, "architecture");
  const char *name = gemba_package_get_name (package);
  const char * const *classes = gemba_package_get_classes (package);
  g_autoptr(GembaModel) model = NULL;
  GembaNetConfig config;
  GembaPreprocess pp;
  GembaArch kind;
  JsonNode *node;
  JsonArray *array;

  if (!gemba_arch_from_string (json_object_get_string_member (arch, "name"), &kind))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: architecture “%s” is unknown to this Gemba"), name,
                   json_object_get_string_member (arch, "name"));
      return NULL;
    }
  if (!_gemba_package_manifest_preprocess (input, &pp, name, error))
    return NULL;
  gemba_net_config_init (&config, kind, g_strv_length ((char **) classes));
  config.input_w = pp.width;
  config.input_h = pp.height;
  config.input_c = pp.channels;
  /* clamped, not truncated, to an int: the network builder refuses what is out of range */
  /* "widths" is optional (a manifest without it is valid): no critical when it is absent */
  if ((node = json_object_get_member (arch, "widths")) && JSON_NODE_HOLDS_ARRAY (node) &&
      (array = json_node_get_array (node)))
    {
      config.n_widths = MIN (json_array_get_length (array), GEMBA_NET_MAX_WIDTHS);
      for (int i = 0; i < config.n_widths; i++)
        config.widths[i] = (int) CLAMP (json_array_get_int_element (array, i), 0, G_MAXINT);
    }
  if ((node = json_object_get_member (arch, "depth")) && JSON_NODE_HOLDS_VALUE (node))
    config.depth = (int) CLAMP (json_node_get_int (node), 0, G_MAXINT);
  if ((node = json_object_get_member (arch, "width_mult")) && JSON_NODE_HOLDS_VALUE (node))
    config.width_mult = json_node_get_double (node);
  if ((node = json_object_get_member (arch, "dropout")) && JSON_NODE_HOLDS_VALUE (node))
    config.dropout = json_node_get_double (node);

  if (!(model = gemba_model_new (&config, &pp, classes, 0, error)))
    {
      g_prefix_error (error, "%s: ", name);
      return NULL;
    }
  if (!gemba_model_deserialize_weights (model, gemba_package_get_member (package,
                                                                         GEMBA_PACKAGE_WEIGHTS),
                                        name, error))
    return NULL;
  return g_steal_pointer (&model);
}

GembaClassifier *
gemba_package_classifier_load (const char *path, GembaTrust *trust, GError **error)
{
  g_autoptr(GembaPackage) package = NULL;
  g_autoptr(GembaModel) model = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (trust != NULL, NULL);

  if (!(package = gemba_package_load (path, trust, error)) ||
      !(model = gemba_package_get_model (package, error)))
    return NULL;
  return gemba_classifier_new_from_model (model, 0, error);
}
