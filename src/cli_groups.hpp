// src/cli_groups.hpp - which dumps form which group (directories, files named directly, a
// manifest), and the padding sidecar found next to each dump.
//
//   attnscope aggregate data/story data/qa a.npy      groups "story", "qa" and "all"
//   attnscope aggregate --manifest groups.json         {"story": ["a.npy", ...], ...}
#pragma once

#include <attnscope/error.hpp>
#include <attnscope/io/mask.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_inputs.hpp"
#include "cli_rows.hpp"

namespace attnscope::cli {

namespace fs = std::filesystem;

/// A named set of dumps, in the order they are folded.
struct dump_group {
    std::string name;
    std::vector<fs::path> files;
};

/// Whether a path names a sidecar rather than a dump (X.attention_mask.npy, X.key_lengths.json, ...).
inline bool is_sidecar(const fs::path& p) {
    const std::string stem = p.stem().string();
    for (std::string_view s : {".attention_mask", ".key_lengths", ".tokens"})
        if (stem.size() > s.size() && stem.compare(stem.size() - s.size(), s.size(), s) == 0) return true;
    return false;
}

/// Whether a directory entry is a dump the command reads (.npy, .npz, .safetensors, not a sidecar).
inline bool is_dump_file(const fs::path& p) {
    const std::string e = p.extension().string();
    return (e == ".npy" || e == ".npz" || e == ".safetensors") && !is_sidecar(p);
}

/// A group name becomes a directory and a file stem: one non-empty path component.
inline void check_group_name(const std::string& name, const std::string& where) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos || name.find('\0') != std::string::npos ||
        name[0] == '.')
        throw command_error(detail::concat(where, ": group name '", name,
                                            "' cannot name a directory (non-empty, no '/', not starting with '.')"));
}

/// The dumps under a directory, recursively, in sorted path order.
inline std::vector<fs::path> dumps_under(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec) && is_dump_file(it->path())) out.push_back(it->path());
    if (ec) throw command_error(detail::concat(dir.string(), ": cannot list the directory: ", ec.message()));
    std::sort(out.begin(), out.end());
    if (out.empty()) throw command_error(detail::concat(dir.string(), ": no .npy, .npz or .safetensors dump in this directory"));
    return out;
}

/// Groups from the command line: each directory is a group named after it (its dumps, recursively,
/// sorted); files named directly form the group "all", in the order given.
inline std::vector<dump_group> groups_from_inputs(const std::vector<std::string>& inputs) {
    std::vector<dump_group> groups;
    dump_group all{"all", {}};
    for (const auto& in : inputs) {
        const fs::path p(in);
        std::error_code ec;
        if (!fs::exists(p, ec)) throw command_error(detail::concat(in, ": no such file or directory"));
        if (fs::is_directory(p, ec)) {
            fs::path named = p;
            while (!named.has_filename() && named.has_parent_path() && named != named.root_path()) named = named.parent_path();
            std::string name = named.filename().string();
            if (name == "." || name == ".." || name.empty()) name = fs::weakly_canonical(p, ec).filename().string();
            check_group_name(name, in);
            groups.push_back({name, dumps_under(p)});
        } else {
            all.files.push_back(p);
        }
    }
    if (!all.files.empty()) groups.push_back(std::move(all));
    return groups;
}

/// Groups from a manifest: a JSON object {"group": ["file", ...], ...} or an array of objects
/// [{"path": "file", "group": "name"}, ...] ("npy" for "path" and `group_key` for "group" also
/// read, e.g. examples/data/index.json with group_key "task"). Relative paths are relative to the
/// manifest's directory. Groups come in name order (object) or in order of first appearance (array).
inline std::vector<dump_group> groups_from_manifest(const fs::path& manifest, const std::string& group_key = "group") {
    const nlohmann::json j = read_json_file(manifest, "manifest");
    const fs::path base = manifest.parent_path();
    const std::string where = manifest.string();
    std::vector<dump_group> groups;
    auto group_named = [&](const std::string& name) -> dump_group& {
        for (auto& g : groups)
            if (g.name == name) return g;
        check_group_name(name, where);
        groups.push_back({name, {}});
        return groups.back();
    };
    auto resolve = [&](const nlohmann::json& f, const std::string& what) {
        if (!f.is_string() || f.get<std::string>().empty())
            throw command_error(detail::concat(where, ": ", what, " is ", f.dump(), ", expected a file path"));
        const fs::path p(f.get<std::string>());
        return p.is_absolute() ? p : base / p;
    };
    if (j.is_object()) {
        for (const auto& [name, files] : j.items()) {
            if (!files.is_array())
                throw command_error(detail::concat(where, ": group '", name, "' maps to ", files.type_name(), ", expected an array of files"));
            auto& g = group_named(name);
            for (std::size_t i = 0; i < files.size(); ++i) g.files.push_back(resolve(files[i], detail::concat("entry ", i, " of group '", name, "'")));
        }
    } else if (j.is_array()) {
        for (std::size_t i = 0; i < j.size(); ++i) {
            const auto& e = j[i];
            if (!e.is_object()) throw command_error(detail::concat(where, ": entry ", i, " is ", e.type_name(), ", expected an object"));
            const char* path_key = e.contains("path") ? "path" : "npy";
            if (!e.contains(path_key)) throw command_error(detail::concat(where, ": entry ", i, " has no \"path\""));
            if (!e.contains(group_key) || !e[group_key].is_string())
                throw command_error(detail::concat(where, ": entry ", i, " has no string \"", group_key, "\""));
            group_named(e[group_key].get<std::string>()).files.push_back(resolve(e[path_key], detail::concat("entry ", i)));
        }
    } else {
        throw command_error(detail::concat(where, ": expected a JSON object {group: [files]} or an array of {path, group}"));
    }
    for (const auto& g : groups)
        if (g.files.empty()) throw command_error(detail::concat(where, ": group '", g.name, "' lists no file"));
    return groups;
}

/// Two groups may not share a name (they would share an output directory).
inline void check_distinct_names(const std::vector<dump_group>& groups) {
    for (std::size_t i = 0; i < groups.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (groups[i].name == groups[j].name)
                throw command_error(detail::concat("two groups are named '", groups[i].name,
                                                    "' (directories with the same name, or a directory named 'all' beside files); "
                                                    "use --manifest to name them"));
}

/// The padding of one dump, from the first sidecar found next to it:
///   X.key_lengths.json / X.key_lengths.txt    per-example key lengths (the forms report reads)
///   X.attention_mask.npy / X.attention_mask.json   HF attention_mask [batch, key]
///   X.json holding "key_lengths"              (like examples/data/sample_batch.json)
/// `sidecar` is set to the file read (empty: none, no padding).
inline example_lengths padding_of(const fs::path& dump, fs::path& sidecar) {
    example_lengths out;
    sidecar.clear();
    const fs::path dir = dump.parent_path();
    const std::string stem = dump.stem().string();
    std::error_code ec;
    for (const char* ext : {".key_lengths.json", ".key_lengths.txt"}) {
        const fs::path p = dir / (stem + ext);
        if (fs::exists(p, ec)) {
            out.keys = read_lengths("key-lengths", p.string(), "key_lengths");
            out.keys_from = "key-lengths sidecar " + p.string();
            sidecar = p;
            return out;
        }
    }
    for (const char* ext : {".attention_mask.npy", ".attention_mask.json"}) {
        const fs::path p = dir / (stem + ext);
        if (fs::exists(p, ec)) {
            out.mask = io::load_attention_mask(p);
            out.mask_path = p.string();
            out.mask_from = "attention-mask sidecar";
            sidecar = p;
            return out;
        }
    }
    const fs::path meta = dir / (stem + ".json");
    if (fs::exists(meta, ec)) {
        const nlohmann::json j = read_json_file(meta, "metadata");
        if (j.is_object() && j.contains("key_lengths")) {
            out.keys = read_lengths("key-lengths", meta.string(), "key_lengths");
            out.keys_from = "key_lengths of " + meta.string();
            sidecar = meta;
        }
    }
    return out;
}

} // namespace attnscope::cli
