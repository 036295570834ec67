#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "gemba-classifier.h"
#include "gemba-error.h"
#include "gemba-layers.h"

#define BATCH 16

struct _GembaClassifier {
  GObject parent_instance;
  GembaModel *model;
  GembaNet *net;       /* folded copy */
  GembaPool *pool;
  GMutex lock;
  guint8 *bytes;       /* BATCH preprocessed inputs */
  float *input;
  float *probs;        /* BATCH × classes: nothing is allocated per call */
  guint8 *decoded;     /* classify_files: BATCH decoded inputs, allocated on first use */
};

G_DEFINE_FINAL_TYPE (GembaClassifier, gemba_classifier, G_TYPE_OBJECT)

static void
gemba_classifier_dispose (GObject *object)
{
  GembaClassifier *self = GEMBA_CLASSIFIER (object);

  g_clear_object (&self->model);
  G_OBJECT_CLASS (gemba_classifier_parent_class)->dispose (object);
}

static void
gemba_classifier_finalize (GObject *object)
{
  GembaClassifier *self = GEMBA_CLASSIFIER (object);

  g_clear_pointer (&self->net, gemba_net_free);
  g_clear_pointer (&self->pool, gemba_pool_free);
  g_clear_pointer (&self->bytes, g_free);
  g_clear_pointer (&self->input, gemba_floats_free);
  g_clear_pointer (&self->probs, g_free);
  g_clear_pointer (&self->decoded, g_free);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gemba_classifier_parent_class)->finalize (object);
}

static void
gemba_classifier_class_init (GembaClassifierClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gemba_classifier_dispose;
  object_class->finalize = gemba_classifier_finalize;
}

static void
gemba_classifier_init (GembaClassifier *self)
{
  g_mutex_init (&self->lock);
}

GembaClassifier *
gemba_classifier_new_from_model (GembaModel *model, int n_threads, GError **error)
{
  g_autoptr(GembaClassifier) self = NULL;
  const GembaPreprocess *pp;

  g_return_val_if_fail (GEMBA_IS_MODEL (model), NULL);

  self = g_object_new (GEMBA_TYPE_CLASSIFIER, NULL);
  self->model = g_object_ref (model);
  self->net = gemba_net_new (gemba_model_get_config (model), error);
  if (self->net == NULL)
    return NULL;
  gemba_net_copy_params (self->net, gemba_model_get_net (model));
  gemba_net_fold_batch_norm (self->net);
  self->pool = gemba_pool_new (n_threads);
  pp = gemba_model_get_preprocess (model);
  self->bytes = g_malloc (BATCH * gemba_preprocess_bytes (pp));
  self->input = gemba_floats_new (BATCH * gemba_preprocess_bytes (pp));
  self->probs = g_new (float, (gsize) BATCH * gemba_model_get_n_classes (model));
  return g_steal_pointer (&self);
}

GembaClassifier *
gemba_classifier_new_from_dir (const char *dir, int n_threads, GError **error)
{
  g_autoptr(GembaModel) model = gemba_model_load (dir, error);

  if (model == NULL)
    return NULL;
  return gemba_classifier_new_from_model (model, n_threads, error);
}

int
gemba_classifier_get_n_classes (GembaClassifier *self)
{
  g_return_val_if_fail (GEMBA_IS_CLASSIFIER (self), 0);
  return gemba_model_get_n_classes (self->model);
}

const char *
gemba_classifier_get_class_name (GembaClassifier *self, int index)
{
  g_return_val_if_fail (GEMBA_IS_CLASSIFIER (self), NULL);
  g_return_val_if_fail (index >= 0 && index < gemba_classifier_get_n_classes (self), NULL);
  return gemba_model_get_class_names (self->model)[index];
}

GembaModel *
gemba_classifier_get_model (GembaClassifier *self)
{
  g_return_val_if_fail (GEMBA_IS_CLASSIFIER (self), NULL);
  return self->model;
}

/* Runs @n preprocessed inputs in self->bytes; the lock is held. */
static void
run_batch (GembaClassifier *self, int n, int *verdicts, float *probs)
{
  const GembaPreprocess *pp = gemba_model_get_preprocess (self->model);
  gsize bytes = gemba_preprocess_bytes (pp);
  int k = gemba_classifier_get_n_classes (self);
  const float *logits;
  float *p = self->probs;

  for (int i = 0; i < n; i++)
    gemba_preprocess_normalize (pp, self->bytes + i * bytes, self->input + i * bytes);
  logits = gemba_net_forward (self->net, self->pool, self->input, n, FALSE, 0);
  memcpy (p, logits, sizeof (float) * n * k);
  gemba_softmax (p, n, k);
  for (int i = 0; i < n; i++)
    {
      int best = 0;

      for (int j = 1; j < k; j++)
        if (p[i * k + j] > p[i * k + best])
          best = j;
      verdicts[i] = best;
    }
  if (probs)
    memcpy (probs, p, sizeof (float) * n * k);
}

int
gemba_classifier_classify_rgb (GembaClassifier *self, const guint8 *rgb, int width, int height,
                               int stride, float *probs_out, GError **error)
{
  const GembaPreprocess *pp;
  int verdict = -1;

  g_return_val_if_fail (GEMBA_IS_CLASSIFIER (self), -1);
  g_return_val_if_fail (rgb != NULL, -1);

  pp = gemba_model_get_preprocess (self->model);
  g_mutex_lock (&self->lock);
  if (gemba_preprocess_rgb (pp, rgb, width, height, stride, self->bytes, error))
    run_batch (self, 1, &verdict, probs_out);
  g_mutex_unlock (&self->lock);
  return verdict;
}

int
gemba_classifier_classify_file (GembaClassifier *self, const char *path, float *probs_out,
                                GError **error)
{
  const GembaPreprocess *pp;
  int verdict = -1;

  g_return_val_if_fail (GEMBA_IS_CLASSIFIER (self), -1);
  g_return_val_if_fail (path != NULL, -1);

  pp = gemba_model_get_preprocess (self->model);
  g_mutex_lock (&self->lock);
  if (gemba_preprocess_file (pp, path, self->bytes, error))
    run_batch (self, 1, &verdict, probs_out);
  g_mutex_unlock (&self->lock);
  return verdict;
}

typedef struct {
  const GembaPreprocess *pp;
  const char *const *paths;
  guint8 *bytes;
  GError **errors;
} DecodeJob;

static void
decode_task (gpointer data, int task, int thread)
{
  DecodeJob *job = data;

  gemba_preprocess_file (job->pp, job->paths[task],
                         job->bytes + (gsize) task * gemba_preprocess_bytes (job->pp),
                         &job->errors[task]);
}

guint
gemba_classifier_classify_files (GembaClassifier *self, const char *const *paths, guint n,
                                 int *verdicts, float *probs_out, GError **errors)
{
  const GembaPreprocess *pp;
  gsize bytes;
  int k;
  guint done = 0;
  GError *errs[BATCH] = { NULL };

  g_return_val_if_fail (GEMBA_IS_CLASSIFIER (self), 0);
  g_return_val_if_fail (paths != NULL || n == 0, 0);
  g_return_val_if_fail (verdicts != NULL, 0);

  pp = gemba_model_get_preprocess (self->model);
  bytes = gemba_preprocess_bytes (pp);
  k = gemba_classifier_get_n_classes (self);

  g_mutex_lock (&self->lock);
  if (self->decoded == NULL)
    self->decoded = g_malloc (BATCH * bytes);
  for (guint i0 = 0; i0 < n; i0 += BATCH)
    {
      guint m = MIN (BATCH, n - i0);
      DecodeJob job = { pp, paths + i0, self->decoded, errs };
      int idx[BATCH], v[BATCH];
      const float *p = self->probs;   /* run_batch() leaves the probabilities there */
      int good = 0;

      gemba_pool_run_dynamic (self->pool, (int) m, decode_task, &job);
      for (guint i = 0; i < m; i++)
        {
          verdicts[i0 + i] = -1;
          if (errs[i])
            {
              if (errors)
                errors[i0 + i] = g_steal_pointer (&errs[i]);
              else
                g_clear_error (&errs[i]);
              if (probs_out)
                memset (probs_out + (gsize) (i0 + i) * k, 0, sizeof (float) * k);
              continue;
            }
          if (errors)
            errors[i0 + i] = NULL;
          memcpy (self->bytes + good * bytes, self->decoded + i * bytes, bytes);
          idx[good++] = (int) i;
        }
      if (good == 0)
        continue;
      run_batch (self, good, v, NULL);
      for (int j = 0; j < good; j++)
        {
          verdicts[i0 + idx[j]] = v[j];
          if (probs_out)
            memcpy (probs_out + (gsize) (i0 + idx[j]) * k, p + (gsize) j * k,
                    sizeof (float) * k);
        }
      done += good;
    }
  g_mutex_unlock (&self->lock);
  return done;
}
