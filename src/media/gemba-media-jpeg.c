#define G_LOG_DOMAIN "gemba-media"
/* gemba-media-jpeg.c: JPEG straight from a decoder's 4:2:0 planes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

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
  guint rows = ALIGN16 (height);

  image->width = width;
  image->height = height;
  image->y_stride = ALIGN16 (width);
  image->c_stride = image->y_stride / 2;
  image->y = g_malloc ((gsize) image->y_stride * rows);
  image->cb = g_malloc ((gsize) image->c_stride * rows / 2);
  image->cr = g_malloc ((gsize) image->c_stride * rows / 2);
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

/* One row of luma: Y' = (ym·(Y − y0) + offset) / 65536, clamped. No tables, so that the
 * compiler can vectorise it (this loop touches every pixel of every stored frame). */
#pragma GCC push_options
#pragma GCC optimize ("tree-vectorize")
/* AVX2 has the 32-bit multiply SSE2 lacks: built twice, picked at load time. */
__attribute__ ((target_clones ("avx2", "default")))
static void
luma_row (guint8 *restrict dst, const guint8 *restrict src, const int *restrict offset,
          guint n, int ym, int bias)
{
  for (guint x = 0; x < n; x++)
    {
      int v = (ym * src[x] - bias + offset[x] + 32768) >> 16;
      dst[x] = (guint8) (v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* One row of chroma, and the luma offset of each chroma sample (for luma_row, doubled). */
__attribute__ ((target_clones ("avx2", "default")))
static void
chroma_row (guint8 *restrict cb_out, guint8 *restrict cr_out, int *restrict offset,
            const guint8 *restrict cb_in, const guint8 *restrict cr_in, guint n,
            const int k[6])
{
  for (guint x = 0; x < n; x++)
    {
      int cb = cb_in[x] - 128, cr = cr_in[x] - 128;
      int ncb = ((k[2] * cb + k[3] * cr) >> 16) + 128;
      int ncr = ((k[4] * cb + k[5] * cr) >> 16) + 128;

      offset[x] = k[0] * cb + k[1] * cr;
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

void
_gemba_yuv_image_fill (GembaYuvImage *image, const guint8 * const planes[3],
                       const gsize strides[3])
{
  guint rows = ALIGN16 (image->height), crows = rows / 2;
  guint cw = (image->width + 1) / 2, ch = (image->height + 1) / 2;
  guint8 *out_c[2] = { image->cb, image->cr };

  if (!image->bt709)
    {
      /* Only the range may differ: a table per plane (or a copy). */
      guint8 ylut[256], clut[256];

      for (int v = 0; v < 256; v++)
        {
          ylut[v] = image->limited_range
                    ? (guint8) CLAMP ((int) ((v - 16) * 255.0 / 219.0 + 0.5), 0, 255) : v;
          clut[v] = image->limited_range
                    ? (guint8) CLAMP ((int) ((v - 128) * 255.0 / 224.0 + 128.5), 0, 255) : v;
        }
      for (guint r = 0; r < rows; r++)
        {
          const guint8 *src = planes[0] + (gsize) MIN (r, image->height - 1) * strides[0];
          guint8 *dst = image->y + (gsize) r * image->y_stride;
          if (image->limited_range)
            for (guint x = 0; x < image->width; x++)
              dst[x] = ylut[src[x]];
          else
            memcpy (dst, src, image->width);
          pad_row (dst, image->width, image->y_stride);
        }
      for (guint c = 0; c < 2; c++)
        for (guint r = 0; r < crows; r++)
          {
            const guint8 *src = planes[c + 1] + (gsize) MIN (r, ch - 1) * strides[c + 1];
            guint8 *dst = out_c[c] + (gsize) r * image->c_stride;
            if (image->limited_range)
              for (guint x = 0; x < cw; x++)
                dst[x] = clut[src[x]];
            else
              memcpy (dst, src, cw);
            pad_row (dst, cw, image->c_stride);
          }
      return;
    }

  /* BT.709 → BT.601 on the same R'G'B': Y601 = Y + 0.10159 Cb + 0.19610 Cr,
   * Cb601 = 0.98985 Cb − 0.11067 Cr, Cr601 = 0.98338 Cr − 0.07246 Cb (centred chroma).
   * Fixed point with 16 fractional bits; the chroma of a 2×2 block applies to its four lumas. */
  {
    double ys = image->limited_range ? 255.0 / 219.0 : 1.0;
    double cs = image->limited_range ? 255.0 / 224.0 : 1.0;
    int y0 = image->limited_range ? 16 : 0;
    int ym = (int) (ys * 65536);
    int a = (int) (0.10159 * cs * 65536), b = (int) (0.19610 * cs * 65536);
    int c11 = (int) (0.98985 * cs * 65536), c12 = (int) (-0.11067 * cs * 65536);
    int c21 = (int) (-0.07246 * cs * 65536), c22 = (int) (0.98338 * cs * 65536);
    const int k[6] = { a, b, c11, c12, c21, c22 };
    g_autofree int *offset = g_new (int, image->y_stride);
    g_autofree int *half = g_new (int, image->c_stride);

    for (guint cy = 0; cy < crows; cy++)
      {
        const guint8 *cbsrc = planes[1] + (gsize) MIN (cy, ch - 1) * strides[1];
        const guint8 *crsrc = planes[2] + (gsize) MIN (cy, ch - 1) * strides[2];
        guint8 *cbrow = image->cb + (gsize) cy * image->c_stride;
        guint8 *crrow = image->cr + (gsize) cy * image->c_stride;

        chroma_row (cbrow, crrow, half, cbsrc, crsrc, cw, k);
        for (guint cx = 0; cx < cw; cx++)
          offset[2 * cx] = offset[2 * cx + 1] = half[cx];
        pad_row (cbrow, cw, image->c_stride);
        pad_row (crrow, cw, image->c_stride);
        for (guint dy = 0; dy < 2; dy++)
          {
            guint r = 2 * cy + dy;
            guint8 *dst = image->y + (gsize) r * image->y_stride;
            luma_row (dst, planes[0] + (gsize) MIN (r, image->height - 1) * strides[0], offset,
                      image->width, ym, ym * y0);
            pad_row (dst, image->width, image->y_stride);
          }
      }
  }
}

GBytes *
_gemba_yuv_image_encode_jpeg (GembaYuvImage *image, int quality, GError **error)
{
  struct jpeg_compress_struct cinfo;
  JpegError err;
  unsigned char *out = NULL, *first = NULL;
  unsigned long out_size = 0;
  JSAMPROW y_rows[16], cb_rows[8], cr_rows[8];
  JSAMPARRAY planes[3] = { y_rows, cb_rows, cr_rows };
  GBytes *bytes;

  /* Room for the whole JPEG up front (q95 4:2:0 stays well under a byte per pixel): no
   * growing and copying while encoding, and the buffer becomes the GBytes as it is. */
  out_size = (unsigned long) image->width * image->height + 65536;
  out = first = malloc (out_size);
  if (!out)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("Cannot encode a %u × %u frame as JPEG: out of memory"), image->width,
                   image->height);
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
                   _("Cannot encode a %u × %u frame as JPEG: %s"), image->width, image->height,
                   err.message);
      jpeg_destroy_compress (&cinfo);
      if (out != first)
        free (out);
      free (first);
      return NULL;
    }

  jpeg_create_compress (&cinfo);
  jpeg_mem_dest (&cinfo, &out, &out_size);
  cinfo.image_width = image->width;
  cinfo.image_height = image->height;
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

      for (guint i = 0; i < 16; i++)
        y_rows[i] = image->y + (gsize) (row + i) * image->y_stride;
      for (guint i = 0; i < 8; i++)
        {
          cb_rows[i] = image->cb + (gsize) (row / 2 + i) * image->c_stride;
          cr_rows[i] = image->cr + (gsize) (row / 2 + i) * image->c_stride;
        }
      jpeg_write_raw_data (&cinfo, planes, 16);
    }
  jpeg_finish_compress (&cinfo);
  jpeg_destroy_compress (&cinfo);

  /* libjpeg allocates a bigger buffer itself only if ours was too small. */
  if (out != first)
    free (first);
  bytes = g_bytes_new_with_free_func (out, out_size, free, out);
  return bytes;
}
