#define G_LOG_DOMAIN "gemba-image"

#include "config.h"
#include <glib/gi18n-lib.h>

/* gemba-image.c: decode, encode, resize and thumbnail frames
 *
 * Every codec is a real library. Each call owns its codec state on the stack, so any function
 * here may run in several threads at once; nothing global is touched (libtiff gets per-call
 * error handlers through TIFFOpenOptions, libjpeg/libpng per-object error managers).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <tiffio.h>
#include <webp/decode.h>

#include "gemba-error.h"
#include "gemba-image.h"

/* Larger images are refused: 65535 is the most PNG, JPEG and WebP can describe on a side, and
 * 256 megapixels (768 MB decoded) is already far above any inspection camera. */
#define MAX_SIDE 65535u
#define MAX_PIXELS (256u * 1024u * 1024u)

/* --- Allocation -------------------------------------------------------------------------- */

static gboolean
check_size (guint width, guint height, const char *name, GError **error)
{
  if (width == 0 || height == 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the image has no pixels (%u × %u)"), name, width, height);
      return FALSE;
    }
  if (width > MAX_SIDE || height > MAX_SIDE || (guint64) width * height > MAX_PIXELS)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: the image is too large (%u × %u); Gemba reads images of up to "
                     "256 megapixels"), name, width, height);
      return FALSE;
    }
  return TRUE;
}

/* Like gemba_image_new(), but reports a failed allocation instead of aborting: sizes come
 * from untrusted files. */
static GembaImage *
image_try_new (guint width, guint height, const char *name, GError **error)
{
  GembaImage *image;

  if (!check_size (width, height, name, error))
    return NULL;

  image = g_new0 (GembaImage, 1);
  image->width = width;
  image->height = height;
  image->pixels = g_try_malloc ((gsize) width * height * 3);
  if (image->pixels == NULL)
    {
      g_free (image);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("%s: not enough memory to decode a %u × %u image"), name, width, height);
      return NULL;
    }
  return image;
}

static const char *
display_name (const char *name)
{
  return name != NULL ? name : _("image");
}

/* --- JPEG -------------------------------------------------------------------------------- */

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jmp;
  char message[JMSG_LENGTH_MAX];
  gboolean corrupt;   /* the data is damaged or cut short, not merely unsupported */
  gboolean truncated;
} JpegError;

static void
jpeg_error_exit_cb (j_common_ptr cinfo)
{
  JpegError *err = (JpegError *) cinfo->err;

  cinfo->err->format_message (cinfo, err->message);
  longjmp (err->jmp, 1);
}

/* libjpeg only warns about data that ends early or is damaged, and then invents the missing
 * pixels. A frame with invented pixels must never reach a data set, so those warnings are
 * errors here. Harmless warnings (an unknown JFIF revision, a bad ICC marker) are ignored. */
static void
jpeg_emit_message_cb (j_common_ptr cinfo, int msg_level)
{
  JpegError *err = (JpegError *) cinfo->err;

  if (msg_level >= 0)
    return;

  switch (cinfo->err->msg_code)
    {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
      err->truncated = TRUE;
      G_GNUC_FALLTHROUGH;
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_NOT_SEQUENTIAL:
      err->corrupt = TRUE;
      cinfo->err->format_message (cinfo, err->message);
      longjmp (err->jmp, 1);
      break;
    default:
      cinfo->err->num_warnings++;
      break;
    }
}

static void
jpeg_error_init (JpegError *err)
{
  memset (err, 0, sizeof *err);
  jpeg_std_error (&err->pub);
  err->pub.error_exit = jpeg_error_exit_cb;
  err->pub.emit_message = jpeg_emit_message_cb;
}

static void
set_jpeg_error (GError **error, const JpegError *err, const char *name, gboolean started)
{
  if (err->truncated)
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                 _("%s: the JPEG data is truncated (the file ends early)"), name);
  else if (err->corrupt || started)
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                 _("%s: the JPEG data is damaged (%s)"), name, err->message);
  else
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                 _("%s: cannot read this JPEG file (%s)"), name, err->message);
}

/* Adobe CMYK JPEGs store inverted ink values; libjpeg cannot convert them to RGB itself. */
static void
cmyk_row_to_rgb (const guint8 *cmyk, guint8 *rgb, guint width, gboolean inverted)
{
  for (guint x = 0; x < width; x++)
    {
      guint c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];

      if (!inverted)
        {
          c = 255 - c;
          m = 255 - m;
          y = 255 - y;
          k = 255 - k;
        }
      rgb[3 * x] = (c * k + 127) / 255;
      rgb[3 * x + 1] = (m * k + 127) / 255;
      rgb[3 * x + 2] = (y * k + 127) / 255;
    }
}

/* Decodes @data with the DCT scaled by 1/@scale_denom (1, 2, 4 or 8) into *@out. With @out
 * NULL (a probe), the rows are decoded into one scratch row and dropped, which still reads
 * and checks every byte. The full-size dimensions go to @full_width/@full_height. */
static gboolean
jpeg_decode (const guint8 *data, gsize len, const char *name, guint scale_denom,
             GembaImage **out, guint *full_width, guint *full_height, GError **error)
{
  const gboolean keep = out != NULL;
  struct jpeg_decompress_struct cinfo;
  JpegError err;
  GembaImage *volatile image = NULL;
  guint8 *volatile row = NULL;
  volatile gboolean started = FALSE;

  memset (&cinfo, 0, sizeof cinfo);
  jpeg_error_init (&err);
  cinfo.err = &err.pub;

  if (setjmp (err.jmp))
    {
      set_jpeg_error (error, &err, name, started);
      jpeg_destroy_decompress (&cinfo);
      g_free (row);
      g_clear_pointer ((GembaImage **) &image, gemba_image_free);
      return FALSE;
    }

  jpeg_create_decompress (&cinfo);
  jpeg_mem_src (&cinfo, data, len);
  jpeg_read_header (&cinfo, TRUE);
  started = TRUE;

  if (!check_size (cinfo.image_width, cinfo.image_height, name, error))
    {
      jpeg_destroy_decompress (&cinfo);
      return FALSE;
    }
  if (full_width != NULL)
    *full_width = cinfo.image_width;
  if (full_height != NULL)
    *full_height = cinfo.image_height;

  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK)
    cinfo.out_color_space = JCS_CMYK;
  else
    cinfo.out_color_space = JCS_RGB;
  cinfo.scale_num = 1;
  cinfo.scale_denom = scale_denom;
  if (!keep)
    {
      cinfo.dct_method = JDCT_IFAST;
      cinfo.do_fancy_upsampling = FALSE;
      cinfo.do_block_smoothing = FALSE;
    }

  jpeg_start_decompress (&cinfo);

  if (keep)
    {
      image = image_try_new (cinfo.output_width, cinfo.output_height, name, error);
      if (image == NULL)
        {
          jpeg_destroy_decompress (&cinfo);
          return FALSE;
        }
    }
  if (!keep || cinfo.out_color_space == JCS_CMYK)
    row = g_malloc ((gsize) cinfo.output_width * cinfo.output_components);

  while (cinfo.output_scanline < cinfo.output_height)
    {
      guint y = cinfo.output_scanline;
      JSAMPROW target;

      if (row != NULL)
        target = row;
      else
        target = image->pixels + (gsize) y * image->width * 3;
      jpeg_read_scanlines (&cinfo, &target, 1);
      if (keep && cinfo.out_color_space == JCS_CMYK)
        cmyk_row_to_rgb (row, image->pixels + (gsize) y * image->width * 3, image->width,
                         cinfo.saw_Adobe_marker);
    }

  /* Reads up to EOI, so a file cut after its last scan is caught too. */
  jpeg_finish_decompress (&cinfo);
  jpeg_destroy_decompress (&cinfo);
  g_free (row);

  if (out != NULL)
    *out = image;
  return TRUE;
}

/* Reads only the header. */
static gboolean
jpeg_read_size (const guint8 *data, gsize len, const char *name, guint *width, guint *height,
                GError **error)
{
  struct jpeg_decompress_struct cinfo;
  JpegError err;

  memset (&cinfo, 0, sizeof cinfo);
  jpeg_error_init (&err);
  cinfo.err = &err.pub;
  if (setjmp (err.jmp))
    {
      set_jpeg_error (error, &err, name, TRUE);
      jpeg_destroy_decompress (&cinfo);
      return FALSE;
    }
  jpeg_create_decompress (&cinfo);
  jpeg_mem_src (&cinfo, data, len);
  jpeg_read_header (&cinfo, TRUE);
  *width = cinfo.image_width;
  *height = cinfo.image_height;
  jpeg_destroy_decompress (&cinfo);
  return check_size (*width, *height, name, error);
}

/* --- PNG --------------------------------------------------------------------------------- */

typedef struct {
  const guint8 *data;
  gsize len;
  gsize pos;
  gboolean truncated;
  char message[256];
} PngReader;

static void
png_error_cb (png_structp png, png_const_charp message)
{
  PngReader *reader = png_get_error_ptr (png);

  g_strlcpy (reader->message, message, sizeof reader->message);
  png_longjmp (png, 1);
}

static void
png_warning_cb (png_structp png, png_const_charp message)
{
  g_debug ("libpng: %s", message);
}

static void
png_read_cb (png_structp png, png_bytep out, png_size_t len)
{
  PngReader *reader = png_get_io_ptr (png);

  if (len > reader->len - reader->pos)
    {
      reader->truncated = TRUE;
      png_error (png, "unexpected end of data");
    }
  memcpy (out, reader->data + reader->pos, len);
  reader->pos += len;
}

static gboolean
png_decode (const guint8 *data, gsize len, const char *name, GembaImage **out,
            guint *out_width, guint *out_height, GError **error)
{
  const gboolean keep = out != NULL;
  PngReader reader = { data, len, 0, FALSE, "" };
  png_structp png;
  png_infop info;
  GembaImage *volatile image = NULL;
  png_bytep *volatile rows = NULL;
  guint8 *volatile scratch = NULL;
  png_uint_32 width, height;
  int bit_depth, color_type, interlace, passes;

  png = png_create_read_struct (PNG_LIBPNG_VER_STRING, &reader, png_error_cb, png_warning_cb);
  if (png == NULL)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("%s: cannot start the PNG decoder"), name);
      return FALSE;
    }
  info = png_create_info_struct (png);
  if (info == NULL)
    {
      png_destroy_read_struct (&png, NULL, NULL);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("%s: cannot start the PNG decoder"), name);
      return FALSE;
    }

  if (setjmp (png_jmpbuf (png)))
    {
      if (reader.truncated)
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                     _("%s: the PNG data is truncated (the file ends early)"), name);
      else
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                     _("%s: the PNG data is damaged (%s)"), name, reader.message);
      png_destroy_read_struct (&png, &info, NULL);
      g_free (rows);
      g_free (scratch);
      g_clear_pointer ((GembaImage **) &image, gemba_image_free);
      return FALSE;
    }

  png_set_read_fn (png, &reader, png_read_cb);
  png_set_user_limits (png, MAX_SIDE, MAX_SIDE);
  png_read_info (png, info);
  png_get_IHDR (png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);

  if (!check_size (width, height, name, error))
    {
      png_destroy_read_struct (&png, &info, NULL);
      return FALSE;
    }
  *out_width = width;
  *out_height = height;

  png_set_expand (png);
  png_set_strip_16 (png);
  png_set_strip_alpha (png);
  png_set_gray_to_rgb (png);
  passes = png_set_interlace_handling (png);
  png_read_update_info (png, info);
  if (png_get_rowbytes (png, info) != (gsize) width * 3)
    png_error (png, "unexpected row layout after conversion to RGB");

  if (keep)
    {
      image = image_try_new (width, height, name, error);
      if (image == NULL)
        {
          png_destroy_read_struct (&png, &info, NULL);
          return FALSE;
        }
      rows = g_new (png_bytep, height);
      for (guint y = 0; y < height; y++)
        rows[y] = image->pixels + (gsize) y * width * 3;
      png_read_image (png, rows);
    }
  else
    {
      /* Decoding every pass into one scratch row still checks every byte and CRC. */
      scratch = g_malloc ((gsize) width * 3);
      for (int pass = 0; pass < passes; pass++)
        for (guint y = 0; y < height; y++)
          png_read_row (png, scratch, NULL);
    }

  /* Reads the chunks after the image data up to IEND: catches a file cut short there. */
  png_read_end (png, NULL);
  png_destroy_read_struct (&png, &info, NULL);
  g_free (rows);
  g_free (scratch);

  if (out != NULL)
    *out = image;
  return TRUE;
}

/* --- TIFF -------------------------------------------------------------------------------- */

typedef struct {
  const guint8 *data;
  gsize len;
  toff_t pos;
  char message[512];
} TiffReader;

static tmsize_t
tiff_read_cb (thandle_t handle, void *buf, tmsize_t size)
{
  TiffReader *reader = handle;
  gsize n;

  if (size < 0 || reader->pos >= reader->len)
    return 0;
  n = MIN ((gsize) size, reader->len - reader->pos);
  memcpy (buf, reader->data + reader->pos, n);
  reader->pos += n;
  return n;
}

static tmsize_t
tiff_write_cb (thandle_t handle, void *buf, tmsize_t size)
{
  return -1;
}

static toff_t
tiff_seek_cb (thandle_t handle, toff_t offset, int whence)
{
  TiffReader *reader = handle;
  toff_t base;

  switch (whence)
    {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = reader->pos;
      break;
    case SEEK_END:
      base = reader->len;
      break;
    default:
      return (toff_t) -1;
    }
  /* toff_t is unsigned; libtiff passes negative relative offsets as wrapped values. */
  reader->pos = base + offset;
  return reader->pos;
}

static int
tiff_close_cb (thandle_t handle)
{
  return 0;
}

static toff_t
tiff_size_cb (thandle_t handle)
{
  return ((TiffReader *) handle)->len;
}

static int
tiff_map_cb (thandle_t handle, void **base, toff_t *size)
{
  return 0;
}

static void
tiff_unmap_cb (thandle_t handle, void *base, toff_t size)
{
}

static int
tiff_error_cb (TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap)
{
  TiffReader *reader = user_data;

  /* Keep the first error: later ones are usually consequences of it. */
  if (reader->message[0] == '\0')
    g_vsnprintf (reader->message, sizeof reader->message, fmt, ap);
  return 1;
}

static int
tiff_warning_cb (TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap)
{
  return 1;
}

/* Opens @reader's data; NULL with a message naming @name when the header is damaged. */
static TIFF *
tiff_open (TiffReader *reader, const char *name, GError **error)
{
  TIFFOpenOptions *opts;
  TIFF *tif;

  opts = TIFFOpenOptionsAlloc ();
  TIFFOpenOptionsSetErrorHandlerExtR (opts, tiff_error_cb, reader);
  TIFFOpenOptionsSetWarningHandlerExtR (opts, tiff_warning_cb, reader);
  tif = TIFFClientOpenExt (name, "rm", reader, tiff_read_cb, tiff_write_cb, tiff_seek_cb,
                           tiff_close_cb, tiff_size_cb, tiff_map_cb, tiff_unmap_cb, opts);
  TIFFOpenOptionsFree (opts);
  if (tif == NULL)
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                 _("%s: the TIFF data is damaged (%s)"), name,
                 reader->message[0] ? reader->message : _("cannot read the header"));
  return tif;
}

static gboolean
tiff_decode (const guint8 *data, gsize len, const char *name, GembaImage **out,
             guint *out_width, guint *out_height, GError **error)
{
  TiffReader reader = { data, len, 0, "" };
  TIFF *tif;
  guint32 width = 0, height = 0;
  guint32 *raster;
  GembaImage *image;
  int ok;

  if (!(tif = tiff_open (&reader, name, error)))
    return FALSE;

  TIFFGetField (tif, TIFFTAG_IMAGEWIDTH, &width);
  TIFFGetField (tif, TIFFTAG_IMAGELENGTH, &height);
  if (!check_size (width, height, name, error))
    {
      TIFFClose (tif);
      return FALSE;
    }
  *out_width = width;
  *out_height = height;

  image = image_try_new (width, height, name, error);
  if (image == NULL)
    {
      TIFFClose (tif);
      return FALSE;
    }
  raster = g_try_malloc ((gsize) width * height * sizeof (guint32));
  if (raster == NULL)
    {
      gemba_image_free (image);
      TIFFClose (tif);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("%s: not enough memory to decode a %u × %u image"), name, width, height);
      return FALSE;
    }

  ok = TIFFReadRGBAImageOriented (tif, width, height, raster, ORIENTATION_TOPLEFT, 1);
  TIFFClose (tif);
  if (!ok || reader.message[0] != '\0')
    {
      g_free (raster);
      gemba_image_free (image);
      if (reader.pos >= reader.len || g_strstr_len (reader.message, -1, "Read error") != NULL)
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                     _("%s: the TIFF data is truncated or damaged (%s)"), name,
                     reader.message[0] ? reader.message : _("cannot decode the pixels"));
      else
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                     _("%s: cannot decode the TIFF pixels (%s)"), name,
                     reader.message[0] ? reader.message : _("unsupported layout"));
      return FALSE;
    }

  for (gsize i = 0; i < (gsize) width * height; i++)
    {
      image->pixels[3 * i] = TIFFGetR (raster[i]);
      image->pixels[3 * i + 1] = TIFFGetG (raster[i]);
      image->pixels[3 * i + 2] = TIFFGetB (raster[i]);
    }
  g_free (raster);

  if (out == NULL)
    gemba_image_free (image);
  else
    *out = image;
  return TRUE;
}

/* --- WebP -------------------------------------------------------------------------------- */

static gboolean
webp_decode (const guint8 *data, gsize len, const char *name, GembaImage **out,
             guint *out_width, guint *out_height, GError **error)
{
  WebPBitstreamFeatures features;
  VP8StatusCode status;
  GembaImage *image;

  status = WebPGetFeatures (data, len, &features);
  if (status != VP8_STATUS_OK)
    {
      if (status == VP8_STATUS_NOT_ENOUGH_DATA)
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                     _("%s: the WebP data is truncated (the file ends early)"), name);
      else if (status == VP8_STATUS_UNSUPPORTED_FEATURE)
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                     _("%s: this WebP file uses a feature Gemba cannot read"), name);
      else
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                     _("%s: the WebP data is damaged"), name);
      return FALSE;
    }
  if (features.has_animation)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: animated WebP files are not supported"), name);
      return FALSE;
    }
  if (!check_size (features.width, features.height, name, error))
    return FALSE;
  *out_width = features.width;
  *out_height = features.height;

  image = image_try_new (features.width, features.height, name, error);
  if (image == NULL)
    return FALSE;
  if (WebPDecodeRGBInto (data, len, image->pixels, (gsize) image->width * image->height * 3,
                         image->width * 3) == NULL)
    {
      gemba_image_free (image);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the WebP data is truncated or damaged"), name);
      return FALSE;
    }

  if (out == NULL)
    gemba_image_free (image);
  else
    *out = image;
  return TRUE;
}

/* --- BMP (gdk-pixbuf) -------------------------------------------------------------------- */

static gboolean
bmp_decode (const guint8 *data, gsize len, const char *name, GembaImage **out,
            guint *out_width, guint *out_height, GError **error)
{
  g_autoptr(GdkPixbufLoader) loader = NULL;
  g_autoptr(GError) local_error = NULL;
  GdkPixbuf *pixbuf;
  GembaImage *image;
  const guint8 *src;
  int width, height, stride, n_channels;

  loader = gdk_pixbuf_loader_new_with_type ("bmp", &local_error);
  if (loader == NULL)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: cannot read BMP files: %s"), name, local_error->message);
      return FALSE;
    }
  /* A failed write closes the loader itself. */
  if (!gdk_pixbuf_loader_write (loader, data, len, &local_error) ||
      !gdk_pixbuf_loader_close (loader, &local_error))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the BMP data is truncated or damaged (%s)"), name,
                   local_error != NULL ? local_error->message : _("unknown error"));
      return FALSE;
    }

  pixbuf = gdk_pixbuf_loader_get_pixbuf (loader);
  if (pixbuf == NULL)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the BMP data is truncated (the file ends early)"), name);
      return FALSE;
    }

  width = gdk_pixbuf_get_width (pixbuf);
  height = gdk_pixbuf_get_height (pixbuf);
  if (!check_size (width, height, name, error))
    return FALSE;
  *out_width = width;
  *out_height = height;
  if (out == NULL)
    return TRUE;

  image = image_try_new (width, height, name, error);
  if (image == NULL)
    return FALSE;
  stride = gdk_pixbuf_get_rowstride (pixbuf);
  n_channels = gdk_pixbuf_get_n_channels (pixbuf);
  src = gdk_pixbuf_read_pixels (pixbuf);
  for (int y = 0; y < height; y++)
    {
      const guint8 *s = src + (gsize) y * stride;
      guint8 *d = image->pixels + (gsize) y * width * 3;

      for (int x = 0; x < width; x++)
        {
          d[3 * x] = s[n_channels * x];
          d[3 * x + 1] = s[n_channels * x + 1];
          d[3 * x + 2] = s[n_channels * x + 2];
        }
    }
  *out = image;
  return TRUE;
}

/* --- Dispatch ---------------------------------------------------------------------------- */

/* Decodes into *@out, or only checks the data when @out is NULL. */
static gboolean
decode_any (const guint8 *data, gsize len, const char *name, GembaImage **out,
            GembaImageFormat *out_format, guint *out_width, guint *out_height, GError **error)
{
  GembaImageFormat format;
  guint width = 0, height = 0;
  gboolean ok;

  name = display_name (name);
  if (len == 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("%s: the file is empty"), name);
      return FALSE;
    }

  format = gemba_image_format_sniff (data, len);
  switch (format)
    {
    case GEMBA_IMAGE_FORMAT_JPEG:
      ok = jpeg_decode (data, len, name, out != NULL ? 1 : 8, out, &width, &height, error);
      break;
    case GEMBA_IMAGE_FORMAT_PNG:
      ok = png_decode (data, len, name, out, &width, &height, error);
      break;
    case GEMBA_IMAGE_FORMAT_TIFF:
      ok = tiff_decode (data, len, name, out, &width, &height, error);
      break;
    case GEMBA_IMAGE_FORMAT_WEBP:
      ok = webp_decode (data, len, name, out, &width, &height, error);
      break;
    case GEMBA_IMAGE_FORMAT_BMP:
      ok = bmp_decode (data, len, name, out, &width, &height, error);
      break;
    case GEMBA_IMAGE_FORMAT_UNKNOWN:
    default:
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: not an image Gemba can read (expected JPEG, PNG, BMP, TIFF or WebP)"),
                   name);
      return FALSE;
    }

  if (ok)
    {
      if (out_format != NULL)
        *out_format = format;
      if (out_width != NULL)
        *out_width = width;
      if (out_height != NULL)
        *out_height = height;
    }
  return ok;
}

static GBytes *
read_file (const char *path, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  char *contents;
  gsize len;

  if (!g_file_get_contents (path, &contents, &len, &local_error))
    {
      int code = g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                 ? GEMBA_ERROR_NOT_FOUND : GEMBA_ERROR_IO;

      g_set_error (error, GEMBA_ERROR, code, _("Cannot read %s: %s"), path,
                   local_error->message);
      return NULL;
    }
  return g_bytes_new_take (contents, len);
}

/* --- Decoding within a memory budget ----------------------------------------------------- */

static gboolean
tiff_read_size (const guint8 *data, gsize len, const char *name, guint *width, guint *height,
                GError **error)
{
  TiffReader reader = { data, len, 0, "" };
  TIFF *tif;
  guint32 w = 0, h = 0;

  if (!(tif = tiff_open (&reader, name, error)))
    return FALSE;
  TIFFGetField (tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField (tif, TIFFTAG_IMAGELENGTH, &h);
  TIFFClose (tif);
  *width = w;
  *height = h;
  return TRUE;
}

static guint32
read_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static guint32
read_le32 (const guint8 *p)
{
  return ((guint32) p[3] << 24) | ((guint32) p[2] << 16) | ((guint32) p[1] << 8) | p[0];
}

/* The size the header states, without decoding any pixel; 0 × 0 when the header cannot say
 * (the decode then reports why). */
static gboolean
read_header_size (const guint8 *data, gsize len, const char *name, guint *width,
                  guint *height, GError **error)
{
  int w = 0, h = 0;

  *width = *height = 0;
  switch (gemba_image_format_sniff (data, len))
    {
    case GEMBA_IMAGE_FORMAT_JPEG:
      return jpeg_read_size (data, len, name, width, height, error);
    case GEMBA_IMAGE_FORMAT_PNG:
      /* The signature, then the IHDR chunk: length, "IHDR", width, height (big-endian). */
      if (len >= 24 && memcmp (data + 12, "IHDR", 4) == 0)
        {
          *width = read_be32 (data + 16);
          *height = read_be32 (data + 20);
        }
      return TRUE;
    case GEMBA_IMAGE_FORMAT_WEBP:
      if (WebPGetInfo (data, len, &w, &h))
        {
          *width = w;
          *height = h;
        }
      return TRUE;
    case GEMBA_IMAGE_FORMAT_BMP:
      /* BITMAPINFOHEADER and later: width and height are 32-bit (height negative when the
       * rows are stored top first); the old OS/2 header has 16-bit sides. */
      if (len >= 26 && read_le32 (data + 14) == 12)
        {
          *width = data[18] | (data[19] << 8);
          *height = data[20] | (data[21] << 8);
        }
      else if (len >= 26)
        {
          gint32 sh = (gint32) read_le32 (data + 22);
          *width = read_le32 (data + 18);
          *height = sh == G_MININT32 ? (guint) G_MAXINT32 : (guint) ABS (sh);
        }
      return TRUE;
    case GEMBA_IMAGE_FORMAT_TIFF:
      return tiff_read_size (data, len, name, width, height, error);
    case GEMBA_IMAGE_FORMAT_UNKNOWN:
    default:
      return TRUE;
    }
}

static GMutex budget_lock;
static GCond budget_cond;
static guint64 budget_in_use;

void
gemba_image_budget_acquire (guint64 bytes)
{
  g_mutex_lock (&budget_lock);
  /* One decode alone always proceeds, so a large one cannot wait forever. */
  while (budget_in_use > 0 && budget_in_use + bytes > GEMBA_IMAGE_DECODE_BYTES_IN_FLIGHT)
    g_cond_wait (&budget_cond, &budget_lock);
  budget_in_use += bytes;
  g_mutex_unlock (&budget_lock);
}

void
gemba_image_budget_release (guint64 bytes)
{
  g_mutex_lock (&budget_lock);
  g_assert (budget_in_use >= bytes);
  budget_in_use -= bytes;
  g_cond_broadcast (&budget_cond);
  g_mutex_unlock (&budget_lock);
}

GembaImage *
gemba_image_load_bounded (const char *path, guint *scale_denom, guint64 *reserved,
                          GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  GembaImage *image = NULL;
  const guint8 *data;
  gsize len;
  guint width, height, denom = 1;
  guint64 pixels;

  g_return_val_if_fail (path != NULL && scale_denom != NULL && reserved != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  *scale_denom = 1;
  *reserved = 0;
  if (!(bytes = read_file (path, error)))
    return NULL;
  data = g_bytes_get_data (bytes, &len);
  if (!read_header_size (data, len, path, &width, &height, error))
    return NULL;
  pixels = (guint64) width * height;
  if (pixels > GEMBA_IMAGE_DECODE_MAX_PIXELS)
    {
      if (gemba_image_format_sniff (data, len) != GEMBA_IMAGE_FORMAT_JPEG)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                       _("%s: the image is too large to classify (%u × %u, %.0f megapixels); "
                         "Gemba decodes images of up to %u megapixels for a model (JPEG "
                         "images of any size are scaled down while decoding): shrink it "
                         "first"), path, width, height, pixels / 1e6,
                       GEMBA_IMAGE_DECODE_MAX_PIXELS / 1000000u);
          return NULL;
        }
      /* libjpeg-turbo scales the DCT: 1/2, 1/4 or 1/8 of each side, at a fraction of the
       * cost. The decoded sides round up. */
      while (denom < 8 &&
             (guint64) ((width + denom - 1) / denom) * ((height + denom - 1) / denom) >
               GEMBA_IMAGE_DECODE_MAX_PIXELS)
        denom *= 2;
      if ((guint64) ((width + denom - 1) / denom) * ((height + denom - 1) / denom) >
          GEMBA_IMAGE_DECODE_MAX_PIXELS)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                       _("%s: the image is too large to classify (%u × %u, %.0f megapixels, "
                         "still over %u megapixels at 1/8 scale): shrink it first"),
                       path, width, height, pixels / 1e6,
                       GEMBA_IMAGE_DECODE_MAX_PIXELS / 1000000u);
          return NULL;
        }
      pixels = (guint64) ((width + denom - 1) / denom) * ((height + denom - 1) / denom);
    }
  /* The decoded pixels, and room for one copy (a region of interest) while they are used. */
  *reserved = pixels * 3 * 2;
  gemba_image_budget_acquire (*reserved);
  if (denom > 1)
    {
      guint w, h;
      if (!jpeg_decode (data, len, path, denom, &image, &w, &h, error))
        image = NULL;
    }
  else if (!decode_any (data, len, path, &image, NULL, &width, &height, error))
    image = NULL;
  if (image == NULL)
    {
      gemba_image_budget_release (*reserved);
      *reserved = 0;
      return NULL;
    }
  *scale_denom = denom;
  return image;
}

/* --- Resampling -------------------------------------------------------------------------- */

/* For each output coordinate along one axis: the first source index and the weights of the
 * source samples that contribute. */
typedef struct {
  guint *start;
  guint *count;
  guint *offset;      /* into weights */
  float *weights;
} Kernel;

static void
kernel_clear (Kernel *k)
{
  g_free (k->start);
  g_free (k->count);
  g_free (k->offset);
  g_free (k->weights);
}

/* Area averaging when @dst < @src: each output sample is the mean of the source span it
 * covers, with partial samples at both ends weighted by their coverage. Bilinear otherwise,
 * with pixel centres aligned. Weights of each output sample sum to 1, so a constant stays
 * constant. */
static void
kernel_init (Kernel *k, guint src, guint dst)
{
  double scale = (double) src / dst;
  guint cap = dst * ((guint) ceil (scale) + 2);

  k->start = g_new (guint, dst);
  k->count = g_new (guint, dst);
  k->offset = g_new (guint, dst);
  k->weights = g_new (float, MAX (cap, dst * 2));

  guint n = 0;
  for (guint i = 0; i < dst; i++)
    {
      k->offset[i] = n;
      if (dst < src)
        {
          double lo = i * scale, hi = (i + 1) * scale;
          guint first = (guint) floor (lo);
          guint last = MIN ((guint) ceil (hi), src);   /* exclusive */

          k->start[i] = first;
          k->count[i] = 0;
          for (guint j = first; j < last; j++)
            {
              double w = MIN (hi, j + 1.0) - MAX (lo, (double) j);

              if (w <= 1e-9)
                {
                  if (k->count[i] == 0)
                    k->start[i] = j + 1;
                  continue;
                }
              k->weights[n++] = (float) (w / scale);
              k->count[i]++;
            }
        }
      else
        {
          double pos = (i + 0.5) * scale - 0.5;
          int j0;
          double f;

          pos = CLAMP (pos, 0.0, (double) (src - 1));
          j0 = (int) floor (pos);
          f = pos - j0;
          k->start[i] = j0;
          if (f > 1e-9 && (guint) j0 + 1 < src)
            {
              k->weights[n++] = (float) (1.0 - f);
              k->weights[n++] = (float) f;
              k->count[i] = 2;
            }
          else
            {
              k->weights[n++] = 1.0f;
              k->count[i] = 1;
            }
        }
      /* Exact normalisation, so rounding never drifts a constant by one level. */
      {
        float sum = 0;

        for (guint j = 0; j < k->count[i]; j++)
          sum += k->weights[k->offset[i] + j];
        for (guint j = 0; j < k->count[i]; j++)
          k->weights[k->offset[i] + j] /= sum;
      }
    }
}

/* --- Public API -------------------------------------------------------------------------- */

/**
 * gemba_image_new:
 * @width: pixels per row, > 0
 * @height: rows, > 0
 *
 * Returns: (transfer full): a black image
 */
GembaImage *
gemba_image_new (guint width, guint height)
{
  GembaImage *image;

  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail ((guint64) width * height <= G_MAXSIZE / 3, NULL);

  image = g_new0 (GembaImage, 1);
  image->width = width;
  image->height = height;
  image->pixels = g_malloc0 ((gsize) width * height * 3);
  return image;
}

void
gemba_image_free (GembaImage *image)
{
  if (image == NULL)
    return;
  g_free (image->pixels);
  g_free (image);
}

GembaImage *
gemba_image_copy (const GembaImage *image)
{
  GembaImage *copy;

  g_return_val_if_fail (image != NULL, NULL);

  copy = g_new0 (GembaImage, 1);
  copy->width = image->width;
  copy->height = image->height;
  copy->pixels = g_memdup2 (image->pixels, (gsize) image->width * image->height * 3);
  return copy;
}

GembaImageFormat
gemba_image_format_sniff (const guint8 *data, gsize len)
{
  static const guint8 png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

  if (data == NULL)
    return GEMBA_IMAGE_FORMAT_UNKNOWN;
  if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
    return GEMBA_IMAGE_FORMAT_JPEG;
  if (len >= 8 && memcmp (data, png_magic, 8) == 0)
    return GEMBA_IMAGE_FORMAT_PNG;
  if (len >= 12 && memcmp (data, "RIFF", 4) == 0 && memcmp (data + 8, "WEBP", 4) == 0)
    return GEMBA_IMAGE_FORMAT_WEBP;
  if (len >= 4 && (memcmp (data, "II*\0", 4) == 0 || memcmp (data, "MM\0*", 4) == 0 ||
                   memcmp (data, "II+\0", 4) == 0 || memcmp (data, "MM\0+", 4) == 0))
    return GEMBA_IMAGE_FORMAT_TIFF;
  if (len >= 14 && data[0] == 'B' && data[1] == 'M')
    return GEMBA_IMAGE_FORMAT_BMP;
  return GEMBA_IMAGE_FORMAT_UNKNOWN;
}

const char *
gemba_image_format_extension (GembaImageFormat format)
{
  switch (format)
    {
    case GEMBA_IMAGE_FORMAT_JPEG:
      return "jpg";
    case GEMBA_IMAGE_FORMAT_PNG:
      return "png";
    case GEMBA_IMAGE_FORMAT_BMP:
      return "bmp";
    case GEMBA_IMAGE_FORMAT_TIFF:
      return "tif";
    case GEMBA_IMAGE_FORMAT_WEBP:
      return "webp";
    case GEMBA_IMAGE_FORMAT_UNKNOWN:
    default:
      return NULL;
    }
}

const char *
gemba_image_format_name (GembaImageFormat format)
{
  switch (format)
    {
    case GEMBA_IMAGE_FORMAT_JPEG:
      return "JPEG";
    case GEMBA_IMAGE_FORMAT_PNG:
      return "PNG";
    case GEMBA_IMAGE_FORMAT_BMP:
      return "BMP";
    case GEMBA_IMAGE_FORMAT_TIFF:
      return "TIFF";
    case GEMBA_IMAGE_FORMAT_WEBP:
      return "WebP";
    case GEMBA_IMAGE_FORMAT_UNKNOWN:
    default:
      return _("unknown");
    }
}

GembaImage *
gemba_image_decode (const guint8 *data, gsize len, const char *name, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  GembaImage *image = NULL;

  decode_any (data, len, name, &image, NULL, NULL, NULL, error);
  return image;
}

GembaImage *
gemba_image_load (const char *path, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  GembaImage *image = NULL;
  gsize len;
  const guint8 *data;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  bytes = read_file (path, error);
  if (bytes == NULL)
    return NULL;
  data = g_bytes_get_data (bytes, &len);
  decode_any (data, len, path, &image, NULL, NULL, NULL, error);
  return image;
}

gboolean
gemba_image_probe (const guint8 *data, gsize len, const char *name, GembaImageFormat *format,
                   guint *width, guint *height, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return decode_any (data, len, name, NULL, format, width, height, error);
}

GembaImage *
gemba_image_load_scaled (const char *path, guint max_side, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GembaImage) image = NULL;
  const guint8 *data;
  gsize len;
  guint width, height, longer, out_w, out_h;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (max_side > 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  bytes = read_file (path, error);
  if (bytes == NULL)
    return NULL;
  data = g_bytes_get_data (bytes, &len);

  if (gemba_image_format_sniff (data, len) == GEMBA_IMAGE_FORMAT_JPEG)
    {
      guint denom = 1;

      /* Pick the largest DCT scale whose output still covers @max_side, from the header
       * alone; the full decode below then reports any damage. */
      if (!jpeg_read_size (data, len, path, &width, &height, error))
        return NULL;
      longer = MAX (width, height);
      while (denom < 8 && longer / (denom * 2) >= max_side)
        denom *= 2;
      if (!jpeg_decode (data, len, path, denom, &image, &width, &height, error))
        return NULL;
    }
  else if (!decode_any (data, len, path, &image, NULL, &width, &height, error))
    return NULL;

  /* Aspect ratio from the full-size dimensions: a DCT-scaled image rounds its sides up. */
  if (width >= height)
    {
      out_w = max_side;
      out_h = MAX (1, (guint) ((double) height * max_side / width + 0.5));
    }
  else
    {
      out_h = max_side;
      out_w = MAX (1, (guint) ((double) width * max_side / height + 0.5));
    }
  if (image->width == out_w && image->height == out_h)
    return g_steal_pointer (&image);
  return gemba_image_resize (image, out_w, out_h);
}

GembaImage *
gemba_image_resize (const GembaImage *image, guint width, guint height)
{
  Kernel kx, ky;
  GembaImage *out;
  float *acc;
  guint sw, sh;

  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);

  sw = image->width;
  sh = image->height;
  if (sw == width && sh == height)
    return gemba_image_copy (image);

  kernel_init (&kx, sw, width);
  kernel_init (&ky, sh, height);
  out = gemba_image_new (width, height);
  acc = g_new (float, (gsize) sw * 3);

  /* Separable: first blend the source rows of one output row into @acc (touching each
   * source byte about once), then blend along the row. */
  for (guint oy = 0; oy < height; oy++)
    {
      const float *wy = ky.weights + ky.offset[oy];
      guint8 *dst = out->pixels + (gsize) oy * width * 3;

      {
        const guint8 *row = image->pixels + (gsize) ky.start[oy] * sw * 3;
        float w = wy[0];

        for (gsize i = 0; i < (gsize) sw * 3; i++)
          acc[i] = w * row[i];
      }
      for (guint j = 1; j < ky.count[oy]; j++)
        {
          const guint8 *row = image->pixels + (gsize) (ky.start[oy] + j) * sw * 3;
          float w = wy[j];

          for (gsize i = 0; i < (gsize) sw * 3; i++)
            acc[i] += w * row[i];
        }

      for (guint ox = 0; ox < width; ox++)
        {
          const float *wx = kx.weights + kx.offset[ox];
          const float *src = acc + (gsize) kx.start[ox] * 3;
          float r = 0, g = 0, b = 0;

          for (guint i = 0; i < kx.count[ox]; i++)
            {
              r += wx[i] * src[3 * i];
              g += wx[i] * src[3 * i + 1];
              b += wx[i] * src[3 * i + 2];
            }
          dst[3 * ox] = (guint8) CLAMP (r + 0.5f, 0.0f, 255.0f);
          dst[3 * ox + 1] = (guint8) CLAMP (g + 0.5f, 0.0f, 255.0f);
          dst[3 * ox + 2] = (guint8) CLAMP (b + 0.5f, 0.0f, 255.0f);
        }
    }

  g_free (acc);
  kernel_clear (&kx);
  kernel_clear (&ky);
  return out;
}

GembaImage *
gemba_image_crop (const GembaImage *image, guint x, guint y, guint width, guint height)
{
  GembaImage *out;

  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail (x < image->width && width <= image->width - x, NULL);
  g_return_val_if_fail (y < image->height && height <= image->height - y, NULL);

  out = gemba_image_new (width, height);
  for (guint row = 0; row < height; row++)
    memcpy (out->pixels + (gsize) row * width * 3,
            image->pixels + ((gsize) (y + row) * image->width + x) * 3, (gsize) width * 3);
  return out;
}

/* libjpeg's own memory destination reallocates behind our back, which makes its buffer
 * impossible to free safely after an error; this one appends to a GByteArray we own. */
typedef struct {
  struct jpeg_destination_mgr pub;
  GByteArray *out;
  JOCTET buffer[16384];
} JpegDest;

static void
jpeg_dest_init_cb (j_compress_ptr cinfo)
{
  JpegDest *dest = (JpegDest *) cinfo->dest;

  dest->pub.next_output_byte = dest->buffer;
  dest->pub.free_in_buffer = sizeof dest->buffer;
}

static boolean
jpeg_dest_empty_cb (j_compress_ptr cinfo)
{
  JpegDest *dest = (JpegDest *) cinfo->dest;

  g_byte_array_append (dest->out, dest->buffer, sizeof dest->buffer);
  dest->pub.next_output_byte = dest->buffer;
  dest->pub.free_in_buffer = sizeof dest->buffer;
  return TRUE;
}

static void
jpeg_dest_term_cb (j_compress_ptr cinfo)
{
  JpegDest *dest = (JpegDest *) cinfo->dest;

  g_byte_array_append (dest->out, dest->buffer, sizeof dest->buffer - dest->pub.free_in_buffer);
}

GBytes *
gemba_image_encode_jpeg (const GembaImage *image, int quality, GError **error)
{
  struct jpeg_compress_struct cinfo;
  JpegError err;
  JpegDest dest;

  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  memset (&cinfo, 0, sizeof cinfo);
  jpeg_error_init (&err);
  cinfo.err = &err.pub;
  dest.pub.init_destination = jpeg_dest_init_cb;
  dest.pub.empty_output_buffer = jpeg_dest_empty_cb;
  dest.pub.term_destination = jpeg_dest_term_cb;
  dest.out = g_byte_array_sized_new ((guint) MIN ((gsize) image->width * image->height / 4 + 1024,
                                                  G_MAXUINT / 2));
  if (setjmp (err.jmp))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("Cannot encode a %u × %u image as JPEG: %s"), image->width, image->height,
                   err.message);
      jpeg_destroy_compress (&cinfo);
      g_byte_array_unref (dest.out);
      return NULL;
    }

  jpeg_create_compress (&cinfo);
  cinfo.dest = &dest.pub;
  cinfo.image_width = image->width;
  cinfo.image_height = image->height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults (&cinfo);
  jpeg_set_quality (&cinfo, CLAMP (quality, 1, 100), TRUE);
  jpeg_start_compress (&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height)
    {
      JSAMPROW row = image->pixels + (gsize) cinfo.next_scanline * image->width * 3;

      jpeg_write_scanlines (&cinfo, &row, 1);
    }
  jpeg_finish_compress (&cinfo);
  jpeg_destroy_compress (&cinfo);

  return g_byte_array_free_to_bytes (dest.out);
}

typedef struct {
  GByteArray *out;
  char message[256];
} PngWriter;

static void
png_write_error_cb (png_structp png, png_const_charp message)
{
  PngWriter *writer = png_get_error_ptr (png);

  g_strlcpy (writer->message, message, sizeof writer->message);
  png_longjmp (png, 1);
}

static void
png_write_cb (png_structp png, png_bytep data, png_size_t len)
{
  PngWriter *writer = png_get_io_ptr (png);

  g_byte_array_append (writer->out, data, len);
}

static void
png_flush_cb (png_structp png)
{
}

GBytes *
gemba_image_encode_png (const GembaImage *image, GError **error)
{
  PngWriter writer = { NULL, "" };
  png_structp png;
  png_infop info;

  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, &writer, png_write_error_cb,
                                 png_warning_cb);
  info = png != NULL ? png_create_info_struct (png) : NULL;
  if (info == NULL)
    {
      png_destroy_write_struct (&png, NULL);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED, _("Cannot start the PNG encoder"));
      return NULL;
    }
  writer.out = g_byte_array_new ();

  if (setjmp (png_jmpbuf (png)))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("Cannot encode a %u × %u image as PNG: %s"), image->width, image->height,
                   writer.message);
      png_destroy_write_struct (&png, &info);
      g_byte_array_unref (writer.out);
      return NULL;
    }

  png_set_write_fn (png, &writer, png_write_cb, png_flush_cb);
  png_set_IHDR (png, info, image->width, image->height, 8, PNG_COLOR_TYPE_RGB,
                PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, info);
  for (guint y = 0; y < image->height; y++)
    png_write_row (png, image->pixels + (gsize) y * image->width * 3);
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);

  return g_byte_array_free_to_bytes (writer.out);
}

static gboolean
write_atomically (const char *path, GBytes *bytes, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (!g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
                                 &local_error))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("Cannot write %s: %s"), path,
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
gemba_image_save (const GembaImage *image, const char *path, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  const char *dot;

  g_return_val_if_fail (image != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  dot = strrchr (path, '.');
  if (dot != NULL && (g_ascii_strcasecmp (dot, ".jpg") == 0 ||
                      g_ascii_strcasecmp (dot, ".jpeg") == 0))
    bytes = gemba_image_encode_jpeg (image, 95, error);
  else if (dot != NULL && g_ascii_strcasecmp (dot, ".png") == 0)
    bytes = gemba_image_encode_png (image, error);
  else
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: cannot tell the image format from the name; use .jpg, .jpeg or .png"),
                   path);
      return FALSE;
    }
  if (bytes == NULL)
    return FALSE;
  return write_atomically (path, bytes, error);
}

static gboolean
mtime_of (const char *path, struct timespec *mtime)
{
  struct stat st;

  if (stat (path, &st) != 0)
    return FALSE;
  *mtime = st.st_mtim;
  return TRUE;
}

static gboolean
timespec_newer_or_equal (const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

gboolean
gemba_image_ensure_thumbnail (const char *frame_path, const char *thumb_path, guint size,
                              GError **error)
{
  g_autoptr(GembaImage) image = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *tmp = NULL;
  struct timespec frame_mtime, thumb_mtime;
  const guint8 *data;
  gsize len, done = 0;
  int fd;

  g_return_val_if_fail (frame_path != NULL, FALSE);
  g_return_val_if_fail (thumb_path != NULL, FALSE);
  g_return_val_if_fail (size > 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!mtime_of (frame_path, &frame_mtime))
    {
      int saved = errno;

      g_set_error (error, GEMBA_ERROR,
                   saved == ENOENT ? GEMBA_ERROR_NOT_FOUND : GEMBA_ERROR_IO,
                   _("Cannot read %s: %s"), frame_path, g_strerror (saved));
      return FALSE;
    }
  if (mtime_of (thumb_path, &thumb_mtime) && timespec_newer_or_equal (&thumb_mtime, &frame_mtime))
    return TRUE;

  image = gemba_image_load_scaled (frame_path, size, error);
  if (image == NULL)
    return FALSE;
  bytes = gemba_image_encode_jpeg (image, 85, error);
  if (bytes == NULL)
    return FALSE;

  dir = g_path_get_dirname (thumb_path);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;

      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("Cannot create the folder %s: %s"),
                   dir, g_strerror (saved));
      return FALSE;
    }

  /* mkstemp gives every call its own temporary name, so threads making the same thumbnail
   * never write into each other's file; the last rename wins with identical bytes. The cache
   * needs no fsync: a lost thumbnail is simply made again. */
  tmp = g_strconcat (thumb_path, ".XXXXXX", NULL);
  fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("Cannot write %s: %s"), thumb_path,
                   g_strerror (saved));
      return FALSE;
    }
  data = g_bytes_get_data (bytes, &len);
  while (done < len)
    {
      ssize_t n = write (fd, data + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = n < 0 ? errno : ENOSPC;

          close (fd);
          g_unlink (tmp);
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("Cannot write %s: %s"),
                       thumb_path, g_strerror (saved));
          return FALSE;
        }
      done += n;
    }
  if (close (fd) != 0 || g_rename (tmp, thumb_path) != 0)
    {
      int saved = errno;

      g_unlink (tmp);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("Cannot write %s: %s"), thumb_path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}
