/* End to end on a real public data set: the handwritten digits that ship with Debian's
 * python3-sklearn (1797 8×8 images). Gemba trains the same small CNN with the same settings
 * as make-digits-reference.py did with PyTorch, and must reach PyTorch's test accuracy
 * within one percentage point (both the mean over the same three seeds).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <math.h>
#include <string.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "gemba-classifier.h"
#include "gemba-image.h"
#include "gemba-train.h"

#define DIGITS "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"

typedef struct {
  GPtrArray *images;
  GArray *labels;
} Digits;

static gboolean
load_digits (Digits *d, GError **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (DIGITS);
  g_autoptr(GFileInputStream) raw = g_file_read (file, NULL, error);
  g_autoptr(GZlibDecompressor) gz = NULL;
  g_autoptr(GInputStream) in = NULL;
  g_autoptr(GDataInputStream) data = NULL;
  char *line;

  if (raw == NULL)
    return FALSE;
  gz = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  in = g_converter_input_stream_new (G_INPUT_STREAM (raw), G_CONVERTER (gz));
  data = g_data_input_stream_new (in);
  d->images = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_image_free);
  d->labels = g_array_new (FALSE, FALSE, sizeof (int));
  while ((line = g_data_input_stream_read_line (data, NULL, NULL, error)))
    {
      g_auto(GStrv) fields = g_strsplit (line, ",", -1);
      GembaImage *img;
      int label;

      g_free (line);
      g_assert_cmpuint (g_strv_length (fields), ==, 65);
      img = gemba_image_new (8, 8);
      for (int i = 0; i < 64; i++)
        {
          /* 0–16 to bytes, exactly as make-digits-reference.py */
          double v = g_ascii_strtod (fields[i], NULL);
          guint8 b = (guint8) floor (v * 255.0 / 16.0 + 0.5);

          img->pixels[i * 3] = img->pixels[i * 3 + 1] = img->pixels[i * 3 + 2] = b;
        }
      label = (int) g_ascii_strtod (fields[64], NULL);
      g_ptr_array_add (d->images, img);
      g_array_append_val (d->labels, label);
    }
  return error == NULL || *error == NULL;
}

static void
test_digits (void)
{
  static const char *const classes[] = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *ref_path = g_test_build_filename (G_TEST_DIST, "nn", "reference",
                                                     "digits.json", NULL);
  g_autoptr(GArray) train = g_array_new (FALSE, TRUE, sizeof (GembaTrainSample));
  g_autoptr(GArray) test_idx = g_array_new (FALSE, FALSE, sizeof (guint));
  JsonObject *ref;
  JsonArray *widths, *seeds;
  GembaTrainSettings s;
  Digits d = { NULL, NULL };
  double torch_acc, sum = 0;

  if (!g_file_test (DIGITS, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("python3-sklearn is not installed (" DIGITS ")");
      return;
    }
  g_assert_true (load_digits (&d, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (d.images->len, ==, 1797);

  g_assert_true (json_parser_load_from_file (parser, ref_path, &error));
  ref = json_node_get_object (json_parser_get_root (parser));
  torch_acc = json_object_get_double_member (ref, "accuracy");

  /* every fifth image is a test image */
  for (guint i = 0; i < d.images->len; i++)
    if (i % 5 == 0)
      g_array_append_val (test_idx, i);
    else
      {
        GembaTrainSample smp = { 0 };

        smp.image = g_ptr_array_index (d.images, i);
        smp.label = g_array_index (d.labels, int, i);
        smp.weight = 1.0f;
        g_array_append_val (train, smp);
      }
  g_assert_cmpint (train->len, ==, json_object_get_int_member (ref, "train-images"));
  g_assert_cmpint (test_idx->len, ==, json_object_get_int_member (ref, "test-images"));

  gemba_train_settings_init (&s, GEMBA_ARCH_SMALL_CNN);
  widths = json_object_get_array_member (ref, "widths");
  s.net.n_widths = (int) json_array_get_length (widths);
  for (int i = 0; i < s.net.n_widths; i++)
    s.net.widths[i] = (int) json_array_get_int_element (widths, i);
  s.net.depth = 1;
  gemba_preprocess_init (&s.input, 8);
  s.input.channels = 1;
  s.input.mean[0] = json_object_get_double_member (ref, "mean");
  s.input.std[0] = json_object_get_double_member (ref, "std");
  s.augment.enabled = FALSE;
  s.epochs = (int) json_object_get_int_member (ref, "epochs");
  s.batch_size = (int) json_object_get_int_member (ref, "batch-size");
  s.lr = json_object_get_double_member (ref, "learning-rate");
  s.optimizer = GEMBA_OPTIMIZER_ADAMW;
  s.weight_decay = json_object_get_double_member (ref, "weight-decay");
  s.warmup_epochs = json_object_get_double_member (ref, "warmup-epochs");
  s.threads = 2;

  seeds = json_object_get_array_member (ref, "seeds");
  for (guint k = 0; k < json_array_get_length (seeds); k++)
    {
      g_autoptr(GembaTrainer) t = NULL;
      g_autoptr(GembaModel) model = NULL;
      g_autoptr(GembaClassifier) cls = NULL;
      int correct = 0;
      gint64 t0 = g_get_monotonic_time ();

      s.seed = (guint64) json_array_get_int_element (seeds, k);
      t = gemba_trainer_new (&s, classes);
      gemba_trainer_set_samples (t, (GembaTrainSample *) (void *) train->data, train->len, NULL,
                                 0);
      model = gemba_trainer_run (t, NULL, NULL, NULL, &error);
      g_assert_no_error (error);

      /* the public inference path: batch-norm folded, bytes in, verdict out */
      cls = gemba_classifier_new_from_model (model, 2, &error);
      g_assert_no_error (error);
      for (guint i = 0; i < test_idx->len; i++)
        {
          guint idx = g_array_index (test_idx, guint, i);
          GembaImage *img = g_ptr_array_index (d.images, idx);
          int v = gemba_classifier_classify_rgb (cls, img->pixels, 8, 8, 24, NULL, &error);

          g_assert_no_error (error);
          correct += v == g_array_index (d.labels, int, idx);
        }
      g_test_message ("seed %" G_GUINT64_FORMAT ": test accuracy %.4f (%.1f s)", s.seed,
                      (double) correct / test_idx->len, (g_get_monotonic_time () - t0) / 1e6);
      sum += (double) correct / test_idx->len;
    }
  sum /= json_array_get_length (seeds);
  g_test_message ("Gemba %.4f, PyTorch %.4f", sum, torch_acc);
  g_assert_cmpfloat (fabs (sum - torch_acc), <=, 0.01);

  g_ptr_array_unref (d.images);
  g_array_unref (d.labels);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/nn/digits/end-to-end", test_digits);

  return g_test_run ();
}
