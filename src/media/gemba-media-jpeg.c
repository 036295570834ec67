#define G_LOG_DOMAIN "gemba-media"
/* gemba-media-jpeg.c: JPEG straight from a decoder's 4:2:0 planes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gi18n-lib.h>
#include <jpeglib.h>

#include "gemba-error.h"
#include "gemba-media-jpeg.h"

#define ALIGN16(x) (((x) + 15u) & ~15u)

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jmp;
  char message[JMSG_LENGTH_MAX];
} JpegError;

static void
error_exit_cb (j_common_ptr cinfo)
{
  JpegError *err = (JpegError *) cinfo->err;

  err->pub.format_message (cinfo, err->message);
  longjmp (err->jmp, 1);
}

static void
emit_message_cb (j_common_ptr cinfo, int level)
{
}

GembaYuvImage *
_gemba_yuv_image_new (guint width, guint height)
{
  GembaYuvImage *image = g_new0 (GembaYuvImage, 1);
  guint ch = (height + 1) / 2;

  image->width = width;
  image->height = height;
  image->y_stride = ALIGN16 (width);
  image->c_stride = image->y_stride / 2;
  image->y = g_malloc ((gsize) image->y_stride * height);
  image->cb = g_malloc ((gsize) image->c_stride * ch);
  image->cr = g_malloc ((gsize) image->c_stride * ch);
  return image;
}

void
_gemba_yuv_image_free (GembaYuvImage *image)
{
  if (!image)
    return;
  g_free (image->y);
  g_free (image->cb);
  g_free (image->cr);
  g_free (image);
}

void
_gemba_yuv_image_fill (GembaYuvImage *image, const guint8 * const planes[3],
                       const gsize strides[3])
{
  guint cw = (image->width + 1) / 2, ch = (image->height + 1) / 2;

  for (guint r = 0; r < image->height; r++)
    memcpy (image->y + (gsize) r * image->y_stride, planes[0] + (gsize) r * strides[0],
            image->width);
  for (guint r = 0; r < ch; r++)
    {
      memcpy (image->cb + (gsize) r * image->c_stride, planes[1] + (gsize) r * strides[1], cw);
      memcpy (image->cr + (gsize) r * image->c_stride, planes[2] + (gsize) r * strides[2], cw);
    }
}

/* From video's YCbCr (BT.601 or BT.709 matrix, limited or full range) to what JFIF means,
 * full-range BT.601 on the same R'G'B':
 *   Y'  = ys·(Y − y0) + a·Cb + b·Cr        (Cb, Cr centred on 0)
 *   Cb' = c11·Cb + c12·Cr + 128
 *   Cr' = c21·Cb + c22·Cr + 128
 * For BT.709 → BT.601, a = 0.10159, b = 0.19610, c11 = 0.98985, c12 = −0.11067,
 * c21 = −0.07246, c22 = 0.98338; the range scales ys = 255/219 and the chroma by 255/224.
 *
 * Everything is computed on 16 bits, so that a vector holds twice as many samples as on 32
 * (and no 32-bit multiply). Luma: Y' = (ym·Y + offset) >> 7 with ym = ys·128 and the offset
 * of the pixel's chroma, a·Cb + b·Cr (computed with 9 fractional bits, then 7), − ym·y0, + 64
 * to round, + 64·128 to stay positive. Chroma: Cb' = Cb + ((c11 − 1)·Cb + c12·Cr) >> 9 + 128,
 * the same for Cr'; every term fits in 16 bits. Errors, from the rounded coefficients, stay
 * under 0.3 of a level before rounding. */
typedef struct {
  gboolean identity;      /* full-range BT.601 already: nothing to do */
  guint16 ym;
  gint16 offset_bias;
  gint16 k[6];            /* a, b, c11 − 1, c12, c21, c22 − 1; 9 fractional bits */
} Conversion;

#define LUMA_BIAS 64      /* in levels, added to every luma sum and taken off at the end */

static void
conversion_init (Conversion *conv, gboolean limited_range, gboolean bt709)
{
  double ys = limited_range ? 255.0 / 219.0 : 1.0;
  double cs = limited_range ? 255.0 / 224.0 : 1.0;
  double m[6] = { 0, 0, 1, 0, 0, 1 };

  if (bt709)
    {
      const double m709[6] = { 0.10159, 0.19610, 0.98985, -0.11067, -0.07246, 0.98338 };
      memcpy (m, m709, sizeof m);
    }
  conv->identity = !limited_range && !bt709;
  conv->ym = (guint16) (ys * 128 + 0.5);
  conv->offset_bias = (gint16) (64 + LUMA_BIAS * 128 - conv->ym * (limited_range ? 16 : 0));
  for (guint i = 0; i < 6; i++)
    conv->k[i] = (gint16) lround ((m[i] * cs - (i == 2 || i == 5 ? 1.0 : 0.0)) * 512);
}

#pragma GCC push_options
#pragma GCC optimize ("tree-vectorize")
/* Built twice (AVX2 and baseline), picked at load time. */
__attribute__ ((target_clones ("avx2", "default")))
static void
luma_row (guint8 *restrict dst, const guint8 *restrict src, const guint16 *restrict offset,
          guint n, guint16 ym)
{
  for (guint x = 0; x < n; x++)
    {
      guint16 v = (guint16) ((guint16) (src[x] * ym) + offset[x]) >> 7;
      v = v < LUMA_BIAS ? LUMA_BIAS : v > 255 + LUMA_BIAS ? 255 + LUMA_BIAS : v;
      dst[x] = (guint8) (v - LUMA_BIAS);
    }
}

/* One row of chroma, and the luma offset of each chroma sample (see above), twice: once for
 * each of the two luma columns it covers (read as 16-bit values by luma_row; the build has
 * -fno-strict-aliasing, and both halves are equal whatever the byte order). */
__attribute__ ((target_clones ("avx2", "default")))
static void
chroma_row (guint8 *restrict cb_out, guint8 *restrict cr_out, guint32 *restrict offset,
            const guint8 *restrict cb_in, const guint8 *restrict cr_in, guint n,
            const gint16 k[6], gint16 offset_bias)
{
  gint16 a = k[0], b = k[1], d11 = k[2], c12 = k[3], c21 = k[4], d22 = k[5];

  for (guint x = 0; x < n; x++)
    {
      gint16 cb = (gint16) (cb_in[x] - 128), cr = (gint16) (cr_in[x] - 128);
      gint16 ncb = (gint16) (cb + ((gint16) (d11 * cb + c12 * cr + 256) >> 9) + 128);
      gint16 ncr = (gint16) (cr + ((gint16) (c21 * cb + d22 * cr + 256) >> 9) + 128);
      guint16 o = (guint16) (((gint16) (a * cb + b * cr + 2) >> 2) + offset_bias);

      offset[x] = o | (guint32) o << 16;
      cb_out[x] = (guint8) (ncb < 0 ? 0 : ncb > 255 ? 255 : ncb);
      cr_out[x] = (guint8) (ncr < 0 ? 0 : ncr > 255 ? 255 : ncr);
    }
}
#pragma GCC pop_options

static void
pad_row (guint8 *row, guint width, guint stride)
{
  if (stride > width)
    memset (row + width, row[width - 1], stride - width);
}

/* One band of 16 luma rows and 8 chroma rows, starting at luma row @row, converted and padded
 * into @band (rows of y_width and y_width / 2 samples). */
typedef struct {
  guint y_width;
  guint8 *y;
  guint8 *cb;
  guint8 *cr;
  guint32 *offset;        /* a chroma row's luma offsets, each twice */
} Band;

static void
convert_band (Band *band, const Conversion *conv, guint row, guint width, guint height,
              const guint8 * const planes[3], const gsize strides[3])
{
  guint cw = (width + 1) / 2, ch = (height + 1) / 2, c_width = band->y_width / 2;

  for (guint i = 0; i < 8; i++)
    {
      guint cy = MIN (row / 2 + i, ch - 1);
      const guint8 *cbsrc = planes[1] + (gsize) cy * strides[1];
      const guint8 *crsrc = planes[2] + (gsize) cy * strides[2];
      guint8 *cbrow = band->cb + (gsize) i * c_width;
      guint8 *crrow = band->cr + (gsize) i * c_width;

      if (conv->identity)
        {
          memcpy (cbrow, cbsrc, cw);
          memcpy (crrow, crsrc, cw);
        }
      else
        chroma_row (cbrow, crrow, band->offset, cbsrc, crsrc, cw, conv->k, conv->offset_bias);
      pad_row (cbrow, cw, c_width);
      pad_row (crrow, cw, c_width);
      for (guint dy = 0; dy < 2; dy++)
        {
          guint r = MIN (row + 2 * i + dy, height - 1);
          const guint8 *src = planes[0] + (gsize) r * strides[0];
          guint8 *dst = band->y + (gsize) (2 * i + dy) * band->y_width;

          if (conv->identity)
            memcpy (dst, src, width);
          else
            luma_row (dst, src, (const guint16 *) band->offset, width, conv->ym);
          pad_row (dst, width, band->y_width);
        }
    }
}

GBytes *
_gemba_jpeg_encode_i420 (guint width, guint height, const guint8 * const planes[3],
                         const gsize strides[3], gboolean limited_range, gboolean bt709,
                         int quality, GError **error)
{
  struct jpeg_compress_struct cinfo;
  JpegError err;
  Conversion conv;
  Band band = { 0 };
  unsigned char *out = NULL, *first = NULL;
  unsigned long out_size = 0;
  JSAMPROW y_rows[16], cb_rows[8], cr_rows[8];
  JSAMPARRAY rows[3] = { y_rows, cb_rows, cr_rows };
  gboolean direct;
  GBytes *bytes;

  g_return_val_if_fail (width > 0 && height > 0, NULL);

  /* A decoder's planes already in full-range BT.601 and a whole number of blocks wide go to
   * the encoder as they are; anything else is converted a band of 16 rows at a time, which
   * stays in the cache between the conversion and the encoder. */
  conversion_init (&conv, limited_range, bt709);
  direct = conv.identity && width % 16 == 0;
  band.y_width = ALIGN16 (width);
  if (!direct)
    {
      band.y = g_malloc ((gsize) band.y_width * 16 * 2);
      band.cb = band.y + (gsize) band.y_width * 16;
      band.cr = band.cb + (gsize) band.y_width / 2 * 8;
      band.offset = g_new (guint32, band.y_width / 2);
    }

  /* Room for the whole JPEG up front (q95 4:2:0 stays well under a byte per pixel): no
   * growing and copying while encoding, and the buffer becomes the GBytes as it is. */
  out_size = (unsigned long) width * height + 65536;
  out = first = malloc (out_size);
  if (!out)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("Cannot encode a %u × %u frame as JPEG: out of memory"), width, height);
      g_free (band.y);
      g_free (band.offset);
      return NULL;
    }

  memset (&cinfo, 0, sizeof cinfo);
  memset (&err, 0, sizeof err);
  cinfo.err = jpeg_std_error (&err.pub);
  err.pub.error_exit = error_exit_cb;
  err.pub.emit_message = emit_message_cb;
  if (setjmp (err.jmp))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("Cannot encode a %u × %u frame as JPEG: %s"), width, height, err.message);
      jpeg_destroy_compress (&cinfo);
      if (out != first)
        free (out);
      free (first);
      g_free (band.y);
      g_free (band.offset);
      return NULL;
    }

  jpeg_create_compress (&cinfo);
  jpeg_mem_dest (&cinfo, &out, &out_size);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_YCbCr;
  jpeg_set_defaults (&cinfo);
  jpeg_set_colorspace (&cinfo, JCS_YCbCr);
  cinfo.raw_data_in = TRUE;
  cinfo.comp_info[0].h_samp_factor = 2;
  cinfo.comp_info[0].v_samp_factor = 2;
  cinfo.comp_info[1].h_samp_factor = 1;
  cinfo.comp_info[1].v_samp_factor = 1;
  cinfo.comp_info[2].h_samp_factor = 1;
  cinfo.comp_info[2].v_samp_factor = 1;
  jpeg_set_quality (&cinfo, CLAMP (quality, 1, 100), TRUE);
  jpeg_start_compress (&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height)
    {
      guint row = cinfo.next_scanline;

      if (direct)
        {
          /* Rows past the bottom repeat the last one. */
          for (guint i = 0; i < 16; i++)
            y_rows[i] = (JSAMPROW) planes[0] + (gsize) MIN (row + i, height - 1) * strides[0];
          for (guint i = 0; i < 8; i++)
            {
              gsize cy = MIN (row / 2 + i, (height + 1) / 2 - 1);
              cb_rows[i] = (JSAMPROW) planes[1] + cy * strides[1];
              cr_rows[i] = (JSAMPROW) planes[2] + cy * strides[2];
            }
        }
      else
        {
          convert_band (&band, &conv, row, width, height, planes, strides);
          for (guint i = 0; i < 16; i++)
            y_rows[i] = band.y + (gsize) i * band.y_width;
          for (guint i = 0; i < 8; i++)
            {
              cb_rows[i] = band.cb + (gsize) i * band.y_width / 2;
              cr_rows[i] = band.cr + (gsize) i * band.y_width / 2;
            }
        }
      jpeg_write_raw_data (&cinfo, rows, 16);
    }
  jpeg_finish_compress (&cinfo);
  jpeg_destroy_compress (&cinfo);
  g_free (band.y);
  g_free (band.offset);

  /* libjpeg allocates a bigger buffer itself only if ours was too small. */
  if (out != first)
    free (first);
  bytes = g_bytes_new_with_free_func (out, out_size, free, out);
  return bytes;
}

GBytes *
_gemba_yuv_image_encode_jpeg (GembaYuvImage *image, int quality, GError **error)
{
  const guint8 *planes[3] = { image->y, image->cb, image->cr };
  const gsize strides[3] = { image->y_stride, image->c_stride, image->c_stride };

  return _gemba_jpeg_encode_i420 (image->width, image->height, planes, strides,
                                  image->limited_range, image->bt709, quality, error);
}
