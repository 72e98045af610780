// An installed attnscope with its Eigen interop: a causal view over an Eigen tensor.
#include <attnscope/attnscope.hpp>
#include <attnscope/interop/eigen.hpp>
#include <attnscope/io/html.hpp> // with the installed generated header of the page's assets

#include <cstdio>
#include <cstring>

int main() {
    namespace as = attnscope;
    Eigen::Tensor<float, 3, Eigen::RowMajor> probs(2, 3, 3); // [head, query, key]
    probs.setConstant(1.0f / 3.0f);
    const auto v = as::make_view(probs).with(as::causal());
    long rows = 0, keys = 0;
    double mass = 0;
    v.for_each_row([&](const as::row_index&, const auto& row) {
        ++rows;
        for (as::index_t k = 0; k < row.size; ++k)
            if (row.keys.counts(k)) {
                ++keys;
                mass += static_cast<double>(row[k]);
            }
    });
    const bool version_ok = std::strcmp(as::version_string, ATTNSCOPE_EXPECTED_VERSION) == 0;
    std::printf("attnscope %s via find_package + Eigen: rows=%ld keys=%ld mass=%.3f version_ok=%d\n",
                as::version_string, rows, keys, mass, version_ok ? 1 : 0);
    as::io::report_page page;
    page.title = "installed";
    page.query_entropy.values = xt::zeros<double>({1, 1, 1, 3});
    page.query_entropy.axes = {{"batch", {}}, {"layer", {}}, {"head", {}}, {"query", {}}};
    const bool html_ok = as::io::render_html_report(page).rfind("<!DOCTYPE html>", 0) == 0;
    return rows == 6 && keys == 12 && version_ok && html_ok ? 0 : 1;
}
