// src/cli_group_stats.hpp - one group's statistics over prompts: an accumulator per metric over
// [layer, head] cells, fed each prompt's per-(layer, head) mean over its valid rows, merged file
// by file, and stored as <group>.accum.
//
// Determinism: a file's prompts are added in batch order into the file's own accumulators, and a
// group folds its files' accumulators in file order (accumulator::merge). Where a file was
// computed (this process, another MPI rank) does not change a bit of the result.
//
// <group>.accum, version 1 (integers little-endian):
//   "ATSGROUP" (8 bytes), u32 version = 1, u32 n, n bytes of JSON (group name, metric names, the
//   options that define the values, file and prompt counts), u32 metric count m, then per metric
//   u64 length + that many bytes of accumulator::serialize() (reduce/accumulator.hpp).
#pragma once

#include <attnscope/reduce/accumulator.hpp>
#include <attnscope/reduce/aggregate.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_inputs.hpp"
#include "cli_metrics.hpp"
#include "cli_rows.hpp"

namespace attnscope::cli {

namespace fs = std::filesystem;

/// Statistics over prompts of one group (or one file, before it is folded into its group).
struct group_stats {
    std::string name;
    std::vector<std::size_t> slots;  ///< metric_table positions, in table order
    std::vector<accumulator> acc;    ///< per slot: [layer, head] cells over prompts
    std::uint64_t files = 0, prompts = 0;
    nlohmann::json definition;       ///< the options that define the values (must agree to merge)
    fs::path first_file;             ///< where the layer x head shape came from (for messages)

    bool empty() const noexcept { return acc.empty(); }
    index_t layers() const { return static_cast<index_t>(acc.front().shape()[0]); }
    index_t heads() const { return static_cast<index_t>(acc.front().shape()[1]); }
};

/// The statistics of one dump: each prompt (example of the batch) adds, per selected metric, its
/// per-(layer, head) mean over its valid rows (report's grid for that prompt alone).
inline group_stats file_stats(const row_values& r, const metric_mask& selected, const nlohmann::json& definition,
                              const fs::path& file) {
    group_stats s;
    s.definition = definition;
    s.first_file = file;
    s.files = 1;
    const auto& e = r.extents; // [batch, layer, head, query]
    s.prompts = static_cast<std::uint64_t>(e[0]);
    for (std::size_t i = 0; i < metric_count; ++i) {
        if (!selected[i]) continue;
        const labeled_array rows = canonical_rows(r.rows[i], r.extents);
        labeled_array one; // [1, L, H, Q]: one prompt
        one.axes = rows.axes;
        one.quantity = rows.quantity;
        one.unit = rows.unit;
        accumulator acc({static_cast<std::size_t>(e[1]), static_cast<std::size_t>(e[2])},
                        {{"layer", default_ticks(axis::layer, static_cast<std::size_t>(e[1]))},
                         {"head", default_ticks(axis::head, static_cast<std::size_t>(e[2]))}},
                        "mean " + rows.quantity, rows.unit);
        const std::size_t per_prompt = static_cast<std::size_t>(e[1] * e[2] * e[3]);
        for (index_t b = 0; b < e[0]; ++b) {
            one.values = xt::xarray<double>::from_shape({1, static_cast<std::size_t>(e[1]), static_cast<std::size_t>(e[2]),
                                                         static_cast<std::size_t>(e[3])});
            std::copy_n(rows.values.data() + static_cast<std::size_t>(b) * per_prompt, per_prompt, one.values.data());
            labeled_array grid = layer_head_mean(one);
            grid.quantity = acc.quantity();
            acc.add(grid);
        }
        s.slots.push_back(i);
        s.acc.push_back(std::move(acc));
    }
    return s;
}

/// What differs between the metrics and options of two statistics, as "FIELD A here, B there"
/// items (JSON values; "absent" where one side lacks the field): for a message that says what to
/// change instead of printing both definitions.
inline std::string definition_difference(const group_stats& here, const group_stats& there) {
    std::vector<std::string> items;
    auto metric_names = [](const group_stats& s) {
        std::vector<std::string_view> n;
        for (auto i : s.slots) n.push_back(metric_table[i].name);
        return detail::format_list(n);
    };
    if (here.slots != there.slots) items.push_back(detail::concat("metrics ", metric_names(here), " here, ", metric_names(there), " there"));
    for (const auto& op : nlohmann::json::diff(there.definition, here.definition)) {
        const nlohmann::json::json_pointer at(op.at("path").get<std::string>());
        auto value = [&](const nlohmann::json& d) { return d.contains(at) ? d.at(at).dump() : std::string("absent"); };
        std::string field = at.to_string().substr(1);
        std::replace(field.begin(), field.end(), '/', '.');
        items.push_back(detail::concat(field, " ", value(here.definition), " here, ", value(there.definition), " there"));
    }
    std::string s;
    for (const auto& i : items) s += (s.empty() ? "" : "; ") + i;
    return s;
}

/// Folds `part` (a later file, or a later group part) into `into`. Layers and heads must agree
/// (the error names the file), as must the metrics and the options that define them.
inline void fold(group_stats& into, const group_stats& part, const std::string& part_name) {
    if (into.empty()) {
        const std::string name = into.name;
        into = part;
        into.name = name;
        return;
    }
    if (part.layers() != into.layers() || part.heads() != into.heads())
        throw command_error(detail::concat(part_name, ": ", part.layers(), " layers x ", part.heads(), " heads, but group '", into.name,
                                         "' has ", into.layers(), " x ", into.heads(), " (from ", into.first_file.string(),
                                         "); layers and heads must agree within a group"));
    if (part.slots != into.slots || part.definition != into.definition)
        throw command_error(detail::concat(part_name, ": made with other metrics or options than group '", into.name,
                                           "' (from ", into.first_file.string(), "): ", definition_difference(part, into)));
    for (std::size_t i = 0; i < into.acc.size(); ++i) into.acc[i].merge(part.acc[i]);
    into.files += part.files;
    into.prompts += part.prompts;
}

// ---- bytes ----

namespace detail_accum {

inline constexpr char magic[8] = {'A', 'T', 'S', 'G', 'R', 'O', 'U', 'P'};
inline constexpr std::uint32_t version = 1;

inline void put(std::vector<std::byte>& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffu));
}

struct reader {
    std::span<const std::byte> b;
    std::string source;
    std::size_t pos = 0;
    std::uint64_t get(int bytes, const char* what) {
        if (b.size() - pos < static_cast<std::size_t>(bytes))
            throw command_error(detail::concat(source, ": truncated group accumulator: ", what, " at byte ", pos));
        std::uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(b[pos + static_cast<std::size_t>(i)]) << (8 * i);
        pos += static_cast<std::size_t>(bytes);
        return v;
    }
    std::span<const std::byte> take(std::uint64_t n, const char* what) {
        if (n > b.size() - pos)
            throw command_error(detail::concat(source, ": truncated group accumulator: ", what, " of ", n, " bytes at byte ", pos,
                                              ", ", b.size() - pos, " remain"));
        auto s = b.subspan(pos, static_cast<std::size_t>(n));
        pos += static_cast<std::size_t>(n);
        return s;
    }
};

} // namespace detail_accum

/// The header JSON of a group's .accum file.
inline nlohmann::json stats_header(const group_stats& s) {
    std::vector<std::string> names;
    for (auto i : s.slots) names.emplace_back(metric_table[i].name);
    return {{"format", "attnscope group accumulator"}, {"group", s.name}, {"metrics", names}, {"files", s.files},
            {"prompts", s.prompts}, {"definition", s.definition}, {"first_file", s.first_file.string()}};
}

/// The .accum bytes of a group (see the header comment).
inline std::vector<std::byte> serialize(const group_stats& s) {
    std::vector<std::byte> out;
    for (char c : detail_accum::magic) out.push_back(static_cast<std::byte>(c));
    detail_accum::put(out, detail_accum::version, 4);
    const std::string header = stats_header(s).dump();
    detail_accum::put(out, header.size(), 4);
    for (char c : header) out.push_back(static_cast<std::byte>(c));
    detail_accum::put(out, s.acc.size(), 4);
    for (const auto& a : s.acc) {
        const auto bytes = a.serialize();
        detail_accum::put(out, bytes.size(), 8);
        out.insert(out.end(), bytes.begin(), bytes.end());
    }
    return out;
}

/// Reads .accum bytes; format_error naming `source` for anything malformed.
inline group_stats deserialize_stats(std::span<const std::byte> bytes, const std::string& source) {
    detail_accum::reader r{bytes, source};
    const auto m = r.take(8, "magic");
    if (std::memcmp(m.data(), detail_accum::magic, 8) != 0)
        throw command_error(detail::concat(source, ": not an attnscope group accumulator (bad magic; expected \"ATSGROUP\")"));
    const auto version = r.get(4, "version");
    if (version != detail_accum::version)
        throw command_error(detail::concat(source, ": group accumulator format version ", version, ", expected ", detail_accum::version));
    const auto hlen = r.get(4, "header length");
    const auto htext = r.take(hlen, "header");
    nlohmann::json h;
    try {
        h = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(htext.data()), htext.size()));
    } catch (const nlohmann::json::exception& e) {
        throw command_error(detail::concat(source, ": malformed header JSON: ", e.what()));
    }
    group_stats s;
    try {
        s.name = h.at("group").get<std::string>();
        s.files = h.at("files").get<std::uint64_t>();
        s.prompts = h.at("prompts").get<std::uint64_t>();
        s.definition = h.at("definition");
        s.first_file = h.at("first_file").get<std::string>();
        for (const auto& n : h.at("metrics")) {
            const auto i = find_metric(n.get<std::string>());
            if (!i) throw command_error(detail::concat(source, ": unknown metric '", n.get<std::string>(), "'"));
            s.slots.push_back(*i);
        }
    } catch (const nlohmann::json::exception& e) {
        throw command_error(detail::concat(source, ": header lacks a field or has a wrong type: ", e.what()));
    }
    const auto n = r.get(4, "metric count");
    if (n != s.slots.size() || n == 0)
        throw command_error(detail::concat(source, ": ", n, " accumulators for ", s.slots.size(), " metrics"));
    for (std::uint64_t i = 0; i < n; ++i) {
        const auto len = r.get(8, "accumulator length");
        const std::size_t at = r.pos;
        try {
            s.acc.push_back(accumulator::deserialize(r.take(len, "accumulator")));
        } catch (const format_error& e) {
            // where(): the field and its offset within the accumulator's bytes, which start at `at`
            const file_location w = e.where().value_or(file_location{});
            throw command_error(detail::concat(source, ": accumulator of metric ", metric_table[s.slots[i]].name, ": ", w.field,
                                               w.field.empty() ? "" : ": ", w.problem,
                                               w.offset ? detail::concat(" (at byte ", at + *w.offset, ")") : std::string()));
        }
        if (s.acc.back().shape().size() != 2)
            throw command_error(detail::concat(source, ": metric ", metric_table[s.slots[i]].name, ": expected [layer, head] cells"));
    }
    if (r.pos != bytes.size()) throw command_error(detail::concat(source, ": ", bytes.size() - r.pos, " bytes after the last accumulator"));
    for (std::size_t i = 1; i < s.acc.size(); ++i)
        if (s.acc[i].shape() != s.acc[0].shape())
            throw command_error(detail::concat(source, ": the metrics' accumulators differ in shape"));
    return s;
}

/// Reads a .accum file.
inline group_stats read_stats(const fs::path& path) {
    const std::string text = read_text_file(path, "accumulator", std::size_t{1} << 32);
    return deserialize_stats(std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()), path.string());
}

} // namespace attnscope::cli
