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

#endif
