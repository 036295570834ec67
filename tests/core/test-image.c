#define G_LOG_DOMAIN "gemba-test-image"

#include "config.h"

/* test-image.c: decoding, encoding, resizing and thumbnails of core/image
 *
 * Every input is made here with the codec libraries themselves, so the tests need no files.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <utime.h>

#include <stdio.h>

#include <glib/gstdio.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <jpeglib.h>
#include <png.h>
#include <tiffio.h>
#include <webp/encode.h>

#include "gemba.h"
#include "gemba-util-private.h"

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("gemba-test-image-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  _gemba_remove_tree (f->dir);
  g_free (f->dir);
}

/* A smooth pattern that survives lossy codecs within a few levels. */
static GembaImage *
make_gradient (guint width, guint height)
{
  GembaImage *image = gemba_image_new (width, height);

  for (guint y = 0; y < height; y++)
    for (guint x = 0; x < width; x++)
      {
        guint8 *p = image->pixels + ((gsize) y * width + x) * 3;

        p[0] = (guint8) (x * 255 / MAX (1, width - 1));
        p[1] = (guint8) (y * 255 / MAX (1, height - 1));
        p[2] = (guint8) ((x + y) * 127 / MAX (1, width + height - 2) + 64);
      }
  return image;
}

static double
mean_abs_diff (const GembaImage *a, const GembaImage *b)
{
  gsize n = (gsize) a->width * a->height * 3;
  double sum = 0;

  g_assert_cmpuint (a->width, ==, b->width);
  g_assert_cmpuint (a->height, ==, b->height);
  for (gsize i = 0; i < n; i++)
    sum += ABS ((int) a->pixels[i] - (int) b->pixels[i]);
  return sum / n;
}

static void
check_decodes_to (GBytes *bytes, GembaImageFormat format, const GembaImage *expected,
                  double tolerance)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) decoded = NULL;
  GembaImageFormat probed = GEMBA_IMAGE_FORMAT_UNKNOWN;
  guint width = 0, height = 0;
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  g_assert_cmpint (gemba_image_format_sniff (data, len), ==, format);

  g_assert_true (gemba_image_probe (data, len, "probe-me", &probed, &width, &height, &error));
  g_assert_no_error (error);
  g_assert_cmpint (probed, ==, format);
  g_assert_cmpuint (width, ==, expected->width);
  g_assert_cmpuint (height, ==, expected->height);

  decoded = gemba_image_decode (data, len, "decode-me", &error);
  g_assert_no_error (error);
  g_assert_nonnull (decoded);
  g_assert_cmpfloat (mean_abs_diff (decoded, expected), <=, tolerance);
}

static void
test_roundtrip_jpeg (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (67, 45);
  g_autoptr(GBytes) bytes = gemba_image_encode_jpeg (image, 95, &error);

  g_assert_no_error (error);
  check_decodes_to (bytes, GEMBA_IMAGE_FORMAT_JPEG, image, 2.5);
}

static void
test_roundtrip_png (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (33, 17);
  g_autoptr(GBytes) bytes = gemba_image_encode_png (image, &error);

  g_assert_no_error (error);
  check_decodes_to (bytes, GEMBA_IMAGE_FORMAT_PNG, image, 0.0);
}

static GdkPixbuf *
pixbuf_from_image (const GembaImage *image)
{
  GdkPixbuf *pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, image->width, image->height);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);

  for (guint y = 0; y < image->height; y++)
    memcpy (pixels + (gsize) y * stride, image->pixels + (gsize) y * image->width * 3,
            (gsize) image->width * 3);
  return pixbuf;
}

static void
test_roundtrip_bmp (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (21, 13);
  g_autoptr(GdkPixbuf) pixbuf = pixbuf_from_image (image);
  g_autoptr(GBytes) bytes = NULL;
  char *buffer = NULL;
  gsize len = 0;

  if (!gdk_pixbuf_save_to_buffer (pixbuf, &buffer, &len, "bmp", &error, NULL))
    {
      g_test_skip_printf ("gdk-pixbuf cannot write BMP here: %s", error->message);
      return;
    }
  bytes = g_bytes_new_take (buffer, len);
  check_decodes_to (bytes, GEMBA_IMAGE_FORMAT_BMP, image, 0.0);
}

static void
test_roundtrip_tiff (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (40, 30);
  g_autofree char *path = g_build_filename (f->dir, "frame.tif", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gsize len;
  TIFF *tif;

  tif = TIFFOpen (path, "w");
  g_assert_nonnull (tif);
  TIFFSetField (tif, TIFFTAG_IMAGEWIDTH, image->width);
  TIFFSetField (tif, TIFFTAG_IMAGELENGTH, image->height);
  TIFFSetField (tif, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField (tif, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField (tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  TIFFSetField (tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField (tif, TIFFTAG_COMPRESSION, COMPRESSION_LZW);
  TIFFSetField (tif, TIFFTAG_ROWSPERSTRIP, 8);
  for (guint y = 0; y < image->height; y++)
    g_assert_cmpint (TIFFWriteScanline (tif, image->pixels + (gsize) y * image->width * 3, y, 0),
                     ==, 1);
  TIFFClose (tif);

  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  bytes = g_bytes_new (contents, len);
  check_decodes_to (bytes, GEMBA_IMAGE_FORMAT_TIFF, image, 0.0);

  /* Cut inside the strips: an error, never a partial image. */
  {
    g_autoptr(GembaImage) cut = gemba_image_decode ((const guint8 *) contents, len / 2,
                                                    "cut.tif", &error);

    g_assert_null (cut);
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
    g_assert_nonnull (strstr (error->message, "cut.tif"));
  }
}

static void
test_roundtrip_webp (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (50, 24);
  g_autoptr(GBytes) bytes = NULL;
  uint8_t *out = NULL;
  size_t len;

  len = WebPEncodeLosslessRGB (image->pixels, image->width, image->height, image->width * 3,
                               &out);
  g_assert_cmpuint (len, >, 0);
  bytes = g_bytes_new (out, len);
  WebPFree (out);
  check_decodes_to (bytes, GEMBA_IMAGE_FORMAT_WEBP, image, 0.0);

  {
    gsize n;
    const guint8 *data = g_bytes_get_data (bytes, &n);
    g_autoptr(GembaImage) cut = gemba_image_decode (data, n - 20, "cut.webp", &error);

    g_assert_null (cut);
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
    g_assert_nonnull (strstr (error->message, "cut.webp"));
  }
}

static void
check_truncations (GBytes *bytes, const char *name)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  /* Cut in the header, in the image data, and just before the end marker. */
  gsize cuts[] = { 40, len / 3, len / 2, len - 2 };

  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GembaImage) image = gemba_image_decode (data, cuts[i], name, &error);
      guint width, height;

      g_test_message ("%s cut at %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT, name, cuts[i], len);
      g_assert_null (image);
      g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
      g_assert_nonnull (strstr (error->message, name));
      g_clear_error (&error);

      g_assert_false (gemba_image_probe (data, cuts[i], name, NULL, &width, &height, &error));
      g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
      g_assert_nonnull (strstr (error->message, name));
    }
}

static void
test_truncated_jpeg (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (160, 120);
  g_autoptr(GBytes) bytes = gemba_image_encode_jpeg (image, 90, &error);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  g_autoptr(GembaImage) cut = NULL;

  g_assert_no_error (error);
  check_truncations (bytes, "cam1/frame-0042.jpg");

  cut = gemba_image_decode (data, len / 2, "half.jpg", &error);
  g_assert_null (cut);
  g_assert_nonnull (strstr (error->message, "truncated"));
}

static void
test_truncated_png (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (160, 120);
  g_autoptr(GBytes) bytes = gemba_image_encode_png (image, &error);

  g_assert_no_error (error);
  check_truncations (bytes, "cam1/frame-0043.png");
}

static void
test_damaged_jpeg (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (160, 120);
  g_autoptr(GBytes) bytes = gemba_image_encode_jpeg (image, 90, &error);
  gsize len;
  g_autofree guint8 *data = g_memdup2 (g_bytes_get_data (bytes, &len), g_bytes_get_size (bytes));
  g_autoptr(GembaImage) decoded = NULL;

  /* A marker in the middle of the entropy-coded data: the scan ends early. */
  data[len / 2] = 0xff;
  data[len / 2 + 1] = 0xd9;
  decoded = gemba_image_decode (data, len, "damaged.jpg", &error);
  g_assert_null (decoded);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "damaged.jpg"));
}

static void
test_not_an_image (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  static const char text[] = "station,verdict\n1,ok\n2,scratch\n";
  g_autofree char *path = g_build_filename (f->dir, "notes.csv", NULL);
  g_autofree char *missing = g_build_filename (f->dir, "missing.jpg", NULL);
  g_autoptr(GembaImage) image = NULL;

  image = gemba_image_decode ((const guint8 *) text, sizeof text - 1, "notes.csv", &error);
  g_assert_null (image);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "notes.csv"));
  g_clear_error (&error);

  image = gemba_image_decode ((const guint8 *) "", 0, "empty.png", &error);
  g_assert_null (image);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
  g_clear_error (&error);

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  image = gemba_image_load (path, &error);
  g_assert_null (image);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  image = gemba_image_load (missing, &error);
  g_assert_null (image);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  /* A JPEG signature followed by garbage. */
  {
    guint8 junk[64] = { 0xff, 0xd8, 0xff, 0xe0 };

    image = gemba_image_decode (junk, sizeof junk, "junk.jpg", &error);
    g_assert_null (image);
    g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
    g_assert_nonnull (strstr (error->message, "junk.jpg"));
  }
}

/* Monochrome cameras are common on inspection lines: their 8-bit grey JPEGs come out as RGB
 * with equal channels. */
static void
test_gray_jpeg (void)
{
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  unsigned char *buffer = NULL;
  unsigned long size = 0;
  guint8 row[48];
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = NULL;

  cinfo.err = jpeg_std_error (&jerr);
  jpeg_create_compress (&cinfo);
  jpeg_mem_dest (&cinfo, &buffer, &size);
  cinfo.image_width = 48;
  cinfo.image_height = 32;
  cinfo.input_components = 1;
  cinfo.in_color_space = JCS_GRAYSCALE;
  jpeg_set_defaults (&cinfo);
  jpeg_set_quality (&cinfo, 95, TRUE);
  jpeg_start_compress (&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height)
    {
      JSAMPROW r = row;

      for (guint x = 0; x < 48; x++)
        row[x] = (guint8) (x * 5);
      jpeg_write_scanlines (&cinfo, &r, 1);
    }
  jpeg_finish_compress (&cinfo);
  jpeg_destroy_compress (&cinfo);

  image = gemba_image_decode (buffer, size, "mono.jpg", &error);
  free (buffer);
  g_assert_no_error (error);
  g_assert_cmpuint (image->width, ==, 48);
  g_assert_cmpuint (image->height, ==, 32);
  for (gsize i = 0; i < 48 * 32; i++)
    {
      g_assert_cmpuint (image->pixels[3 * i], ==, image->pixels[3 * i + 1]);
      g_assert_cmpuint (image->pixels[3 * i], ==, image->pixels[3 * i + 2]);
    }
  g_assert_cmpint (ABS ((int) image->pixels[3 * 20] - 100), <=, 3);
}

typedef struct {
  GByteArray *out;
} PngSink;

static void
png_sink_write (png_structp png, png_bytep data, png_size_t len)
{
  g_byte_array_append (((PngSink *) png_get_io_ptr (png))->out, data, len);
}

static void
png_sink_flush (png_structp png)
{
}

/* 16-bit grey, Adam7-interlaced: decoded to 8-bit RGB, and probed pass by pass. */
static void
test_gray16_interlaced_png (void)
{
  PngSink sink = { g_byte_array_new () };
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct (png);
  guint16 row[37];
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = NULL;
  g_autoptr(GBytes) bytes = NULL;
  GembaImageFormat format;
  guint width, height;
  int passes;

  png_set_write_fn (png, &sink, png_sink_write, png_sink_flush);
  png_set_IHDR (png, info, 37, 23, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, info);
  png_set_swap (png);   /* rows below are in host (little-endian) order */
  passes = png_set_interlace_handling (png);
  for (int pass = 0; pass < passes; pass++)
    for (guint y = 0; y < 23; y++)
      {
        for (guint x = 0; x < 37; x++)
          row[x] = (guint16) (((x + y) % 2) ? 0xffff : (y * 2000));
        png_write_row (png, (png_const_bytep) row);
      }
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  bytes = g_byte_array_free_to_bytes (sink.out);

  g_assert_true (gemba_image_probe (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                    "mono16.png", &format, &width, &height, &error));
  g_assert_no_error (error);
  g_assert_cmpint (format, ==, GEMBA_IMAGE_FORMAT_PNG);
  g_assert_cmpuint (width, ==, 37);
  g_assert_cmpuint (height, ==, 23);

  image = gemba_image_decode (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                              "mono16.png", &error);
  g_assert_no_error (error);
  for (guint y = 0; y < 23; y++)
    for (guint x = 0; x < 37; x++)
      {
        const guint8 *p = image->pixels + (y * 37 + x) * 3;
        guint expected = ((x + y) % 2) ? 255 : (y * 2000) >> 8;

        g_assert_cmpuint (p[0], ==, expected);
        g_assert_cmpuint (p[1], ==, expected);
        g_assert_cmpuint (p[2], ==, expected);
      }
}

static void
test_resize_constant (void)
{
  g_autoptr(GembaImage) image = gemba_image_new (97, 61);
  guint sizes[][2] = { { 13, 7 }, { 64, 64 }, { 96, 60 }, { 200, 150 }, { 1, 1 }, { 300, 20 } };

  for (gsize i = 0; i < (gsize) image->width * image->height; i++)
    {
      image->pixels[3 * i] = 200;
      image->pixels[3 * i + 1] = 17;
      image->pixels[3 * i + 2] = 255;
    }
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      g_autoptr(GembaImage) out = gemba_image_resize (image, sizes[s][0], sizes[s][1]);

      g_assert_cmpuint (out->width, ==, sizes[s][0]);
      g_assert_cmpuint (out->height, ==, sizes[s][1]);
      for (gsize i = 0; i < (gsize) out->width * out->height; i++)
        {
          g_assert_cmpuint (out->pixels[3 * i], ==, 200);
          g_assert_cmpuint (out->pixels[3 * i + 1], ==, 17);
          g_assert_cmpuint (out->pixels[3 * i + 2], ==, 255);
        }
    }
}

static void
test_resize_average (void)
{
  g_autoptr(GembaImage) image = gemba_image_new (2, 2);
  g_autoptr(GembaImage) one = NULL;
  g_autoptr(GembaImage) big = NULL;
  g_autoptr(GembaImage) halves = NULL;
  g_autoptr(GembaImage) row = gemba_image_new (4, 1);
  static const guint8 values[4] = { 0, 100, 40, 60 };

  for (guint i = 0; i < 4; i++)
    {
      image->pixels[3 * i] = values[i];
      image->pixels[3 * i + 1] = 255 - values[i];
      image->pixels[3 * i + 2] = (i == 0) ? 255 : 0;
    }
  one = gemba_image_resize (image, 1, 1);
  g_assert_cmpuint (one->pixels[0], ==, 50);    /* (0 + 100 + 40 + 60) / 4 */
  g_assert_cmpuint (one->pixels[1], ==, 205);
  g_assert_cmpuint (one->pixels[2], ==, 64);    /* 255 / 4 = 63.75 */

  /* Growing is bilinear: corners keep their values, the middle is between. */
  big = gemba_image_resize (image, 4, 4);
  g_assert_cmpuint (big->pixels[0], ==, 0);
  g_assert_cmpuint (big->pixels[(3 * 4 + 3) * 3], ==, 60);
  g_assert_cmpuint (big->pixels[1 * 3], ==, 25);   /* 0.75·0 + 0.25·100 */

  /* 4 → 3 covers partial source pixels: weights 3/4 and 1/4. */
  row->pixels[0] = 0;
  row->pixels[3] = 120;
  row->pixels[6] = 240;
  row->pixels[9] = 40;
  halves = gemba_image_resize (row, 3, 1);
  g_assert_cmpuint (halves->pixels[0], ==, 30);    /* (0 + 120/3) · 3/4 */
  g_assert_cmpuint (halves->pixels[3], ==, 180);   /* (120·2/3 + 240·2/3) · 3/4 */
  g_assert_cmpuint (halves->pixels[6], ==, 90);    /* (240/3 + 40) · 3/4 */
}

static void
test_crop (void)
{
  g_autoptr(GembaImage) image = make_gradient (30, 20);
  g_autoptr(GembaImage) crop = gemba_image_crop (image, 5, 7, 10, 4);

  g_assert_cmpuint (crop->width, ==, 10);
  g_assert_cmpuint (crop->height, ==, 4);
  for (guint y = 0; y < 4; y++)
    g_assert_cmpmem (crop->pixels + y * 10 * 3, 30,
                     image->pixels + ((y + 7) * 30 + 5) * 3, 30);
}

static void
test_load_scaled (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (640, 360);
  g_autofree char *jpg = g_build_filename (f->dir, "wide.jpg", NULL);
  g_autofree char *png = g_build_filename (f->dir, "wide.png", NULL);
  g_autoptr(GembaImage) small = NULL;
  g_autoptr(GembaImage) expected = NULL;

  g_assert_true (gemba_image_save (image, jpg, &error));
  g_assert_no_error (error);
  g_assert_true (gemba_image_save (image, png, &error));
  g_assert_no_error (error);

  small = gemba_image_load_scaled (jpg, 100, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (small->width, ==, 100);
  g_assert_cmpuint (small->height, ==, 56);
  expected = gemba_image_resize (image, 100, 56);
  g_assert_cmpfloat (mean_abs_diff (small, expected), <=, 3.0);
  g_clear_pointer (&small, gemba_image_free);

  small = gemba_image_load_scaled (png, 100, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (mean_abs_diff (small, expected), <=, 0.0);

  g_assert_false (gemba_image_save (image, "/nonexistent-dir/x.jpg", &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_IO);
  g_clear_error (&error);
  g_assert_false (gemba_image_save (image, "frame.gif", &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED);
}

typedef struct {
  const char *frame;
  const char *thumb;
  gint failures;
} ThumbJob;

static gpointer
thumb_thread (gpointer data)
{
  ThumbJob *job = data;

  for (guint i = 0; i < 20; i++)
    {
      g_autoptr(GError) error = NULL;

      if (!gemba_image_ensure_thumbnail (job->frame, job->thumb, 64, &error))
        g_atomic_int_inc (&job->failures);
    }
  return NULL;
}

static void
test_thumbnail (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = make_gradient (320, 240);
  g_autofree char *frame = g_build_filename (f->dir, "frame.jpg", NULL);
  g_autofree char *thumb = g_build_filename (f->dir, "thumbs", "ab", "frame-64.jpg", NULL);
  g_autoptr(GembaImage) loaded = NULL;
  GThread *threads[4];
  ThumbJob job = { frame, thumb, 0 };
  struct stat before, after;
  struct utimbuf times;
  GDir *dir;
  const char *name;
  g_autofree char *thumb_dir = g_path_get_dirname (thumb);
  guint n_files = 0;

  g_assert_true (gemba_image_save (image, frame, &error));
  g_assert_no_error (error);

  /* Several threads at once: every call succeeds and no temporary file is left. */
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("thumb", thumb_thread, &job);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (job.failures, ==, 0);

  dir = g_dir_open (thumb_dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    n_files++;
  g_dir_close (dir);
  g_assert_cmpuint (n_files, ==, 1);

  loaded = gemba_image_load (thumb, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (loaded->width, ==, 64);
  g_assert_cmpuint (loaded->height, ==, 48);

  /* Newer than the frame: reused, not rewritten. */
  times.actime = times.modtime = 1000000000;
  g_assert_cmpint (utime (frame, &times), ==, 0);
  g_assert_cmpint (stat (thumb, &before), ==, 0);
  g_assert_true (gemba_image_ensure_thumbnail (frame, thumb, 64, &error));
  g_assert_cmpint (stat (thumb, &after), ==, 0);
  g_assert_cmpuint (before.st_ino, ==, after.st_ino);

  /* Older than the frame: made again. */
  times.actime = times.modtime = 999999000;
  g_assert_cmpint (utime (thumb, &times), ==, 0);
  g_assert_true (gemba_image_ensure_thumbnail (frame, thumb, 64, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (thumb, &after), ==, 0);
  g_assert_cmpuint (before.st_ino, !=, after.st_ino);

  /* A missing frame names itself. */
  g_assert_false (gemba_image_ensure_thumbnail ("/nonexistent/frame.jpg", thumb, 64, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/nonexistent/frame.jpg"));
}

/* --- Issue 14: huge images within a memory budget ----------------------------------------- */

/* A @w × @h PNG written row by row (a gradient, so it compresses), never whole in memory. */
static void
write_big_png (const char *path, guint w, guint h)
{
  FILE *fp = fopen (path, "wb");
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct (png);
  g_autofree guint8 *row = g_malloc ((gsize) w * 3);

  g_assert_nonnull (fp);
  png_init_io (png, fp);
  png_set_compression_level (png, 1);
  png_set_IHDR (png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, info);
  for (guint y = 0; y < h; y++)
    {
      for (guint x = 0; x < w; x++)
        {
          row[3 * x] = (guint8) (x >> 6);
          row[3 * x + 1] = (guint8) (y >> 6);
          row[3 * x + 2] = 128;
        }
      png_write_row (png, row);
    }
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  fclose (fp);
}

/* The same as a JPEG, quality 80, row by row. */
static void
write_big_jpeg (const char *path, guint w, guint h)
{
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  FILE *fp = fopen (path, "wb");
  g_autofree guint8 *row = g_malloc ((gsize) w * 3);

  g_assert_nonnull (fp);
  cinfo.err = jpeg_std_error (&jerr);
  jpeg_create_compress (&cinfo);
  jpeg_stdio_dest (&cinfo, fp);
  cinfo.image_width = w;
  cinfo.image_height = h;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults (&cinfo);
  jpeg_set_quality (&cinfo, 80, TRUE);
  jpeg_start_compress (&cinfo, TRUE);
  while (cinfo.next_scanline < h)
    {
      guint y = cinfo.next_scanline;
      for (guint x = 0; x < w; x++)
        {
          row[3 * x] = (guint8) (x >> 6);
          row[3 * x + 1] = (guint8) (y >> 6);
          row[3 * x + 2] = 128;
        }
      jpeg_write_scanlines (&cinfo, &row, 1);
    }
  jpeg_finish_compress (&cinfo);
  jpeg_destroy_compress (&cinfo);
  fclose (fp);
}

static glong
peak_rss_mib (void)
{
  struct rusage usage;

  g_assert_cmpint (getrusage (RUSAGE_SELF, &usage), ==, 0);
  return usage.ru_maxrss / 1024;
}

/* Runs in its own process (g_test_trap_subprocess), so that the peak RSS is this test's. */
static void
test_huge_bounded_child (void)
{
  g_autofree char *dir = g_dir_make_tmp ("gemba-huge-XXXXXX", NULL);
  g_autofree char *png = g_build_filename (dir, "huge.png", NULL);
  g_autofree char *jpg = g_build_filename (dir, "huge.jpg", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaImage) image = NULL;
  guint denom = 0;
  guint64 reserved = 1;

  /* The 16000 × 16000 PNG took 1.5 GB in `gemba infer`: now refused from its header,
   * naming the file and its size. */
  write_big_png (png, 16000, 16000);
  image = gemba_image_load_bounded (png, &denom, &reserved, &error);
  g_assert_null (image);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED);
  g_assert_cmpuint (reserved, ==, 0);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, png));
  g_assert_nonnull (strstr (error->message, "16000 × 16000"));
  g_clear_error (&error);

  /* A 16000 × 16000 JPEG is decoded with the DCT at 1/4: 4000 × 4000. */
  write_big_jpeg (jpg, 16000, 16000);
  image = gemba_image_load_bounded (jpg, &denom, &reserved, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (denom, ==, 4);
  g_assert_cmpuint (image->width, ==, 4000);
  g_assert_cmpuint (image->height, ==, 4000);
  g_assert_cmpuint (reserved, ==, (guint64) 4000 * 4000 * 3 * 2);
  /* The gradient survives the scaling: pixel (x, y) of the original is (x >> 6, y >> 6). */
  g_assert_cmpint (ABS ((int) image->pixels[3 * (2000 * 4000 + 1000)] - (4000 >> 6)), <=, 3);
  g_assert_cmpint (ABS ((int) image->pixels[3 * (2000 * 4000 + 1000) + 1] - (8000 >> 6)), <=, 3);
  gemba_image_budget_release (reserved);
  g_clear_pointer (&image, gemba_image_free);

  /* A whole decode would be 768 MB; the scaled one is 48 MB. Bound with headroom. */
  g_test_message ("peak RSS %ld MiB", peak_rss_mib ());
  g_assert_cmpint (peak_rss_mib (), <, 200);
  _gemba_remove_tree (dir);
}

static void
test_huge_bounded (void)
{
  if (g_test_subprocess ())
    {
      test_huge_bounded_child ();
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDOUT |
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* Several threads decoding at once wait for the budget of pixels in flight. */
typedef struct {
  gint in_flight;
  gint most;
} BudgetProbe;

static void
budget_worker (gpointer data, gpointer user_data)
{
  BudgetProbe *probe = user_data;
  const guint64 bytes = GEMBA_IMAGE_DECODE_BYTES_IN_FLIGHT / 3 + 1;   /* two fit, not three */
  gint now;

  gemba_image_budget_acquire (bytes);
  now = g_atomic_int_add (&probe->in_flight, 1) + 1;
  for (gint most = g_atomic_int_get (&probe->most);
       now > most && !g_atomic_int_compare_and_exchange (&probe->most, most, now);
       most = g_atomic_int_get (&probe->most))
    ;
  g_usleep (20 * 1000);
  g_atomic_int_add (&probe->in_flight, -1);
  gemba_image_budget_release (bytes);
}

static void
test_decode_budget (void)
{
  BudgetProbe probe = { 0, 0 };
  GThreadPool *pool = g_thread_pool_new (budget_worker, &probe, 6, TRUE, NULL);

  for (guint i = 0; i < 12; i++)
    g_thread_pool_push (pool, GUINT_TO_POINTER (i + 1), NULL);
  g_thread_pool_free (pool, FALSE, TRUE);
  g_assert_cmpint (probe.most, ==, 2);
  /* One request larger than the whole budget still proceeds when it is alone. */
  gemba_image_budget_acquire (2 * GEMBA_IMAGE_DECODE_BYTES_IN_FLIGHT);
  gemba_image_budget_release (2 * GEMBA_IMAGE_DECODE_BYTES_IN_FLIGHT);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/core/image/roundtrip/jpeg", test_roundtrip_jpeg);
  g_test_add_func ("/core/image/roundtrip/png", test_roundtrip_png);
  g_test_add_func ("/core/image/roundtrip/bmp", test_roundtrip_bmp);
  g_test_add ("/core/image/roundtrip/tiff", Fixture, NULL, fixture_setup, test_roundtrip_tiff,
              fixture_teardown);
  g_test_add_func ("/core/image/roundtrip/webp", test_roundtrip_webp);
  g_test_add_func ("/core/image/truncated/jpeg", test_truncated_jpeg);
  g_test_add_func ("/core/image/truncated/png", test_truncated_png);
  g_test_add_func ("/core/image/damaged/jpeg", test_damaged_jpeg);
  g_test_add_func ("/core/image/gray/jpeg", test_gray_jpeg);
  g_test_add_func ("/core/image/gray/png16-interlaced", test_gray16_interlaced_png);
  g_test_add ("/core/image/not-an-image", Fixture, NULL, fixture_setup, test_not_an_image,
              fixture_teardown);
  g_test_add_func ("/core/image/resize/constant", test_resize_constant);
  g_test_add_func ("/core/image/resize/average", test_resize_average);
  g_test_add_func ("/core/image/crop", test_crop);
  g_test_add_func ("/core/image/huge-bounded", test_huge_bounded);
  g_test_add_func ("/core/image/decode-budget", test_decode_budget);
  g_test_add ("/core/image/load-scaled", Fixture, NULL, fixture_setup, test_load_scaled,
              fixture_teardown);
  g_test_add ("/core/image/thumbnail", Fixture, NULL, fixture_setup, test_thumbnail,
              fixture_teardown);

  return g_test_run ();
}
