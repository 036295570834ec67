/* gemba-media-jpeg.h: JPEG straight from a decoder's 4:2:0 planes (private to libgemba-media)
 *
 * Most video decoders give I420. Encoding those planes as they are (libjpeg's raw-data path)
 * skips two colour conversions a frame would otherwise go through (YUV → RGB for the appsink,
 * RGB → YCbCr inside the JPEG encoder) and the chroma downsampling: about half the work of
 * storing a frame of video, and no colour round trip.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A copy of a frame's I420 planes, as they are (a live source's buffers must go back to it
 * at once): Y is y_stride × height, Cb and Cr are c_stride × ⌈height / 2⌉. */
typedef struct {
  guint width;
  guint height;
  guint y_stride;
  guint c_stride;
  guint8 *y;
  guint8 *cb;
  guint8 *cr;
  gboolean limited_range;   /* Y 16–235, C 16–240 (video) rather than 0–255 (JPEG) */
  gboolean bt709;           /* BT.709 matrix rather than BT.601 (what JPEG means) */
} GembaYuvImage;

GembaYuvImage *_gemba_yuv_image_new (guint width, guint height);
void _gemba_yuv_image_free (GembaYuvImage *image);
/* Copies a decoder's I420 planes into @image. */
void _gemba_yuv_image_fill (GembaYuvImage *image, const guint8 * const planes[3],
                            const gsize strides[3]);

/* Encodes I420 planes (Y, Cb, Cr; limited or full range, BT.709 or BT.601 matrix) as a 4:2:0
 * JPEG, converting them to what JFIF means, full-range BT.601, on the way. NULL with an error
 * message. */
GBytes *_gemba_jpeg_encode_i420 (guint width, guint height, const guint8 * const planes[3],
                                 const gsize strides[3], gboolean limited_range,
                                 gboolean bt709, int quality, GError **error);
GBytes *_gemba_yuv_image_encode_jpeg (GembaYuvImage *image, int quality, GError **error);

G_END_DECLS
