#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gi18n-lib.h>

#include "gemba-augment.h"
#include "gemba-error.h"
#include "gemba-image.h"

void
gemba_preprocess_init (GembaPreprocess *pp, int size)
{
  static const float mean[3] = { 0.485f, 0.456f, 0.406f };
  static const float std[3] = { 0.229f, 0.224f, 0.225f };

  memset (pp, 0, sizeof *pp);
  pp->width = pp->height = size;
  pp->channels = 3;
  pp->resize = GEMBA_RESIZE_STRETCH;
  memcpy (pp->mean, mean, sizeof mean);
  memcpy (pp->std, std, sizeof std);
}

static JsonNode *
floats_node (const float *v, int n)
{
  JsonArray *a = json_array_new ();

  for (int i = 0; i < n; i++)
    json_array_add_double_element (a, v[i]);
  return json_node_init_array (json_node_alloc (), a);
}

JsonNode *
gemba_preprocess_to_json (const GembaPreprocess *pp)
{
  JsonObject *o = json_object_new ();

  json_object_set_int_member (o, "width", pp->width);
  json_object_set_int_member (o, "height", pp->height);
  json_object_set_string_member (o, "colour", pp->channels == 1 ? "grey" : "rgb");
  json_object_set_string_member (o, "resize",
                                 pp->resize == GEMBA_RESIZE_CENTER_CROP ? "center-crop" : "stretch");
  if (pp->crop_w > 0)
    {
      JsonArray *crop = json_array_new ();

      json_array_add_int_element (crop, pp->crop_x);
      json_array_add_int_element (crop, pp->crop_y);
      json_array_add_int_element (crop, pp->crop_w);
      json_array_add_int_element (crop, pp->crop_h);
      json_object_set_array_member (o, "crop", crop);
    }
  else
    json_object_set_null_member (o, "crop");
  json_object_set_member (o, "mean", floats_node (pp->mean, pp->channels));
  json_object_set_member (o, "std", floats_node (pp->std, pp->channels));
  json_object_set_string_member (o, "range", "0-1");
  return json_node_init_object (json_node_alloc (), o);
}

static gboolean
read_floats (JsonObject *o, const char *name, float *out, int n)
{
  JsonArray *a;

  if (!json_object_has_member (o, name)
      || !JSON_NODE_HOLDS_ARRAY (json_object_get_member (o, name)))
    return FALSE;
  a = json_object_get_array_member (o, name);
  if ((int) json_array_get_length (a) != n)
    return FALSE;
  for (int i = 0; i < n; i++)
    {
      JsonNode *v = json_array_get_element (a, i);

      if (!JSON_NODE_HOLDS_VALUE (v) || (json_node_get_value_type (v) != G_TYPE_DOUBLE
                                         && json_node_get_value_type (v) != G_TYPE_INT64))
        return FALSE;
      out[i] = (float) json_node_get_double (v);
    }
  return TRUE;
}

static gboolean
invalid_field (GError **error, const char *source, const char *field, const char *expected)
{
  if (source)
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                 /* Translators: "washer.gemba: the field “input.crop” must be …" */
                 _("%s: the field “%s” must be %s"), source, field, expected);
  else
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("the field “%s” must be %s"),
                 field, expected);
  return FALSE;
}

static gboolean
invalid_crop (GError **error, const char *source)
{
  g_autofree char *expected =
    g_strdup_printf (_("null or [x, y, width, height] with x, y ≥ 0, width, height ≥ 1 and "
                       "x + width, y + height ≤ %d"), GEMBA_PREPROCESS_MAX_FRAME_SIDE);

  return invalid_field (error, source, "input.crop", expected);
}

/* An integer member that fits an int, or @fallback when absent. */
static gboolean
get_int (JsonObject *o, const char *name, int fallback, int *out)
{
  JsonNode *node = json_object_get_member (o, name);
  gint64 v;

  if (node == NULL)
    {
      *out = fallback;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  v = json_node_get_int (node);
  if (v < G_MININT || v > G_MAXINT)
    return FALSE;
  *out = (int) v;
  return TRUE;
}

gboolean
_gemba_preprocess_crop_from_json (GembaPreprocess *pp, JsonNode *node, const char *source,
                                  GError **error)
{
  JsonArray *crop;
  gint64 v[4];

  pp->crop_x = pp->crop_y = pp->crop_w = pp->crop_h = 0;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) != 4)
    return invalid_crop (error, source);
  crop = json_node_get_array (node);
  for (guint i = 0; i < 4; i++)
    {
      JsonNode *e = json_array_get_element (crop, i);

      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64)
        return invalid_crop (error, source);
      v[i] = json_node_get_int (e);
      /* a value an int cannot hold is refused here; the rest in gemba_preprocess_validate() */
      if (v[i] < 0 || v[i] > GEMBA_PREPROCESS_MAX_FRAME_SIDE)
        return invalid_crop (error, source);
    }
  pp->crop_x = (int) v[0];
  pp->crop_y = (int) v[1];
  pp->crop_w = (int) v[2];
  pp->crop_h = (int) v[3];
  if (pp->crop_w == 0 && pp->crop_h == 0 && pp->crop_x == 0 && pp->crop_y == 0)
    return invalid_crop (error, source);   /* "no crop" is written null, never as zeros */
  return TRUE;
}

gboolean
gemba_preprocess_validate (const GembaPreprocess *pp, const char *source, GError **error)
{
  g_autofree char *side = g_strdup_printf (_("an integer from 1 to %d"),
                                           GEMBA_PREPROCESS_MAX_INPUT_SIDE);

  g_return_val_if_fail (pp != NULL, FALSE);

  if (pp->width < 1 || pp->width > GEMBA_PREPROCESS_MAX_INPUT_SIDE)
    return invalid_field (error, source, "input.width", side);
  if (pp->height < 1 || pp->height > GEMBA_PREPROCESS_MAX_INPUT_SIDE)
    return invalid_field (error, source, "input.height", side);
  if (pp->channels != 1 && pp->channels != 3)
    return invalid_field (error, source, "input.channels", _("1 (grey) or 3 (RGB)"));
  if (pp->resize != GEMBA_RESIZE_STRETCH && pp->resize != GEMBA_RESIZE_CENTER_CROP)
    return invalid_field (error, source, "input.resize", _("“stretch” or “center-crop”"));
  /* No crop is all zeros; a crop lies inside the largest frame, with no sum that overflows:
   * each term is checked before it is subtracted from the bound. */
  if (pp->crop_x != 0 || pp->crop_y != 0 || pp->crop_w != 0 || pp->crop_h != 0)
    {
      if (pp->crop_x < 0 || pp->crop_y < 0 || pp->crop_w < 1 || pp->crop_h < 1
          || pp->crop_x > GEMBA_PREPROCESS_MAX_FRAME_SIDE
          || pp->crop_y > GEMBA_PREPROCESS_MAX_FRAME_SIDE
          || pp->crop_w > GEMBA_PREPROCESS_MAX_FRAME_SIDE - pp->crop_x
          || pp->crop_h > GEMBA_PREPROCESS_MAX_FRAME_SIDE - pp->crop_y)
        return invalid_crop (error, source);
    }
  for (int c = 0; c < pp->channels; c++)
    {
      if (!isfinite (pp->mean[c]) || fabsf (pp->mean[c]) > 1e6f)
        return invalid_field (error, source, "input.mean",
                              _("finite numbers from -1000000 to 1000000, one per channel"));
      if (!isfinite (pp->std[c]) || !(pp->std[c] >= 1e-12f) || pp->std[c] > 1e6f)
        return invalid_field (error, source, "input.std",
                              _("finite numbers from 1e-12 to 1000000, one per channel"));
    }
  return TRUE;
}

gboolean
gemba_preprocess_from_json (GembaPreprocess *pp, JsonNode *node, GError **error)
{
  JsonObject *o;
  const char *colour, *resize;

  gemba_preprocess_init (pp, 128);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    goto bad;
  o = json_node_get_object (node);
  if (!get_int (o, "width", 0, &pp->width))
    return invalid_field (error, NULL, "input.width", _("an integer"));
  if (!get_int (o, "height", 0, &pp->height))
    return invalid_field (error, NULL, "input.height", _("an integer"));
  colour = json_object_get_string_member_with_default (o, "colour", "rgb");
  resize = json_object_get_string_member_with_default (o, "resize", "stretch");
  if (g_str_equal (colour, "rgb"))
    pp->channels = 3;
  else if (g_str_equal (colour, "grey"))
    pp->channels = 1;
  else
    return invalid_field (error, NULL, "input.colour", _("“rgb” or “grey”"));
  if (g_str_equal (resize, "stretch"))
    pp->resize = GEMBA_RESIZE_STRETCH;
  else if (g_str_equal (resize, "center-crop"))
    pp->resize = GEMBA_RESIZE_CENTER_CROP;
  else
    return invalid_field (error, NULL, "input.resize", _("“stretch” or “center-crop”"));
  if (!_gemba_preprocess_crop_from_json (pp, json_object_get_member (o, "crop"), NULL, error))
    return FALSE;
  if (!read_floats (o, "mean", pp->mean, pp->channels))
    return invalid_field (error, NULL, "input.mean", _("an array of numbers, one per channel"));
  if (!read_floats (o, "std", pp->std, pp->channels))
    return invalid_field (error, NULL, "input.std", _("an array of numbers, one per channel"));
  return gemba_preprocess_validate (pp, NULL, error);

bad:
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
               _("The input description (size, crop, colour, normalisation) is invalid"));
  return FALSE;
}

gsize
gemba_preprocess_bytes (const GembaPreprocess *pp)
{
  return (gsize) pp->width * pp->height * pp->channels;
}

/* Resizes a packed RGB image (already cropped) into @out. */
static void
fit (const GembaPreprocess *pp, GembaImage *img, guint8 *out)
{
  g_autoptr(GembaImage) region = NULL;
  g_autoptr(GembaImage) sized = NULL;
  GembaImage *src = img;
  gsize n = (gsize) pp->width * pp->height;

  if (pp->resize == GEMBA_RESIZE_CENTER_CROP)
    {
      /* the largest centred rectangle with the input's aspect ratio */
      guint cw = img->width, ch = img->height;

      if ((guint64) img->width * pp->height > (guint64) img->height * pp->width)
        cw = MAX (1, (guint) ((guint64) img->height * pp->width / pp->height));
      else
        ch = MAX (1, (guint) ((guint64) img->width * pp->height / pp->width));
      if (cw != img->width || ch != img->height)
        src = region = gemba_image_crop (img, (img->width - cw) / 2, (img->height - ch) / 2,
                                         cw, ch);
    }
  if (src->width != (guint) pp->width || src->height != (guint) pp->height)
    src = sized = gemba_image_resize (src, pp->width, pp->height);

  if (pp->channels == 3)
    memcpy (out, src->pixels, n * 3);
  else
    for (gsize i = 0; i < n; i++)
      {
        const guint8 *p = src->pixels + 3 * i;

        out[i] = (guint8) ((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
      }
}

gboolean
gemba_preprocess_rgb (const GembaPreprocess *pp, const guint8 *rgb, int width, int height,
                      int stride, guint8 *out, GError **error)
{
  int x0 = 0, y0 = 0, w = width, h = height;
  g_autoptr(GembaImage) img = NULL;

  g_return_val_if_fail (rgb != NULL && out != NULL, FALSE);

  if (width <= 0 || height <= 0 || stride < 3 * width)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("Invalid image buffer (%d×%d, %d bytes per row)"), width, height, stride);
      return FALSE;
    }
  if (pp->crop_w > 0)
    {
      /* overflow-safe: no sum of two values that came from a file */
      if (pp->crop_x < 0 || pp->crop_y < 0 || pp->crop_w < 1 || pp->crop_h < 1
          || pp->crop_x > width || pp->crop_y > height
          || pp->crop_w > width - pp->crop_x || pp->crop_h > height - pp->crop_y)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                       _("The model’s region of interest (%d,%d %d×%d) lies outside the "
                         "%d×%d frame"),
                       pp->crop_x, pp->crop_y, pp->crop_w, pp->crop_h, width, height);
          return FALSE;
        }
      x0 = pp->crop_x;
      y0 = pp->crop_y;
      w = pp->crop_w;
      h = pp->crop_h;
    }
  if (w == pp->width && h == pp->height && pp->channels == 3)
    {
      /* already the model's size (a camera set up for it): fit() would only copy */
      for (int y = 0; y < h; y++)
        memcpy (out + (gsize) y * w * 3, rgb + (gsize) (y0 + y) * stride + (gsize) x0 * 3,
                (gsize) w * 3);
      return TRUE;
    }
  img = gemba_image_new (w, h);
  for (int y = 0; y < h; y++)
    memcpy (img->pixels + (gsize) y * w * 3, rgb + (gsize) (y0 + y) * stride + (gsize) x0 * 3,
            (gsize) w * 3);
  fit (pp, img, out);
  return TRUE;
}

gboolean
gemba_preprocess_file (const GembaPreprocess *pp, const char *path, guint8 *out, GError **error)
{
  g_autoptr(GembaImage) img = NULL;
  GembaPreprocess scaled;
  guint denom;
  guint64 reserved;
  gboolean ok;

  /* A full decode up to GEMBA_IMAGE_DECODE_MAX_PIXELS: a camera frame given to
   * gemba_preprocess_rgb() then gives exactly the same input as its saved (lossless) file, in
   * training and in production. A larger JPEG is decoded scaled down (its region of interest
   * scaled with it); other larger images are refused rather than taking gigabytes. */
  img = gemba_image_load_bounded (path, &denom, &reserved, error);
  if (img == NULL)
    return FALSE;
  if (denom > 1 && pp->crop_w > 0 && pp->crop_h > 0 && pp->crop_x >= 0 && pp->crop_y >= 0)
    {
      scaled = *pp;
      scaled.crop_x = pp->crop_x / (int) denom;
      scaled.crop_y = pp->crop_y / (int) denom;
      scaled.crop_w = MAX (1, pp->crop_w / (int) denom);
      scaled.crop_h = MAX (1, pp->crop_h / (int) denom);
      pp = &scaled;
    }
  ok = gemba_preprocess_rgb (pp, img->pixels, img->width, img->height, img->width * 3, out,
                             error);
  g_clear_pointer (&img, gemba_image_free);
  gemba_image_budget_release (reserved);
  return ok;
}

void
gemba_preprocess_normalize (const GembaPreprocess *pp, const guint8 *in, float *out)
{
  gsize n = (gsize) pp->width * pp->height;
  const int C = pp->channels;
  float scale[3], shift[3];

  for (int c = 0; c < C; c++)
    {
      scale[c] = 1.0f / (255.0f * pp->std[c]);
      shift[c] = -pp->mean[c] / pp->std[c];
    }
  if (C == 3)
    {
      /* 48 floats (16 pixels) at a time with the channel pattern laid out: a loop the compiler
       * vectorises, the same arithmetic */
      float sc[48], sh[48];
      gsize i = 0;

      for (int j = 0; j < 48; j++)
        {
          sc[j] = scale[j % 3];
          sh[j] = shift[j % 3];
        }
      for (; i + 48 <= n * 3; i += 48)
        for (int j = 0; j < 48; j++)
          out[i + j] = in[i + j] * sc[j] + sh[j];
      for (; i < n * 3; i++)
        out[i] = in[i] * scale[i % 3] + shift[i % 3];
      return;
    }
  for (gsize i = 0; i < n; i++)
    for (int c = 0; c < C; c++)
      out[i * C + c] = in[i * C + c] * scale[c] + shift[c];
}

void
gemba_augment_init (GembaAugment *aug)
{
  aug->enabled = TRUE;
  aug->brightness = 0.1f;
  aug->contrast = 0.1f;
  aug->gamma = 0.1f;
  aug->noise = 0.02f;
  /* No geometry by default: shifts and zooms resample the frame, and the blur hides what
   * defects a pixel wide look like (bench/loop's scratches: old lighting 83.6 % without them,
   * 78.7 % with 5 % shifts and 10 % zoom, 81.1 % with whole-pixel shifts, over three dev seeds). */
  aug->shift = 0.0f;
  aug->scale = 0.0f;
  aug->flip_h = FALSE;
  aug->flip_v = FALSE;
  aug->exposure = 0.25f;
  aug->colour = 0.1f;
}

JsonNode *
gemba_augment_to_json (const GembaAugment *aug)
{
  JsonObject *o = json_object_new ();

  json_object_set_boolean_member (o, "enabled", aug->enabled);
  json_object_set_double_member (o, "brightness", aug->brightness);
  json_object_set_double_member (o, "contrast", aug->contrast);
  json_object_set_double_member (o, "gamma", aug->gamma);
  json_object_set_double_member (o, "noise", aug->noise);
  json_object_set_double_member (o, "shift", aug->shift);
  json_object_set_double_member (o, "scale", aug->scale);
  json_object_set_boolean_member (o, "flip-horizontal", aug->flip_h);
  json_object_set_boolean_member (o, "flip-vertical", aug->flip_v);
  json_object_set_double_member (o, "exposure", aug->exposure);
  json_object_set_double_member (o, "colour", aug->colour);
  return json_node_init_object (json_node_alloc (), o);
}

gboolean
gemba_augment_from_json (GembaAugment *aug, JsonNode *node, GError **error)
{
  JsonObject *o;

  gemba_augment_init (aug);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("Invalid augmentation settings"));
      return FALSE;
    }
  o = json_node_get_object (node);
  aug->enabled = json_object_get_boolean_member_with_default (o, "enabled", aug->enabled);
  aug->brightness = json_object_get_double_member_with_default (o, "brightness", aug->brightness);
  aug->contrast = json_object_get_double_member_with_default (o, "contrast", aug->contrast);
  aug->gamma = json_object_get_double_member_with_default (o, "gamma", aug->gamma);
  aug->noise = json_object_get_double_member_with_default (o, "noise", aug->noise);
  aug->shift = json_object_get_double_member_with_default (o, "shift", aug->shift);
  aug->scale = json_object_get_double_member_with_default (o, "scale", aug->scale);
  aug->flip_h = json_object_get_boolean_member_with_default (o, "flip-horizontal", aug->flip_h);
  aug->flip_v = json_object_get_boolean_member_with_default (o, "flip-vertical", aug->flip_v);
  /* settings written before these existed trained without them */
  aug->exposure = json_object_get_double_member_with_default (o, "exposure", 0.0);
  aug->colour = json_object_get_double_member_with_default (o, "colour", 0.0);
  return TRUE;
}

static inline float
uniform_pm (GembaRng *rng, float r)
{
  return r * (2.0f * gemba_rng_uniform (rng) - 1.0f);
}

void
gemba_augment_apply (const GembaAugment *aug, const GembaPreprocess *pp, const guint8 *in,
                     float *out, GembaRng *rng)
{
  const int W = pp->width, H = pp->height, C = pp->channels;
  float s, tx, ty, contrast, brightness, gamma, exposure = 1.0f;
  float gain[3] = { 1.0f, 1.0f, 1.0f };
  gboolean fh, fv, geometric;
  float lut[3][256];
  g_autofree float *noise = NULL;

  if (!aug->enabled)
    {
      gemba_preprocess_normalize (pp, in, out);
      return;
    }

  /* draw every parameter first, in a fixed order */
  s = 1.0f + uniform_pm (rng, aug->scale);
  tx = uniform_pm (rng, aug->shift) * W;
  ty = uniform_pm (rng, aug->shift) * H;
  fh = aug->flip_h && gemba_rng_uniform (rng) < 0.5f;
  fv = aug->flip_v && gemba_rng_uniform (rng) < 0.5f;
  contrast = 1.0f + uniform_pm (rng, aug->contrast);
  brightness = uniform_pm (rng, aug->brightness);
  gamma = expf (uniform_pm (rng, aug->gamma));
  /* drawn after the others, and only when on: settings without them augment as before */
  if (aug->exposure > 0.0f)
    exposure = 1.0f + uniform_pm (rng, aug->exposure);
  if (aug->colour > 0.0f && C == 3)
    for (int c = 0; c < 3; c++)
      gain[c] = 1.0f + uniform_pm (rng, aug->colour);
  geometric = s != 1.0f || tx != 0.0f || ty != 0.0f || fh || fv;

  /* photometric changes are a per-value table per channel on the 0–1 scale */
  for (int c = 0; c < C; c++)
    for (int v = 0; v < 256; v++)
      {
        float x = v / 255.0f;

        x = powf (x, gamma) * exposure * gain[c];
        x = (x - 0.5f) * contrast + 0.5f + brightness;
        lut[c][v] = CLAMP (x, 0.0f, 1.0f);
      }

  /* the noise of a row is drawn before it, in the same order as value by value */
  if (aug->noise > 0.0f)
    noise = g_new (float, (gsize) W * C);

  for (int y = 0; y < H; y++)
    {
      if (noise)
        gemba_rng_normals (rng, noise, (gsize) W * C);
      for (int x = 0; x < W; x++)
        {
          float px[3];

          if (geometric)
            {
              /* inverse mapping about the centre, bilinear, edges repeated */
              float u = ((float) x + 0.5f - 0.5f * W - tx) / s + 0.5f * W - 0.5f;
              float v = ((float) y + 0.5f - 0.5f * H - ty) / s + 0.5f * H - 0.5f;
              int x0, y0, x1, y1;
              float ax, ay;

              if (fh)
                u = W - 1 - u;
              if (fv)
                v = H - 1 - v;
              u = CLAMP (u, 0.0f, (float) (W - 1));
              v = CLAMP (v, 0.0f, (float) (H - 1));
              x0 = (int) u;
              y0 = (int) v;
              x1 = MIN (x0 + 1, W - 1);
              y1 = MIN (y0 + 1, H - 1);
              ax = u - x0;
              ay = v - y0;
              for (int c = 0; c < C; c++)
                {
                  float a = lut[c][in[((gsize) y0 * W + x0) * C + c]];
                  float b = lut[c][in[((gsize) y0 * W + x1) * C + c]];
                  float d = lut[c][in[((gsize) y1 * W + x0) * C + c]];
                  float e = lut[c][in[((gsize) y1 * W + x1) * C + c]];

                  px[c] = (a * (1 - ax) + b * ax) * (1 - ay) + (d * (1 - ax) + e * ax) * ay;
                }
            }
          else
            for (int c = 0; c < C; c++)
              px[c] = lut[c][in[((gsize) y * W + x) * C + c]];

          for (int c = 0; c < C; c++)
            {
              float val = px[c];

              if (noise)
                val = CLAMP (val + aug->noise * noise[x * C + c], 0.0f, 1.0f);
              out[((gsize) y * W + x) * C + c] = (val - pp->mean[c]) / pp->std[c];
            }
        }
    }
}
