// attnscope/io/json.hpp - JSON descriptions of results: the sidecar that travels with a .npy/.csv.
//
// Uses nlohmann_json. Strings that are not valid UTF-8 (byte-level BPE tokens can be) are written
// with U+FFFD in place of each invalid byte rather than failing the write.
//
// Sidecar layout (format "attnscope.labeled_array", format_version 1):
//   { "format": ..., "format_version": 1, "writer": "attnscope 0.1.0",
//     "quantity": "entropy", "unit": "nats", "shape": [12, 12],
//     "axes": [{"name": "layer", "ticks": ["L0", ...]}, ...],   // "ticks": [] when the axis has none
//     "value_range": {"min": 0.1, "max": 2.3},                  // finite cells only; null if none
//     "nan_count": 0, "posinf_count": 0, "neginf_count": 0,
//     "provenance": {...} }                                      // free-form, given by the caller
#pragma once

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../result.hpp"
#include "../version.hpp"
#include "atomic_file.hpp"
#include "csv.hpp"
#include "detail/messages.hpp"
#include "value_summary.hpp"
#include "../detail/linkage.hpp"

namespace attnscope::io {

/// Whether to_json() includes the cell values.
enum class json_values { omit, include };

namespace detail {

inline nlohmann::json range_json(const value_summary& s) {
    if (!s.min) return nullptr;
    return nlohmann::json{{"min", *s.min}, {"max", *s.max}};
}

/// Serializes with invalid UTF-8 replaced (never throws for a label's bytes).
inline std::string dump_json(const nlohmann::json& j) {
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

} // namespace detail

/// A JSON description of a result: quantity, unit, shape, axes with tick labels, value range over
/// finite cells, counts of NaN and infinite cells; with json_values::include also "values", the
/// cells flattened in row-major order (NaN and infinities as null). Throws shape_error when the
/// axes do not fit the shape.
///   nlohmann::json j = as::io::to_json(grid);
///   double hi = j["value_range"]["max"];
ATTNSCOPE_FUNC nlohmann::json to_json(const labeled_array& a, json_values values = json_values::omit);
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC nlohmann::json to_json(const labeled_array& a, json_values values) {
    a.check();
    const value_summary s = summarize_values(a.values);
    nlohmann::json j;
    j["quantity"] = a.quantity;
    j["unit"] = a.unit;
    j["shape"] = nlohmann::json::array();
    for (std::size_t e : a.values.shape()) j["shape"].push_back(e);
    j["axes"] = nlohmann::json::array();
    for (const auto& ax : a.axes) j["axes"].push_back({{"name", ax.name}, {"ticks", ax.ticks}});
    j["value_range"] = detail::range_json(s);
    j["nan_count"] = s.nan_count;
    j["posinf_count"] = s.posinf_count;
    j["neginf_count"] = s.neginf_count;
    if (values == json_values::include) {
        auto& out = j["values"] = nlohmann::json::array();
        detail::for_each_cell(a.values, [&](const std::vector<std::size_t>&, double v) {
            if (std::isfinite(v))
                out.push_back(v);
            else
                out.push_back(nullptr);
        });
    }
    return j;
}
#endif

/// The sidecar text write_json_sidecar writes. `provenance` must be a JSON object (or null):
/// free-form keys such as the source file, the tool, the validity options used.
///   std::string text = as::io::format_json_sidecar(grid, {{"source", "attn.npy"}});
ATTNSCOPE_FUNC std::string format_json_sidecar(const labeled_array& a, const nlohmann::json& provenance = nlohmann::json::object());
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC std::string format_json_sidecar(const labeled_array& a, const nlohmann::json& provenance) {
    if (!provenance.is_object() && !provenance.is_null())
        throw argument_error(detail::concat("write_json_sidecar: provenance must be a JSON object, got a JSON ",
                                            provenance.type_name()));
    nlohmann::json j;
    j["format"] = "attnscope.labeled_array";
    j["format_version"] = 1;
    j["writer"] = std::string("attnscope ") + version_string;
    j.update(to_json(a));
    j["provenance"] = provenance.is_null() ? nlohmann::json::object() : provenance;
    return detail::dump_json(j);
}
#endif

/// Writes the JSON sidecar of a result atomically (see the layout at the top of this header).
///   as::io::write_json_sidecar("entropy_lh.json", grid,
///                              {{"source", "attn.npy"}, {"tool", "attnscope entropy"}, {"causal", true}});
ATTNSCOPE_FUNC void write_json_sidecar(const std::filesystem::path& path, const labeled_array& a,
                                       const nlohmann::json& provenance = nlohmann::json::object());
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC void write_json_sidecar(const std::filesystem::path& path, const labeled_array& a,
                                       const nlohmann::json& provenance) {
    const std::string text = format_json_sidecar(a, provenance);
    write_file_atomic(path, text);
}
#endif

} // namespace attnscope::io
