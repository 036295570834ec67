#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gi18n-lib.h>

#include "gemba-error.h"
#include "gemba-net.h"

typedef struct {
  GembaLayer *layer;
  int input;      /* node index, -1 = network input */
  int input2;     /* second input of add, else -2 */
  gboolean skip;  /* folded batch-norm: identity */
  gboolean fused; /* activation applied by the batch-norm before it (unless that is folded) */
  int residual;   /* folded: node whose output a convolution adds to its own, else -1 */
  int pooled;     /* folded: the max-pool a convolution runs with itself, else -1 */
  gboolean merged; /* folded: a max-pool run by the convolution before it (own buffer) */
  int pad_into;   /* folded: the convolution into whose padded input that pool writes, or -1 */
  gboolean prepadded; /* folded: a convolution whose padded input the pool before wrote */
  int block_dw;   /* folded: the depthwise convolution (itself, or after this expansion) and */
  int block_proj; /* the projection run with it in bands of rows (see fuse_blocks()), or -1 */
  gboolean in_block; /* folded: run by the block's first convolution */
  int writer;     /* folded: the node that writes this one's output when it runs, or -1 */
  gboolean unwritten; /* folded: an output that stays in a thread's scratch (no buffer) */
  int buf;        /* buffer id (aliases for in-place and skipped nodes) */
  float *out;
  float *dout;
} Node;

struct _GembaNet {
  GembaNetConfig config;
  GArray *nodes;       /* Node */
  GArray *params;      /* GembaParam */
  gboolean folded;
  int batch;           /* images in the last forward pass */
  int capacity;        /* buffers are sized for this many images */
  float *arena;
  const float *input;
  gboolean trained_pass;
  guint64 seed;
  gboolean *written;
  double *prof;        /* GEMBA_NN_PROFILE: seconds per node, forward then backward */
};

static gboolean
profiling (void)
{
  static int enabled = -1;

  if (enabled < 0)
    enabled = g_getenv ("GEMBA_NN_PROFILE") != NULL;
  return enabled;
}

const char *
gemba_arch_to_string (GembaArch arch)
{
  return arch == GEMBA_ARCH_MOBILENET_V2 ? "mobilenetv2" : "small-cnn";
}

gboolean
gemba_arch_from_string (const char *name, GembaArch *arch)
{
  if (g_strcmp0 (name, "small-cnn") == 0)
    *arch = GEMBA_ARCH_SMALL_CNN;
  else if (g_strcmp0 (name, "mobilenetv2") == 0)
    *arch = GEMBA_ARCH_MOBILENET_V2;
  else
    return FALSE;
  return TRUE;
}

void
gemba_net_config_init (GembaNetConfig *config, GembaArch arch, int n_classes)
{
  static const int small_widths[] = { 16, 32, 64, 128 };

  memset (config, 0, sizeof *config);
  config->arch = arch;
  config->n_classes = n_classes;
  config->input_c = 3;
  config->depth = 1;
  config->width_mult = 1.0f;
  if (arch == GEMBA_ARCH_SMALL_CNN)
    {
      config->input_h = config->input_w = 128;
      memcpy (config->widths, small_widths, sizeof small_widths);
      config->n_widths = G_N_ELEMENTS (small_widths);
      config->dropout = 0.0f;
    }
  else
    {
      config->input_h = config->input_w = 224;
      config->dropout = 0.2f;
    }
}

static Node *
node_at (GembaNet *net, int i)
{
  return &g_array_index (net->nodes, Node, i);
}

static int
add_node (GembaNet *net, GembaLayer *layer, int input, int input2)
{
  Node node = { .layer = layer, .input = input, .input2 = input2, .residual = -1,
               .pooled = -1, .pad_into = -1, .block_dw = -1, .block_proj = -1, .writer = -1 };

  g_array_append_val (net->nodes, node);
  return (int) net->nodes->len - 1;
}

static int
last_node (GembaNet *net)
{
  return (int) net->nodes->len - 1;
}

static const GembaLayer *
last_layer (GembaNet *net)
{
  return node_at (net, last_node (net))->layer;
}

/* conv + batch-norm + (relu | relu6 | nothing); returns the last node */
static int
add_conv_bn (GembaNet *net, int input, int h, int w, int c, int out_c, int k, int stride,
             int groups, GembaLayerKind act)
{
  GembaLayer *conv = gemba_layer_new_conv (h, w, c, out_c, k, k, stride, k / 2, groups, FALSE);
  int n = add_node (net, conv, input, -2);

  n = add_node (net, gemba_layer_new_batch_norm (conv->out_h, conv->out_w, out_c), n, -2);
  if (act == GEMBA_LAYER_RELU || act == GEMBA_LAYER_RELU6)
    n = add_node (net, gemba_layer_new_relu (conv->out_h, conv->out_w, out_c,
                                             act == GEMBA_LAYER_RELU6), n, -2);
  return n;
}

static int
make_divisible (float v, int divisor)
{
  int nv = MAX (divisor, (int) (v + divisor / 2.0f) / divisor * divisor);

  if (nv < 0.9f * v)
    nv += divisor;
  return nv;
}

static gboolean
build_small_cnn (GembaNet *net, GError **error)
{
  const GembaNetConfig *cfg = &net->config;
  int h = cfg->input_h, w = cfg->input_w, c = cfg->input_c;
  int n = -1;

  if (cfg->n_widths < 1 || cfg->n_widths > GEMBA_NET_MAX_WIDTHS || cfg->depth < 1
      || cfg->depth > 8)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("A small CNN needs 1 to %d blocks of 1 to 8 convolutions"),
                   GEMBA_NET_MAX_WIDTHS);
      return FALSE;
    }
  for (int b = 0; b < cfg->n_widths; b++)
    {
      if (cfg->widths[b] < 1 || cfg->widths[b] > 4096)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                       _("Block width %d is out of range (1–4096)"), cfg->widths[b]);
          return FALSE;
        }
      for (int d = 0; d < cfg->depth; d++)
        {
          n = add_conv_bn (net, n, h, w, c, cfg->widths[b], 3, 1, 1, GEMBA_LAYER_RELU);
          c = cfg->widths[b];
        }
      if (b < cfg->n_widths - 1 && h >= 2 && w >= 2)
        {
          n = add_node (net, gemba_layer_new_pool (GEMBA_LAYER_MAX_POOL, h, w, c, 2, 2, 0), n, -2);
          h = last_layer (net)->out_h;
          w = last_layer (net)->out_w;
        }
    }
  n = add_node (net, gemba_layer_new_global_avg_pool (h, w, c), n, -2);
  if (cfg->dropout > 0.0f)
    n = add_node (net, gemba_layer_new_dropout (1, 1, c, cfg->dropout), n, -2);
  add_node (net, gemba_layer_new_linear (c, cfg->n_classes, TRUE), n, -2);
  return TRUE;
}

static gboolean
build_mobilenet_v2 (GembaNet *net, GError **error)
{
  static const int settings[][4] = {
    { 1, 16, 1, 1 }, { 6, 24, 2, 2 }, { 6, 32, 3, 2 }, { 6, 64, 4, 2 },
    { 6, 96, 3, 1 }, { 6, 160, 3, 2 }, { 6, 320, 1, 1 },
  };
  const GembaNetConfig *cfg = &net->config;
  float wm = cfg->width_mult;
  int c = make_divisible (32 * wm, 8);
  int last_c = make_divisible (1280 * MAX (1.0f, wm), 8);
  int n, h, w;

  if (wm < 0.1f || wm > 2.0f)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("Width multiplier %.2f is out of range (0.1–2.0)"), wm);
      return FALSE;
    }
  if (cfg->input_h < 32 || cfg->input_w < 32)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("MobileNetV2 needs an input of at least 32×32 pixels"));
      return FALSE;
    }

  n = add_conv_bn (net, -1, cfg->input_h, cfg->input_w, cfg->input_c, c, 3, 2, 1,
                   GEMBA_LAYER_RELU6);
  h = last_layer (net)->out_h;
  w = last_layer (net)->out_w;
  for (guint s = 0; s < G_N_ELEMENTS (settings); s++)
    {
      int out_c = make_divisible (settings[s][1] * wm, 8);

      for (int i = 0; i < settings[s][2]; i++)
        {
          int stride = i == 0 ? settings[s][3] : 1;
          int hidden = (int) lroundf ((float) c * settings[s][0]);
          int block_in = n;

          if (settings[s][0] != 1)
            n = add_conv_bn (net, n, h, w, c, hidden, 1, 1, 1, GEMBA_LAYER_RELU6);
          n = add_conv_bn (net, n, h, w, hidden, hidden, 3, stride, hidden, GEMBA_LAYER_RELU6);
          h = last_layer (net)->out_h;
          w = last_layer (net)->out_w;
          n = add_conv_bn (net, n, h, w, hidden, out_c, 1, 1, 1, GEMBA_LAYER_ADD /* none */);
          if (stride == 1 && c == out_c)
            n = add_node (net, gemba_layer_new_add (h, w, out_c), n, block_in);
          c = out_c;
        }
    }
  n = add_conv_bn (net, n, h, w, c, last_c, 1, 1, 1, GEMBA_LAYER_RELU6);
  n = add_node (net, gemba_layer_new_global_avg_pool (h, w, last_c), n, -2);
  if (cfg->dropout > 0.0f)
    n = add_node (net, gemba_layer_new_dropout (1, 1, last_c, cfg->dropout), n, -2);
  add_node (net, gemba_layer_new_linear (last_c, cfg->n_classes, TRUE), n, -2);
  return TRUE;
}

static void
add_param (GembaNet *net, int node, const char *what, float *data, float *grad, gsize n,
           const int *shape, int ndims, gboolean decay)
{
  GembaParam p = { 0 };

  p.name = g_strdup_printf ("%d.%s", node, what);
  p.data = data;
  p.grad = grad;
  p.n = n;
  p.ndims = ndims;
  memcpy (p.shape, shape, sizeof (int) * ndims);
  p.decay = decay;
  g_array_append_val (net->params, p);
}

static void
collect_params (GembaNet *net)
{
  for (guint i = 0; i < net->nodes->len; i++)
    {
      GembaLayer *l = node_at (net, (int) i)->layer;

      if (l->kind == GEMBA_LAYER_CONV)
        {
          int shape[4] = { l->out_c, l->kh, l->kw, l->in_c / l->groups };

          add_param (net, (int) i, "weight", l->w, l->gw, l->n_w, shape, 4, TRUE);
          if (l->b)
            add_param (net, (int) i, "bias", l->b, l->gb, l->n_b, &l->out_c, 1, FALSE);
        }
      else if (l->kind == GEMBA_LAYER_LINEAR)
        {
          int shape[2] = { l->out_c, l->in_c };

          add_param (net, (int) i, "weight", l->w, l->gw, l->n_w, shape, 2, TRUE);
          if (l->b)
            add_param (net, (int) i, "bias", l->b, l->gb, l->n_b, &l->out_c, 1, FALSE);
        }
      else if (l->kind == GEMBA_LAYER_BATCH_NORM)
        {
          add_param (net, (int) i, "weight", l->w, l->gw, l->n_w, &l->in_c, 1, FALSE);
          add_param (net, (int) i, "bias", l->b, l->gb, l->n_b, &l->in_c, 1, FALSE);
          add_param (net, (int) i, "running_mean", l->running_mean, NULL, l->in_c, &l->in_c, 1,
                     FALSE);
          add_param (net, (int) i, "running_var", l->running_var, NULL, l->in_c, &l->in_c, 1,
                     FALSE);
        }
    }
}

static int n_consumers (GembaNet *net, int node);

/* A ReLU that only follows a batch-norm is applied by the batch-norm itself (one pass over the
 * activations less each way). */
static void
fuse_activations (GembaNet *net)
{
  for (guint i = 0; i + 1 < net->nodes->len; i++)
    {
      Node *bn = node_at (net, (int) i);
      Node *act = node_at (net, (int) i + 1);

      if (bn->layer->kind == GEMBA_LAYER_BATCH_NORM
          && (act->layer->kind == GEMBA_LAYER_RELU || act->layer->kind == GEMBA_LAYER_RELU6)
          && act->input == (int) i && n_consumers (net, (int) i) == 1)
        {
          bn->layer->act = act->layer->kind;
          act->fused = TRUE;
        }
    }
}

static void
clear_params (GembaNet *net)
{
  for (guint i = 0; i < net->params->len; i++)
    g_free (g_array_index (net->params, GembaParam, i).name);
  g_array_set_size (net->params, 0);
}

GembaNet *
gemba_net_new (const GembaNetConfig *config, GError **error)
{
  g_autoptr(GembaNet) net = g_new0 (GembaNet, 1);
  gboolean ok;

  g_return_val_if_fail (config != NULL, NULL);

  net->config = *config;
  net->nodes = g_array_new (FALSE, TRUE, sizeof (Node));
  net->params = g_array_new (FALSE, TRUE, sizeof (GembaParam));

  if (config->n_classes < 2 || config->n_classes > 100000)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("A classifier needs at least 2 classes (got %d)"), config->n_classes);
      return NULL;
    }
  if (config->input_h < 1 || config->input_w < 1 || config->input_h > 4096
      || config->input_w > 4096 || (config->input_c != 1 && config->input_c != 3))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("Input size %d×%d×%d is not supported"), config->input_w, config->input_h,
                   config->input_c);
      return NULL;
    }
  if (config->dropout < 0.0f || config->dropout >= 1.0f)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("Dropout %.2f is out of range (0–1)"), config->dropout);
      return NULL;
    }

  if (config->arch == GEMBA_ARCH_SMALL_CNN)
    ok = build_small_cnn (net, error);
  else if (config->arch == GEMBA_ARCH_MOBILENET_V2)
    ok = build_mobilenet_v2 (net, error);
  else
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED, _("Unknown architecture"));
      ok = FALSE;
    }
  if (!ok)
    return NULL;

  collect_params (net);
  fuse_activations (net);
  net->prof = g_new0 (double, 2 * net->nodes->len);
  return g_steal_pointer (&net);
}

void
gemba_net_free (GembaNet *net)
{
  if (net == NULL)
    return;
  if (net->prof && profiling ())
    for (guint i = 0; i < net->nodes->len; i++)
      {
        GembaLayer *l = node_at (net, (int) i)->layer;

        g_printerr ("%3u %-16s %4dx%-4dx%-5d fwd %8.3f s  bwd %8.3f s\n", i,
                    gemba_layer_kind_name (l->kind), l->out_h, l->out_w, l->out_c,
                    net->prof[2 * i], net->prof[2 * i + 1]);
      }
  if (net->nodes)
    {
      for (guint i = 0; i < net->nodes->len; i++)
        gemba_layer_free (node_at (net, (int) i)->layer);
      g_array_unref (net->nodes);
    }
  if (net->params)
    {
      clear_params (net);
      g_array_unref (net->params);
    }
  gemba_floats_free (net->arena);
  g_free (net->prof);
  g_free (net->written);
  g_free (net);
}

const GembaNetConfig *
gemba_net_get_config (GembaNet *net)
{
  return &net->config;
}

guint
gemba_net_get_n_layers (GembaNet *net)
{
  return net->nodes->len;
}

GembaLayer *
gemba_net_get_layer (GembaNet *net, guint index)
{
  g_return_val_if_fail (index < net->nodes->len, NULL);
  return node_at (net, (int) index)->layer;
}

void
gemba_net_get_layer_inputs (GembaNet *net, guint index, int *input, int *input2)
{
  g_return_if_fail (index < net->nodes->len);
  if (input)
    *input = node_at (net, (int) index)->input;
  if (input2)
    *input2 = node_at (net, (int) index)->input2;
}

void
gemba_net_init_params (GembaNet *net, guint64 seed)
{
  GembaRng rng;

  for (guint i = 0; i < net->nodes->len; i++)
    {
      GembaLayer *l = node_at (net, (int) i)->layer;

      /* one stream per layer: adding a layer does not change the others */
      gemba_rng_init (&rng, gemba_rng_mix (seed, i));
      gemba_layer_init_params (l, &rng);
      if (l->kind == GEMBA_LAYER_CONV && net->config.arch == GEMBA_ARCH_SMALL_CNN)
        {
          /* PyTorch's default, uniform in ±1/sqrt(fan-in): behind batch-norm a convolution's
           * scale does not change its output, only how far each step moves it, and He's
           * fan-out weights (1.7× larger here) made bench/loop's first model learn half as
           * fast (training loss 0.40 against 0.20 after 15 epochs, in PyTorch too). */
          float bound = 1.0f / sqrtf ((float) (l->in_c / l->groups * l->kh * l->kw));

          for (gsize k = 0; k < l->n_w; k++)
            l->w[k] = bound * (2.0f * gemba_rng_uniform (&rng) - 1.0f);
        }
      else if (l->kind == GEMBA_LAYER_LINEAR && net->config.arch == GEMBA_ARCH_MOBILENET_V2)
        {
          for (gsize k = 0; k < l->n_w; k++)
            l->w[k] = 0.01f * gemba_rng_normal (&rng);
          memset (l->b, 0, l->n_b * sizeof (float));
        }
    }
}

GembaParam *
gemba_net_get_params (GembaNet *net, guint *n_params)
{
  *n_params = net->params->len;
  return (GembaParam *) (void *) net->params->data;
}

GembaParam *
gemba_net_find_param (GembaNet *net, const char *name)
{
  for (guint i = 0; i < net->params->len; i++)
    if (g_str_equal (g_array_index (net->params, GembaParam, i).name, name))
      return &g_array_index (net->params, GembaParam, i);
  return NULL;
}

gsize
gemba_net_count_weights (GembaNet *net)
{
  gsize n = 0;

  for (guint i = 0; i < net->params->len; i++)
    if (g_array_index (net->params, GembaParam, i).grad)
      n += g_array_index (net->params, GembaParam, i).n;
  return n;
}

void
gemba_net_zero_grad (GembaNet *net)
{
  for (guint i = 0; i < net->nodes->len; i++)
    gemba_layer_zero_grad (node_at (net, (int) i)->layer);
}

double
gemba_net_forward_macs (GembaNet *net)
{
  double macs = 0;

  for (guint i = 0; i < net->nodes->len; i++)
    {
      GembaLayer *l = node_at (net, (int) i)->layer;

      if (l->kind == GEMBA_LAYER_CONV || l->kind == GEMBA_LAYER_LINEAR)
        macs += (double) l->out_h * l->out_w * l->n_w;
    }
  return macs;
}

static int
n_consumers (GembaNet *net, int node)
{
  int count = 0;

  for (guint i = 0; i < net->nodes->len; i++)
    {
      Node *n = node_at (net, (int) i);

      count += (n->input == node) + (n->input2 == node);
    }
  return count;
}

/* Folded (inference only): no gradients, and a buffer is reused once its last reader has run,
 * so that the activations in flight stay in cache instead of every layer writing to memory
 * no layer has touched yet (MobileNetV2 at 224, one image: a 2.4 MB arena with fuse_blocks(),
 * 8.4 MB without, was 53 MB).
 * Fills @offset for the buffers' owners and returns the arena's size. */
static gsize
plan_shared (GembaNet *net, int batch, gsize *offset)
{
  const int n_nodes = (int) net->nodes->len;
  g_autofree int *last = g_new (int, n_nodes);    /* per owner: last node that reads it */
  g_autofree int *slot_of = g_new (int, n_nodes);
  g_autoptr(GArray) slot_size = g_array_new (FALSE, TRUE, sizeof (gsize));
  g_autoptr(GArray) slot_free = g_array_new (FALSE, TRUE, sizeof (int)); /* last reader */
  gsize total = 0;

  for (int i = 0; i < n_nodes; i++)
    last[i] = i;
  for (int i = 0; i < n_nodes; i++)
    {
      Node *n = node_at (net, i);
      const int reads[3] = { n->input, n->input2, n->residual };

      for (int k = 0; k < 3; k++)
        if (reads[k] >= 0)
          last[node_at (net, reads[k])->buf] = MAX (last[node_at (net, reads[k])->buf], i);
    }
  last[node_at (net, n_nodes - 1)->buf] = G_MAXINT;   /* the output is returned */

  for (int i = 0; i < n_nodes; i++)
    {
      Node *n = node_at (net, i);
      /* a merged max-pool is written when its convolution runs */
      int when = i;
      gsize size;
      int best = -1;

      if (n->buf != i)
        continue;
      if (n->unwritten)
        {
          offset[i] = 0;
          slot_of[i] = -1;
          continue;
        }
      if (n->writer >= 0)
        when = n->writer;
      if (n->merged)
        for (int c = 0; c < i; c++)
          if (node_at (net, c)->pooled == i)
            when = c;
      size = ((gsize) batch * gemba_layer_out_size (n->layer) + 15) & ~(gsize) 15;
      /* the smallest free slot that is large enough, else the largest free one (grown) */
      for (guint k = 0; k < slot_size->len; k++)
        {
          gsize sk = g_array_index (slot_size, gsize, k);

          if (g_array_index (slot_free, int, k) >= when)
            continue;
          if (best < 0)
            best = (int) k;
          else
            {
              gsize sb = g_array_index (slot_size, gsize, best);

              if (sk >= size ? (sb < size || sk < sb) : (sb < size && sk > sb))
                best = (int) k;
            }
        }
      if (best < 0)
        {
          best = (int) slot_size->len;
          g_array_set_size (slot_size, slot_size->len + 1);
          g_array_set_size (slot_free, slot_free->len + 1);
        }
      g_array_index (slot_size, gsize, best) = MAX (g_array_index (slot_size, gsize, best), size);
      g_array_index (slot_free, int, best) = last[i];
      slot_of[i] = best;
    }
  /* (a merged pool's convolution is only skipped nodes before it: no buffer is taken between
   * the two, so node order is write order) */
  {
    g_autofree gsize *slot_offset = g_new (gsize, slot_size->len + 1);

    for (guint k = 0; k < slot_size->len; k++)
      {
        slot_offset[k] = total;
        total += g_array_index (slot_size, gsize, k);
      }
    for (int i = 0; i < n_nodes; i++)
      if (node_at (net, i)->buf == i && slot_of[i] >= 0)
        offset[i] = slot_offset[slot_of[i]];
  }
  return total;
}

/* Plans buffers: elementwise layers whose input has no other use run in place, and folded
 * batch-norms are skipped; then one arena holds every output and its gradient (folded: see
 * plan_shared()). */
static void
plan_buffers (GembaNet *net, int batch)
{
  gsize total = 0;
  gsize *offset;
  float *p;

  net->batch = batch;
  if (net->arena && batch <= net->capacity)
    return;

  offset = g_new0 (gsize, net->nodes->len);
  for (guint i = 0; i < net->nodes->len; i++)
    {
      Node *n = node_at (net, (int) i);

      if (n->input >= 0 && (n->skip || (gemba_layer_can_run_in_place (n->layer)
                                         && n_consumers (net, n->input) == 1)))
        n->buf = node_at (net, n->input)->buf;
      else
        {
          n->buf = (int) i;
          offset[i] = total;
          total += 2 * (((gsize) batch * gemba_layer_out_size (n->layer) + 15) & ~(gsize) 15);
        }
    }

  if (net->folded)
    total = plan_shared (net, batch, offset);
  gemba_floats_free (net->arena);
  net->arena = gemba_floats_new (total);
  p = net->arena;
  for (guint i = 0; i < net->nodes->len; i++)
    {
      Node *n = node_at (net, (int) i);
      Node *owner = node_at (net, n->buf);
      gsize size = ((gsize) batch * gemba_layer_out_size (owner->layer) + 15) & ~(gsize) 15;

      n->out = p + offset[n->buf];
      n->dout = net->folded ? NULL : n->out + size;
    }
  g_free (offset);
  g_free (net->written);
  net->written = g_new0 (gboolean, net->nodes->len);
  net->capacity = batch;
}

const float *
gemba_net_forward (GembaNet *net, GembaPool *pool, const float *input, int batch,
                   gboolean training, guint64 seed)
{
  g_return_val_if_fail (batch > 0, NULL);
  g_return_val_if_fail (!(training && net->folded), NULL);

  plan_buffers (net, batch);
  net->input = input;
  net->trained_pass = training;
  net->seed = seed;

  for (guint i = 0; i < net->nodes->len; i++)
    {
      Node *n = node_at (net, (int) i);
      const float *x = n->input < 0 ? input : node_at (net, n->input)->out;
      const float *x2 = n->input2 >= 0 ? node_at (net, n->input2)->out : NULL;

      gint64 t0 = profiling () ? g_get_monotonic_time () : 0;

      if (n->skip || n->merged || n->in_block || (n->fused && !node_at (net, n->input)->skip))
        continue;
      if (n->block_dw >= 0)
        {
          Node *d = node_at (net, n->block_dw), *p = node_at (net, n->block_proj);

          gemba_layer_forward_block (d == n ? NULL : n->layer, d->layer, p->layer, pool, batch,
                                     x, p->residual >= 0 ? node_at (net, p->residual)->out : NULL,
                                     p->out);
        }
      else if (n->pooled >= 0)
        gemba_layer_forward_pooled (n->layer, node_at (net, n->pooled)->layer, pool, batch,
                                    n->prepadded ? NULL : x, n->out,
                                    node_at (net, n->pooled)->out,
                                    n->pad_into >= 0 ? node_at (net, n->pad_into)->layer : NULL);
      else if (n->prepadded)
        gemba_layer_forward_padded (n->layer, pool, batch, n->out);
      else if (n->residual >= 0)
        gemba_layer_forward_residual (n->layer, pool, batch, x,
                                      node_at (net, n->residual)->out, n->out);
      else
        gemba_layer_forward (n->layer, pool, batch, x, x2, n->out, training,
                             gemba_rng_mix (seed, i));
      if (t0)
        net->prof[2 * i] += (g_get_monotonic_time () - t0) / 1e6;
    }
  return node_at (net, last_node (net))->out;
}

void
gemba_net_backward (GembaNet *net, GembaPool *pool, const float *dlogits)
{
  int batch = net->batch;
  Node *last = node_at (net, last_node (net));

  g_return_if_fail (net->trained_pass && !net->folded);

  memcpy (last->dout, dlogits,
          sizeof (float) * batch * gemba_layer_out_size (last->layer));
  memset (net->written, 0, sizeof (gboolean) * net->nodes->len);
  net->written[last->buf] = TRUE;

  for (int i = last_node (net); i >= 0; i--)
    {
      Node *n = node_at (net, i);
      const float *x = n->input < 0 ? net->input : node_at (net, n->input)->out;
      const float *x2 = n->input2 >= 0 ? node_at (net, n->input2)->out : NULL;
      float *dx = NULL, *dx2 = NULL;
      gboolean acc = FALSE, acc2 = FALSE;

      if (!net->written[n->buf])
        continue;
      if (n->fused)
        {
          /* the batch-norm before masks the gradient itself; same buffers (in place) */
          net->written[node_at (net, n->input)->buf] = TRUE;
          continue;
        }
      if (n->input >= 0)
        {
          Node *in = node_at (net, n->input);

          dx = in->dout;
          /* in place: dx is dy, overwritten elementwise */
          acc = in->buf != n->buf && net->written[in->buf];
        }
      if (n->input2 >= 0)
        {
          Node *in2 = node_at (net, n->input2);

          dx2 = in2->dout;
          acc2 = net->written[in2->buf];
        }
      gint64 t0 = profiling () ? g_get_monotonic_time () : 0;

      gemba_layer_backward (n->layer, pool, batch, TRUE, x, x2, n->out, n->dout, dx, acc,
                            dx2, acc2);
      if (t0)
        net->prof[2 * i + 1] += (g_get_monotonic_time () - t0) / 1e6;
      if (n->input >= 0)
        net->written[node_at (net, n->input)->buf] = TRUE;
      if (n->input2 >= 0)
        net->written[node_at (net, n->input2)->buf] = TRUE;
    }
}

const float *
gemba_net_get_activation (GembaNet *net, guint index)
{
  g_return_val_if_fail (index < net->nodes->len && net->arena != NULL, NULL);
  return node_at (net, (int) index)->out;
}

const float *
gemba_net_get_activation_grad (GembaNet *net, guint index)
{
  g_return_val_if_fail (index < net->nodes->len && net->arena != NULL, NULL);
  return node_at (net, (int) index)->dout;
}

/* The node that reads @node's output, if there is exactly one, else -1 */
static int
only_consumer (GembaNet *net, int node)
{
  int found = -1;

  for (guint i = 0; i < net->nodes->len; i++)
    {
      Node *n = node_at (net, (int) i);
      int reads = (n->input == node) + (n->input2 == node) + (n->residual == node);

      if (reads == 0)
        continue;
      if (found >= 0 || reads > 1)
        return -1;
      found = (int) i;
    }
  return found;
}

/* MobileNetV2's inverted residual blocks (expansion 1×1, depthwise 3×3, projection 1×1, their
 * batch-norms folded, the residual add fused into the projection) run as one, in a band of
 * rows per thread: the expanded activations (4.8 MB at 112×112 in the first blocks) and the
 * depthwise ones stay in the thread's cache and never go to memory. */
static void
fuse_blocks (GembaNet *net)
{
  for (int i = 0; i < (int) net->nodes->len; i++)
    {
      Node *d = node_at (net, i);
      Node *lead = d, *proj;
      int k, p, e;

      if (d->layer->kind != GEMBA_LAYER_CONV || d->skip || d->in_block || d->input < 0
          || d->pooled >= 0 || d->residual >= 0 || d->prepadded)
        continue;
      /* forward over its skipped batch-norm and activation to the projection */
      for (k = i; (p = only_consumer (net, k)) >= 0 && node_at (net, p)->skip; k = p)
        ;
      if (p < 0)
        continue;
      proj = node_at (net, p);
      if (proj->in_block || proj->pooled >= 0 || proj->prepadded || proj->block_dw >= 0)
        continue;
      /* back over the expansion's to the expansion */
      for (e = d->input; e >= 0 && node_at (net, e)->skip && only_consumer (net, e) >= 0;
           e = node_at (net, e)->input)
        ;
      if (e >= 0 && !node_at (net, e)->skip && !node_at (net, e)->in_block
          && node_at (net, e)->block_dw < 0 && node_at (net, e)->pooled < 0
          && node_at (net, e)->residual < 0 && !node_at (net, e)->prepadded
          && only_consumer (net, e) >= 0
          && gemba_layer_can_fuse_block (node_at (net, e)->layer, d->layer, proj->layer))
        lead = node_at (net, e);
      else if (!gemba_layer_can_fuse_block (NULL, d->layer, proj->layer))
        continue;
      lead->block_dw = i;
      lead->block_proj = p;
      proj->in_block = TRUE;
      proj->writer = (int) (lead - node_at (net, 0));
      d->unwritten = TRUE;
      if (lead != d)
        {
          d->in_block = TRUE;
          lead->unwritten = TRUE;
        }
    }
}

void
gemba_net_fold_batch_norm (GembaNet *net)
{
  if (net->folded)
    return;
  for (guint i = 1; i < net->nodes->len; i++)
    {
      Node *n = node_at (net, (int) i);
      Node *in;

      if (n->layer->kind != GEMBA_LAYER_BATCH_NORM || n->input < 0)
        continue;
      in = node_at (net, n->input);
      if (in->layer->kind != GEMBA_LAYER_CONV || n_consumers (net, n->input) != 1)
        continue;
      gemba_layer_fold_batch_norm (in->layer, n->layer);
      n->skip = TRUE;
    }
  /* Inference only from here: each convolution applies the ReLU/ReLU6 after its folded
   * batch-norm as it writes its output, and packs its weights for the direct kernels. */
  for (guint i = 0; i < net->nodes->len; i++)
    {
      Node *n = node_at (net, (int) i);
      GembaLayerKind act = GEMBA_LAYER_CONV;

      if (n->layer->kind != GEMBA_LAYER_CONV)
        {
          gemba_layer_freeze (n->layer, GEMBA_LAYER_CONV);
          continue;
        }
      if (i + 2 < net->nodes->len)
        {
          Node *bn = node_at (net, (int) i + 1);
          Node *a = node_at (net, (int) i + 2);

          if (bn->skip && bn->input == (int) i && a->fused && a->input == (int) i + 1)
            {
              act = a->layer->kind;
              a->skip = TRUE;
            }
        }
      gemba_layer_freeze (n->layer, act);
    }
  /* A residual add after a convolution (MobileNetV2's projection, its batch-norm folded) is
   * done by the convolution as it stores its output: one pass over the activations less. */
  for (guint i = 0; i < net->nodes->len; i++)
    {
      Node *add = node_at (net, (int) i);
      Node *bn, *conv;

      if (add->layer->kind != GEMBA_LAYER_ADD || add->skip || add->input < 0
          || add->input2 < 0)
        continue;
      bn = node_at (net, add->input);
      if (bn->layer->kind != GEMBA_LAYER_BATCH_NORM || !bn->skip || bn->input < 0
          || n_consumers (net, add->input) != 1)
        continue;
      conv = node_at (net, bn->input);
      if (conv->layer->kind != GEMBA_LAYER_CONV || conv->residual >= 0
          || n_consumers (net, bn->input) != 1 || add->input2 == bn->input)
        continue;
      conv->residual = add->input2;
      add->skip = TRUE;
    }
  fuse_blocks (net);
  /* A 2×2 max-pool after a convolution (the small CNN's) is run with it, a row of windows at a
   * time: the pool reads the convolution's rows while they are in cache. */
  for (guint i = 0; i < net->nodes->len; i++)
    {
      Node *p = node_at (net, (int) i);
      int c;

      if (p->layer->kind != GEMBA_LAYER_MAX_POOL || p->input < 0)
        continue;
      /* back over the skipped batch-norm and activation to the convolution */
      for (c = p->input; c >= 0 && node_at (net, c)->skip; c = node_at (net, c)->input)
        if (n_consumers (net, c) != 1)
          break;
      if (c < 0 || node_at (net, c)->skip || n_consumers (net, c) != 1
          || node_at (net, c)->residual >= 0 || node_at (net, c)->pooled >= 0
          || !gemba_layer_can_fuse_pool (node_at (net, c)->layer, p->layer))
        continue;
      node_at (net, c)->pooled = (int) i;
      p->merged = TRUE;
    }
  /* ... and writes into the zero-bordered copy of the input of the convolution after it, if
   * that is its only reader: no copy of its own */
  for (guint i = 0; i < net->nodes->len; i++)
    {
      Node *c = node_at (net, (int) i);
      int j;

      if (c->pooled < 0 || n_consumers (net, c->pooled) != 1)
        continue;
      for (j = c->pooled + 1; j < (int) net->nodes->len; j++)
        if (node_at (net, j)->input == c->pooled || node_at (net, j)->input2 == c->pooled
            || node_at (net, j)->residual == c->pooled)
          break;
      if (j >= (int) net->nodes->len || node_at (net, j)->input != c->pooled
          || node_at (net, j)->skip || node_at (net, j)->residual >= 0
          || !gemba_layer_can_take_padded (node_at (net, j)->layer,
                                           node_at (net, c->pooled)->layer))
        continue;
      c->pad_into = j;
      node_at (net, j)->prepadded = TRUE;
    }
  net->folded = TRUE;
  /* the parameter list changes (new biases); buffers are re-planned */
  clear_params (net);
  collect_params (net);
  gemba_floats_free (net->arena);
  net->arena = NULL;
  net->batch = net->capacity = 0;
}

void
gemba_net_copy_params (GembaNet *dst, GembaNet *src)
{
  g_return_if_fail (dst->params->len == src->params->len);

  for (guint i = 0; i < src->params->len; i++)
    {
      GembaParam *s = &g_array_index (src->params, GembaParam, i);
      GembaParam *d = &g_array_index (dst->params, GembaParam, i);

      g_return_if_fail (s->n == d->n);
      memcpy (d->data, s->data, sizeof (float) * s->n);
    }
}
