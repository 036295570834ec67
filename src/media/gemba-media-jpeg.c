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

void
_gemba_yuv_image_set_plane (GembaYuvImage *image, guint c, const guint8 *data, gsize stride)
{
  guint width = c == 0 ? image->width : (image->width + 1) / 2;
  guint rows = c == 0 ? image->height : (image->height + 1) / 2;
  guint out_stride = c == 0 ? image->y_stride : image->c_stride;
  guint out_rows = c == 0 ? ALIGN16 (image->height) : ALIGN16 (image->height) / 2;
  guint8 *out = c == 0 ? image->y : c == 1 ? image->cb : image->cr;

  for (guint r = 0; r < out_rows; r++)
    {
      guint8 *dst = out + (gsize) r * out_stride;
      const guint8 *src = data + (gsize) MIN (r, rows - 1) * stride;

      memcpy (dst, src, width);
      if (out_stride > width)
        memset (dst + width, src[width - 1], out_stride - width);
    }
}

/* One row of luma: Y' = (ym·(Y − y0) + offset) / 65536, clamped. No tables, so that the
 * compiler can vectorise it (this loop touches every pixel of every stored frame). */
#pragma GCC push_options
#pragma GCC optimize ("tree-vectorize")
static void
luma_row (guint8 *restrict row, const int *restrict offset, guint n, int ym, int bias)
{
  for (guint x = 0; x < n; x++)
    {
      int v = (ym * row[x] - bias + offset[x] + 32768) >> 16;
      row[x] = (guint8) (v < 0 ? 0 : v > 255 ? 255 : v);
    }
}
#pragma GCC pop_options

/* Full-range BT.601 YCbCr, what JFIF means, from limited range and/or BT.709. */
static void
to_jfif (GembaYuvImage *image)
{
  guint rows = ALIGN16 (image->height);
  guint crows = rows / 2;

  if (!image->bt709)
    {
      /* Only the range differs: a table per plane. */
      guint8 ylut[256], clut[256];

      if (!image->limited_range)
        return;
      for (int v = 0; v < 256; v++)
        {
          ylut[v] = (guint8) CLAMP ((int) ((v - 16) * 255.0 / 219.0 + 0.5), 0, 255);
          clut[v] = (guint8) CLAMP ((int) ((v - 128) * 255.0 / 224.0 + 128.5), 0, 255);
        }
      for (gsize i = 0; i < (gsize) image->y_stride * rows; i++)
        image->y[i] = ylut[image->y[i]];
      for (gsize i = 0; i < (gsize) image->c_stride * crows; i++)
        {
          image->cb[i] = clut[image->cb[i]];
          image->cr[i] = clut[image->cr[i]];
        }
      return;
    }

  /* BT.709 → BT.601 on the same R'G'B': Y601 = Y + 0.10159 Cb + 0.19610 Cr,
   * Cb601 = 0.98985 Cb − 0.11067 Cr, Cr601 = 0.98338 Cr − 0.07246 Cb (centred chroma).
   * Fixed point with 16 fractional bits; the chroma of a 2×2 block applies to its four lumas.
   * Written as plain loops over rows with tables, so that the compiler keeps them tight. */
  {
    double ys = image->limited_range ? 255.0 / 219.0 : 1.0;
    double cs = image->limited_range ? 255.0 / 224.0 : 1.0;
    int y0 = image->limited_range ? 16 : 0;
    int a = (int) (0.10159 * cs * 65536), b = (int) (0.19610 * cs * 65536);
    int c11 = (int) (0.98985 * cs * 65536), c12 = (int) (-0.11067 * cs * 65536);
    int c21 = (int) (-0.07246 * cs * 65536), c22 = (int) (0.98338 * cs * 65536);
    g_autofree int *offset = g_new (int, image->y_stride);
    int ym = (int) (ys * 65536);
    guint8 clamp[1024];   /* index v + 384 for v in −384 … 639 */

    for (int v = -384; v < 640; v++)
      clamp[v + 384] = (guint8) CLAMP (v, 0, 255);

    for (guint cy = 0; cy < crows; cy++)
      {
        guint8 *cbrow = image->cb + (gsize) cy * image->c_stride;
        guint8 *crrow = image->cr + (gsize) cy * image->c_stride;

        for (guint cx = 0; cx < image->c_stride; cx++)
          {
            int cb = cbrow[cx] - 128, cr = crrow[cx] - 128;
            int o = a * cb + b * cr;

            offset[2 * cx] = o;
            offset[2 * cx + 1] = o;
            cbrow[cx] = clamp[((c11 * cb + c12 * cr) >> 16) + 128 + 384];
            crrow[cx] = clamp[((c21 * cb + c22 * cr) >> 16) + 128 + 384];
          }
        for (guint dy = 0; dy < 2; dy++)
          luma_row (image->y + (gsize) (2 * cy + dy) * image->y_stride, offset,
                    image->y_stride, ym, ym * y0);
      }
  }
}

GBytes *
_gemba_yuv_image_encode_jpeg (GembaYuvImage *image, int quality, GError **error)
{
  struct jpeg_compress_struct cinfo;
  JpegError err;
  unsigned char *out = NULL;
  unsigned long out_size = 0;
  JSAMPROW y_rows[16], cb_rows[8], cr_rows[8];
  JSAMPARRAY planes[3] = { y_rows, cb_rows, cr_rows };
  GBytes *bytes;

  to_jfif (image);

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
      free (out);
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

  bytes = g_bytes_new (out, out_size);
  free (out);
  return bytes;
}
