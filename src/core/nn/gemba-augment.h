/* gemba-augment.h: how a frame becomes a network input, and shop-floor augmentation
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include "gemba-types.h"
#include "gemba-tensor.h"

G_BEGIN_DECLS

typedef enum {
  GEMBA_RESIZE_STRETCH,     /* the whole (cropped) frame is resized to the input size */
  GEMBA_RESIZE_CENTER_CROP, /* the largest centred region of the input's aspect ratio */
} GembaResizeMode;

/**
 * GembaPreprocess:
 * @width: network input columns
 * @height: network input rows
 * @channels: 3 (RGB) or 1 (grey: 0.299 R + 0.587 G + 0.114 B)
 * @resize: how the frame is fitted
 * @crop_x: region of interest in the stored frame, applied first (@crop_w == 0: whole frame)
 * @crop_y: see @crop_x
 * @crop_w: see @crop_x
 * @crop_h: see @crop_x
 * @mean: per-channel mean subtracted from values scaled to 0–1
 * @std: per-channel divisor after the mean
 *
 * Exactly how inputs are made, recorded in the model so that inference repeats it.
 */
typedef struct {
  int width, height, channels;
  GembaResizeMode resize;
  int crop_x, crop_y, crop_w, crop_h;
  float mean[3];
  float std[3];
} GembaPreprocess;

/* Largest network input side, and largest frame side a crop may reach (what PNG, JPEG and WebP
 * can describe). */
#define GEMBA_PREPROCESS_MAX_INPUT_SIDE 4096
#define GEMBA_PREPROCESS_MAX_FRAME_SIDE 65535

/* @size × @size RGB, stretch, no crop, ImageNet mean and std. */
GEMBA_API void gemba_preprocess_init (GembaPreprocess *pp, int size);
GEMBA_API JsonNode *gemba_preprocess_to_json (const GembaPreprocess *pp);
GEMBA_API gboolean gemba_preprocess_from_json (GembaPreprocess *pp, JsonNode *node, GError **error);
/* The one check of every field (input size, channels, resize, crop, normalisation) of @pp,
 * however it was read (model.json, a package manifest, settings), with overflow-safe
 * arithmetic. CORRUPT errors name @source (when not NULL) and the field, e.g. “input.crop”. */
GEMBA_API gboolean gemba_preprocess_validate (const GembaPreprocess *pp, const char *source,
                                              GError **error);
/* Reads a crop (JSON null, absent, or [x, y, w, h]) into @pp, refusing values an int cannot
 * hold; gemba_preprocess_validate() checks the rest. */
gboolean _gemba_preprocess_crop_from_json (GembaPreprocess *pp, JsonNode *node,
                                           const char *source, GError **error);

/* Crops, resizes and converts an RGB frame (@stride bytes per row) into @out
 * (height × width × channels bytes). INVALID if the crop lies outside the frame. */
GEMBA_API gboolean gemba_preprocess_rgb (const GembaPreprocess *pp, const guint8 *rgb, int width,
                                         int height, int stride, guint8 *out, GError **error);
/* The same from an image file (fully decoded, so that files and buffers agree). */
GEMBA_API gboolean gemba_preprocess_file (const GembaPreprocess *pp, const char *path,
                                          guint8 *out, GError **error);
/* Bytes of one preprocessed input. */
GEMBA_API gsize gemba_preprocess_bytes (const GembaPreprocess *pp);
/* uint8 HWC -> normalised floats. */
GEMBA_API void gemba_preprocess_normalize (const GembaPreprocess *pp, const guint8 *in,
                                           float *out);

/**
 * GembaAugment:
 * @enabled: master switch
 * @brightness: added offset, uniform in ±@brightness (values on a 0–1 scale)
 * @exposure: gain on every channel (a darker or brighter scene), uniform in 1 ± @exposure
 * @colour: gain per channel (another light's colour, white balance), each uniform in
 *   1 ± @colour
 * @contrast: factor around mid-grey, uniform in 1 ± @contrast
 * @gamma: exponent exp(u), u uniform in ±@gamma
 * @noise: standard deviation of Gaussian pixel noise (0–1 scale)
 * @shift: translation, uniform in ±@shift of the input size
 * @scale: zoom, uniform in 1 ± @scale
 * @flip_h: mirror left–right half of the time (only where the part allows it)
 * @flip_v: mirror top–bottom half of the time
 *
 * Variations a camera on a production line produces; drawn per image and step.
 */
typedef struct {
  gboolean enabled;
  float brightness, contrast, gamma, noise;
  float shift, scale;
  gboolean flip_h, flip_v;
  float exposure, colour;
} GembaAugment;

/* On, with lighting changes (exposure ± 25 %, light colour ± 10 % per channel, mild
 * brightness, contrast and gamma) and 2 % noise; no shifts, zoom or flips (resampling blurs
 * thin defects; @shift and @scale are there for parts that move in the frame). */
GEMBA_API void gemba_augment_init (GembaAugment *aug);
GEMBA_API JsonNode *gemba_augment_to_json (const GembaAugment *aug);
GEMBA_API gboolean gemba_augment_from_json (GembaAugment *aug, JsonNode *node, GError **error);
/* Augments one preprocessed input (uint8 HWC) and writes normalised floats. With augmentation
 * disabled this is gemba_preprocess_normalize(). */
GEMBA_API void gemba_augment_apply (const GembaAugment *aug, const GembaPreprocess *pp,
                                    const guint8 *in, float *out, GembaRng *rng);

G_END_DECLS
