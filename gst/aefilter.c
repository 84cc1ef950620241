/* aefilter.c: GstAeFilter, the shared plumbing of the autoencoder elements.
 *
 * Life cycle: start() resolves and loads the model, checks its task and
 * opens the engine; set_info() checks the format against the model's colour
 * and plans for the frame size (again when it changes); stop() frees all
 * three. Properties that shape the model or engine are GST_PARAM_MUTABLE_READY
 * and are read once, under the object lock, when they are used.
 *
 * Default models: with `model` unset, the element loads its task's shipped
 * model for the backend that runs (the fast one on the CPU, the quality one
 * on a GPU). A model loaded on demand before start() (for caps) is chosen
 * from the `device` setting and replaced in start() if the engine's real
 * backend calls for the other one.
 *
 * Frames in flight: on a GPU the engine overlaps one frame's upload and
 * download with the next one's compute when two frames are submitted
 * before the first is waited for. For subclasses with frame funcs,
 * generate_output() therefore submits each frame and returns the one
 * before it, holding `frames-in-flight` - 1 frames; serialized events (EOS,
 * caps, segment, gap...) push the held frames first, so nothing is
 * reordered, and FLUSH_STOP and stop() drop them. On the CPU a frame is
 * done within the chain function by the base class's usual path.
 *
 * Allocation: the pools proposed upstream and decided downstream get one
 * more buffer per held frame.
 *
 * Latency and QoS: the latency query adds the held frames' duration to
 * upstream's figures (nothing on the CPU), and a latency message is posted
 * when that changes (a lost GPU). QoS is on: frames already late
 * downstream are dropped before the expensive model runs (the base class
 * posts the QoS messages).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "aefilter.h"

#include "ae-error.h"
#include "ae-model-path.h"
#include "ae-parallel.h"

GST_DEBUG_CATEGORY_STATIC (gst_ae_filter_debug);
#define GST_CAT_DEFAULT gst_ae_filter_debug

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_BACKEND,
  PROP_TILE_SIZE,
  PROP_THREADS,
};

#define DEFAULT_MODEL NULL
#define DEFAULT_DEVICE "auto"
#define DEFAULT_TILE_SIZE 0
#define DEFAULT_THREADS 0
#define DEFAULT_FRAMES_IN_FLIGHT 2
#define MAX_FRAMES_IN_FLIGHT 2  /* the engine's */

/* A frame between its submission to the engine and its push. */
typedef struct
{
  GstBuffer *inbuf, *outbuf;
  GstVideoFrame in, out;
  gboolean on_model;            /* submitted; else copied already */
} GstAeFilterFrame;

typedef struct
{
  /* properties, under the object lock */
  gchar *model_path;
  gchar *device;
  gchar *backend;
  gint tile_size;
  gint threads;
  gint frames_in_flight;
  /* frames held back (0 or frames_in_flight - 1) and the frame duration,
   * for the latency query */
  gint held;
  GstClockTime frame_duration;

  /* the model: loaded by start() or earlier, on demand, by
   * gst_ae_filter_get_scale(); dropped when `model` changes and in stop().
   * Loading and replacing it take model_lock; the streaming thread reads it
   * without, between start and stop. */
  GMutex model_lock;
  AeModel *model;
  /* the last on-demand load failed (start() retries and posts the error) */
  gboolean model_failed;
  /* the default model's file name if that is what model holds, else NULL */
  const gchar *model_default;

  /* between start and stop; streaming thread */
  AeEngine *engine;
  AePlan *plan;
  gint plan_width, plan_height;
  /* GstAeFilterFrame, oldest first */
  GQueue queue;
  /* frames run and the time spent in the engine's calls, for the
   * element's overhead (logged at INFO in stop()) */
  guint64 n_frames;
  gint64 engine_us;
} GstAeFilterPrivate;

#define gst_ae_filter_parent_class parent_class
G_DEFINE_ABSTRACT_TYPE_WITH_CODE (GstAeFilter, gst_ae_filter,
    GST_TYPE_VIDEO_FILTER, G_ADD_PRIVATE (GstAeFilter)
    GST_DEBUG_CATEGORY_INIT (gst_ae_filter_debug, "aefilter", 0,
        "autoencoder filter base class"));

static void gst_ae_filter_finalize (GObject * object);
static void gst_ae_filter_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_ae_filter_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static gboolean gst_ae_filter_start (GstBaseTransform * trans);
static gboolean gst_ae_filter_stop (GstBaseTransform * trans);
static gboolean gst_ae_filter_set_info (GstVideoFilter * filter,
    GstCaps * incaps, GstVideoInfo * in_info, GstCaps * outcaps,
    GstVideoInfo * out_info);
static gboolean gst_ae_filter_propose_allocation (GstBaseTransform * trans,
    GstQuery * decide_query, GstQuery * query);
static gboolean gst_ae_filter_decide_allocation (GstBaseTransform * trans,
    GstQuery * query);
static GstFlowReturn gst_ae_filter_generate_output (GstBaseTransform * trans,
    GstBuffer ** outbuf);
static gboolean gst_ae_filter_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_ae_filter_query (GstBaseTransform * trans,
    GstPadDirection direction, GstQuery * query);
static GstFlowReturn gst_ae_filter_transform_frame (GstVideoFilter * filter,
    GstVideoFrame * in, GstVideoFrame * out);
static void gst_ae_filter_drop_queue (GstAeFilter * self);
static GstFlowReturn gst_ae_filter_drain (GstAeFilter * self);
static guint gst_ae_filter_update_held (GstAeFilter * self);

static void
gst_ae_filter_class_init (GstAeFilterClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *vfilter_class = GST_VIDEO_FILTER_CLASS (klass);

  gobject_class->finalize = gst_ae_filter_finalize;
  gobject_class->set_property = gst_ae_filter_set_property;
  gobject_class->get_property = gst_ae_filter_get_property;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of the model file (.safetensors), or the name of an "
          "installed one (looked up in AE_MODEL_PATH, then the models "
          "directory); unset: the shipped model for the element's task and "
          "backend", DEFAULT_MODEL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Compute device: auto, cpu, vulkan or vulkan:N (auto honours the "
          "AE_DEVICE environment variable)", DEFAULT_DEVICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_string ("backend", "Backend",
          "What actually runs the model (\"cpu\" or \"vulkan:N (name)\"); "
          "NULL until the element is started", NULL,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_TILE_SIZE,
      g_param_spec_int ("tile-size", "Tile size",
          "Side of the square tiles large frames are cut into, in input "
          "pixels (0 = automatic, -1 = never tile); the result is the same, "
          "but tiles under twice the model's halo (ae-model info) cost "
          "several times the time",
          -1, G_MAXINT, DEFAULT_TILE_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_int ("threads", "Threads",
          "Worker threads of the CPU backend (0 = one per core)",
          0, AE_PARALLEL_MAX_THREADS, DEFAULT_THREADS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  trans_class->start = GST_DEBUG_FUNCPTR (gst_ae_filter_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_ae_filter_stop);
  trans_class->generate_output =
      GST_DEBUG_FUNCPTR (gst_ae_filter_generate_output);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_ae_filter_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_ae_filter_query);
  trans_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_ae_filter_propose_allocation);
  trans_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_ae_filter_decide_allocation);
  vfilter_class->set_info = GST_DEBUG_FUNCPTR (gst_ae_filter_set_info);

  klass->task = AE_TASK_DENOISE;
  klass->default_model = NULL;
  klass->default_model_fast = NULL;

  gst_type_mark_as_plugin_api (GST_TYPE_AE_FILTER, 0);
}

static void
gst_ae_filter_init (GstAeFilter * self)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);

  priv->model_path = g_strdup (DEFAULT_MODEL);
  priv->device = g_strdup (DEFAULT_DEVICE);
  priv->tile_size = DEFAULT_TILE_SIZE;
  priv->threads = DEFAULT_THREADS;
  priv->frames_in_flight = DEFAULT_FRAMES_IN_FLIGHT;
  priv->frame_duration = GST_CLOCK_TIME_NONE;
  g_queue_init (&priv->queue);
  g_mutex_init (&priv->model_lock);
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), TRUE);
}

void
gst_ae_filter_class_install_model_property (GstAeFilterClass * klass)
{
  const gchar *fast = klass->default_model_fast;
  const gchar *quality = klass->default_model;
  gchar *blurb;

  g_return_if_fail (quality != NULL);
  /* a subclass without properties of its own has none of these yet */
  if (!G_OBJECT_CLASS (klass)->set_property) {
    G_OBJECT_CLASS (klass)->set_property = gst_ae_filter_set_property;
    G_OBJECT_CLASS (klass)->get_property = gst_ae_filter_get_property;
  }
  if (fast && g_strcmp0 (fast, quality) != 0)
    blurb = g_strdup_printf ("Path of the model file (.safetensors), or the "
        "name of one in AE_MODEL_PATH or %s (\"%s\" or \"%s\"; the extension "
        "may be left out); unset: %s on the CPU backend, %s on a GPU (Vulkan; "
        "%s when that is not installed)", ae_model_path_installed_dir (),
        fast, quality, fast, quality, fast);
  else
    blurb = g_strdup_printf ("Path of the model file (.safetensors), or the "
        "name of one in AE_MODEL_PATH or %s (the extension may be left out); "
        "unset: %s", ae_model_path_installed_dir (), quality);
  g_object_class_install_property (G_OBJECT_CLASS (klass),
      GST_AE_FILTER_PROP_MODEL, g_param_spec_string ("model", "Model",
          blurb, DEFAULT_MODEL, G_PARAM_READWRITE | G_PARAM_STATIC_NAME |
          G_PARAM_STATIC_NICK | GST_PARAM_MUTABLE_READY));
  g_free (blurb);
}

void
gst_ae_filter_class_set_frame_funcs (GstAeFilterClass * klass,
    gboolean (*needs_model) (GstAeFilter * self),
    void (*finish) (GstAeFilter * self, GstVideoFrame * in,
        GstVideoFrame * out))
{
  g_return_if_fail (finish != NULL);

  klass->frame_needs_model = needs_model;
  klass->finish_frame = finish;
  GST_VIDEO_FILTER_CLASS (klass)->transform_frame =
      GST_DEBUG_FUNCPTR (gst_ae_filter_transform_frame);
  if (!G_OBJECT_CLASS (klass)->set_property) {
    G_OBJECT_CLASS (klass)->set_property = gst_ae_filter_set_property;
    G_OBJECT_CLASS (klass)->get_property = gst_ae_filter_get_property;
  }
  g_object_class_install_property (G_OBJECT_CLASS (klass),
      GST_AE_FILTER_PROP_FRAMES_IN_FLIGHT,
      g_param_spec_int ("frames-in-flight", "Frames in flight",
          "Frames a GPU backend works on at once: 2 overlaps one frame's "
          "upload and download with the next one's compute and holds one "
          "frame back (added to the latency), 1 gives the least latency; "
          "the CPU backend does one frame at a time", 1, MAX_FRAMES_IN_FLIGHT,
          DEFAULT_FRAMES_IN_FLIGHT, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
}

static void
gst_ae_filter_finalize (GObject * object)
{
  GstAeFilterPrivate *priv =
      gst_ae_filter_get_instance_private (GST_AE_FILTER (object));

  g_clear_pointer (&priv->plan, ae_plan_free);
  g_clear_pointer (&priv->engine, ae_engine_free);
  g_clear_pointer (&priv->model, ae_model_unref);
  g_free (priv->model_path);
  g_free (priv->device);
  g_free (priv->backend);
  g_mutex_clear (&priv->model_lock);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ae_filter_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstAeFilter *self = GST_AE_FILTER (object);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  gboolean model_changed = FALSE;

  GST_OBJECT_LOCK (self);
  /* MUTABLE_READY is a promise we keep: the model, engine and plan are
   * built from these values in start/set_info and not rebuilt mid-stream. */
  if (GST_STATE (self) > GST_STATE_READY) {
    GST_OBJECT_UNLOCK (self);
    g_warning ("%s: property '%s' can only be changed in the NULL or READY "
        "state", GST_OBJECT_NAME (self), pspec->name);
    return;
  }
  switch (prop_id) {
    case PROP_MODEL:
    case GST_AE_FILTER_PROP_MODEL:
      g_free (priv->model_path);
      priv->model_path = g_value_dup_string (value);
      model_changed = TRUE;
      break;
    case PROP_DEVICE:
      g_free (priv->device);
      priv->device = g_value_dup_string (value);
      if (!priv->device)
        priv->device = g_strdup (DEFAULT_DEVICE);
      break;
    case PROP_TILE_SIZE:
      priv->tile_size = g_value_get_int (value);
      break;
    case PROP_THREADS:
      priv->threads = g_value_get_int (value);
      break;
    case GST_AE_FILTER_PROP_FRAMES_IN_FLIGHT:
      priv->frames_in_flight = g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  /* drop a model loaded on demand for the old path; not under the object
   * lock, which gst_ae_filter_get_scale() takes inside model_lock */
  if (model_changed) {
    g_mutex_lock (&priv->model_lock);
    g_clear_pointer (&priv->model, ae_model_unref);
    priv->model_failed = FALSE;
    priv->model_default = NULL;
    g_mutex_unlock (&priv->model_lock);
  }
}

static void
gst_ae_filter_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstAeFilter *self = GST_AE_FILTER (object);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
    case GST_AE_FILTER_PROP_MODEL:
      g_value_set_string (value, priv->model_path);
      break;
    case PROP_DEVICE:
      g_value_set_string (value, priv->device);
      break;
    case PROP_BACKEND:
      g_value_set_string (value, priv->backend);
      break;
    case PROP_TILE_SIZE:
      g_value_set_int (value, priv->tile_size);
      break;
    case PROP_THREADS:
      g_value_set_int (value, priv->threads);
      break;
    case GST_AE_FILTER_PROP_FRAMES_IN_FLIGHT:
      g_value_set_int (value, priv->frames_in_flight);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* The element's factory name for messages ("aedenoise"). */
static const gchar *
gst_ae_filter_element_name (GstAeFilter * self)
{
  GstElementFactory *factory = gst_element_get_factory (GST_ELEMENT (self));

  if (factory)
    return gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (factory));
  return G_OBJECT_TYPE_NAME (self);
}

/* Posts a compute error once, with a code fitting its cause; the GError
 * message is the user text. Consumes @error. */
static void
gst_ae_filter_post_error (GstAeFilter * self, GError * error,
    const gchar * debug)
{
  gint code = GST_RESOURCE_ERROR_FAILED;

  if (error->domain == AE_COMPUTE_ERROR) {
    switch (error->code) {
      case AE_COMPUTE_ERROR_IO:
        code = GST_RESOURCE_ERROR_NOT_FOUND;
        break;
      case AE_COMPUTE_ERROR_INVALID_MODEL:
      case AE_COMPUTE_ERROR_UNSUPPORTED:
        code = GST_RESOURCE_ERROR_SETTINGS;
        break;
      case AE_COMPUTE_ERROR_NO_MEMORY:
        code = GST_RESOURCE_ERROR_NO_SPACE_LEFT;
        break;
      default:
        break;
    }
  }
  gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR,
      GST_RESOURCE_ERROR, code, g_strdup (error->message), g_strdup (debug),
      __FILE__, GST_FUNCTION, __LINE__);
  g_error_free (error);
}

/* The default model's file name for @backend ("cpu", "vulkan:0 (...)"),
 * or, while no engine exists (@backend NULL), for the `device` setting:
 * the quality model on a GPU, the fast one on the CPU. */
static const gchar *
gst_ae_filter_default_model (GstAeFilter * self, const gchar * backend)
{
  GstAeFilterClass *klass = GST_AE_FILTER_GET_CLASS (self);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  gboolean gpu;

  if (backend) {
    gpu = g_str_has_prefix (backend, "vulkan");
  } else {
    const gchar *env = g_getenv ("AE_DEVICE");
    GST_OBJECT_LOCK (self);
    gpu = g_str_has_prefix (priv->device, "vulkan") ||
        (g_str_equal (priv->device, "auto") && env &&
        g_str_has_prefix (env, "vulkan"));
    GST_OBJECT_UNLOCK (self);
  }
  if (!gpu && klass->default_model_fast)
    return klass->default_model_fast;
  return klass->default_model;
}

/* Resolves the model path (the default model for @backend when `model` is
 * unset, see gst_ae_filter_default_model; a bare name that is no file here
 * is looked up as the defaults are) and loads the model, checking
 * its task. Returns a new reference, or NULL with @error set
 * (GST_RESOURCE_ERROR for a missing model or a wrong task, else the compute
 * error) and the path in @path_out for the debug text; @default_out is the
 * default model's name when that is what was loaded. Posts nothing. */
static AeModel *
gst_ae_filter_load_model (GstAeFilter * self, const gchar * backend,
    gchar ** path_out, const gchar ** default_out, GError ** error)
{
  GstAeFilterClass *klass = GST_AE_FILTER_GET_CLASS (self);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  const gchar *name = NULL;
  gchar *path;

  GST_OBJECT_LOCK (self);
  path = g_strdup (priv->model_path);
  GST_OBJECT_UNLOCK (self);

  if (path) {
    g_autoptr (GError) lookup = NULL;
    gchar *found = ae_model_path_resolve (path, &lookup);
    if (!found) {
      g_set_error_literal (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND, lookup->message);
      *path_out = path;
      *default_out = NULL;
      return NULL;
    }
    g_free (path);
    path = found;
  } else {
    name = gst_ae_filter_default_model (self, backend);
    path = name ? ae_model_path_find (name) : NULL;
    /* a GPU without the (optional) quality model runs the fast one */
    if (!path && name == klass->default_model && klass->default_model_fast) {
      GST_INFO_OBJECT (self, "%s not installed, using %s", name,
          klass->default_model_fast);
      name = klass->default_model_fast;
      path = ae_model_path_find (name);
    }
  }
  *path_out = path;
  *default_out = name;
  if (!path) {
    if (name)
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
          "No model given and the default model %s was not found in "
          "AE_MODEL_PATH (%s) or %s; set the 'model' property", name,
          GST_STR_NULL (g_getenv ("AE_MODEL_PATH")),
          ae_model_path_installed_dir ());
    else
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
          "%s has no default model; set the 'model' property",
          gst_ae_filter_element_name (self));
    return NULL;
  }

  GST_DEBUG_OBJECT (self, "loading model %s", path);
  AeModel *model = ae_model_load (path, error);
  if (!model)
    return NULL;

  const AeGraph *graph = ae_model_get_graph (model);
  if (ae_graph_get_task (graph) != klass->task) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "model %s is a model for %s; %s needs a model for %s", path,
        ae_task_name (ae_graph_get_task (graph)),
        gst_ae_filter_element_name (self), ae_task_name (klass->task));
    ae_model_unref (model);
    return NULL;
  }
  return model;
}

gint
gst_ae_filter_get_scale (GstAeFilter * self)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  gint scale = 1;

  g_return_val_if_fail (GST_IS_AE_FILTER (self), 1);

  g_mutex_lock (&priv->model_lock);
  if (!priv->model && !priv->model_failed) {
    g_autofree gchar *path = NULL;
    GError *error = NULL;

    priv->model = gst_ae_filter_load_model (self, NULL, &path,
        &priv->model_default, &error);
    if (!priv->model) {
      /* start() loads it again and posts the error */
      GST_DEBUG_OBJECT (self, "no model yet (%s): %s", GST_STR_NULL (path),
          error->message);
      g_clear_error (&error);
      priv->model_failed = TRUE;
    }
  }
  if (priv->model)
    scale = ae_graph_get_scale (ae_model_get_graph (priv->model));
  g_mutex_unlock (&priv->model_lock);
  return MAX (scale, 1);
}

static gboolean
gst_ae_filter_start (GstBaseTransform * trans)
{
  GstAeFilter *self = GST_AE_FILTER (trans);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  g_autofree gchar *path = NULL;
  g_autofree gchar *device = NULL;
  GError *error = NULL;
  gint threads;

  GST_OBJECT_LOCK (self);
  device = g_strdup (priv->device);
  threads = priv->threads;
  GST_OBJECT_UNLOCK (self);

  AeEngineParams params = {
    .device = g_strcmp0 (device, "auto") == 0 ? NULL : device,
    .threads = threads,
  };
  AeEngine *engine = ae_engine_new (&params, &error);
  if (!engine) {
    gst_ae_filter_post_error (self, error, device);
    return FALSE;
  }
  const gchar *backend = ae_engine_get_backend_name (engine);

  /* a model loaded on demand (gst_ae_filter_get_scale) is kept unless it
   * is the default model of another backend */
  const gchar *model_default = NULL;
  g_mutex_lock (&priv->model_lock);
  AeModel *model = priv->model ? ae_model_ref (priv->model) : NULL;
  if (model && priv->model_default &&
      priv->model_default != gst_ae_filter_default_model (self, backend))
    g_clear_pointer (&model, ae_model_unref);
  else
    model_default = priv->model_default;
  g_mutex_unlock (&priv->model_lock);
  if (!model) {
    model = gst_ae_filter_load_model (self, backend, &path, &model_default,
        &error);
    if (!model) {
      if (error->domain == GST_RESOURCE_ERROR) {
        gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR,
            GST_RESOURCE_ERROR, error->code, g_strdup (error->message),
            NULL, __FILE__, GST_FUNCTION, __LINE__);
        g_error_free (error);
      } else {
        gst_ae_filter_post_error (self, error, path);
      }
      ae_engine_free (engine);
      return FALSE;
    }
  }
  const AeGraph *graph = ae_model_get_graph (model);

  GST_INFO_OBJECT (self, "model %s (%s, %s, scale %d) on %s, %d threads",
      ae_model_get_name (model), ae_task_name (ae_graph_get_task (graph)),
      ae_color_name (ae_graph_get_color (graph)),
      ae_graph_get_scale (graph), ae_engine_get_backend_name (engine),
      ae_engine_get_n_threads (engine));

  g_mutex_lock (&priv->model_lock);
  g_clear_pointer (&priv->model, ae_model_unref);
  priv->model = model;
  priv->model_failed = FALSE;
  priv->model_default = model_default;
  g_mutex_unlock (&priv->model_lock);
  priv->engine = engine;
  GST_OBJECT_LOCK (self);
  g_free (priv->backend);
  priv->backend = g_strdup (ae_engine_get_backend_name (engine));
  GST_OBJECT_UNLOCK (self);
  g_object_notify (G_OBJECT (self), "backend");
  return TRUE;
}

static gboolean
gst_ae_filter_stop (GstBaseTransform * trans)
{
  GstAeFilter *self = GST_AE_FILTER (trans);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);

  if (priv->n_frames)
    GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " frames, %.3f ms/frame "
        "in the engine's calls (frame conversion and model, less what ran "
        "while the element did other work)", priv->n_frames,
        priv->engine_us / 1e3 / priv->n_frames);
  priv->n_frames = 0;
  priv->engine_us = 0;
  gst_ae_filter_drop_queue (self);
  g_clear_pointer (&priv->plan, ae_plan_free);
  g_clear_pointer (&priv->engine, ae_engine_free);
  g_mutex_lock (&priv->model_lock);
  g_clear_pointer (&priv->model, ae_model_unref);
  priv->model_failed = FALSE;
  priv->model_default = NULL;
  g_mutex_unlock (&priv->model_lock);
  priv->plan_width = priv->plan_height = 0;
  GST_OBJECT_LOCK (self);
  g_clear_pointer (&priv->backend, g_free);
  priv->held = 0;
  priv->frame_duration = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

gboolean
gst_ae_filter_format_is_yuv (const GstVideoFormatInfo * finfo)
{
  return GST_VIDEO_FORMAT_INFO_IS_YUV (finfo);
}

gboolean
gst_ae_filter_video_format (GstVideoFormat format, AeFrameFormat * out)
{
  switch (format) {
    case GST_VIDEO_FORMAT_GRAY8:
      *out = AE_FRAME_GRAY8;
      return TRUE;
    case GST_VIDEO_FORMAT_I420:
      *out = AE_FRAME_I420;
      return TRUE;
    case GST_VIDEO_FORMAT_NV12:
      *out = AE_FRAME_NV12;
      return TRUE;
    case GST_VIDEO_FORMAT_Y444:
      *out = AE_FRAME_Y444;
      return TRUE;
    case GST_VIDEO_FORMAT_RGBA:
      *out = AE_FRAME_RGBA;
      return TRUE;
    case GST_VIDEO_FORMAT_BGRA:
      *out = AE_FRAME_BGRA;
      return TRUE;
    case GST_VIDEO_FORMAT_ARGB:
      *out = AE_FRAME_ARGB;
      return TRUE;
    case GST_VIDEO_FORMAT_ABGR:
      *out = AE_FRAME_ABGR;
      return TRUE;
    case GST_VIDEO_FORMAT_RGBx:
      *out = AE_FRAME_RGBX;
      return TRUE;
    case GST_VIDEO_FORMAT_BGRx:
      *out = AE_FRAME_BGRX;
      return TRUE;
    case GST_VIDEO_FORMAT_xRGB:
      *out = AE_FRAME_XRGB;
      return TRUE;
    case GST_VIDEO_FORMAT_xBGR:
      *out = AE_FRAME_XBGR;
      return TRUE;
    case GST_VIDEO_FORMAT_RGB:
      *out = AE_FRAME_RGB;
      return TRUE;
    case GST_VIDEO_FORMAT_BGR:
      *out = AE_FRAME_BGR;
      return TRUE;
    default:
      return FALSE;
  }
}

/* The engine's matrix nearest the caps' one; unknown and RGB (luma models
 * on RGB frames) take BT.601. */
static AeMatrix
gst_ae_filter_matrix (GstVideoColorMatrix matrix)
{
  gdouble kr, kb;

  return gst_video_color_matrix_get_Kr_Kb (matrix, &kr, &kb) ?
      ae_matrix_nearest (kr, kb) : AE_MATRIX_BT601;
}

gboolean
gst_ae_filter_map_frame (GstVideoFrame * vframe, AeFrame * out)
{
  const GstVideoInfo *info = &vframe->info;
  AeFrameFormat format;

  if (!gst_ae_filter_video_format (GST_VIDEO_INFO_FORMAT (info), &format))
    return FALSE;
  /* *INDENT-OFF* */
  *out = (AeFrame) {
    .format = format,
    .width = GST_VIDEO_INFO_WIDTH (info),
    .height = GST_VIDEO_INFO_HEIGHT (info),
    .data = GST_VIDEO_FRAME_PLANE_DATA (vframe, 0),
    .stride = GST_VIDEO_FRAME_PLANE_STRIDE (vframe, 0),
    .matrix = gst_ae_filter_matrix (info->colorimetry.matrix),
    .full_range = info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255,
  };
  /* *INDENT-ON* */
  for (guint p = 1; p < GST_VIDEO_FRAME_N_PLANES (vframe) && p < 3; p++) {
    out->chroma[p - 1] = GST_VIDEO_FRAME_PLANE_DATA (vframe, p);
    out->chroma_stride[p - 1] = GST_VIDEO_FRAME_PLANE_STRIDE (vframe, p);
  }
  return TRUE;
}

static gboolean
gst_ae_filter_set_info (GstVideoFilter * filter, GstCaps * incaps,
    GstVideoInfo * in_info, GstCaps * outcaps, GstVideoInfo * out_info)
{
  GstAeFilter *self = GST_AE_FILTER (filter);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  const GstVideoFormatInfo *finfo = in_info->finfo;
  AeFrameFormat format;
  GError *error = NULL;
  gint tile_size;

  g_return_val_if_fail (priv->model != NULL, FALSE);

  if (!gst_ae_filter_video_format (GST_VIDEO_INFO_FORMAT (in_info), &format)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("%s does not support the format %s", gst_ae_filter_element_name (self),
            GST_VIDEO_FORMAT_INFO_NAME (finfo)), (NULL));
    return FALSE;
  }
  GST_DEBUG_OBJECT (self, "%s %dx%d, %s model", GST_VIDEO_INFO_NAME (in_info),
      GST_VIDEO_INFO_WIDTH (in_info), GST_VIDEO_INFO_HEIGHT (in_info),
      ae_color_name (ae_graph_get_color (ae_model_get_graph (priv->model))));

  gint width = GST_VIDEO_INFO_WIDTH (in_info);
  gint height = GST_VIDEO_INFO_HEIGHT (in_info);
  GST_OBJECT_LOCK (self);
  priv->frame_duration = GST_VIDEO_INFO_FPS_N (in_info) > 0 ?
      gst_util_uint64_scale_int (GST_SECOND, GST_VIDEO_INFO_FPS_D (in_info),
      GST_VIDEO_INFO_FPS_N (in_info)) : GST_CLOCK_TIME_NONE;
  tile_size = priv->tile_size;
  GST_OBJECT_UNLOCK (self);
  if (priv->plan && priv->plan_width == width && priv->plan_height == height)
    return TRUE;

  /* frames still queued on the old plan (a renegotiation upstream did not
   * announce with an event) go first */
  gst_ae_filter_drain (self);
  g_clear_pointer (&priv->plan, ae_plan_free);
  AePlanParams params = {
    .width = width,
    .height = height,
    .tile_size = tile_size,
  };
  priv->plan = ae_plan_new (priv->engine, priv->model, &params, &error);
  if (!priv->plan) {
    gst_ae_filter_post_error (self, error, NULL);
    return FALSE;
  }
  priv->plan_width = width;
  priv->plan_height = height;
  gst_ae_filter_update_held (self);
  GST_DEBUG_OBJECT (self, "planned %dx%d: tile %d, %d tiles", width, height,
      ae_plan_get_tile_size (priv->plan), ae_plan_get_n_tiles (priv->plan));
  /* each tile computes its halo again: small tiles multiply the work */
  int halo = ae_graph_get_halo (ae_model_get_graph (priv->model));
  int tile = ae_plan_get_tile_size (priv->plan);
  if (ae_plan_get_n_tiles (priv->plan) > 1 && tile < 2 * halo) {
    double side = 1.0 + 2.0 * halo / tile;
    GST_WARNING_OBJECT (self, "tile-size %d is under twice the model's halo "
        "(%d pixels): each tile computes %.0fx its own area; 0 picks a "
        "size", tile, halo, side * side);
  }
  return TRUE;
}

/* Submits @in to the plan, to write @out. */
static gboolean
gst_ae_filter_submit (GstAeFilter * self, GstVideoFrame * in,
    GstVideoFrame * out, GError ** error)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  AeFrame fin, fout;

  g_return_val_if_fail (priv->plan != NULL, FALSE);

  if (!gst_ae_filter_map_frame (in, &fin) ||
      !gst_ae_filter_map_frame (out, &fout)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_UNSUPPORTED,
        "unsupported video format");
    return FALSE;
  }
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = ae_plan_submit (priv->plan, &fin, &fout, error);
  priv->engine_us += g_get_monotonic_time () - t0;
  return ok;
}

/* Waits for the oldest submitted frame, @in into @out, and copies the
 * chroma a luma model leaves. */
static gboolean
gst_ae_filter_wait (GstAeFilter * self, GstVideoFrame * in,
    GstVideoFrame * out, GError ** error)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);

  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = ae_plan_wait (priv->plan, error);
  priv->engine_us += g_get_monotonic_time () - t0;
  if (!ok)
    return FALSE;
  priv->n_frames++;

  /* a luma model leaves the chroma: it is copied only between frames of
   * the same size (scale 1); a scaling subclass fills it itself */
  if (in != out && gst_ae_filter_model_is_luma (self) &&
      gst_ae_filter_format_is_yuv (in->info.finfo) &&
      GST_VIDEO_FRAME_WIDTH (in) == GST_VIDEO_FRAME_WIDTH (out) &&
      GST_VIDEO_FRAME_HEIGHT (in) == GST_VIDEO_FRAME_HEIGHT (out)) {
    for (guint p = 1; p < GST_VIDEO_FRAME_N_PLANES (in); p++)
      gst_video_frame_copy_plane (out, in, p);
  }
  return TRUE;
}

gboolean
gst_ae_filter_run (GstAeFilter * self, GstVideoFrame * in,
    GstVideoFrame * out, GError ** error)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);

  g_return_val_if_fail (g_queue_is_empty (&priv->queue), FALSE);
  return gst_ae_filter_submit (self, in, out, error)
      && gst_ae_filter_wait (self, in, out, error);
}

/* Starts a frame of a subclass with frame funcs: submits it, or copies
 * @in to @out when the subclass says the model need not run. */
static gboolean
gst_ae_filter_begin_frame (GstAeFilter * self, GstVideoFrame * in,
    GstVideoFrame * out, gboolean * on_model, GError ** error)
{
  GstAeFilterClass *klass = GST_AE_FILTER_GET_CLASS (self);

  *on_model = !klass->frame_needs_model || klass->frame_needs_model (self);
  if (*on_model)
    return gst_ae_filter_submit (self, in, out, error);
  if (gst_video_frame_copy (out, in))
    return TRUE;
  g_set_error_literal (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
      "cannot copy the frame");
  return FALSE;
}

/* Completes the oldest frame begun. */
static gboolean
gst_ae_filter_end_frame (GstAeFilter * self, GstVideoFrame * in,
    GstVideoFrame * out, gboolean on_model, GError ** error)
{
  if (!on_model)
    return TRUE;
  if (!gst_ae_filter_wait (self, in, out, error))
    return FALSE;
  GST_AE_FILTER_GET_CLASS (self)->finish_frame (self, in, out);
  return TRUE;
}

/* Posts a frame's failure as the element error; consumes @error. */
static GstFlowReturn
gst_ae_filter_frame_error (GstAeFilter * self, GError * error)
{
  GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", error->message), (NULL));
  g_error_free (error);
  return GST_FLOW_ERROR;
}

/* One frame at a time (the CPU, or `frames-in-flight` 1). */
static GstFlowReturn
gst_ae_filter_transform_frame (GstVideoFilter * filter, GstVideoFrame * in,
    GstVideoFrame * out)
{
  GstAeFilter *self = GST_AE_FILTER (filter);
  GError *error = NULL;
  gboolean on_model;

  if (!gst_ae_filter_begin_frame (self, in, out, &on_model, &error) ||
      !gst_ae_filter_end_frame (self, in, out, on_model, &error))
    return gst_ae_filter_frame_error (self, error);
  return GST_FLOW_OK;
}

static void
gst_ae_filter_frame_free (GstAeFilterFrame * f)
{
  gst_video_frame_unmap (&f->in);
  gst_video_frame_unmap (&f->out);
  gst_buffer_unref (f->inbuf);
  if (f->outbuf)
    gst_buffer_unref (f->outbuf);
  g_free (f);
}

/* Gets @inbuf an output buffer, maps both and begins the frame on the
 * queue. Takes @inbuf. */
static GstFlowReturn
gst_ae_filter_queue_frame (GstAeFilter * self, GstBuffer * inbuf)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstVideoFilter *filter = GST_VIDEO_FILTER (self);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  /* the frames hold no reference: outbuf stays writable for metas */
  const GstMapFlags flags = (GstMapFlags) GST_VIDEO_FRAME_MAP_FLAG_NO_REF;
  GstBuffer *outbuf = NULL;
  GError *error = NULL;
  GstFlowReturn ret;

  if (!filter->negotiated) {
    gst_buffer_unref (inbuf);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("a buffer before the format was negotiated"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  ret = GST_BASE_TRANSFORM_GET_CLASS (trans)->prepare_output_buffer (trans,
      inbuf, &outbuf);
  if (ret != GST_FLOW_OK || !outbuf) {
    gst_buffer_unref (inbuf);
    return ret != GST_FLOW_OK ? ret : GST_FLOW_ERROR;
  }

  GstAeFilterFrame *f = g_new0 (GstAeFilterFrame, 1);
  f->inbuf = inbuf;
  f->outbuf = outbuf;
  if (!gst_video_frame_map (&f->in, &filter->in_info, inbuf,
          (GstMapFlags) (GST_MAP_READ | flags)))
    goto map_failed;
  if (!gst_video_frame_map (&f->out, &filter->out_info, outbuf,
          (GstMapFlags) (GST_MAP_WRITE | flags))) {
    gst_video_frame_unmap (&f->in);
    goto map_failed;
  }
  if (!gst_ae_filter_begin_frame (self, &f->in, &f->out, &f->on_model,
          &error)) {
    gst_ae_filter_frame_free (f);
    return gst_ae_filter_frame_error (self, error);
  }
  g_queue_push_tail (&priv->queue, f);
  return GST_FLOW_OK;

map_failed:
  gst_buffer_unref (inbuf);
  gst_buffer_unref (outbuf);
  g_free (f);
  GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL),
      ("cannot map a video frame"));
  return GST_FLOW_ERROR;
}

/* Completes the oldest queued frame into @outbuf. */
static GstFlowReturn
gst_ae_filter_pop_frame (GstAeFilter * self, GstBuffer ** outbuf)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  GstAeFilterFrame *f = g_queue_pop_head (&priv->queue);
  GError *error = NULL;

  if (!gst_ae_filter_end_frame (self, &f->in, &f->out, f->on_model, &error)) {
    gst_ae_filter_frame_free (f);
    return gst_ae_filter_frame_error (self, error);
  }
  *outbuf = g_steal_pointer (&f->outbuf);
  gst_ae_filter_frame_free (f);
  return GST_FLOW_OK;
}

/* Drops the queued frames (flush, stop), once the engine is done with
 * them. */
static void
gst_ae_filter_drop_queue (GstAeFilter * self)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  GstAeFilterFrame *f;

  while ((f = g_queue_pop_head (&priv->queue))) {
    if (f->on_model)
      ae_plan_wait (priv->plan, NULL);
    gst_ae_filter_frame_free (f);
  }
}

/* Pushes the queued frames. */
static GstFlowReturn
gst_ae_filter_drain (GstAeFilter * self)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  GstFlowReturn ret = GST_FLOW_OK;

  while (ret == GST_FLOW_OK && !g_queue_is_empty (&priv->queue)) {
    GstBuffer *buf = NULL;
    ret = gst_ae_filter_pop_frame (self, &buf);
    if (ret == GST_FLOW_OK)
      ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), buf);
  }
  if (ret != GST_FLOW_OK) {
    GST_DEBUG_OBJECT (self, "draining: %s", gst_flow_get_name (ret));
    gst_ae_filter_drop_queue (self);
  }
  return ret;
}

/* Sets and returns how many frames the element holds back:
 * frames-in-flight - 1 for a subclass with frame funcs on a GPU, else
 * none; posts a latency message when that changes. */
static guint
gst_ae_filter_update_held (GstAeFilter * self)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  gboolean pipelined = GST_AE_FILTER_GET_CLASS (self)->finish_frame &&
      priv->plan && ae_plan_is_on_device (priv->plan);
  gboolean changed;

  GST_OBJECT_LOCK (self);
  gint held = pipelined ? priv->frames_in_flight - 1 : 0;
  changed = held != priv->held;
  priv->held = held;
  GST_OBJECT_UNLOCK (self);
  if (changed) {
    GST_INFO_OBJECT (self, "%d frame(s) in flight", held + 1);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  }
  return held;
}

static GstFlowReturn
gst_ae_filter_generate_output (GstBaseTransform * trans, GstBuffer ** outbuf)
{
  GstAeFilter *self = GST_AE_FILTER (trans);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  GstBuffer *inbuf;
  GstFlowReturn ret;

  guint held = gst_ae_filter_update_held (self);
  if (held == 0 && g_queue_is_empty (&priv->queue))
    return GST_BASE_TRANSFORM_CLASS (parent_class)->generate_output (trans,
        outbuf);

  /* called again until it gives no buffer: at most one per call */
  *outbuf = NULL;
  inbuf = g_steal_pointer (&trans->queued_buf);
  if (inbuf && (ret = gst_ae_filter_queue_frame (self, inbuf)) != GST_FLOW_OK)
    return ret;
  if (g_queue_get_length (&priv->queue) > held)
    return gst_ae_filter_pop_frame (self, outbuf);
  return GST_FLOW_OK;
}

static gboolean
gst_ae_filter_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstAeFilter *self = GST_AE_FILTER (trans);

  /* what follows the held frames in the stream follows them out */
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP)
    gst_ae_filter_drop_queue (self);
  else if (GST_EVENT_IS_SERIALIZED (event))
    gst_ae_filter_drain (self);
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* Each held frame keeps an input buffer and an output buffer: the pools
 * on both sides need that many more, or a bounded one (a hardware
 * decoder's, a sink's) could run dry while we wait for the next frame. */
static void
gst_ae_filter_add_held_buffers (GstAeFilter * self, GstQuery * query)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);

  GST_OBJECT_LOCK (self);
  guint held = priv->held;
  GST_OBJECT_UNLOCK (self);
  if (held == 0)
    return;
  for (guint i = 0; i < gst_query_get_n_allocation_pools (query); i++) {
    GstBufferPool *pool;
    guint size, min, max;
    gst_query_parse_nth_allocation_pool (query, i, &pool, &size, &min, &max);
    gst_query_set_nth_allocation_pool (query, i, pool, size, min + held,
        max ? max + held : 0);
    if (pool)
      gst_object_unref (pool);
  }
}

static gboolean
gst_ae_filter_propose_allocation (GstBaseTransform * trans,
    GstQuery * decide_query, GstQuery * query)
{
  if (!GST_BASE_TRANSFORM_CLASS (parent_class)->propose_allocation (trans,
          decide_query, query))
    return FALSE;
  gst_ae_filter_add_held_buffers (GST_AE_FILTER (trans), query);
  return TRUE;
}

static gboolean
gst_ae_filter_decide_allocation (GstBaseTransform * trans, GstQuery * query)
{
  /* before the base class configures the pool from the query */
  gst_ae_filter_add_held_buffers (GST_AE_FILTER (trans), query);
  return GST_BASE_TRANSFORM_CLASS (parent_class)->decide_allocation (trans,
      query);
}

static gboolean
gst_ae_filter_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  GstAeFilter *self = GST_AE_FILTER (trans);
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);
  GstClockTime extra = 0;

  if (!GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction,
          query))
    return FALSE;
  if (direction != GST_PAD_SRC || GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return TRUE;

  GST_OBJECT_LOCK (self);
  if (priv->held > 0 && GST_CLOCK_TIME_IS_VALID (priv->frame_duration))
    extra = priv->held * priv->frame_duration;
  GST_OBJECT_UNLOCK (self);
  if (extra > 0) {
    GstClockTime min, max;
    gboolean live;
    gst_query_parse_latency (query, &live, &min, &max);
    gst_query_set_latency (query, live, min + extra,
        GST_CLOCK_TIME_IS_VALID (max) ? max + extra : max);
  }
  return TRUE;
}

AeModel *
gst_ae_filter_get_model (GstAeFilter * self)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);

  return priv->model;
}

gboolean
gst_ae_filter_model_is_luma (GstAeFilter * self)
{
  GstAeFilterPrivate *priv = gst_ae_filter_get_instance_private (self);

  g_return_val_if_fail (priv->model != NULL, TRUE);
  return ae_graph_get_color (ae_model_get_graph (priv->model)) == AE_COLOR_LUMA;
}
