// python/src/heads.cpp - head-level analyses: the TransformerLens head detectors, head ranking,
// Jensen-Shannon between heads, attention rollout and raw-weight reductions.
#include <string>
#include <vector>

#include "compute.hpp"

namespace attnscope::python {

namespace {

head_pattern parse_pattern(const std::string& s) {
    if (s == "previous_token") return head_pattern::previous_token;
    if (s == "duplicate_token") return head_pattern::duplicate_token;
    if (s == "induction") return head_pattern::induction;
    throw py::value_error("pattern must be \"previous_token\", \"duplicate_token\" or \"induction\", got \"" + s + "\"");
}

detection_measure parse_measure(const std::string& s) {
    if (s == "mul") return detection_measure::mul;
    if (s == "abs") return detection_measure::abs;
    throw py::value_error("measure must be \"mul\" or \"abs\", got \"" + s + "\"");
}

js_kind parse_js(const std::string& s) {
    if (s == "distance") return js_kind::distance;
    if (s == "divergence") return js_kind::divergence;
    throw py::value_error("kind must be \"distance\" or \"divergence\", got \"" + s + "\"");
}

head_fusion parse_fusion(const std::string& s) {
    if (s == "mean") return head_fusion::mean;
    if (s == "max") return head_fusion::max;
    if (s == "min") return head_fusion::min;
    throw py::value_error("fusion must be \"mean\", \"max\" or \"min\", got \"" + s + "\"");
}

std::vector<std::int64_t> token_ids(py::handle tokens) {
    auto a = py::array::ensure(tokens);
    if (!a) throw py::type_error("tokens: expected integer token ids ([T] or [batch, T])");
    const char kind = a.dtype().kind();
    if (kind != 'i' && kind != 'u') throw py::type_error("tokens: expected integer token ids, got dtype " + std::string(py::str(a.dtype())));
    if (a.ndim() != 1 && a.ndim() != 2) throw py::value_error(attnscope::detail::concat("tokens: expected [T] or [batch, T], got rank ", a.ndim()));
    auto ai = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
    return {ai.data(), ai.data() + ai.size()};
}

head_ref parse_head(py::handle h, const char* what) {
    auto t = py::cast<std::vector<index_t>>(h);
    if (t.size() != 2) throw py::value_error(std::string(what) + ": expected a (layer, head) pair");
    return head_ref{t[0], t[1]};
}

} // namespace

void bind_heads(py::module_& m) {
    m.def(
        "detect_heads",
        [](py::handle x, py::handle tokens, const std::string& pattern, const std::string& measure, bool exclude_bos,
           bool exclude_current_token, bool per_example, const py::dict& kw) {
            const auto ids = token_ids(tokens);
            const head_detection_options o{.measure = parse_measure(measure), .exclude_bos = exclude_bos,
                                           .exclude_current_token = exclude_current_token};
            const auto kind = parse_pattern(pattern);
            return to_python(compute_call(x, kw, [&](const auto& v) {
                const std::span<const std::int64_t> t(ids);
                return per_example ? head_detection_scores(v, t, kind, o) : detect_heads(v, t, kind, o);
            }));
        },
        py::arg("x"), py::arg("tokens"), py::arg("pattern"), py::arg("measure"), py::arg("exclude_bos"),
        py::arg("exclude_current_token"), py::arg("per_example"), py::arg("kwargs"));
    m.def(
        "rank_heads",
        [](py::handle grid, std::size_t n, bool ascending) {
            const auto g = from_python(grid, "rank_heads");
            py::list out;
            for (auto& h : rank_heads(g, n, ascending ? rank_order::ascending : rank_order::descending))
                out.append(py::make_tuple(h.layer, h.head, h.value, h.label));
            return out;
        },
        py::arg("grid"), py::arg("n"), py::arg("ascending"));
    m.def(
        "head_js_matrix",
        [](py::handle x, const std::string& kind, const py::dict& kw) {
            const auto k = parse_js(kind);
            return to_python(compute_call(x, kw, [&](const auto& v) { return head_js_matrix(v, k); }));
        },
        py::arg("x"), py::arg("kind"), py::arg("kwargs"));
    m.def(
        "head_js_rows",
        [](py::handle x, py::handle a, py::handle b, const std::string& kind, const py::dict& kw) {
            const auto k = parse_js(kind);
            const auto ha = parse_head(a, "a"), hb = parse_head(b, "b");
            return to_python(compute_call(x, kw, [&](const auto& v) { return head_js_rows(v, ha, hb, k); }));
        },
        py::arg("x"), py::arg("a"), py::arg("b"), py::arg("kind"), py::arg("kwargs"));
    m.def(
        "head_js",
        [](py::handle x, py::handle a, py::handle b, const std::string& kind, const py::dict& kw) {
            const auto k = parse_js(kind);
            const auto ha = parse_head(a, "a"), hb = parse_head(b, "b");
            return compute_call(x, kw, [&](const auto& v) { return head_js(v, ha, hb, k); });
        },
        py::arg("x"), py::arg("a"), py::arg("b"), py::arg("kind"), py::arg("kwargs"));
    m.def(
        "js_of",
        [](py::array_t<double, py::array::c_style | py::array::forcecast> p, py::array_t<double, py::array::c_style | py::array::forcecast> q,
           const std::string& kind) {
            if (p.ndim() != 1 || q.ndim() != 1) throw py::value_error("js: p and q must be 1-D distributions");
            return js_of(std::span<const double>(p.data(), static_cast<std::size_t>(p.size())),
                         std::span<const double>(q.data(), static_cast<std::size_t>(q.size())), parse_js(kind));
        },
        py::arg("p"), py::arg("q"), py::arg("kind"));
    m.def(
        "attention_rollout",
        [](py::handle x, double alpha, const std::string& fusion, bool per_layer, const py::dict& kw) {
            const rollout_options o{.alpha = alpha, .fusion = parse_fusion(fusion), .per_layer = per_layer};
            return to_python(compute_call(x, kw, [&](const auto& v) { return attention_rollout(v, o); }));
        },
        py::arg("x"), py::arg("alpha"), py::arg("fusion"), py::arg("per_layer"), py::arg("kwargs"));
    m.def(
        "reduce_weights",
        [](py::handle x, const std::string& op, py::object axes_folded, bool keep_them, bool skip_non_finite, const py::dict& kw) {
            const auto fold = selection(axes_folded, keep_them);
            const weights_options o{.skip_non_finite = skip_non_finite};
            if (op != "mean" && op != "sum" && op != "max" && op != "min")
                throw py::value_error("reduce_weights: op must be mean, sum, max or min, got " + op);
            return to_python(compute_call(x, kw, [&](const auto& v) {
                if (op == "mean") return mean_weights(v, fold, o);
                if (op == "sum") return sum_weights(v, fold, o);
                if (op == "max") return max_weights(v, fold, o);
                return min_weights(v, fold, o);
            }));
        },
        py::arg("x"), py::arg("op"), py::arg("fold"), py::arg("keep"), py::arg("skip_non_finite"), py::arg("kwargs"));
}

} // namespace attnscope::python
