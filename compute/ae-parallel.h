/* ae-parallel.h: a small fork-join pool for splitting one op across cores.
 *
 * Workers sleep on a condition variable between jobs (no spinning: Debian's
 * OpenBLAS threads and ours must not fight over the cores), and the calling
 * thread works too. Any thread may run a job; jobs from several threads
 * take turns. Not reentrant: a task must not run a job on its own pool.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _AeParallel AeParallel;

/* Called for task indices 0..n_tasks-1; @worker is 0..n_threads-1, unique
 * among concurrently running calls (for per-thread scratch). */
typedef void (*AeParallelFunc) (gpointer data, int task, int worker);

/* More threads than this are taken as this many. */
#define AE_PARALLEL_MAX_THREADS 256

/* @n_threads <= 0 means one per online CPU. */
AeParallel *ae_parallel_new (int n_threads);
void ae_parallel_free (AeParallel *p);
int ae_parallel_get_n_threads (const AeParallel *p);
/* Runs tasks 0..@n_tasks-1 and returns when all are done; a NULL @p runs
 * them in the caller, in order. */
void ae_parallel_run (AeParallel *p, int n_tasks, AeParallelFunc func,
    gpointer data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeParallel, ae_parallel_free)

G_END_DECLS
