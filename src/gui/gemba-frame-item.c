/* gemba-frame-item.c: one position of the frame grid
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include "gemba-frame-item.h"

struct _GembaFrameItem
{
  GObject parent_instance;

  gint64 id;
  GembaFrame *frame;
};

G_DEFINE_FINAL_TYPE (GembaFrameItem, gemba_frame_item, G_TYPE_OBJECT)

enum { PROP_0, PROP_FRAME, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void
gemba_frame_item_finalize (GObject *object)
{
  GembaFrameItem *self = GEMBA_FRAME_ITEM (object);

  g_clear_pointer (&self->frame, gemba_frame_free);
  G_OBJECT_CLASS (gemba_frame_item_parent_class)->finalize (object);
}

static void
gemba_frame_item_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GembaFrameItem *self = GEMBA_FRAME_ITEM (object);

  switch (prop_id)
    {
    case PROP_FRAME:
      g_value_set_pointer (value, self->frame);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_frame_item_class_init (GembaFrameItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = gemba_frame_item_finalize;
  object_class->get_property = gemba_frame_item_get_property;

  properties[PROP_FRAME] =
    g_param_spec_pointer ("frame", NULL, NULL,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
gemba_frame_item_init (GembaFrameItem *self)
{
}

GembaFrameItem *
gemba_frame_item_new (gint64 frame_id)
{
  GembaFrameItem *self = g_object_new (GEMBA_TYPE_FRAME_ITEM, NULL);

  self->id = frame_id;
  return self;
}

gint64
gemba_frame_item_get_id (GembaFrameItem *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_ITEM (self), 0);
  return self->id;
}

const GembaFrame *
gemba_frame_item_get_frame (GembaFrameItem *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_ITEM (self), NULL);
  return self->frame;
}

void
gemba_frame_item_set_frame (GembaFrameItem *self, GembaFrame *frame)
{
  g_return_if_fail (GEMBA_IS_FRAME_ITEM (self));
  g_return_if_fail (frame == NULL || frame->id == self->id);

  g_clear_pointer (&self->frame, gemba_frame_free);
  self->frame = frame;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FRAME]);
}

gboolean
gemba_frame_item_is_false_reading (GembaFrameItem *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_ITEM (self), FALSE);
  return self->frame && self->frame->label_class_id != 0 && self->frame->pred_class_id != 0 &&
         self->frame->label_class_id != self->frame->pred_class_id;
}
