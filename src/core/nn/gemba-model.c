#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "gemba-error.h"
#include "gemba-model.h"

#define WEIGHTS_MAGIC "GMBW"
#define TRAILER_MAGIC "GMBE"

struct _GembaModel {
  GObject parent_instance;
  GembaNet *net;
  GembaPreprocess pp;
  GStrv class_names;
  JsonObject *settings;
  JsonObject *training;
  char *weights_sha256;
};

G_DEFINE_FINAL_TYPE (GembaModel, gemba_model, G_TYPE_OBJECT)

static void
gemba_model_finalize (GObject *object)
{
  GembaModel *self = GEMBA_MODEL (object);

  g_clear_pointer (&self->net, gemba_net_free);
  g_clear_pointer (&self->class_names, g_strfreev);
  g_clear_pointer (&self->settings, json_object_unref);
  g_clear_pointer (&self->training, json_object_unref);
  g_clear_pointer (&self->weights_sha256, g_free);
  G_OBJECT_CLASS (gemba_model_parent_class)->finalize (object);
}

static void
gemba_model_class_init (GembaModelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = gemba_model_finalize;
}

static void
gemba_model_init (GembaModel *self)
{
  self->settings = json_object_new ();
  self->training = json_object_new ();
}

static gboolean
check_class_names (const char *const *names, int n, GError **error)
{
  guint len = names ? g_strv_length ((char **) names) : 0;

  if ((int) len != n)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("The model has %d outputs but %u class names"), n, len);
      return FALSE;
    }
  for (guint i = 0; i < len; i++)
    {
      if (names[i][0] == '\0')
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("A class name is empty"));
          return FALSE;
        }
      for (guint j = 0; j < i; j++)
        if (g_str_equal (names[i], names[j]))
          {
            g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                         _("Class “%s” appears twice"), names[i]);
            return FALSE;
          }
    }
  return TRUE;
}

GembaModel *
gemba_model_new (const GembaNetConfig *config, const GembaPreprocess *pp,
                 const char *const *class_names, guint64 seed, GError **error)
{
  g_autoptr(GembaModel) self = NULL;
  GembaNetConfig cfg;

  g_return_val_if_fail (config != NULL && pp != NULL, NULL);

  if (!check_class_names (class_names, config->n_classes, error) ||
      !gemba_preprocess_validate (pp, NULL, error))
    return NULL;
  cfg = *config;
  if (cfg.input_w != pp->width || cfg.input_h != pp->height || cfg.input_c != pp->channels)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("The network input (%d×%d×%d) does not match the preprocessing (%d×%d×%d)"),
                   cfg.input_w, cfg.input_h, cfg.input_c, pp->width, pp->height, pp->channels);
      return NULL;
    }

  self = g_object_new (GEMBA_TYPE_MODEL, NULL);
  self->net = gemba_net_new (&cfg, error);
  if (self->net == NULL)
    return NULL;
  gemba_net_init_params (self->net, seed);
  self->pp = *pp;
  self->class_names = g_strdupv ((char **) class_names);
  return g_steal_pointer (&self);
}

GembaNet *
gemba_model_get_net (GembaModel *self)
{
  g_return_val_if_fail (GEMBA_IS_MODEL (self), NULL);
  return self->net;
}

const GembaNetConfig *
gemba_model_get_config (GembaModel *self)
{
  g_return_val_if_fail (GEMBA_IS_MODEL (self), NULL);
  return gemba_net_get_config (self->net);
}

const GembaPreprocess *
gemba_model_get_preprocess (GembaModel *self)
{
  g_return_val_if_fail (GEMBA_IS_MODEL (self), NULL);
  return &self->pp;
}

const char *const *
gemba_model_get_class_names (GembaModel *self)
{
  g_return_val_if_fail (GEMBA_IS_MODEL (self), NULL);
  return (const char *const *) self->class_names;
}

int
gemba_model_get_n_classes (GembaModel *self)
{
  g_return_val_if_fail (GEMBA_IS_MODEL (self), 0);
  return (int) g_strv_length (self->class_names);
}

int
gemba_model_find_class (GembaModel *self, const char *name)
{
  g_return_val_if_fail (GEMBA_IS_MODEL (self), -1);
  for (int i = 0; self->class_names[i]; i++)
    if (g_str_equal (self->class_names[i], name))
      return i;
  return -1;
}

gboolean
gemba_model_check_classes (GembaModel *self, const char *const *class_names, GError **error)
{
  g_autoptr(GString) missing = g_string_new (NULL);
  g_autoptr(GString) extra = g_string_new (NULL);
  int n = gemba_model_get_n_classes (self);
  guint given = class_names ? g_strv_length ((char **) class_names) : 0;
  gboolean same_order = (int) given == n;

  for (int i = 0; i < n; i++)
    {
      if (!class_names || !g_strv_contains (class_names, self->class_names[i]))
        g_string_append_printf (missing, "%s“%s”", missing->len ? ", " : "",
                                self->class_names[i]);
      if (same_order && !g_str_equal (class_names[i], self->class_names[i]))
        same_order = FALSE;
    }
  for (guint i = 0; i < given; i++)
    if (gemba_model_find_class (self, class_names[i]) < 0)
      g_string_append_printf (extra, "%s“%s”", extra->len ? ", " : "", class_names[i]);

  if (same_order)
    return TRUE;
  if (missing->len || extra->len)
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                 _("The model’s classes no longer match the project (not in the project: %s; "
                   "not in the model: %s). Train or fine-tune a new model."),
                 missing->len ? missing->str : _("none"), extra->len ? extra->str : _("none"));
  else
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                 _("The model’s classes are in a different order than expected"));
  return FALSE;
}

JsonObject *
gemba_model_get_settings (GembaModel *self)
{
  g_return_val_if_fail (GEMBA_IS_MODEL (self), NULL);
  return self->settings;
}

JsonObject *
gemba_model_get_training (GembaModel *self)
{
  g_return_val_if_fail (GEMBA_IS_MODEL (self), NULL);
  return self->training;
}

void
gemba_model_set_settings (GembaModel *self, JsonObject *settings)
{
  g_return_if_fail (GEMBA_IS_MODEL (self) && settings != NULL);
  json_object_ref (settings);
  json_object_unref (self->settings);
  self->settings = settings;
}

void
gemba_model_set_training (GembaModel *self, JsonObject *training)
{
  g_return_if_fail (GEMBA_IS_MODEL (self) && training != NULL);
  json_object_ref (training);
  json_object_unref (self->training);
  self->training = training;
}

const char *
gemba_model_get_weights_sha256 (GembaModel *self)
{
  g_return_val_if_fail (GEMBA_IS_MODEL (self), NULL);
  return self->weights_sha256;
}

/* ---- weights.bin ------------------------------------------------------------------------ */

static void
put_u32 (GByteArray *b, guint32 v)
{
  guint32 le = GUINT32_TO_LE (v);

  g_byte_array_append (b, (const guint8 *) &le, 4);
}

GBytes *
gemba_model_serialize_weights (GembaModel *self)
{
  GByteArray *b = g_byte_array_new ();
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize digest_len = sizeof digest;
  GembaParam *params;
  guint n;

  g_return_val_if_fail (GEMBA_IS_MODEL (self), NULL);

  params = gemba_net_get_params (self->net, &n);
  g_byte_array_append (b, (const guint8 *) WEIGHTS_MAGIC, 4);
  put_u32 (b, GEMBA_WEIGHTS_VERSION);
  put_u32 (b, n);
  put_u32 (b, 0);
  for (guint i = 0; i < n; i++)
    {
      gsize len = strlen (params[i].name);

      put_u32 (b, (guint32) len);
      g_byte_array_append (b, (const guint8 *) params[i].name, (guint) len);
      put_u32 (b, (guint32) params[i].ndims);
      for (int d = 0; d < params[i].ndims; d++)
        put_u32 (b, (guint32) params[i].shape[d]);
      put_u32 (b, (guint32) params[i].n);
      for (gsize k = 0; k < params[i].n; k++)
        {
          guint32 bits;

          memcpy (&bits, &params[i].data[k], 4);
          put_u32 (b, bits);
        }
    }
  g_checksum_update (sum, b->data, b->len);
  g_checksum_get_digest (sum, digest, &digest_len);
  g_byte_array_append (b, (const guint8 *) TRAILER_MAGIC, 4);
  g_byte_array_append (b, digest, 32);
  return g_byte_array_free_to_bytes (b);
}

typedef struct {
  const guint8 *p;
  gsize left;
} Reader;

static gboolean
get_u32 (Reader *r, guint32 *v)
{
  guint32 le;

  if (r->left < 4)
    return FALSE;
  memcpy (&le, r->p, 4);
  *v = GUINT32_FROM_LE (le);
  r->p += 4;
  r->left -= 4;
  return TRUE;
}

#define CORRUPT(...) \
  G_STMT_START { \
    g_autofree char *detail_ = g_strdup_printf (__VA_ARGS__); \
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("%s is damaged (%s)"), name, \
                 detail_); \
    return FALSE; \
  } G_STMT_END

gboolean
gemba_model_deserialize_weights (GembaModel *self, GBytes *bytes, const char *name,
                                 GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree gboolean *seen = NULL;
  guint8 digest[32];
  gsize digest_len = sizeof digest;
  guint32 version, n_tensors, flags;
  Reader r;
  GembaParam *params;
  guint n_params;

  g_return_val_if_fail (GEMBA_IS_MODEL (self), FALSE);

  if (size < 16 + 36 || memcmp (data, WEIGHTS_MAGIC, 4) != 0)
    CORRUPT (_("not a Gemba weights file"));
  if (memcmp (data + size - 36, TRAILER_MAGIC, 4) != 0)
    CORRUPT (_("truncated"));
  g_checksum_update (sum, data, size - 36);
  g_checksum_get_digest (sum, digest, &digest_len);
  if (memcmp (digest, data + size - 32, 32) != 0)
    CORRUPT (_("checksum mismatch"));

  r.p = data + 4;
  r.left = size - 36 - 4;
  if (!get_u32 (&r, &version) || !get_u32 (&r, &n_tensors) || !get_u32 (&r, &flags))
    CORRUPT (_("truncated header"));
  if (version > GEMBA_WEIGHTS_VERSION)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_TOO_NEW,
                   _("%s was written by a newer Gemba (weights format %u)"), name, version);
      return FALSE;
    }

  params = gemba_net_get_params (self->net, &n_params);
  seen = g_new0 (gboolean, n_params);
  if (n_tensors != n_params)
    CORRUPT (_("%u tensors, the architecture has %u"), n_tensors, n_params);
  for (guint t = 0; t < n_tensors; t++)
    {
      guint32 len, ndims, dims[4], count;
      g_autofree char *pname = NULL;
      GembaParam *p;

      if (!get_u32 (&r, &len) || len > 256 || r.left < len)
        CORRUPT (_("bad tensor name"));
      pname = g_strndup ((const char *) r.p, len);
      r.p += len;
      r.left -= len;
      p = gemba_net_find_param (self->net, pname);
      if (p == NULL)
        CORRUPT (_("unknown tensor “%s”"), pname);
      if (seen[p - params])
        CORRUPT (_("tensor “%s” appears twice"), pname);
      seen[p - params] = TRUE;
      if (!get_u32 (&r, &ndims) || (int) ndims != p->ndims)
        CORRUPT (_("tensor “%s” has the wrong shape"), pname);
      for (guint d = 0; d < ndims; d++)
        if (!get_u32 (&r, &dims[d]) || (int) dims[d] != p->shape[d])
          CORRUPT (_("tensor “%s” has the wrong shape"), pname);
      if (!get_u32 (&r, &count) || count != p->n || r.left < (gsize) count * 4)
        CORRUPT (_("tensor “%s” is truncated"), pname);
      for (guint32 k = 0; k < count; k++)
        {
          guint32 le, bits;

          memcpy (&le, r.p + (gsize) k * 4, 4);
          bits = GUINT32_FROM_LE (le);
          memcpy (&p->data[k], &bits, 4);
        }
      r.p += (gsize) count * 4;
      r.left -= (gsize) count * 4;
    }
  if (r.left != 0)
    CORRUPT (_("unexpected data after the tensors"));
  return TRUE;
}

/* ---- model.json -------------------------------------------------------------------------- */

static JsonNode *
config_to_json (const GembaNetConfig *cfg)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "name", gemba_arch_to_string (cfg->arch));
  if (cfg->arch == GEMBA_ARCH_SMALL_CNN)
    {
      JsonArray *w = json_array_new ();

      for (int i = 0; i < cfg->n_widths; i++)
        json_array_add_int_element (w, cfg->widths[i]);
      json_object_set_array_member (o, "widths", w);
      json_object_set_int_member (o, "depth", cfg->depth);
    }
  else
    json_object_set_double_member (o, "width-multiplier", cfg->width_mult);
  json_object_set_double_member (o, "dropout", cfg->dropout);
  return json_node_init_object (json_node_alloc (), o);
}

static gboolean
config_from_json (GembaNetConfig *cfg, JsonNode *node, const GembaPreprocess *pp, int n_classes,
                  const char *name, GError **error)
{
  JsonObject *o;
  GembaArch arch;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    CORRUPT (_("no architecture"));
  o = json_node_get_object (node);
  if (!gemba_arch_from_string (json_object_get_string_member_with_default (o, "name", ""), &arch))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: unknown architecture “%s”"), name,
                   json_object_get_string_member_with_default (o, "name", ""));
      return FALSE;
    }
  gemba_net_config_init (cfg, arch, n_classes);
  cfg->input_w = pp->width;
  cfg->input_h = pp->height;
  cfg->input_c = pp->channels;
  cfg->dropout = json_object_get_double_member_with_default (o, "dropout", cfg->dropout);
  if (arch == GEMBA_ARCH_SMALL_CNN)
    {
      JsonArray *w = json_object_has_member (o, "widths")
                       ? json_object_get_array_member (o, "widths") : NULL;

      if (w == NULL || json_array_get_length (w) < 1
          || json_array_get_length (w) > GEMBA_NET_MAX_WIDTHS)
        CORRUPT (_("bad widths"));
      cfg->n_widths = (int) json_array_get_length (w);
      for (int i = 0; i < cfg->n_widths; i++)
        cfg->widths[i] = (int) json_array_get_int_element (w, i);
      cfg->depth = (int) json_object_get_int_member_with_default (o, "depth", 1);
    }
  else
    cfg->width_mult = json_object_get_double_member_with_default (o, "width-multiplier", 1.0);
  return TRUE;
}

static gboolean
write_file_synced (const char *path, const void *data, gsize len, GError **error)
{
  int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const guint8 *p = data;

  if (fd < 0)
    goto fail;
  while (len > 0)
    {
      gssize w = write (fd, p, len);

      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        {
          close (fd);
          goto fail;
        }
      p += w;
      len -= (gsize) w;
    }
  if (fsync (fd) != 0)
    {
      close (fd);
      goto fail;
    }
  if (close (fd) != 0)
    goto fail;
  return TRUE;

fail:
  {
    int saved = errno;

    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("Could not write %s: %s"), path,
                 g_strerror (saved));
    return FALSE;
  }
}

static void
remove_tree (const char *dir)
{
  const char *files[] = { "weights.bin", "model.json" };

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *p = g_build_filename (dir, files[i], NULL);

      g_unlink (p);
    }
  g_rmdir (dir);
}

gboolean
gemba_model_save (GembaModel *self, const char *dir, GError **error)
{
  g_autoptr(GBytes) weights = NULL;
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *base = NULL;
  g_autofree char *tmpl = NULL;
  g_autofree char *wpath = NULL;
  g_autofree char *jpath = NULL;
  g_autofree char *json = NULL;
  g_autofree char *sha = NULL;
  JsonObject *o, *wo;
  JsonArray *classes;
  gsize json_len;

  g_return_val_if_fail (GEMBA_IS_MODEL (self), FALSE);
  g_return_val_if_fail (dir != NULL, FALSE);

  if (g_file_test (dir, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS, _("%s already exists"), dir);
      return FALSE;
    }

  weights = gemba_model_serialize_weights (self);
  sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, weights);

  o = json_object_new ();
  json_object_set_string_member (o, "format", "gemba-model");
  json_object_set_int_member (o, "version", GEMBA_MODEL_FORMAT_VERSION);
  json_object_set_string_member (o, "gemba-version", PACKAGE_VERSION);
  json_object_set_member (o, "architecture", config_to_json (gemba_net_get_config (self->net)));
  json_object_set_member (o, "input", gemba_preprocess_to_json (&self->pp));
  classes = json_array_new ();
  for (int i = 0; self->class_names[i]; i++)
    json_array_add_string_element (classes, self->class_names[i]);
  json_object_set_array_member (o, "classes", classes);
  wo = json_object_new ();
  json_object_set_string_member (wo, "file", "weights.bin");
  json_object_set_int_member (wo, "bytes", (gint64) g_bytes_get_size (weights));
  json_object_set_string_member (wo, "sha256", sha);
  json_object_set_object_member (o, "weights", wo);
  json_object_set_object_member (o, "settings", json_object_ref (self->settings));
  json_object_set_object_member (o, "training", json_object_ref (self->training));
  root = json_node_init_object (json_node_alloc (), o);
  json_object_unref (o);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json = json_generator_to_data (gen, &json_len);

  /* a temporary folder next to the target, renamed into place when complete */
  parent = g_path_get_dirname (dir);
  base = g_path_get_basename (dir);
  if (g_mkdir_with_parents (parent, 0755) != 0)
    {
      int saved = errno;

      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("Could not create %s: %s"), parent,
                   g_strerror (saved));
      return FALSE;
    }
  tmpl = g_strdup_printf ("%s/.%s.tmp-XXXXXX", parent, base);
  if (g_mkdtemp (tmpl) == NULL)
    {
      int saved = errno;

      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("Could not create a folder in %s: %s"),
                   parent, g_strerror (saved));
      return FALSE;
    }
  wpath = g_build_filename (tmpl, "weights.bin", NULL);
  jpath = g_build_filename (tmpl, "model.json", NULL);
  if (!write_file_synced (wpath, g_bytes_get_data (weights, NULL), g_bytes_get_size (weights),
                          error)
      || !write_file_synced (jpath, json, json_len, error))
    {
      remove_tree (tmpl);
      return FALSE;
    }
  if (g_rename (tmpl, dir) != 0)
    {
      int saved = errno;

      remove_tree (tmpl);
      g_set_error (error, GEMBA_ERROR, saved == ENOTEMPTY || saved == EEXIST
                                         ? GEMBA_ERROR_EXISTS : GEMBA_ERROR_IO,
                   _("Could not move the model into %s: %s"), dir, g_strerror (saved));
      return FALSE;
    }
  g_free (self->weights_sha256);
  self->weights_sha256 = g_steal_pointer (&sha);
  return TRUE;
}

GembaModel *
gemba_model_load (const char *dir, GError **error)
{
  g_autoptr(GembaModel) self = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;
  g_autofree char *jpath = g_build_filename (dir, "model.json", NULL);
  g_autofree char *wpath = g_build_filename (dir, "weights.bin", NULL);
  g_autofree char *wdata = NULL;
  g_autoptr(GBytes) wbytes = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *sha = NULL;
  GembaNetConfig cfg;
  GembaPreprocess pp;
  JsonObject *o;
  JsonArray *classes;
  const char *name = jpath;
  gsize wlen;

  if (!json_parser_load_from_file (parser, jpath, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND, _("%s: no model here (%s)"),
                     dir, local_error->message);
      else
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("%s is damaged (%s)"), jpath,
                     local_error->message);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("%s is damaged (%s)"), jpath,
                   _("not an object"));
      return NULL;
    }
  o = json_node_get_object (json_parser_get_root (parser));
  if (g_strcmp0 (json_object_get_string_member_with_default (o, "format", ""), "gemba-model"))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("%s is damaged (%s)"), jpath,
                   _("not a Gemba model"));
      return NULL;
    }
  if (json_object_get_int_member_with_default (o, "version", 0) > GEMBA_MODEL_FORMAT_VERSION)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_TOO_NEW,
                   _("%s was written by a newer Gemba; update Gemba to use it"), jpath);
      return NULL;
    }
  if (!json_object_has_member (o, "classes")
      || !JSON_NODE_HOLDS_ARRAY (json_object_get_member (o, "classes")))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("%s is damaged (%s)"), jpath,
                   _("no class list"));
      return NULL;
    }
  classes = json_object_get_array_member (o, "classes");
  for (guint i = 0; i < json_array_get_length (classes); i++)
    {
      const char *c = json_node_get_string (json_array_get_element (classes, i));

      g_ptr_array_add (names, g_strdup (c ? c : ""));
    }
  g_ptr_array_add (names, NULL);

  if (!gemba_preprocess_from_json (&pp, json_object_get_member (o, "input"), &local_error))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("%s is damaged (%s)"), jpath,
                   local_error->message);
      return NULL;
    }
  if (!config_from_json (&cfg, json_object_get_member (o, "architecture"), &pp,
                         (int) json_array_get_length (classes), name, error))
    return NULL;

  self = gemba_model_new (&cfg, &pp, (const char *const *) names->pdata, 0, &local_error);
  if (self == NULL)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("%s is damaged (%s)"), jpath,
                   local_error->message);
      return NULL;
    }
  if (json_object_has_member (o, "settings")
      && JSON_NODE_HOLDS_OBJECT (json_object_get_member (o, "settings")))
    gemba_model_set_settings (self, json_object_get_object_member (o, "settings"));
  if (json_object_has_member (o, "training")
      && JSON_NODE_HOLDS_OBJECT (json_object_get_member (o, "training")))
    gemba_model_set_training (self, json_object_get_object_member (o, "training"));

  if (!g_file_get_contents (wpath, &wdata, &wlen, &local_error))
    {
      g_set_error (error, GEMBA_ERROR,
                   g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                     ? GEMBA_ERROR_CORRUPT : GEMBA_ERROR_IO,
                   _("Could not read %s: %s"), wpath, local_error->message);
      return NULL;
    }
  wbytes = g_bytes_new_take (g_steal_pointer (&wdata), wlen);
  sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, wbytes);
  if (json_object_has_member (o, "weights"))
    {
      JsonObject *wo = json_object_get_object_member (o, "weights");
      const char *expect = wo ? json_object_get_string_member_with_default (wo, "sha256", NULL)
                              : NULL;

      if (expect && g_ascii_strcasecmp (expect, sha) != 0)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                       _("%s is damaged (%s)"), wpath, _("it does not match model.json"));
          return NULL;
        }
    }
  if (!gemba_model_deserialize_weights (self, wbytes, wpath, error))
    return NULL;
  self->weights_sha256 = g_steal_pointer (&sha);
  return g_steal_pointer (&self);
}
