// attnscope/detail/simd.hpp - the vectorised inner loops of the per-row metrics (xsimd), one
// concern per unit under detail/simd/:
//   config.hpp      which instruction set the kernels are compiled for (xsimd detection, the
//                   inline namespace per instruction set, batch types)
//   sums.hpp        which sums a pass computes (want_* bits, sum_params, row_sums) and the
//                   reference loop defining them
//   convert.hpp     element types into compute lanes (loaders, masked partial steps)
//   horizontal.hpp  reductions across lanes (hmax / hmin, hadd4, mask counts and bits)
//   log.hpp         the float and double logarithms of sum p ln p
//   row_pass.hpp    the pass itself (pass_state, sums_contiguous, sums_dense), and over several
//                   rows at once (sums_dense_rows: several memory streams)
// Metrics ask for the pass's sums through the public reduce/fused_sums.hpp, not through these.
#pragma once

#include "simd/row_pass.hpp"
