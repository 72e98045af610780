// python/src/rows.cpp - the per-row metrics: one entry point, `row_metric(x, name, kwargs)`.
#include <ctime>
#include <string>

#include "compute.hpp"

namespace attnscope::python {

namespace {

template <class T>
T get(const py::dict& kw, const char* key, T fallback) {
    return kw.contains(key) && !kw[key].is_none() ? py::cast<T>(kw[key]) : fallback;
}

key_set parse_key_set(const py::dict& kw, const char* caller) {
    if (!kw.contains("keys") || kw["keys"].is_none())
        throw py::value_error(std::string(caller) + ": keys is required (token positions, or one list per example)");
    py::object k = kw["keys"];
    if (py::isinstance<py::int_>(k)) return key_set(std::vector<index_t>{py::cast<index_t>(k)});
    bool nested = false, flat = false;
    for (py::handle e : k) (py::isinstance<py::int_>(e) || py::hasattr(e, "__index__") ? flat : nested) = true;
    if (nested && flat) throw py::type_error(std::string(caller) + ": keys must be a list of positions or a list of lists (one per example), not a mix");
    if (nested) return key_set::per_example(py::cast<std::vector<std::vector<index_t>>>(k));
    std::vector<index_t> pos;
    for (py::handle e : k) pos.push_back(py::cast<index_t>(py::reinterpret_borrow<py::object>(e).attr("__index__")()));
    return key_set(std::move(pos));
}

entropy_unit parse_unit(const std::string& u) {
    if (u == "nats") return entropy_unit::nats;
    if (u == "bits") return entropy_unit::bits;
    if (u == "normalized" || u == "normalized") return entropy_unit::normalized;
    throw py::value_error("unit must be \"nats\", \"bits\" or \"normalized\", got \"" + u + "\"");
}

py::tuple row_metric(py::handle x, const std::string& name, const py::dict& kw) {
    if (name == "entropy") {
        const entropy_options eo{.unit = parse_unit(get<std::string>(kw, "unit", "nats")), .sink_outcome = get<bool>(kw, "sink_outcome", false)};
        return compute_rows_call(x, kw, [&](const auto& v, const row_options& o) { return row_entropy(v, eo, o); });
    }
    if (name == "max_weight") return compute_rows_call(x, kw, [](const auto& v, const row_options& o) { return row_max_weight(v, o); });
    if (name == "argmax") return compute_rows_call(x, kw, [](const auto& v, const row_options& o) { return row_argmax(v, o); });
    if (name == "sparsity") {
        const double t = get<double>(kw, "threshold", 0.01);
        const auto kind = get<bool>(kw, "relative", false) ? threshold_kind::relative_to_uniform : threshold_kind::absolute;
        return compute_rows_call(x, kw, [&](const auto& v, const row_options& o) { return row_sparsity(v, t, kind, o); });
    }
    if (name == "topk_mass") {
        const auto k = get<index_t>(kw, "k", 1);
        return compute_rows_call(x, kw, [&](const auto& v, const row_options& o) { return row_topk_mass(v, k, o); });
    }
    if (name == "keys_for_mass") {
        const double p = get<double>(kw, "p", 0.9);
        return compute_rows_call(x, kw, [&](const auto& v, const row_options& o) { return row_keys_for_mass(v, p, o); });
    }
    if (name == "gini") return compute_rows_call(x, kw, [](const auto& v, const row_options& o) { return row_gini(v, o); });
    if (name == "hoyer") return compute_rows_call(x, kw, [](const auto& v, const row_options& o) { return row_hoyer(v, o); });
    if (name == "key_mass") {
        const key_set ks = parse_key_set(kw, "row_key_mass");
        return compute_rows_call(x, kw, [&](const auto& v, const row_options& o) { return row_key_mass(v, ks, o); });
    }
    if (name == "attention_distance")
        return compute_rows_call(x, kw, [](const auto& v, const row_options& o) { return row_attention_distance(v, o); });
    if (name == "offset_score") {
        const auto d = get<index_t>(kw, "offset", 1);
        return compute_rows_call(x, kw, [&](const auto& v, const row_options& o) { return row_offset_score(v, d, o); });
    }
    if (name == "self_score") return compute_rows_call(x, kw, [](const auto& v, const row_options& o) { return row_self_score(v, o); });
    if (name == "previous_token_score")
        return compute_rows_call(x, kw, [](const auto& v, const row_options& o) { return row_previous_token_score(v, o); });
    if (name == "sink_mass") {
        const key_set ks = parse_key_set(kw, "row_sink_mass");
        return compute_rows_call(x, kw, [&](const auto& v, const row_options& o) { return row_sink_mass(v, ks, o); });
    }
    if (name == "learned_sink_mass")
        return compute_rows_call(x, kw, [](const auto& v, const row_options& o) { return row_learned_sink_mass(v, o); });
    throw py::value_error("row_metric: unknown metric '" + name + "'");
}

double process_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

} // namespace

void bind_rows(py::module_& m) {
    m.def("row_metric", &row_metric, py::arg("x"), py::arg("name"), py::arg("kwargs"),
          "One per-row metric over an attention argument; the attnscope package wraps it per metric.");
    m.def(
        "borrow_info",
        [](py::handle x, py::object axes_names) {
            const auto in = attention_input::from(x, axes_names);
            py::list ptrs;
            for (const auto& p : in.parts) ptrs.append(reinterpret_cast<std::uintptr_t>(p.data));
            const auto& f = in.parts.front();
            py::dict d;
            d["data_pointers"] = ptrs;
            d["dtype"] = std::string(to_string(f.type));
            d["shape"] = f.shape;
            d["strides"] = f.strides;
            d["via"] = std::string(f.via);
            d["layered"] = in.layered;
            d["view_shape"] = in.visit([](const auto& v) { return v.shape(); });
            return d;
        },
        py::arg("x"), py::arg("axes") = py::none(),
        "How attnscope borrows x, without copying: its data pointer(s), dtype, shape, element strides and the route (dlpack or buffer).");
    // for the benchmark python_over_cpp: the same library call without the Python layer, timed in
    // process CPU time inside C++ (borrow + view + as::row_entropy, no validity rule, 1 thread)
    m.def(
        "_cpp_row_entropy_seconds",
        [](py::handle x) {
            const double t0 = process_seconds();
            const auto in = attention_input::from(x, py::none());
            return in.visit([&](const auto& v) {
                py::gil_scoped_release nogil;
                const auto r = row_entropy(v);
                volatile double sink = r.values.size() ? r.values.data()[0] : 0.0;
                (void)sink;
                return process_seconds() - t0;
            });
        },
        py::arg("x"));
}

} // namespace attnscope::python
