#ifndef TALLY_CBLAS_SHIM_H
#define TALLY_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface, plus its own calls for the thread count and the kernel it chose
// for this processor (openblas_get_corename), which the benchmarks report.
#include <cblas.h>
#endif
