/* gemba-image.h: decode, encode, resize and thumbnail frames
 *
 * Every codec is a real library: libjpeg-turbo, libpng, libtiff, libwebp, and gdk-pixbuf
 * for BMP.
 * Pixels are always 8-bit RGB, rows packed (stride = 3 * width).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "gemba-types.h"

G_BEGIN_DECLS

typedef enum {
  GEMBA_IMAGE_FORMAT_UNKNOWN,
  GEMBA_IMAGE_FORMAT_JPEG,
  GEMBA_IMAGE_FORMAT_PNG,
  GEMBA_IMAGE_FORMAT_BMP,
  GEMBA_IMAGE_FORMAT_TIFF,
  GEMBA_IMAGE_FORMAT_WEBP,
} GembaImageFormat;

/**
 * GembaImage:
 * @width: pixels per row
 * @height: rows
 * @pixels: @width * @height * 3 bytes, RGB, top row first
 *
 * A decoded frame.
 */
struct _GembaImage {
  guint width;
  guint height;
  guint8 *pixels;
};

/* An image of the given size, pixels zeroed. */
GEMBA_API GembaImage *gemba_image_new (guint width, guint height);
GEMBA_API void gemba_image_free (GembaImage *image);
GEMBA_API GembaImage *gemba_image_copy (const GembaImage *image);

/* Guesses the format from the first bytes; UNKNOWN when none matches. */
GEMBA_API GembaImageFormat gemba_image_format_sniff (const guint8 *data, gsize len);
/* "jpg", "png", "bmp", "tif", "webp"; NULL for UNKNOWN. */
GEMBA_API const char *gemba_image_format_extension (GembaImageFormat format);
/* Human name: "JPEG", "PNG", ... */
GEMBA_API const char *gemba_image_format_name (GembaImageFormat format);

/* Decodes a whole image. @name is used in error messages (usually the file path).
 * Truncated or corrupt data is an error (GEMBA_ERROR_CORRUPT), never a partial image; data that
 * is no image Gemba reads, or an image over 256 megapixels, is GEMBA_ERROR_UNSUPPORTED. Grey,
 * palette, 16-bit and CMYK images come out as 8-bit RGB; alpha is dropped. */
GEMBA_API GembaImage *gemba_image_decode (const guint8 *data, gsize len, const char *name,
                                          GError **error);
/* Like gemba_image_decode(); a missing file is GEMBA_ERROR_NOT_FOUND, an unreadable one
 * GEMBA_ERROR_IO. */
GEMBA_API GembaImage *gemba_image_load (const char *path, GError **error);

/* Checks that @data is a complete, decodable image and returns its format and size, as cheaply
 * as the codec allows (for JPEG a scaled decode that still reads every byte). */
GEMBA_API gboolean gemba_image_probe (const guint8 *data, gsize len, const char *name,
                                      GembaImageFormat *format, guint *width, guint *height,
                                      GError **error);

/* Decodes at roughly @max_side on the longer side, using the codec's scaled decode where it has
 * one (JPEG DCT scaling), then resizes exactly so that the longer side is @max_side. */
GEMBA_API GembaImage *gemba_image_load_scaled (const char *path, guint max_side, GError **error);

/* The most pixels gemba_image_load_bounded() decodes at once (a 8K camera frame, 7680 × 4320,
 * is 33 megapixels), and the most decoded bytes all such decodes in the process hold at once. */
#define GEMBA_IMAGE_DECODE_MAX_PIXELS (40u * 1000u * 1000u)
#define GEMBA_IMAGE_DECODE_BYTES_IN_FLIGHT ((guint64) 3 * 2 * GEMBA_IMAGE_DECODE_MAX_PIXELS)

/* Loads @path for a model within a memory budget, deciding from the header before any pixel
 * is decoded: up to GEMBA_IMAGE_DECODE_MAX_PIXELS the image is decoded whole (*@scale_denom 1);
 * a larger JPEG is decoded with the DCT scaled to 1/2, 1/4 or 1/8 of each side to fit
 * (*@scale_denom 2, 4 or 8); any other larger image is GEMBA_ERROR_UNSUPPORTED, naming the file
 * and its size. The call waits while other threads' decodes hold
 * GEMBA_IMAGE_DECODE_BYTES_IN_FLIGHT; when done with the image, pass *@reserved to
 * gemba_image_budget_release(). */
GEMBA_API GembaImage *gemba_image_load_bounded (const char *path, guint *scale_denom,
                                                guint64 *reserved, GError **error);
/* Takes / gives back @bytes of the process-wide budget of decoded pixels in flight; a caller
 * alone always gets its bytes, others wait until they fit. */
GEMBA_API void gemba_image_budget_acquire (guint64 bytes);
GEMBA_API void gemba_image_budget_release (guint64 bytes);

/* Area-averaging when shrinking, bilinear when growing (each axis on its own). A constant
 * image stays constant. */
GEMBA_API GembaImage *gemba_image_resize (const GembaImage *image, guint width, guint height);
/* A copy of the rectangle; the rectangle must lie inside the image. */
GEMBA_API GembaImage *gemba_image_crop (const GembaImage *image, guint x, guint y,
                                        guint width, guint height);

GEMBA_API GBytes *gemba_image_encode_jpeg (const GembaImage *image, int quality, GError **error);
GEMBA_API GBytes *gemba_image_encode_png (const GembaImage *image, GError **error);
/* Writes atomically (temporary file, fsync, rename); the format comes from the
 * extension: .jpg/.jpeg (quality 95) or .png. */
GEMBA_API gboolean gemba_image_save (const GembaImage *image, const char *path, GError **error);

/* Makes (or reuses, when it is newer than @frame_path) a JPEG thumbnail whose longer side is
 * @size at @thumb_path, creating parent folders. Safe to call from several threads, also for
 * the same thumbnail: each call writes its own temporary file and renames it into place. */
GEMBA_API gboolean gemba_image_ensure_thumbnail (const char *frame_path, const char *thumb_path,
                                                 guint size, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaImage, gemba_image_free)

G_END_DECLS
