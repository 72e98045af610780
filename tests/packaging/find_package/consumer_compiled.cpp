// attnscope::compiled: the same headers, with the entry points linked from the installed
// libattnscope.a (row_entropy over a bfloat16 view and load_attention_file are not compiled here).
#include <attnscope/attnscope.hpp>
#include <attnscope/io/load.hpp>
#include <attnscope/io/npy.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#ifndef ATTNSCOPE_COMPILED
#error "attnscope::compiled must define ATTNSCOPE_COMPILED for its users"
#endif

int main() {
    namespace as = attnscope;
    std::vector<as::bfloat16> probs(2 * 3 * 3, as::bfloat16::from_float(0.25f)); // [head, query, key]
    for (std::size_t r = 0; r < 6; ++r) probs[r * 3] = as::bfloat16::from_float(0.5f);
    const double h = as::row_entropy(as::make_view(probs.data(), as::extents{2, 3, 3})).values.flat(0);
    const auto path = std::filesystem::temp_directory_path() / "attnscope_packaging_compiled.npy";
    const std::vector<float> f(2 * 3 * 3, 1.0f / 3.0f);
    const std::vector<as::index_t> shape{2, 3, 3};
    as::io::write_npy(path, f.data(), std::span<const as::index_t>(shape));
    const auto src = as::io::load_attention_file(path);
    std::filesystem::remove(path);
    const double u = as::row_entropy(src.view<float>()).values.flat(0);
    const double expected = -(0.5 * std::log(0.5) + 2 * 0.25 * std::log(0.25));
    std::printf("compiled: entropy=%.4f uniform=%.4f\n", h, u);
    return std::abs(h - expected) < 1e-6 && std::abs(u - std::log(3.0)) < 1e-6 ? 0 : 1;
}
