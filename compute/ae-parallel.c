#include "ae-parallel.h"

struct _AeParallel {
  int n_threads;
  GThread **threads;
  GMutex run_lock;              /* one job at a time: callers queue here */
  GMutex lock;
  GCond work_cond;              /* workers wait for a new job */
  GCond done_cond;              /* caller waits for the job to finish */
  guint64 generation;
  gboolean quit;
  /* the current job */
  AeParallelFunc func;
  gpointer data;
  int n_tasks;
  gint next_task;
  int busy;                     /* workers still inside the job */
};

static void
work (AeParallel *p, int worker)
{
  for (;;) {
    int t = g_atomic_int_add (&p->next_task, 1);
    if (t >= p->n_tasks)
      break;
    p->func (p->data, t, worker);
  }
}

typedef struct {
  AeParallel *pool;
  int index;
} WorkerArg;

static gpointer
worker_main (gpointer arg)
{
  WorkerArg *wa = arg;
  AeParallel *p = wa->pool;
  int index = wa->index;
  guint64 seen = 0;

  g_free (wa);
  g_mutex_lock (&p->lock);
  for (;;) {
    while (!p->quit && p->generation == seen)
      g_cond_wait (&p->work_cond, &p->lock);
    if (p->quit)
      break;
    seen = p->generation;
    g_mutex_unlock (&p->lock);
    work (p, index);
    g_mutex_lock (&p->lock);
    if (--p->busy == 0)
      g_cond_signal (&p->done_cond);
  }
  g_mutex_unlock (&p->lock);
  return NULL;
}

AeParallel *
ae_parallel_new (int n_threads)
{
  AeParallel *p = g_new0 (AeParallel, 1);

  if (n_threads <= 0)
    n_threads = g_get_num_processors ();
  p->n_threads = CLAMP (n_threads, 1, AE_PARALLEL_MAX_THREADS);
  g_mutex_init (&p->run_lock);
  g_mutex_init (&p->lock);
  g_cond_init (&p->work_cond);
  g_cond_init (&p->done_cond);
  p->threads = g_new0 (GThread *, p->n_threads);
  for (int i = 1; i < p->n_threads; i++) {
    WorkerArg *wa = g_new (WorkerArg, 1);
    wa->pool = p;
    wa->index = i;
    p->threads[i] = g_thread_new ("ae-worker", worker_main, wa);
  }
  return p;
}

void
ae_parallel_free (AeParallel *p)
{
  if (!p)
    return;
  g_mutex_lock (&p->lock);
  p->quit = TRUE;
  g_cond_broadcast (&p->work_cond);
  g_mutex_unlock (&p->lock);
  for (int i = 1; i < p->n_threads; i++)
    g_thread_join (p->threads[i]);
  g_free (p->threads);
  g_mutex_clear (&p->run_lock);
  g_mutex_clear (&p->lock);
  g_cond_clear (&p->work_cond);
  g_cond_clear (&p->done_cond);
  g_free (p);
}

int
ae_parallel_get_n_threads (const AeParallel *p)
{
  return p->n_threads;
}

void
ae_parallel_run (AeParallel *p, int n_tasks, AeParallelFunc func,
    gpointer data)
{
  if (n_tasks <= 0)
    return;
  if (!p || p->n_threads == 1 || n_tasks == 1) {
    for (int t = 0; t < n_tasks; t++)
      func (data, t, 0);
    return;
  }
  /* an engine, and with it its pool, may be shared between threads: the
   * job's state below is the pool's, so a second caller waits its turn */
  g_mutex_lock (&p->run_lock);
  g_mutex_lock (&p->lock);
  p->func = func;
  p->data = data;
  p->n_tasks = n_tasks;
  g_atomic_int_set (&p->next_task, 0);
  p->busy = p->n_threads - 1;
  p->generation++;
  g_cond_broadcast (&p->work_cond);
  g_mutex_unlock (&p->lock);

  work (p, 0);

  g_mutex_lock (&p->lock);
  while (p->busy > 0)
    g_cond_wait (&p->done_cond, &p->lock);
  g_mutex_unlock (&p->lock);
  g_mutex_unlock (&p->run_lock);
}
