/* ae-eval-anomaly.h: evaluating an anomaly model on a labelled clip
 * (`ae-model eval` for models of task anomaly).
 *
 * The clip is decoded with GStreamer (tools/ae-media.h); each frame's luma
 * (or RGB for rgb models) goes through the model and is scored with the
 * calibration stored in it (compute/ae-anomaly.h). The labels file is CSV,
 * one line per frame of the clip: "frame,label" where frame counts from 0
 * and label is "normal" or the name of an injected event (lines starting
 * with '#' and a "frame,label" header line are skipped; see
 * bench/make-anomaly-clip.py). Consecutive frames with the same non-normal
 * label form one event.
 *
 * It prints: frame-level ROC AUC of the score, the false-alarm rate on
 * normal frames with the model's stored threshold, and for every event
 * whether some frame of it reached the threshold (and the first such
 * frame's delay). With @json, one JSON document instead of tables.
 */
#pragma once

#include <glib.h>

#include "ae-model.h"

G_BEGIN_DECLS

/* Evaluates @model on @clip with @labels on @device ("auto", "cpu", ...;
 * NULL = auto) with @threads CPU threads (0 = one per core). Returns the
 * process exit status (tools/ae-tool.h): 0 when the evaluation ran
 * (whatever the figures), 1 when it failed (message printed to stderr).
 * Needs gst_init(). */
int ae_eval_anomaly (AeModel *model, const char *clip, const char *labels,
    const char *device, int threads, gboolean json);

G_END_DECLS
