// attnscope/io/npz.hpp - load and write NumPy .npz archives (ZIP of .npy members, stored or deflate).
//
// Why parsed here: the ZIP container is read through its central directory with every offset,
// size and CRC-32 checked, stored members are read in place from the memory map, and a deflate
// member is never inflated past its declared size; zlib does the inflating, deflating and CRC-32.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include <xtensor/xarray.hpp>
#include <zlib.h>

#include "../error.hpp"
#include "../result.hpp"
#include "array.hpp"
#include "atomic_file.hpp"
#include "detail/bytes.hpp"
#include "detail/zip.hpp"
#include "npy.hpp"

namespace attnscope::io {

namespace detail {

inline array_set npz_from_bytes(std::span<const std::byte> bytes, std::string_view source, const npy_options& opt,
                                const std::shared_ptr<const void>& keep, bool mapped) {
    const auto members = read_zip_directory(bytes, source);
    std::vector<array> arrays;
    arrays.reserve(members.size());
    std::set<std::string_view> seen;
    for (const auto& m : members) {
        constexpr std::string_view suffix = ".npy";
        if (m.name.size() <= suffix.size() || m.name.compare(m.name.size() - suffix.size(), suffix.size(), suffix) != 0)
            throw located(source, m.local_offset, concat("member '", m.name, "'"),
                          "is not an .npy array (npz members are named <name>.npy)");
        if (!seen.insert(m.name).second) throw located(source, m.local_offset, concat("member '", m.name, "'"), "appears twice");
        const std::string member_source = concat(source, " member '", m.name, "'");
        std::string name = m.name.substr(0, m.name.size() - suffix.size());
        auto payload = read_zip_member(bytes, m, source);
        if (payload.inflated)
            arrays.push_back(npy_from_bytes(payload.bytes, member_source, opt, payload.inflated, false, std::move(name)));
        else
            arrays.push_back(npy_from_bytes(payload.bytes, member_source, opt, keep, mapped, std::move(name)));
    }
    return array_set(std::move(arrays));
}

} // namespace detail

/// Loads every array of an .npz archive, named without the '.npy' suffix, in archive order.
/// Stored members of native byte order are read in place from the memory-mapped file when
/// aligned; deflate members are inflated (to exactly their declared size) and CRC-checked.
///   auto set = as::io::load_npz("attn.npz");
///   auto v = set.at("probs").view<float>();
inline array_set load_npz(const std::filesystem::path& path, const npy_options& opt = {}) {
    const auto file = detail::file_contents::open(path);
    const bool map = opt.memory_map && file->mapped();
    return detail::npz_from_bytes(file->bytes(), detail::concat("npz file '", path.string(), "'"), opt,
                                  map ? std::shared_ptr<const void>(file) : nullptr, map);
}

/// Parses an .npz archive held in memory; the arrays own copies of their data.
///   auto set = as::io::load_npz_bytes(std::as_bytes(std::span(buf)));
inline array_set load_npz_bytes(std::span<const std::byte> bytes, const npy_options& opt = {},
                                std::string_view source = "npz buffer") {
    return detail::npz_from_bytes(bytes, source, opt, nullptr, false);
}

/// How write_npz and npz_writer write an archive.
struct npz_write_options {
    bool compress = false;                     ///< deflate members (np.savez_compressed) or store them (np.savez)
    int level = Z_DEFAULT_COMPRESSION;         ///< zlib level 0..9, or -1 for zlib's default
    bool force_zip64 = false;                  ///< ZIP64 records even for small members (numpy writes them in local headers)
};

/// Writes an .npz archive member by member to a temporary file that commit() renames into place;
/// destroying the writer without commit() leaves no file.
///   as::io::npz_writer w("out.npz", {.compress = true});
///   w.add("entropy", entropy_values);          // xt::xarray<double>
///   w.add("probs", probs.data(), shape);       // float*, std::span<const as::index_t>
///   w.commit();
class npz_writer {
public:
    explicit npz_writer(const std::filesystem::path& path, const npz_write_options& opt = {})
        : file_(path), zip_(file_, opt.force_zip64), opt_(opt) {}

    /// Adds a member `name`.npy holding doubles ('<f8').
    void add(std::string_view name, const xt::xarray<double>& values) { put(name, detail::npy_bytes(values)); }
    void add(std::string_view name, const labeled_array& a) { add(name, a.values); }
    /// Adds a member holding row-major typed data (bfloat16 as '<u2', see npy.hpp).
    template <attention_element T>
    void add(std::string_view name, const T* data, std::span<const index_t> shape) {
        put(name, detail::npy_bytes(data, shape));
    }

    /// Writes the central directory and renames the archive into place.
    void commit() {
        zip_.finish();
        file_.commit();
    }

private:
    void put(std::string_view name, const std::string& npy) {
        if (name.empty()) throw argument_error("npz_writer: empty member name");
        if (!names_.insert(std::string(name)).second)
            throw argument_error(detail::concat("npz_writer: member '", name, "' added twice"));
        zip_.add(detail::concat(name, ".npy"), std::as_bytes(std::span<const char>(npy.data(), npy.size())), opt_.compress,
                 opt_.level);
    }

    atomic_file file_;
    detail::zip_writer zip_;
    npz_write_options opt_;
    std::set<std::string, std::less<>> names_;
};

/// Writes named arrays of doubles as an .npz archive, atomically.
///   as::io::write_npz("grids.npz", {{"entropy", ent}, {"sparsity", sp}});
inline void write_npz(const std::filesystem::path& path, const std::map<std::string, xt::xarray<double>>& arrays,
                      const npz_write_options& opt = {}) {
    npz_writer w(path, opt);
    for (const auto& [name, values] : arrays) w.add(name, values);
    w.commit();
}
/// Writes the values of named labeled_arrays as an .npz archive, atomically.
inline void write_npz(const std::filesystem::path& path, const std::map<std::string, labeled_array>& arrays,
                      const npz_write_options& opt = {}) {
    npz_writer w(path, opt);
    for (const auto& [name, a] : arrays) w.add(name, a.values);
    w.commit();
}

} // namespace attnscope::io
