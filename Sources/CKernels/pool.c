// A fork-join pool of threads for the core's parallel kernels. Tally's kernels split a loop
// over the cores hundreds of times per decoded token, so a parallel section must cost a few
// microseconds: the workers spin briefly on the generation counter before they sleep, and the
// caller takes iterations itself. Written in C for its atomics (Swift's miscompiled as stored
// properties in release builds here, see HTTP's Locked) and its thread-local current pool.
#define _GNU_SOURCE
#include "ckernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

// Spins before a worker sleeps, and before the caller waits for the workers: about the length
// of one kernel's slice, so back-to-back sections never sleep.
#define TALLY_SPINS 20000

struct tally_pool {
    int thread_count;
    int nice_value;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t started;
    pthread_cond_t finished;
    atomic_long generation;
    atomic_long next_iteration;
    atomic_int busy_workers;
    atomic_int running;
    atomic_int stopping;
    long iterations;
    tally_task task;
    void *context;
    void *owner;
};

static __thread tally_pool *current_pool;

tally_pool *tally_pool_current(void) { return current_pool; }
void tally_pool_make_current(tally_pool *pool) { current_pool = pool; }

int tally_set_thread_nice(int nice_value) {
    // Linux gives each thread its own nice value through its thread id.
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice_value);
}

static void take_iterations(tally_pool *pool) {
    long iteration;
    while ((iteration = atomic_fetch_add(&pool->next_iteration, 1)) < pool->iterations) {
        pool->task(pool->context, iteration);
    }
}

static void *worker_main(void *argument) {
    tally_pool *pool = argument;
    current_pool = pool;
    if (pool->nice_value != 0) tally_set_thread_nice(pool->nice_value);
    long seen = 0;
    for (;;) {
        long generation = atomic_load(&pool->generation);
        for (int spin = 0; generation == seen && spin < TALLY_SPINS; spin++) generation = atomic_load(&pool->generation);
        if (generation == seen) {
            pthread_mutex_lock(&pool->lock);
            while ((generation = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stopping)) {
                pthread_cond_wait(&pool->started, &pool->lock);
            }
            pthread_mutex_unlock(&pool->lock);
        }
        if (atomic_load(&pool->stopping)) return NULL;
        seen = generation;
        take_iterations(pool);
        if (atomic_fetch_sub(&pool->busy_workers, 1) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->finished);
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

tally_pool *tally_pool_create(int thread_count, int nice_value) {
    tally_pool *pool = calloc(1, sizeof(tally_pool));
    if (!pool) return NULL;
    pool->thread_count = thread_count < 1 ? 1 : thread_count;
    pool->nice_value = nice_value;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->started, NULL);
    pthread_cond_init(&pool->finished, NULL);
    pool->workers = calloc((size_t)pool->thread_count, sizeof(pthread_t));
    for (int index = 1; index < pool->thread_count; index++) {
        if (pthread_create(&pool->workers[index], NULL, worker_main, pool) != 0) {
            // Fewer threads than asked: the pool runs with those it has.
            pool->thread_count = index;
            break;
        }
    }
    return pool;
}

int tally_pool_thread_count(const tally_pool *pool) { return pool->thread_count; }
void tally_pool_set_context(tally_pool *pool, void *owner) { pool->owner = owner; }
void *tally_pool_context(const tally_pool *pool) { return pool->owner; }

void tally_pool_run(tally_pool *pool, long iterations, tally_task task, void *context) {
    int expected = 0;
    // One section at a time: a section started from inside another (a kernel calling a
    // kernel), or by a second caller, runs on the calling thread alone.
    if (pool->thread_count < 2 || iterations < 2 || !atomic_compare_exchange_strong(&pool->running, &expected, 1)) {
        for (long iteration = 0; iteration < iterations; iteration++) task(context, iteration);
        return;
    }
    pool->task = task;
    pool->context = context;
    pool->iterations = iterations;
    atomic_store(&pool->next_iteration, 0);
    atomic_store(&pool->busy_workers, pool->thread_count - 1);
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->started);
    pthread_mutex_unlock(&pool->lock);
    tally_pool *previous = current_pool;
    current_pool = pool;
    take_iterations(pool);
    current_pool = previous;
    for (int spin = 0; atomic_load(&pool->busy_workers) > 0 && spin < TALLY_SPINS; spin++) {}
    if (atomic_load(&pool->busy_workers) > 0) {
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->busy_workers) > 0) pthread_cond_wait(&pool->finished, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
    atomic_store(&pool->running, 0);
}

void tally_pool_destroy(tally_pool *pool) {
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stopping, 1);
    pthread_cond_broadcast(&pool->started);
    pthread_mutex_unlock(&pool->lock);
    for (int index = 1; index < pool->thread_count; index++) pthread_join(pool->workers[index], NULL);
    pthread_cond_destroy(&pool->started);
    pthread_cond_destroy(&pool->finished);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
}
