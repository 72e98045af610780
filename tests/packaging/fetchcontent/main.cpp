// attnscope from FetchContent, with its ggml interop (no ggml headers needed): a llama.cpp
// kq_soft_max layout with the key axis padded to 256 cells and a cell -> position map.
#include <attnscope/attnscope.hpp>
#include <attnscope/interop/ggml.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <vector>

int main() {
    namespace as = attnscope;
    const std::array<std::int64_t, 4> ne{256, 2, 1, 1}; // [n_kv, n_tokens, n_head, n_stream]
    const std::array<std::size_t, 4> nb{4, 256 * 4, 2 * 256 * 4, 2 * 256 * 4};
    std::vector<float> probs(256 * 2, 0.0f);
    const std::vector<std::int32_t> cells{2, 0, -1, 1, 3}; // cell 2 empty, cells 5.. padding
    const std::vector<std::int32_t> tokens{2, 3};          // the two query tokens' positions
    const auto v = as::make_ggml_view<float>(probs.data(), ne, nb, {.cells = cells, .tokens = tokens});
    const auto first = v.row({.query = 0}).keys.count();   // positions 0, 1, 2
    const auto second = v.row({.query = 1}).keys.count();  // positions 0 .. 3
    std::printf("attnscope %s via FetchContent + ggml: visible=%lld,%lld\n", as::version_string,
                static_cast<long long>(first), static_cast<long long>(second));
    return first == 3 && second == 4 ? 0 : 1;
}
