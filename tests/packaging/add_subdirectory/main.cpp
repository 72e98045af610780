// attnscope added with add_subdirectory, with its xtensor interop: a view over an xt::xarray.
#include <attnscope/attnscope.hpp>
#include <attnscope/interop/xtensor.hpp>

#include <cstdio>

int main() {
    namespace as = attnscope;
    xt::xarray<double> probs = xt::xarray<double>::from_shape({2, 2, 4, 4}); // [layer, head, query, key]
    probs.fill(0.25);
    const auto v = as::make_view(probs).with(as::causal());
    long rows = 0, keys = 0;
    v.for_each_row([&](const as::row_index&, const auto& row) {
        ++rows;
        keys += row.keys.count();
    });
    std::printf("attnscope %s via add_subdirectory + xtensor: rows=%ld keys=%ld\n", as::version_string, rows, keys);
    return rows == 16 && keys == 40 ? 0 : 1;
}
