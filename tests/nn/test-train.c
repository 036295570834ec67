/* Training runs: learning, reproducibility, cancellation, progress, async, fine-tuning.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <math.h>
#include <string.h>

#include "gemba-classifier.h"
#include "gemba-error.h"
#include "gemba-layers.h"
#include "gemba-train.h"
#include "nn-test-data.h"

static const char *const classes3[] = { "horizontal", "vertical", "square", NULL };

typedef struct {
  GPtrArray *images;
  GArray *train;
  GArray *val;
} Data;

static void
data_init (Data *d, int n_train, int n_val, guint64 seed)
{
  GembaRng rng;

  gemba_rng_init (&rng, seed);
  d->images = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_image_free);
  d->train = g_array_new (FALSE, TRUE, sizeof (GembaTrainSample));
  d->val = g_array_new (FALSE, TRUE, sizeof (GembaTrainSample));
  for (int i = 0; i < n_train + n_val; i++)
    {
      GembaTrainSample s = { 0 };

      s.label = i % 3;
      s.image = nn_test_pattern (s.label, 24, &rng);
      s.weight = 1.0f;
      g_ptr_array_add (d->images, (gpointer) s.image);
      g_array_append_val (i < n_train ? d->train : d->val, s);
    }
}

static void
data_clear (Data *d)
{
  g_ptr_array_unref (d->images);
  g_array_unref (d->train);
  g_array_unref (d->val);
}

static void
small_settings (GembaTrainSettings *s)
{
  gemba_train_settings_init (s, GEMBA_ARCH_SMALL_CNN);
  s->net.widths[0] = 8;
  s->net.widths[1] = 16;
  s->net.widths[2] = 32;
  s->net.n_widths = 3;
  gemba_preprocess_init (&s->input, 16);
  s->epochs = 6;
  s->batch_size = 16;
  s->lr = 5e-3f;
  s->threads = 2;
  s->seed = 42;
}

static GembaTrainer *
make_trainer (const GembaTrainSettings *s, Data *d)
{
  GembaTrainer *t = gemba_trainer_new (s, classes3);

  gemba_trainer_set_samples (t, (GembaTrainSample *) (void *) d->train->data, d->train->len,
                             (GembaTrainSample *) (void *) d->val->data, d->val->len);
  return t;
}

typedef struct {
  int reports;
  int epochs_done;
  int last_epoch;
  double last_val_accuracy;
  gboolean monotonic;
  GCancellable *cancel_after;
  int cancel_steps;
  GThread *thread;
  gboolean wrong_thread;
} Progress;

static void
progress_cb (const GembaTrainProgress *p, gpointer user_data)
{
  Progress *pr = user_data;

  pr->reports++;
  if (pr->thread && g_thread_self () != pr->thread)
    pr->wrong_thread = TRUE;
  if (p->epoch < pr->last_epoch)
    pr->monotonic = FALSE;
  pr->last_epoch = p->epoch;
  if (p->epoch_done)
    {
      pr->epochs_done++;
      pr->last_val_accuracy = p->val_accuracy;
      g_assert_cmpfloat (p->images_per_second, >, 0);
      g_assert_cmpfloat (p->eta_seconds, >=, 0);
    }
  if (pr->cancel_after && p->epoch >= 1 && --pr->cancel_steps <= 0)
    g_cancellable_cancel (pr->cancel_after);
}

static void
test_learns (void)
{
  GembaTrainSettings s;
  Data d;
  g_autoptr(GembaTrainer) t = NULL;
  g_autoptr(GembaModel) model = NULL;
  g_autoptr(GError) error = NULL;
  Progress pr = { .monotonic = TRUE };
  JsonObject *training;
  double acc;

  data_init (&d, 150, 60, 1);
  small_settings (&s);
  t = make_trainer (&s, &d);
  model = gemba_trainer_run (t, NULL, progress_cb, &pr, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  g_assert_true (pr.monotonic);
  g_assert_cmpint (pr.epochs_done, ==, 6);
  training = gemba_model_get_training (model);
  acc = json_object_get_double_member (json_object_get_object_member (training, "validation"),
                                       "accuracy");
  g_test_message ("validation accuracy %.3f", acc);
  g_assert_cmpfloat (acc, >=, 0.9);
  g_assert_cmpint (json_array_get_length (json_object_get_array_member (training, "log")), ==, 6);
  /* the settings, augmentation included, are recorded */
  g_assert_true (json_object_has_member (gemba_model_get_settings (model), "augmentation"));
  data_clear (&d);
}

/* Same seed: the same weights, bit for bit. Another seed: different weights. */
static void
test_reproducible (void)
{
  GembaTrainSettings s;
  Data d;
  GembaModel *m[3];
  GembaParam *p0, *p1, *p2;
  guint n0, n1, n2;
  gboolean differs = FALSE;

  data_init (&d, 60, 0, 2);
  small_settings (&s);
  s.epochs = 2;
  for (int i = 0; i < 3; i++)
    {
      g_autoptr(GembaTrainer) t = NULL;

      s.seed = i < 2 ? 7 : 8;
      t = make_trainer (&s, &d);
      m[i] = gemba_trainer_run (t, NULL, NULL, NULL, NULL);
      g_assert_nonnull (m[i]);
    }
  p0 = gemba_net_get_params (gemba_model_get_net (m[0]), &n0);
  p1 = gemba_net_get_params (gemba_model_get_net (m[1]), &n1);
  p2 = gemba_net_get_params (gemba_model_get_net (m[2]), &n2);
  g_assert_cmpuint (n0, ==, n1);
  for (guint i = 0; i < n0; i++)
    {
      g_assert_cmpint (memcmp (p0[i].data, p1[i].data, p0[i].n * sizeof (float)), ==, 0);
      differs |= memcmp (p0[i].data, p2[i].data, p0[i].n * sizeof (float)) != 0;
    }
  g_assert_true (differs);
  for (int i = 0; i < 3; i++)
    g_object_unref (m[i]);
  data_clear (&d);
}

static void
test_cancel (void)
{
  GembaTrainSettings s;
  Data d;
  g_autoptr(GembaTrainer) t = NULL;
  g_autoptr(GembaModel) model = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Progress pr = { .monotonic = TRUE, .cancel_after = cancellable, .cancel_steps = 3 };

  data_init (&d, 90, 30, 3);
  small_settings (&s);
  s.epochs = 50;
  t = make_trainer (&s, &d);
  model = gemba_trainer_run (t, cancellable, progress_cb, &pr, &error);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CANCELLED);
  g_assert_null (model);
  g_assert_cmpint (pr.epochs_done, <, 50);
  data_clear (&d);
}

/* 32 noise images with random labels, no augmentation: learnt by heart. */
static void
test_overfit (void)
{
  GembaTrainSettings s;
  g_autoptr(GPtrArray) images = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_image_free);
  g_autoptr(GArray) train = g_array_new (FALSE, TRUE, sizeof (GembaTrainSample));
  g_autoptr(GembaTrainer) t = NULL;
  g_autoptr(GembaModel) model = NULL;
  g_autoptr(GembaClassifier) cls = NULL;
  g_autoptr(GError) error = NULL;
  GembaRng rng;
  int correct = 0;

  gemba_rng_init (&rng, 5);
  for (int i = 0; i < 32; i++)
    {
      GembaImage *img = gemba_image_new (16, 16);
      GembaTrainSample smp = { 0 };

      for (int k = 0; k < 16 * 16 * 3; k++)
        img->pixels[k] = (guint8) gemba_rng_below (&rng, 256);
      smp.image = img;
      smp.label = (int) gemba_rng_below (&rng, 3);
      g_ptr_array_add (images, img);
      g_array_append_val (train, smp);
    }
  small_settings (&s);
  s.augment.enabled = FALSE;
  s.epochs = 60;
  s.batch_size = 8;
  s.warmup_epochs = 0;
  t = gemba_trainer_new (&s, classes3);
  gemba_trainer_set_samples (t, (GembaTrainSample *) (void *) train->data, train->len, NULL, 0);
  model = gemba_trainer_run (t, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  cls = gemba_classifier_new_from_model (model, 1, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < train->len; i++)
    {
      GembaTrainSample *smp = &g_array_index (train, GembaTrainSample, i);
      int v = gemba_classifier_classify_rgb (cls, smp->image->pixels, 16, 16, 16 * 3, NULL,
                                             &error);

      g_assert_no_error (error);
      correct += v == smp->label;
    }
  g_assert_cmpint (correct, ==, 32);
}

static void
async_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GembaModel **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = gemba_trainer_run_finish (GEMBA_TRAINER (source), result, &error);
  g_assert_no_error (error);
}

static void
test_async (void)
{
  GembaTrainSettings s;
  Data d;
  g_autoptr(GembaTrainer) t = NULL;
  GembaModel *model = NULL;
  Progress pr = { .monotonic = TRUE, .thread = g_thread_self () };

  data_init (&d, 60, 30, 4);
  small_settings (&s);
  s.epochs = 3;
  t = make_trainer (&s, &d);
  gemba_trainer_run_async (t, NULL, progress_cb, &pr, NULL, async_done_cb, &model);
  while (model == NULL)
    g_main_context_iteration (NULL, TRUE);
  /* progress delivered before completion, on this thread */
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
  g_assert_false (pr.wrong_thread);
  g_assert_cmpint (pr.epochs_done, ==, 3);
  g_object_unref (model);
  data_clear (&d);
}

/* Classes are matched by name; a new class gets a new output row. */
static void
test_fine_tune (void)
{
  static const char *const parent_classes[] = { "vertical", "horizontal", NULL };
  GembaTrainSettings s;
  Data d;
  g_autoptr(GembaTrainer) pt = NULL;
  g_autoptr(GembaTrainer) ct = NULL;
  g_autoptr(GembaModel) parent = NULL;
  g_autoptr(GembaModel) child = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) two = g_array_new (FALSE, TRUE, sizeof (GembaTrainSample));
  GembaLayer *pl, *cl;
  GembaNet *pn, *cn;

  data_init (&d, 90, 0, 6);
  /* parent: two classes, in another order */
  for (guint i = 0; i < d.train->len; i++)
    {
      GembaTrainSample smp = g_array_index (d.train, GembaTrainSample, i);

      if (smp.label == 2)
        continue;
      smp.label = smp.label == 0 ? 1 : 0;
      g_array_append_val (two, smp);
    }
  small_settings (&s);
  s.epochs = 2;
  pt = gemba_trainer_new (&s, parent_classes);
  gemba_trainer_set_samples (pt, (GembaTrainSample *) (void *) two->data, two->len, NULL, 0);
  parent = gemba_trainer_run (pt, NULL, NULL, NULL, &error);
  g_assert_no_error (error);

  /* child: a learning rate so small that the weights stay the parent's */
  s.lr = 1e-12f;
  s.epochs = 1;
  s.net.widths[0] = 99; /* ignored: the parent's architecture is used */
  ct = make_trainer (&s, &d);
  gemba_trainer_set_parent (ct, parent);
  child = gemba_trainer_run (ct, NULL, NULL, NULL, &error);
  g_assert_no_error (error);

  pn = gemba_model_get_net (parent);
  cn = gemba_model_get_net (child);
  g_assert_cmpint (gemba_net_get_config (cn)->widths[0], ==, 8);
  g_assert_cmpint (gemba_net_get_config (cn)->n_classes, ==, 3);
  pl = gemba_net_get_layer (pn, gemba_net_get_n_layers (pn) - 1);
  cl = gemba_net_get_layer (cn, gemba_net_get_n_layers (cn) - 1);
  for (int k = 0; k < pl->in_c; k++)
    {
      /* child "horizontal" (0) is parent row 1, child "vertical" (1) is parent row 0 */
      g_assert_cmpfloat_with_epsilon (cl->w[0 * cl->in_c + k], pl->w[1 * pl->in_c + k], 1e-6);
      g_assert_cmpfloat_with_epsilon (cl->w[1 * cl->in_c + k], pl->w[0 * pl->in_c + k], 1e-6);
    }
  /* the first convolution is the parent's */
  g_assert_cmpfloat_with_epsilon (gemba_net_get_layer (cn, 0)->w[3],
                                   gemba_net_get_layer (pn, 0)->w[3], 1e-6);
  g_assert_true (json_object_get_boolean_member (gemba_model_get_training (child),
                                                 "fine-tuned"));
  data_clear (&d);
}

/* Validation accuracy that stops improving ends the run after @patience epochs of the
 * schedule's second half, keeping the best epoch's weights. */
static void
test_early_stopping (void)
{
  GembaTrainSettings s;
  Data d;
  g_autoptr(GembaTrainer) t = NULL;
  g_autoptr(GembaModel) model = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *training;

  data_init (&d, 60, 30, 9);
  small_settings (&s);
  s.epochs = 20;
  s.patience = 2;
  s.lr = 1e-12f; /* nothing is learnt; only the batch-norm statistics move */
  t = make_trainer (&s, &d);
  model = gemba_trainer_run (t, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  training = gemba_model_get_training (model);
  g_assert_true (json_object_get_boolean_member (training, "stopped-early"));
  g_assert_cmpint (json_object_get_int_member (training, "epochs-run"), ==,
                   MAX (json_object_get_int_member (training, "best-epoch"), 20 / 2) + 2);
  g_assert_cmpint (json_object_get_int_member (training, "epochs-run"), <, 20);
  data_clear (&d);
}

/* With weight averaging a model keeps the mean of its weights over the schedule's second half:
 * one epoch averaged is that epoch's weights. Its batch-norm statistics are measured afresh on
 * the training frames: the first batch-norm's running mean is the mean, over those frames, of
 * what the first convolution makes of them. */
static void
test_average_weights (void)
{
  GembaTrainSettings s;
  Data d;
  GembaModel *m[2] = { NULL, NULL };
  g_autoptr(GembaPool) pool = gemba_pool_new (2);
  g_autoptr(GError) error = NULL;
  g_autofree float *input = NULL;
  g_autofree float *running_mean = NULL;
  g_autofree guint8 *bytes = NULL;
  const GembaPreprocess *pp;
  GembaLayer *bn = NULL;
  GembaParam *p0, *p1;
  GembaNet *net;
  guint n0, n1;
  gsize n_in;

  data_init (&d, 60, 0, 11);
  small_settings (&s);
  s.epochs = 2;
  for (int i = 0; i < 2; i++)
    {
      g_autoptr(GembaTrainer) t = NULL;

      s.average_weights = i == 0;
      t = make_trainer (&s, &d);
      m[i] = gemba_trainer_run (t, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
    }
  g_assert_cmpint (json_object_get_int_member (gemba_model_get_training (m[0]),
                                               "averaged-epochs"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (gemba_model_get_training (m[1]),
                                               "averaged-epochs"), ==, 0);
  p0 = gemba_net_get_params (gemba_model_get_net (m[0]), &n0);
  p1 = gemba_net_get_params (gemba_model_get_net (m[1]), &n1);
  g_assert_cmpuint (n0, ==, n1);
  for (guint i = 0; i < n0; i++)
    if (!strstr (p0[i].name, ".running_"))
      g_assert_cmpint (memcmp (p0[i].data, p1[i].data, p0[i].n * sizeof (float)), ==, 0);

  /* the first batch-norm: its statistics against a pass over every training frame at once */
  net = gemba_model_get_net (m[0]);
  for (guint i = 0; i < gemba_net_get_n_layers (net) && !bn; i++)
    if (gemba_net_get_layer (net, i)->kind == GEMBA_LAYER_BATCH_NORM)
      bn = gemba_net_get_layer (net, i);
  g_assert_nonnull (bn);
  running_mean = g_memdup2 (bn->running_mean, sizeof (float) * bn->in_c);
  pp = gemba_model_get_preprocess (m[0]);
  n_in = gemba_preprocess_bytes (pp);
  bytes = g_malloc (n_in);
  input = g_new (float, n_in * d.train->len);
  for (guint i = 0; i < d.train->len; i++)
    {
      const GembaImage *image = g_array_index (d.train, GembaTrainSample, i).image;

      g_assert_true (gemba_preprocess_rgb (pp, image->pixels, (int) image->width,
                                           (int) image->height, (int) image->width * 3, bytes,
                                           &error));
      gemba_preprocess_normalize (pp, bytes, input + i * n_in);
    }
  gemba_net_forward (net, pool, input, (int) d.train->len, TRUE, 0);
  for (int c = 0; c < bn->in_c; c++)
    g_assert_cmpfloat (fabsf (running_mean[c] - bn->save_mean[c]), <=,
                       1e-4f * (1.0f + fabsf (bn->save_mean[c])));

  /* the second half of six epochs */
  {
    g_autoptr(GembaTrainer) t = NULL;
    g_autoptr(GembaModel) model = NULL;

    s.epochs = 6;
    s.average_weights = TRUE;
    t = make_trainer (&s, &d);
    model = gemba_trainer_run (t, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (json_object_get_int_member (gemba_model_get_training (model),
                                                 "averaged-epochs"), ==, 3);
  }
  g_object_unref (m[0]);
  g_object_unref (m[1]);
  data_clear (&d);
}

static void
test_bad_input (void)
{
  GembaTrainSettings s;
  g_autoptr(GembaTrainer) t = NULL;
  g_autoptr(GError) error = NULL;
  GembaTrainSample bad[] = {
    { .path = "/nonexistent/frame.jpg", .label = 0, .weight = 1 },
    { .path = "/nonexistent/frame2.jpg", .label = 1, .weight = 1 },
  };
  GembaTrainSample bad_label[] = { { .path = "x.jpg", .label = 7, .weight = 1 } };

  small_settings (&s);
  t = gemba_trainer_new (&s, classes3);
  gemba_trainer_set_samples (t, bad, 2, NULL, 0);
  g_assert_null (gemba_trainer_run (t, NULL, NULL, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "/nonexistent/frame"));
  g_clear_error (&error);

  gemba_trainer_set_samples (t, bad_label, 1, NULL, 0);
  g_assert_null (gemba_trainer_run (t, NULL, NULL, NULL, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_clear_error (&error);

  gemba_trainer_set_samples (t, NULL, 0, NULL, 0);
  g_assert_null (gemba_trainer_run (t, NULL, NULL, NULL, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
}

static void
test_settings_json (void)
{
  GembaTrainSettings s, r;
  g_autoptr(JsonObject) o = NULL;
  g_autoptr(GError) error = NULL;

  gemba_train_settings_init (&s, GEMBA_ARCH_MOBILENET_V2);
  s.net.width_mult = 0.5f;
  s.augment.flip_h = TRUE;
  s.seed = G_GUINT64_CONSTANT (18446744073709551557);
  o = gemba_train_settings_to_json (&s);
  g_assert_true (gemba_train_settings_from_json (&r, o, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.net.arch, ==, GEMBA_ARCH_MOBILENET_V2);
  g_assert_cmpfloat_with_epsilon (r.net.width_mult, 0.5f, 1e-6);
  g_assert_true (r.augment.enabled);
  g_assert_true (r.augment.flip_h);
  g_assert_false (r.augment.flip_v);
  g_assert_cmpuint (r.seed, ==, s.seed);
  g_assert_cmpint (r.optimizer, ==, GEMBA_OPTIMIZER_SGD);
  g_assert_cmpint (r.input.width, ==, 224);
  g_assert_true (r.average_weights);
  /* settings written before weight averaging existed kept the best epoch */
  json_object_remove_member (o, "average-weights");
  g_assert_true (gemba_train_settings_from_json (&r, o, &error));
  g_assert_false (r.average_weights);
}

/* Exposure scales every channel by one gain, light colour each channel by its own; settings
 * written before these existed read back as off, so their models retrain as they were. */
/* The augmentation's batched normals are gemba_rng_normal()'s, the same stream of draws; a
 * double rounded to float may land on the other side now and then, never further. */
static void
test_rng_normals (void)
{
  const gsize n = 1000000;
  g_autofree float *batch = g_new (float, n);
  GembaRng a, b;
  gsize differ = 0;
  double sum = 0, sum2 = 0;

  gemba_rng_init (&a, 7);
  gemba_rng_init (&b, 7);
  gemba_rng_normals (&a, batch, 3);
  gemba_rng_normals (&a, batch + 3, n - 3);
  for (gsize i = 0; i < n; i++)
    {
      float one = gemba_rng_normal (&b);

      if (batch[i] != one)
        {
          g_assert_cmpfloat (fabsf (batch[i] - one), <=, 2e-7f * MAX (1.0f, fabsf (one)));
          differ++;
        }
      sum += batch[i];
      sum2 += (double) batch[i] * batch[i];
    }
  g_assert_cmpuint (differ, <, n / 100000);
  g_assert_cmpuint (gemba_rng_next (&a), ==, gemba_rng_next (&b));
  g_assert_cmpfloat (fabs (sum / n), <, 0.01);
  g_assert_cmpfloat (fabs (sum2 / n - 1), <, 0.01);
}

static void
test_augment_lighting (void)
{
  GembaPreprocess pp;
  GembaAugment aug;
  guint8 in[4 * 4 * 3];
  float out[4 * 4 * 3];
  double lo = 1, hi = 0;
  gboolean channels_differ = FALSE;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;

  gemba_preprocess_init (&pp, 4);
  pp.mean[0] = pp.mean[1] = pp.mean[2] = 0;
  pp.std[0] = pp.std[1] = pp.std[2] = 1;
  memset (in, 100, sizeof in);

  gemba_augment_init (&aug);
  g_assert_cmpfloat (aug.exposure, >, 0);
  g_assert_cmpfloat (aug.colour, >, 0);
  aug.brightness = aug.contrast = aug.gamma = aug.noise = aug.shift = aug.scale = 0;
  aug.colour = 0;
  aug.exposure = 0.5f;
  for (guint64 seed = 1; seed <= 40; seed++)
    {
      GembaRng rng;

      gemba_rng_init (&rng, seed);
      gemba_augment_apply (&aug, &pp, in, out, &rng);
      for (guint i = 1; i < G_N_ELEMENTS (out); i++)
        g_assert_cmpfloat_with_epsilon (out[i], out[0], 1e-6);
      g_assert_cmpfloat (out[0], >=, 50 / 255.0 - 1e-6);
      g_assert_cmpfloat (out[0], <=, 150 / 255.0 + 1e-6);
      lo = MIN (lo, out[0]);
      hi = MAX (hi, out[0]);
    }
  /* the gain really varies, over most of its ±50 % */
  g_assert_cmpfloat (lo, <, 80 / 255.0);
  g_assert_cmpfloat (hi, >, 120 / 255.0);

  aug.exposure = 0;
  aug.colour = 0.3f;
  for (guint64 seed = 1; seed <= 10; seed++)
    {
      GembaRng rng;

      gemba_rng_init (&rng, seed);
      gemba_augment_apply (&aug, &pp, in, out, &rng);
      for (guint i = 3; i < G_N_ELEMENTS (out); i++)
        g_assert_cmpfloat_with_epsilon (out[i], out[i % 3], 1e-6);
      for (int c = 0; c < 3; c++)
        g_assert_cmpfloat (fabs (out[c] - 100 / 255.0), <=, 30 / 255.0 + 1e-6);
      channels_differ |= fabs (out[0] - out[1]) > 1e-3 || fabs (out[1] - out[2]) > 1e-3;
    }
  g_assert_true (channels_differ);

  /* written and read back; absent (older settings) reads as off */
  node = gemba_augment_to_json (&aug);
  gemba_augment_init (&aug);
  g_assert_true (gemba_augment_from_json (&aug, node, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (aug.exposure, ==, 0);
  g_assert_cmpfloat_with_epsilon (aug.colour, 0.3f, 1e-6);
  json_object_remove_member (json_node_get_object (node), "colour");
  g_assert_true (gemba_augment_from_json (&aug, node, &error));
  g_assert_cmpfloat (aug.colour, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/nn/train/learns", test_learns);
  g_test_add_func ("/nn/train/reproducible", test_reproducible);
  g_test_add_func ("/nn/train/cancel", test_cancel);
  g_test_add_func ("/nn/train/overfit", test_overfit);
  g_test_add_func ("/nn/train/async", test_async);
  g_test_add_func ("/nn/train/fine-tune", test_fine_tune);
  g_test_add_func ("/nn/train/early-stopping", test_early_stopping);
  g_test_add_func ("/nn/train/average-weights", test_average_weights);
  g_test_add_func ("/nn/train/bad-input", test_bad_input);
  g_test_add_func ("/nn/train/settings-json", test_settings_json);
  g_test_add_func ("/nn/augment/lighting", test_augment_lighting);
  g_test_add_func ("/nn/augment/normals", test_rng_normals);

  return g_test_run ();
}
