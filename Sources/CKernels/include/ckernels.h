#ifndef TALLY_CKERNELS_H
#define TALLY_CKERNELS_H

/// The instruction sets the kernels are written for: plain C for any processor (the compiler
/// vectorizes it for its target's baseline), SSE for every x86-64 processor, and AVX2 with FMA,
/// which reads twice the floats per instruction, where the processor has it.
enum tally_instruction_set { tally_portable = 0, tally_sse = 1, tally_avx2_fma = 2 };

/// Whether this processor runs the kernels written for `set`.
int tally_runs(enum tally_instruction_set set);

/// The fastest set this processor runs: what `tally_skinny_columns` uses.
enum tally_instruction_set tally_best_instruction_set(void);

/// out[n * out_stride + o] = dot(input[n * C ...], weight[o * C ...]) for the rows n < rows
/// (one to four) and the weight rows o in [first_column, end_column): the few-row product of
/// decoding, each weight row read once.
void tally_skinny_columns(float *out, long out_stride, const float *input, long rows,
                          const float *weight, long C, long first_column, long end_column);

/// The same with the instruction set chosen, so the tests check each; a set the processor does
/// not run falls back to one it does.
void tally_skinny_columns_with(enum tally_instruction_set set, float *out, long out_stride, const float *input, long rows,
                               const float *weight, long C, long first_column, long end_column);

/// A fork-join pool of threads for the parallel kernels (pool.c): `tally_pool_run` calls
/// task(context, i) for every i < iterations on the pool's threads and the calling thread, and
/// returns when all are done. A section started while the pool runs another runs on the calling
/// thread alone. Worker threads run at `nice_value` (0 for the caller's priority).
typedef struct tally_pool tally_pool;
typedef void (*tally_task)(void *context, long iteration);
tally_pool *tally_pool_create(int thread_count, int nice_value);
int tally_pool_thread_count(const tally_pool *pool);
void tally_pool_run(tally_pool *pool, long iterations, tally_task task, void *context);
void tally_pool_destroy(tally_pool *pool);
/// What the pool's owner attaches to it (the Swift object that wraps it).
void tally_pool_set_context(tally_pool *pool, void *context);
void *tally_pool_context(const tally_pool *pool);
/// The pool the calling thread's kernels use (set by `tally_pool_make_current`, and on a
/// pool's own threads), or NULL.
tally_pool *tally_pool_current(void);
void tally_pool_make_current(tally_pool *pool);
/// Sets the calling thread's nice value (Linux: per thread); 0 on success.
int tally_set_thread_nice(int nice_value);

#endif
