#define G_LOG_DOMAIN "gemba-package"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "gemba-error.h"
#include "gemba-onnx.h"
#include "onnx-subset.pb-c.h"

/* Every message, string and array of one export lives until the model is packed. */
typedef struct
{
  GPtrArray *allocs;
  GPtrArray *nodes;         /* Onnx__NodeProto * */
  GPtrArray *initializers;  /* Onnx__TensorProto * */
  GembaNet *net;
  char **names;             /* ONNX value name of each Gemba node's output */
} Builder;

static gpointer
keep (Builder *b, gpointer p)
{
  g_ptr_array_add (b->allocs, p);
  return p;
}

static char *
str (Builder *b, const char *s)
{
  return keep (b, g_strdup (s));
}

static Onnx__AttributeProto *
attr_ints (Builder *b, const char *name, const gint64 *values, gsize n)
{
  Onnx__AttributeProto *a = keep (b, g_new (Onnx__AttributeProto, 1));

  *a = (Onnx__AttributeProto) ONNX__ATTRIBUTE_PROTO__INIT;
  a->name = str (b, name);
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
  a->n_ints = n;
  a->ints = keep (b, g_memdup2 (values, n * sizeof (gint64)));
  return a;
}

static Onnx__AttributeProto *
attr_int (Builder *b, const char *name, gint64 value)
{
  Onnx__AttributeProto *a = keep (b, g_new (Onnx__AttributeProto, 1));

  *a = (Onnx__AttributeProto) ONNX__ATTRIBUTE_PROTO__INIT;
  a->name = str (b, name);
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  a->i = value;
  return a;
}

static Onnx__AttributeProto *
attr_float (Builder *b, const char *name, float value)
{
  Onnx__AttributeProto *a = keep (b, g_new (Onnx__AttributeProto, 1));

  *a = (Onnx__AttributeProto) ONNX__ATTRIBUTE_PROTO__INIT;
  a->name = str (b, name);
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
  a->f = value;
  return a;
}

/* Adds a node; @inputs and @attrs are NULL-terminated. Returns its output's name. */
static const char *
add_node (Builder *b, const char *op, const char *output, const char * const *inputs,
          Onnx__AttributeProto **attrs)
{
  Onnx__NodeProto *node = keep (b, g_new (Onnx__NodeProto, 1));
  guint n_inputs = g_strv_length ((char **) inputs);
  guint n_attrs = 0;

  while (attrs && attrs[n_attrs])
    n_attrs++;
  *node = (Onnx__NodeProto) ONNX__NODE_PROTO__INIT;
  node->op_type = str (b, op);
  node->name = str (b, output);
  node->n_input = n_inputs;
  node->input = keep (b, g_new (char *, n_inputs));
  for (guint i = 0; i < n_inputs; i++)
    node->input[i] = str (b, inputs[i]);
  node->n_output = 1;
  node->output = keep (b, g_new (char *, 1));
  node->output[0] = str (b, output);
  node->n_attribute = n_attrs;
  node->attribute = n_attrs ? keep (b, g_memdup2 (attrs, n_attrs * sizeof *attrs)) : NULL;
  g_ptr_array_add (b->nodes, node);
  return node->output[0];
}

/* A float initializer; @data is copied, little-endian as ONNX's raw_data requires. */
static const char *
add_initializer (Builder *b, const char *name, const float *data, const gint64 *dims,
                 gsize n_dims)
{
  Onnx__TensorProto *t = keep (b, g_new (Onnx__TensorProto, 1));
  gsize n = 1;
  guint8 *raw;

  for (gsize i = 0; i < n_dims; i++)
    n *= dims[i];
  *t = (Onnx__TensorProto) ONNX__TENSOR_PROTO__INIT;
  t->name = str (b, name);
  t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  t->n_dims = n_dims;
  t->dims = keep (b, g_memdup2 (dims, n_dims * sizeof (gint64)));
  raw = keep (b, g_malloc (n * sizeof (float) + 1));
  for (gsize i = 0; i < n; i++)
    {
      guint32 bits;
      memcpy (&bits, &data[i], 4);
      bits = GUINT32_TO_LE (bits);
      memcpy (raw + 4 * i, &bits, 4);
    }
  t->raw_data.data = raw;
  t->raw_data.len = n * sizeof (float);
  g_ptr_array_add (b->initializers, t);
  return t->name;
}

static Onnx__ValueInfoProto *
value_info (Builder *b, const char *name, const gint64 *dims, gsize n_dims)
{
  Onnx__ValueInfoProto *v = keep (b, g_new (Onnx__ValueInfoProto, 1));
  Onnx__TypeProto *type = keep (b, g_new (Onnx__TypeProto, 1));
  Onnx__TypeProto__Tensor *tensor = keep (b, g_new (Onnx__TypeProto__Tensor, 1));
  Onnx__TensorShapeProto *shape = keep (b, g_new (Onnx__TensorShapeProto, 1));

  *v = (Onnx__ValueInfoProto) ONNX__VALUE_INFO_PROTO__INIT;
  *type = (Onnx__TypeProto) ONNX__TYPE_PROTO__INIT;
  *tensor = (Onnx__TypeProto__Tensor) ONNX__TYPE_PROTO__TENSOR__INIT;
  *shape = (Onnx__TensorShapeProto) ONNX__TENSOR_SHAPE_PROTO__INIT;
  v->name = str (b, name);
  v->type = type;
  type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  type->tensor_type = tensor;
  tensor->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  tensor->shape = shape;
  shape->n_dim = n_dims;
  shape->dim = keep (b, g_new (Onnx__TensorShapeProto__Dimension *, n_dims));
  for (gsize i = 0; i < n_dims; i++)
    {
      Onnx__TensorShapeProto__Dimension *d =
        keep (b, g_new (Onnx__TensorShapeProto__Dimension, 1));
      *d = (Onnx__TensorShapeProto__Dimension) ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
      /* 0 marks the batch: a symbolic dimension, any size. */
      if (dims[i] == 0)
        {
          d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
          d->dim_param = str (b, "N");
        }
      else
        {
          d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
          d->dim_value = dims[i];
        }
      shape->dim[i] = d;
    }
  return v;
}

/* The Gemba node whose output is node @i's second input (residual additions), or -1. Gemba's
 * builders add nodes in order, each reading the one before, except Add, whose other input is
 * the block's input: for a MobileNetV2 inverted residual that is the node before the block's
 * first convolution ([1×1 expand, bn, relu6,] depthwise, bn, relu6, 1×1 project, bn, add). */
static int
residual_input (GembaNet *net, int i, GError **error)
{
  GembaLayer *add = gemba_net_get_layer (net, i);
  int dw = i - 5;
  int block_in;
  GembaLayer *l;

  if (dw >= 0 && gemba_net_get_layer (net, dw)->kind == GEMBA_LAYER_CONV &&
      gemba_net_get_layer (net, dw)->groups > 1)
    {
      GembaLayer *depthwise = gemba_net_get_layer (net, dw);
      block_in = dw - 1;
      if (dw >= 3 && gemba_net_get_layer (net, dw - 1)->kind == GEMBA_LAYER_RELU6 &&
          gemba_net_get_layer (net, dw - 3)->kind == GEMBA_LAYER_CONV &&
          gemba_net_get_layer (net, dw - 3)->groups == 1 &&
          gemba_net_get_layer (net, dw - 3)->out_c == depthwise->in_c &&
          gemba_net_get_layer (net, dw - 3)->kh == 1)
        block_in = dw - 4;
      if (block_in >= 0)
        {
          l = gemba_net_get_layer (net, block_in);
          if (l->out_c == add->in_c && l->out_h == add->in_h && l->out_w == add->in_w)
            return block_in;
        }
    }
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
               _("ONNX export: cannot tell the inputs of the addition at layer %d"), i);
  return -2;
}

static gboolean
export_conv (Builder *b, int i, const char *x, GembaLayer *conv, GembaLayer *bn)
{
  int per_out = conv->kh * conv->kw * (conv->in_c / conv->groups);
  int in_g = conv->in_c / conv->groups;
  g_autofree float *w = g_new (float, conv->n_w);
  g_autofree float *bias = g_new0 (float, conv->out_c);
  g_autofree char *w_name = g_strdup_printf ("n%d.weight", i);
  g_autofree char *b_name = g_strdup_printf ("n%d.bias", i);
  g_autofree char *out = g_strdup_printf ("n%d", i);
  gint64 w_dims[4] = { conv->out_c, in_g, conv->kh, conv->kw };
  gint64 b_dims[1] = { conv->out_c };
  gint64 kernel[2] = { conv->kh, conv->kw };
  gint64 strides[2] = { conv->stride, conv->stride };
  gint64 pads[4] = { conv->pad, conv->pad, conv->pad, conv->pad };
  gint64 dilations[2] = { 1, 1 };
  const char *inputs[4] = { x, NULL, NULL, NULL };
  Onnx__AttributeProto *attrs[6];

  /* Gemba's [out][kh][kw][in/g] to ONNX's [out][in/g][kh][kw], folding the batch-norm with
   * gemba_layer_fold_batch_norm()'s arithmetic. */
  for (int o = 0; o < conv->out_c; o++)
    {
      float scale = bn ? bn->w[o] / sqrtf (bn->running_var[o] + bn->eps) : 1.0f;

      for (int ky = 0; ky < conv->kh; ky++)
        for (int kx = 0; kx < conv->kw; kx++)
          for (int c = 0; c < in_g; c++)
            {
              float v = conv->w[(gsize) o * per_out + (ky * conv->kw + kx) * in_g + c];
              w[(gsize) o * per_out + (c * conv->kh + ky) * conv->kw + kx] = bn ? v * scale : v;
            }
      bias[o] = conv->b ? conv->b[o] : 0.0f;
      if (bn)
        bias[o] = (bias[o] - bn->running_mean[o]) * scale + bn->b[o];
    }
  inputs[1] = add_initializer (b, w_name, w, w_dims, 4);
  inputs[2] = add_initializer (b, b_name, bias, b_dims, 1);
  attrs[0] = attr_ints (b, "kernel_shape", kernel, 2);
  attrs[1] = attr_ints (b, "strides", strides, 2);
  attrs[2] = attr_ints (b, "pads", pads, 4);
  attrs[3] = attr_ints (b, "dilations", dilations, 2);
  attrs[4] = attr_int (b, "group", conv->groups);
  attrs[5] = NULL;
  b->names[i] = (char *) add_node (b, "Conv", out, inputs, attrs);
  return TRUE;
}

static const char *
export_batch_norm (Builder *b, int i, const char *x, GembaLayer *bn)
{
  g_autofree char *out = g_strdup_printf ("n%d", i);
  gint64 dims[1] = { bn->in_c };
  const char *inputs[6] = { x, NULL, NULL, NULL, NULL, NULL };
  Onnx__AttributeProto *attrs[2] = { attr_float (b, "epsilon", bn->eps), NULL };
  const char *what[] = { "scale", "bias", "mean", "var" };
  const float *data[] = { bn->w, bn->b, bn->running_mean, bn->running_var };

  for (guint k = 0; k < 4; k++)
    {
      g_autofree char *name = g_strdup_printf ("n%d.%s", i, what[k]);
      inputs[1 + k] = add_initializer (b, name, data[k], dims, 1);
    }
  return add_node (b, "BatchNormalization", out, inputs, attrs);
}

static gboolean
build_graph (Builder *b, GError **error)
{
  GembaNet *net = b->net;
  guint n_layers = gemba_net_get_n_layers (net);
  const char *clip_min = NULL;
  const char *clip_max = NULL;

  for (guint u = 0; u < n_layers; u++)
    {
      int i = (int) u;
      GembaLayer *l = gemba_net_get_layer (net, u);
      const char *x = i == 0 ? "input" : b->names[i - 1];
      g_autofree char *out = g_strdup_printf ("n%d", i);

      switch (l->kind)
        {
        case GEMBA_LAYER_CONV:
          {
            GembaLayer *next = u + 1 < n_layers ? gemba_net_get_layer (net, u + 1) : NULL;
            /* A convolution with a bias before a batch-norm was folded already (Gemba's
             * convolutions before a batch-norm have none until folding gives them one). */
            gboolean fold = next && next->kind == GEMBA_LAYER_BATCH_NORM && l->b == NULL &&
                            next->in_c == l->out_c;
            export_conv (b, i, x, l, fold ? next : NULL);
          }
          break;
        case GEMBA_LAYER_BATCH_NORM:
          if (i > 0 && gemba_net_get_layer (net, u - 1)->kind == GEMBA_LAYER_CONV)
            b->names[i] = b->names[i - 1];   /* folded into the convolution */
          else
            b->names[i] = (char *) export_batch_norm (b, i, x, l);
          break;
        case GEMBA_LAYER_RELU:
          {
            const char *inputs[] = { x, NULL };
            b->names[i] = (char *) add_node (b, "Relu", out, inputs, NULL);
          }
          break;
        case GEMBA_LAYER_RELU6:
          {
            const char *inputs[] = { x, NULL, NULL, NULL };
            if (clip_min == NULL)
              {
                float zero = 0.0f, six = 6.0f;
                clip_min = add_initializer (b, "relu6.min", &zero, NULL, 0);
                clip_max = add_initializer (b, "relu6.max", &six, NULL, 0);
              }
            inputs[1] = clip_min;
            inputs[2] = clip_max;
            b->names[i] = (char *) add_node (b, "Clip", out, inputs, NULL);
          }
          break;
        case GEMBA_LAYER_MAX_POOL:
        case GEMBA_LAYER_AVG_POOL:
          {
            const char *inputs[] = { x, NULL };
            gint64 kernel[2] = { l->kh, l->kw };
            gint64 strides[2] = { l->stride, l->stride };
            gint64 pads[4] = { l->pad, l->pad, l->pad, l->pad };
            Onnx__AttributeProto *attrs[5] = {
              attr_ints (b, "kernel_shape", kernel, 2), attr_ints (b, "strides", strides, 2),
              attr_ints (b, "pads", pads, 4), NULL, NULL,
            };
            /* Gemba divides by the whole window, padding included. */
            if (l->kind == GEMBA_LAYER_AVG_POOL)
              attrs[3] = attr_int (b, "count_include_pad", 1);
            b->names[i] = (char *) add_node (b, l->kind == GEMBA_LAYER_MAX_POOL ? "MaxPool"
                                                                                : "AveragePool",
                                             out, inputs, attrs);
          }
          break;
        case GEMBA_LAYER_GLOBAL_AVG_POOL:
          {
            g_autofree char *pooled = g_strdup_printf ("n%d.pooled", i);
            const char *inputs[] = { x, NULL };
            const char *flat_inputs[] = { NULL, NULL };
            Onnx__AttributeProto *attrs[] = { attr_int (b, "axis", 1), NULL };
            flat_inputs[0] = add_node (b, "GlobalAveragePool", pooled, inputs, NULL);
            b->names[i] = (char *) add_node (b, "Flatten", out, flat_inputs, attrs);
          }
          break;
        case GEMBA_LAYER_DROPOUT:
          b->names[i] = (char *) x;   /* inference: identity */
          break;
        case GEMBA_LAYER_LINEAR:
          {
            g_autofree char *w_name = g_strdup_printf ("n%d.weight", i);
            g_autofree char *b_name = g_strdup_printf ("n%d.bias", i);
            g_autofree float *zeros = NULL;
            gint64 w_dims[2] = { l->out_c, l->in_c };
            gint64 b_dims[1] = { l->out_c };
            const char *inputs[] = { x, NULL, NULL, NULL };
            Onnx__AttributeProto *attrs[] = { attr_int (b, "transB", 1), NULL };
            GembaLayer *prev = i > 0 ? gemba_net_get_layer (net, u - 1) : NULL;

            /* Gemba flattens NHWC; only a 1×1 map (after global pooling) flattens the same way
             * in NCHW. */
            if (prev && prev->kind != GEMBA_LAYER_GLOBAL_AVG_POOL &&
                !(prev->kind == GEMBA_LAYER_DROPOUT && prev->out_h == 1 && prev->out_w == 1))
              {
                g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                             _("ONNX export: a linear layer after %s is not supported"),
                             gemba_layer_kind_name (prev->kind));
                return FALSE;
              }
            inputs[1] = add_initializer (b, w_name, l->w, w_dims, 2);
            if (l->b == NULL)
              zeros = g_new0 (float, l->out_c);
            inputs[2] = add_initializer (b, b_name, l->b ? l->b : zeros, b_dims, 1);
            b->names[i] = (char *) add_node (b, "Gemm", out, inputs, attrs);
          }
          break;
        case GEMBA_LAYER_ADD:
          {
            int other = residual_input (net, i, error);
            const char *inputs[] = { x, NULL, NULL };
            if (other < -1)
              return FALSE;
            inputs[1] = other < 0 ? "input" : b->names[other];
            b->names[i] = (char *) add_node (b, "Add", out, inputs, NULL);
          }
          break;
        default:
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                       _("ONNX export: layer %d (%s) is not supported"), i,
                       gemba_layer_kind_name (l->kind));
          return FALSE;
        }
    }
  return TRUE;
}

GBytes *
gemba_onnx_export (GembaNet *net, const char *model_name, const char * const *classes,
                   GError **error)
{
  const GembaNetConfig *config;
  Builder b = { 0 };
  Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
  Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
  Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
  Onnx__OperatorSetIdProto *opsets[] = { &opset };
  Onnx__StringStringEntryProto classes_entry = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
  Onnx__StringStringEntryProto *metadata[] = { &classes_entry };
  Onnx__ValueInfoProto *inputs[1];
  Onnx__ValueInfoProto *outputs[2];
  g_autofree char *classes_text = NULL;
  guint n_layers;
  GBytes *bytes = NULL;
  gsize size;
  guint8 *buffer;

  g_return_val_if_fail (net != NULL, NULL);

  config = gemba_net_get_config (net);
  n_layers = gemba_net_get_n_layers (net);
  b.net = net;
  b.allocs = g_ptr_array_new_with_free_func (g_free);
  b.nodes = g_ptr_array_new ();
  b.initializers = g_ptr_array_new ();
  b.names = g_new0 (char *, n_layers);

  if (n_layers == 0 || !build_graph (&b, error))
    {
      if (n_layers == 0)
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("ONNX export: empty network"));
      goto out;
    }

  {
    /* The last node's output is called "logits": rename it rather than add an Identity. */
    Onnx__NodeProto *last = g_ptr_array_index (b.nodes, b.nodes->len - 1);
    const char *softmax_in[] = { "logits", NULL };
    Onnx__AttributeProto *attrs[] = { attr_int (&b, "axis", 1), NULL };
    g_assert (g_str_equal (last->output[0], b.names[n_layers - 1]));
    last->output[0] = str (&b, "logits");
    add_node (&b, "Softmax", "probabilities", softmax_in, attrs);
  }
  {
    gint64 in_dims[4] = { 0, config->input_c, config->input_h, config->input_w };
    gint64 out_dims[2] = { 0, config->n_classes };
    inputs[0] = value_info (&b, "input", in_dims, 4);
    outputs[0] = value_info (&b, "logits", out_dims, 2);
    outputs[1] = value_info (&b, "probabilities", out_dims, 2);
  }

  graph.name = (char *) (model_name ? model_name : "gemba");
  graph.n_node = b.nodes->len;
  graph.node = (Onnx__NodeProto **) b.nodes->pdata;
  graph.n_initializer = b.initializers->len;
  graph.initializer = (Onnx__TensorProto **) b.initializers->pdata;
  graph.n_input = 1;
  graph.input = inputs;
  graph.n_output = 2;
  graph.output = outputs;

  opset.domain = (char *) "";
  opset.version = GEMBA_ONNX_OPSET;
  model.ir_version = GEMBA_ONNX_IR_VERSION;
  model.n_opset_import = 1;
  model.opset_import = opsets;
  model.producer_name = (char *) "gemba";
  model.producer_version = (char *) PACKAGE_VERSION;
  model.doc_string = (char *) "Input: preprocessed image, NCHW float (see the package "
                              "manifest). Outputs: logits and probabilities per class.";
  model.graph = &graph;
  if (classes)
    {
      classes_text = g_strjoinv ("\n", (char **) classes);
      classes_entry.key = (char *) "classes";
      classes_entry.value = classes_text;
      model.n_metadata_props = 1;
      model.metadata_props = metadata;
    }

  size = onnx__model_proto__get_packed_size (&model);
  buffer = g_malloc (size);
  if (onnx__model_proto__pack (&model, buffer) != size)
    {
      g_free (buffer);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED, _("ONNX export: packing failed"));
      goto out;
    }
  bytes = g_bytes_new_take (buffer, size);

out:
  g_ptr_array_unref (b.nodes);
  g_ptr_array_unref (b.initializers);
  g_ptr_array_unref (b.allocs);
  g_free (b.names);
  return bytes;
}
