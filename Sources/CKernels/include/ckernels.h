#ifndef TALLY_CKERNELS_H
#define TALLY_CKERNELS_H

/// The instruction sets the kernels are written for: SSE is every x86-64 processor's; AVX2
/// with FMA reads twice the floats per instruction where the processor has it.
enum tally_instruction_set { tally_sse = 0, tally_avx2_fma = 1 };

/// Whether this processor runs AVX2 and FMA.
int tally_has_avx2_fma(void);

/// out[n * out_stride + o] = dot(input[n * C ...], weight[o * C ...]) for the rows n < rows
/// (one to four) and the weight rows o in [first_column, end_column): the few-row product of
/// decoding, each weight row read once. Uses AVX2 and FMA where the processor has them.
void tally_skinny_columns(float *out, long out_stride, const float *input, long rows,
                          const float *weight, long C, long first_column, long end_column);

/// The same with the instruction set chosen (AVX2 falls back to SSE on a processor without
/// it), so the tests check both.
void tally_skinny_columns_with(enum tally_instruction_set set, float *out, long out_stride, const float *input, long rows,
                               const float *weight, long C, long first_column, long end_column);

#endif
