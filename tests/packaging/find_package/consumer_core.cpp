// attnscope::core alone (views, validity, reducers): no nlohmann_json or zlib on the link line.
#include <attnscope/attnscope.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
    namespace as = attnscope;
    const std::vector<float> probs(2 * 3 * 3, 1.0f / 3.0f); // [head, query, key], uniform rows
    const auto v = as::make_view(probs.data(), as::extents{2, 3, 3});
    const as::labeled_array h = as::row_entropy(v); // ln 3 per row
    const double first = h.values.flat(0);
    std::printf("core: rows=%zu entropy=%.4f\n", h.values.size(), first);
    return h.values.size() == 6 && std::abs(first - std::log(3.0)) < 1e-6 ? 0 : 1;
}
