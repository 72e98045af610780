// python/src/results.cpp - what works on results: aggregation over named axes, token slices and
// anchors, grouped-query head folding, and the dataset-level accumulator (picklable).
#include <map>
#include <string>
#include <vector>

#include "compute.hpp"

namespace attnscope::python {

namespace {

variance_kind parse_variance(bool sample) { return sample ? variance_kind::sample : variance_kind::population; }

std::vector<axis_offset> parse_at(py::handle at) {
    std::vector<axis_offset> out;
    if (at.is_none()) return out;
    for (auto [k, v] : py::cast<py::dict>(at)) out.emplace_back(py::cast<std::string>(k), py::cast<index_t>(v));
    return out;
}

} // namespace

void bind_results(py::module_& m) {
    m.def(
        "aggregate",
        [](const std::string& op, py::handle x, py::object fold, bool keep_them, bool sample) {
            const auto a = from_python(x, op.c_str());
            const auto f = selection(fold, keep_them);
            if (op == "mean") return to_python(mean(a, f));
            if (op == "sum") return to_python(sum(a, f));
            if (op == "min") return to_python(attnscope::min(a, f));
            if (op == "max") return to_python(attnscope::max(a, f));
            if (op == "count") return to_python(count(a, f));
            if (op == "variance") return to_python(variance(a, f, parse_variance(sample)));
            if (op == "std_dev") return to_python(std_dev(a, f, parse_variance(sample)));
            if (op == "layer_head_mean") return to_python(layer_head_mean(a));
            throw py::value_error("aggregate: unknown reduction '" + op + "'");
        },
        py::arg("op"), py::arg("x"), py::arg("fold"), py::arg("keep"), py::arg("sample"));
    m.def(
        "weighted_mean",
        [](py::handle x, py::handle w, py::object fold, bool keep_them) {
            return to_python(weighted_mean(from_python(x, "weighted_mean"), from_python(w, "weighted_mean weights"), selection(fold, keep_them)));
        },
        py::arg("x"), py::arg("weights"), py::arg("fold"), py::arg("keep"));
    m.def("group_heads", [](py::handle x, index_t n_kv) { return to_python(group_heads(from_python(x, "group_heads"), n_kv)); },
          py::arg("x"), py::arg("n_kv_heads"));
    m.def("expand_heads", [](py::handle x, index_t n) { return to_python(expand_heads(from_python(x, "expand_heads"), n)); },
          py::arg("x"), py::arg("n_heads"));

    // ---- token positions and slices (select.hpp) ----
    py::class_<position_ref>(m, "PositionRef", "One token position: absolute, from the end (-1 = last), or a named anchor + offset.")
        .def_property_readonly("description", &position_ref::describe)
        .def("resolve", &position_ref::resolve, py::arg("anchors"))
        .def("__repr__", [](const position_ref& p) { return "PositionRef(" + p.describe() + ")"; });
    m.def("at", &attnscope::at, py::arg("i"), "Token position i counted from the start.");
    m.def("from_end", &attnscope::from_end, py::arg("offset"), "Token position counted from the end: from_end(-1) is the last token.");
    m.def("anchor", &attnscope::anchor, py::arg("name"), py::arg("offset") = 0, "A named anchor of each example, optionally shifted.");
    py::class_<anchors>(m, "Anchors", "Named token positions of one example, plus its length (number of tokens).")
        .def(py::init([](index_t length, std::map<std::string, index_t> named) {
                 if (length < 0) throw py::value_error(attnscope::detail::concat("Anchors: length must be >= 0, got ", length));
                 anchors a;
                 a.length = length;
                 for (auto& [k, v] : named) a.named.emplace(k, v);
                 return a;
             }),
             py::arg("length"), py::arg("named") = std::map<std::string, index_t>{})
        .def_readwrite("length", &anchors::length)
        .def_property_readonly("named", [](const anchors& a) { return std::map<std::string, index_t>(a.named.begin(), a.named.end()); })
        .def("at", &anchors::at, py::arg("name"))
        .def("__repr__", [](const anchors& a) {
            std::string s = "Anchors(length=" + std::to_string(a.length) + ", named={";
            bool first = true;
            for (const auto& [k, v] : a.named) {
                s += (first ? "'" : ", '") + k + "': " + std::to_string(v);
                first = false;
            }
            return s + "})";
        });
    py::class_<token_slice>(m, "TokenSlice", "A labeled set of token positions: one position or a range [first, last].")
        .def_static("single", &token_slice::single, py::arg("position"), py::arg("label") = "")
        .def_static("span", &token_slice::span, py::arg("first"), py::arg("last"), py::arg("label") = "")
        .def_readonly("label", &token_slice::label)
        .def_readonly("first", &token_slice::first)
        .def_readonly("last", &token_slice::last)
        .def("resolve", &token_slice::resolve, py::arg("anchors"))
        .def("__repr__", [](const token_slice& t) { return "TokenSlice('" + t.label + "')"; });
    m.def("last", &attnscope::last, py::arg("n"), "The last n tokens as one slice (\"last n\").");
    m.def("each_from_end", &each_from_end, py::arg("first"), py::arg("last"),
          "One single-position slice per offset in [first, last] from the end: each_from_end(-8, -1).");
    m.def(
        "each_anchor", [](const std::vector<std::string>& names) { return each_anchor(names); }, py::arg("names"),
        "One single-position slice per named anchor, labeled by the anchor name.");
    m.def(
        "select_slices",
        [](py::handle x, const std::string& axis_name, const std::vector<token_slice>& slices, const anchors& a) {
            return to_python(select_slices(from_python(x, "select_slices"), axis_name, slices, a));
        },
        py::arg("x"), py::arg("axis"), py::arg("slices"), py::arg("anchors"));
    m.def(
        "slice_positions", [](const std::vector<token_slice>& slices, const anchors& a) { return slice_positions(slices, a); },
        py::arg("slices"), py::arg("anchors"), "The key positions a set of slices covers in one example (sorted, unique).");

    // ---- accumulator ----
    py::class_<accumulator>(m, "_Accumulator")
        .def(py::init([](py::handle like) { return accumulator(from_python(like, "Accumulator")); }), py::arg("like"))
        .def(py::init([](const std::vector<std::size_t>& shape, const std::vector<std::string>& names, const std::string& quantity,
                         const std::string& unit) {
                 std::vector<axis_label> axes;
                 for (const auto& n : names) axes.push_back({n, {}});
                 return accumulator(shape, axes, quantity, unit);
             }),
             py::arg("shape"), py::arg("axes"), py::arg("quantity"), py::arg("unit"))
        .def("add",
             [](accumulator& a, py::handle x, py::object fold, py::handle at) {
                 const auto v = from_python(x, "Accumulator.add");
                 const auto offsets = parse_at(at);
                 a.add(v, fold.is_none() ? axis_selection{} : selection(fold, false), offsets);
             },
             py::arg("x"), py::arg("fold") = py::none(), py::arg("at") = py::none())
        .def("merge", &accumulator::merge, py::arg("other"))
        .def("relabel", &accumulator::relabel, py::arg("quantity"), py::arg("unit"))
        .def("mean", [](const accumulator& a) { return to_python(a.mean()); })
        .def("variance", [](const accumulator& a, bool sample) { return to_python(a.variance(parse_variance(sample))); }, py::arg("sample") = false)
        .def("std_dev", [](const accumulator& a, bool sample) { return to_python(a.std_dev(parse_variance(sample))); }, py::arg("sample") = false)
        .def("min", [](const accumulator& a) { return to_python(a.min()); })
        .def("max", [](const accumulator& a) { return to_python(a.max()); })
        .def("count", [](const accumulator& a) { return to_python(a.count()); })
        .def_property_readonly("shape", [](const accumulator& a) { return py::tuple(py::cast(a.shape())); })
        .def_property_readonly("axes", [](const accumulator& a) {
            std::vector<std::string> n;
            for (const auto& x : a.axes()) n.push_back(x.name);
            return n;
        })
        .def_property_readonly("quantity", &accumulator::quantity)
        .def_property_readonly("unit", &accumulator::unit)
        .def_property_readonly("total_count", &accumulator::total_count)
        .def("serialize",
             [](const accumulator& a) {
                 const auto b = a.serialize();
                 return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
             })
        .def_static("deserialize", [](py::bytes b) {
            const std::string_view s = b;
            return accumulator::deserialize(std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
        });
}

} // namespace attnscope::python
