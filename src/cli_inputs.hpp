// src/cli_inputs.hpp - the small side inputs of the attnscope tool: length lists and token labels.
#pragma once

#include <attnscope/axis.hpp>
#include <attnscope/error.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "cli_errors.hpp"

namespace attnscope::cli {

namespace fs = std::filesystem;

/// Reads a whole (small) text file; command_error naming the file when it cannot be read.
/// A side input must be a regular file: a FIFO or a device (/dev/zero) could be read forever.
inline void require_regular_file(const fs::path& path, const char* what) {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (!fs::exists(st)) throw command_error(detail::concat(path.string(), ": ", what, " file does not exist"));
    if (fs::is_directory(st)) throw command_error(detail::concat(path.string(), ": ", what, " file is a directory"));
    if (!fs::is_regular_file(st))
        throw command_error(detail::concat(path.string(), ": ", what, " file is not a regular file (a pipe or a device); save it to a file first"));
}

inline std::string read_text_file(const fs::path& path, const char* what, std::size_t limit = 256u << 20) {
    std::error_code ec;
    require_regular_file(path, what);
    const auto size = fs::file_size(path, ec);
    if (!ec && size > limit)
        throw command_error(detail::concat(path.string(), ": ", what, " file is ", size, " bytes, more than the ", limit, " accepted"));
    std::ifstream in(path, std::ios::binary);
    if (!in) throw command_error(detail::concat(path.string(), ": cannot open the ", what, " file"));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw command_error(detail::concat(path.string(), ": reading the ", what, " file failed"));
    return ss.str();
}

/// Parses a JSON file; command_error naming the file and nlohmann's one-line reason otherwise.
inline nlohmann::json read_json_file(const fs::path& path, const char* what) {
    const std::string text = read_text_file(path, what);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw command_error(detail::concat(path.string(), ": malformed JSON in the ", what, " file: ", e.what()));
    }
}

/// A list of lengths given on the command line ("48,32") or in a file: a JSON array, a JSON object
/// with the list under `json_key` (sample_batch.json's "key_lengths"; an array or the list as a
/// string, "48,32"), or whitespace/comma separated integers in a text file.
///   auto k = read_lengths("key-lengths", "48,32", "key_lengths");
/// Whether `text` is a list of lengths written out ("48,32") rather than a file name; signs count
/// as list characters, so that '-3,4' is a list with a negative length, not a path.
inline bool is_length_list(std::string_view text) {
    return !text.empty() && text.find_first_not_of("0123456789, +-") == std::string_view::npos &&
           text.find_first_of("0123456789") != std::string_view::npos;
}

/// The lengths of a written-out list ("48,32"); usage_error naming --option for an item that is
/// not a non-negative integer.
inline std::vector<index_t> parse_length_list(std::string_view option, std::string_view text) {
    std::vector<index_t> out;
    for (const auto& item : split_list(option, text)) {
        const auto v = parse_int(option, item, std::numeric_limits<index_t>::min());
        if (v < 0) throw usage_error(detail::concat("option --", option, ": length ", v, " is negative; lengths are >= 0"));
        out.push_back(v);
    }
    return out;
}

inline std::vector<index_t> read_lengths(std::string_view option, const std::string& text, const char* json_key) {
    if (is_length_list(text)) return parse_length_list(option, text);
    std::vector<index_t> out;
    const fs::path path(text);
    require_regular_file(path, "lengths");
    {
        // a binary file (an .npy mask given here) is named as such, never printed
        const std::string head = read_text_file(path, "lengths", 256u << 20).substr(0, 64);
        const bool binary = std::any_of(head.begin(), head.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u < 0x20 && u != '\n' && u != '\r' && u != '\t';
        }) || (!head.empty() && static_cast<unsigned char>(head[0]) == 0x93);
        if (binary)
            throw command_error(detail::concat(path.string(), ": --", option, " expects integers as text or JSON; this file is binary",
                                              head.rfind("\x93NUMPY", 0) == 0 ? " (an npy file; a [batch, key] 0/1 mask goes to --attention-mask)" : ""));
    }
    if (path.extension() == ".json") {
        const nlohmann::json j = read_json_file(path, "lengths");
        const nlohmann::json* list = &j;
        if (j.is_object()) {
            if (!j.contains(json_key))
                throw command_error(detail::concat(path.string(), ": --", option, " expects a JSON array of integers or an object with a \"",
                                                  json_key, "\" array; the object has no \"", json_key, "\""));
            list = &j[json_key];
            // the list as text ("55,12"), as safetensors metadata and tools/make_samples.py write it
            if (list->is_string() && is_length_list(list->get<std::string>())) return parse_length_list(option, list->get<std::string>());
        }
        if (!list->is_array())
            throw command_error(detail::concat(path.string(), ": --", option, " expects a JSON array of integers"));
        for (std::size_t i = 0; i < list->size(); ++i) {
            const auto& x = (*list)[i];
            if (!x.is_number_integer() || x.get<std::int64_t>() < 0)
                throw command_error(detail::concat(path.string(), ": --", option, " entry ", i, " is ", x.dump(),
                                                  ", expected a non-negative integer"));
            out.push_back(x.get<std::int64_t>());
        }
    } else {
        const std::string body = read_text_file(path, "lengths");
        std::string item;
        auto flush = [&] {
            if (item.empty()) return;
            try {
                out.push_back(parse_int(option, item, 0));
            } catch (const usage_error&) {
                throw command_error(detail::concat(path.string(), ": --", option, " expects integers, found '", item, "'"));
            }
            item.clear();
        };
        for (char c : body) {
            if (std::isspace(static_cast<unsigned char>(c)) || c == ',') flush();
            else item += c;
        }
        flush();
    }
    if (out.empty()) throw command_error(detail::concat(text, ": --", option, " lists no lengths"));
    return out;
}

/// Token labels: per example, one string per token. A JSON file holding an array of strings, an
/// array of such arrays (one per batch example), or an object with either under "tokens" (the
/// per-prompt .json files in examples/data/).
inline std::vector<std::vector<std::string>> read_tokens(const fs::path& path) {
    const nlohmann::json j = read_json_file(path, "tokens");
    const nlohmann::json* list = &j;
    if (j.is_object()) {
        if (!j.contains("tokens"))
            throw command_error(detail::concat(path.string(), ": the tokens file is an object without a \"tokens\" entry"));
        list = &j["tokens"];
    }
    auto strings = [&](const nlohmann::json& a, std::size_t example) {
        if (!a.is_array())
            throw command_error(detail::concat(path.string(), ": expected an array of token strings",
                                              example ? detail::concat(" for example ", example) : std::string()));
        std::vector<std::string> out;
        out.reserve(a.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (!a[i].is_string())
                throw command_error(detail::concat(path.string(), ": token ", i, " is ", a[i].dump(), ", expected a string"));
            out.push_back(a[i].get<std::string>());
        }
        return out;
    };
    std::vector<std::vector<std::string>> out;
    if (list->is_array() && !list->empty() && (*list)[0].is_array()) {
        for (std::size_t b = 0; b < list->size(); ++b) out.push_back(strings((*list)[b], b));
    } else {
        out.push_back(strings(*list, 0));
    }
    return out;
}

/// Token ids for the head detectors: the "token_ids" entry of a tokens file that is a JSON object
/// (an array of integers, or one array per example, as examples/data/*.json have); empty when the
/// file has none.
inline std::vector<std::vector<std::int64_t>> read_token_ids(const fs::path& path) {
    const nlohmann::json j = read_json_file(path, "tokens");
    std::vector<std::vector<std::int64_t>> out;
    if (!j.is_object() || !j.contains("token_ids")) return out;
    const nlohmann::json& list = j["token_ids"];
    auto ints = [&](const nlohmann::json& a, std::size_t example) {
        if (!a.is_array())
            throw command_error(detail::concat(path.string(), ": \"token_ids\" must be an array of integers",
                                              example ? detail::concat(" for example ", example) : std::string()));
        std::vector<std::int64_t> ids;
        for (std::size_t i = 0; i < a.size(); ++i) {
            // (negative ids are refused: the detectors give positions without an id negative ones)
            if (!a[i].is_number_integer() || (a[i].is_number_unsigned() ? a[i].get<std::uint64_t>() > std::uint64_t{INT64_MAX}
                                                                         : a[i].get<std::int64_t>() < 0))
                throw command_error(detail::concat(path.string(), ": token id ", i, " is ", a[i].dump(),
                                                   ", expected an integer in [0, 2^63)"));
            ids.push_back(a[i].get<std::int64_t>());
        }
        return ids;
    };
    if (list.is_array() && !list.empty() && list[0].is_array()) {
        for (std::size_t b = 0; b < list.size(); ++b) out.push_back(ints(list[b], b));
    } else {
        out.push_back(ints(list, 0));
    }
    return out;
}

} // namespace attnscope::cli
