/* ae-graph.h: the network graph of a model, validated and immutable.
 *
 * Built once from the `ae.graph` JSON (docs/MODEL-FORMAT.md) and shared by
 * every backend and the trainer. Nodes are stored in topological order;
 * node 0 is the implicit `input`. Dimension order is PyTorch's, outermost
 * first, everywhere: tensors are C x H x W for one frame.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AE_GRAPH_MAX_NODES 256
#define AE_NODE_MAX_INPUTS 16

typedef enum {
  AE_OP_INPUT,
  AE_OP_CONV2D,
  AE_OP_CONV_TRANSPOSE2D,
  AE_OP_PIXEL_SHUFFLE,
  AE_OP_PIXEL_UNSHUFFLE,
  AE_OP_UPSAMPLE,
  AE_OP_MAX_POOL2D,
  AE_OP_AVG_POOL2D,
  AE_OP_ADD,
  AE_OP_CONCAT,
  AE_OP_ACT,
  AE_N_OPS
} AeOp;

typedef enum {
  AE_ACT_NONE,
  AE_ACT_RELU,
  AE_ACT_LEAKY_RELU,
  AE_ACT_SIGMOID,
  AE_ACT_TANH,
} AeAct;

typedef enum {
  AE_TASK_DENOISE,
  AE_TASK_SUPERRES,
  AE_TASK_ANOMALY,
} AeTask;

typedef enum {
  AE_COLOR_LUMA,
  AE_COLOR_RGB,
} AeColor;

typedef enum {
  AE_UPSAMPLE_NEAREST,
  AE_UPSAMPLE_BILINEAR,
} AeUpsampleMode;

/* conv2d, conv_transpose2d */
typedef struct {
  int out_channels, in_channels;
  int kernel, stride, padding, dilation, output_padding;
  gboolean has_bias;
  AeAct act;
  float slope;
} AeConvParams;

/* max_pool2d, avg_pool2d */
typedef struct {
  int kernel, stride, padding;
} AePoolParams;

/* pixel_shuffle, pixel_unshuffle, upsample */
typedef struct {
  int factor;
  AeUpsampleMode mode;
} AeResampleParams;

/* act */
typedef struct {
  AeAct act;
  float slope;
} AeActParams;

typedef struct {
  char *name;
  AeOp op;
  int n_inputs;
  int inputs[AE_NODE_MAX_INPUTS];       /* indices of earlier nodes */
  int channels;                         /* output channels */
  union {
    AeConvParams conv;
    AePoolParams pool;
    AeResampleParams resample;
    AeActParams act;
  } p;
} AeNode;

typedef struct {
  int c, h, w;
} AeShape;

typedef struct _AeGraph AeGraph;

/* Parses and validates an `ae.graph` document. @what names the source in
 * messages. Everything but the weights is checked here. */
AeGraph *ae_graph_new_from_json (const char *json, const char *what,
    GError **error);
void ae_graph_free (AeGraph *g);

/* The document the graph was read from, re-serialised. */
const char *ae_graph_get_json (const AeGraph *g);

int ae_graph_get_n_nodes (const AeGraph *g);
const AeNode *ae_graph_get_node (const AeGraph *g, int index);
/* -1 if absent */
int ae_graph_find_node (const AeGraph *g, const char *name);
int ae_graph_get_output (const AeGraph *g);
/* Index of the last node that reads @index (n_nodes for the output). */
int ae_graph_last_use (const AeGraph *g, int index);

AeTask ae_graph_get_task (const AeGraph *g);
AeColor ae_graph_get_color (const AeGraph *g);
int ae_graph_get_channels (const AeGraph *g);   /* 1 or 3 */
int ae_graph_get_scale (const AeGraph *g);
/* Width and height must be multiples of this (the engine pads to it). */
int ae_graph_get_stride (const AeGraph *g);
/* Input pixels on each side that influence an output pixel, rounded up to
 * a multiple of the stride: the halo a tile needs to equal whole-frame. */
int ae_graph_get_halo (const AeGraph *g);
/* Exact receptive field of one output pixel, in input pixels (square side). */
int ae_graph_get_receptive_field (const AeGraph *g);
/* Multiply-adds x 2, per input pixel, all nodes. */
double ae_graph_get_flops_per_pixel (const AeGraph *g);
gint64 ae_graph_get_n_params (const AeGraph *g);

/* Anomaly calibration; FALSE if the graph has none. The first version's
 * fields: mean and standard deviation of the calibration frames' mean
 * squared error, and the score threshold. */
gboolean ae_graph_get_anomaly_calibration (const AeGraph *g, double *mean,
    double *std, double *threshold);
/* The whole calibration (defined in compute/ae-anomaly.h) into @cal (may be
 * NULL); FALSE if the graph has none. */
typedef struct _AeAnomalyCalibration AeAnomalyCalibration;
gboolean ae_graph_get_anomaly (const AeGraph *g, AeAnomalyCalibration *cal);

/* Shapes of every node for an input of @width x @height, which must be
 * multiples of the stride. @shapes holds ae_graph_get_n_nodes() entries. */
gboolean ae_graph_infer_shapes (const AeGraph *g, int width, int height,
    AeShape *shapes, GError **error);

/* conv2d and conv_transpose2d: the nodes that have weights. */
gboolean ae_node_is_conv (const AeNode *node);
/* Floats in a conv node's weight tensor (0 for other nodes). */
gsize ae_node_weight_size (const AeNode *node);

/* FLOPs of one node for a given output shape (for tables and budgets). */
double ae_node_flops (const AeGraph *g, int index, const AeShape *shapes);

const char *ae_op_name (AeOp op);
const char *ae_act_name (AeAct act);
const char *ae_task_name (AeTask task);
const char *ae_color_name (AeColor color);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeGraph, ae_graph_free)

G_END_DECLS
