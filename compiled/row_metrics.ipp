// compiled/row_metrics.ipp - explicit instantiations of every row metric over attention_view<T>
// for one element type, ATTNSCOPE_INSTANCE_ELEMENT (one translation unit per type builds in parallel).
// The list matches the ATTNSCOPE_ROW_METRIC_INSTANCES declarations in reduce/; tests/compiled_test
// calls every one of them, so a metric missing here fails to link there.
#include <attnscope/reduce/concentration.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/positional.hpp>

#define ATTNSCOPE_INSTANCE(name, ...) ATTNSCOPE_DETAIL_INSTANTIATE_ONE(ATTNSCOPE_INSTANCE_ELEMENT, name, __VA_ARGS__)

namespace attnscope {
ATTNSCOPE_INSTANCE(row_entropy, entropy_options, row_options)
ATTNSCOPE_INSTANCE(row_max_weight, const row_options&)
ATTNSCOPE_INSTANCE(row_argmax, const row_options&)
ATTNSCOPE_INSTANCE(row_sparsity, double, threshold_kind, const row_options&)
ATTNSCOPE_INSTANCE(row_topk_mass, index_t, const row_options&)
ATTNSCOPE_INSTANCE(row_keys_for_mass, double, const row_options&)
ATTNSCOPE_INSTANCE(row_gini, const row_options&)
ATTNSCOPE_INSTANCE(row_hoyer, const row_options&)
ATTNSCOPE_INSTANCE(row_key_mass, const key_set&, const row_options&)
ATTNSCOPE_INSTANCE(row_attention_distance, const row_options&)
ATTNSCOPE_INSTANCE(row_offset_score, index_t, const row_options&)
ATTNSCOPE_INSTANCE(row_self_score, const row_options&)
ATTNSCOPE_INSTANCE(row_previous_token_score, const row_options&)
} // namespace attnscope
