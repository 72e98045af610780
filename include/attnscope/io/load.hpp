// attnscope/io/load.hpp - load attention weights from an .npy, .npz or .safetensors file, whichever
// the content is (the extension is not trusted).
//
// attnscope parses these formats itself for zero-copy mapping and hostile-input hardening; it uses
// nlohmann_json for the safetensors header and zlib for deflate (see npy.hpp, npz.hpp,
// safetensors.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "array.hpp"
#include "detail/bytes.hpp"
#include "detail/npy_header.hpp"
#include "detail/zip.hpp"
#include "npy.hpp"
#include "npz.hpp"
#include "safetensors.hpp"
#include "../detail/linkage.hpp"

namespace attnscope::io {

/// The container formats load_attention_file recognizes.
enum class file_format { npy, npz, safetensors };

/// The name of a file format ("npy", "npz", "safetensors").
constexpr std::string_view to_string(file_format f) noexcept {
    return f == file_format::npy ? "npy" : f == file_format::npz ? "npz" : "safetensors";
}

/// Recognizes a format from the first bytes of a file: the npy magic, a ZIP header, or a
/// safetensors header length followed by '{'; format_error otherwise.
///   auto f = as::io::sniff_format(bytes, "attn.bin");
inline file_format sniff_format(std::span<const std::byte> b, std::string_view source) {
    if (detail::has_npy_magic(b)) return file_format::npy;
    if (detail::has_zip_magic(b)) return file_format::npz;
    if (b.size() >= 9 && std::to_integer<char>(b[8]) == '{') return file_format::safetensors;
    throw detail::located(source, 0, "format",
                          detail::concat("not an npy, npz or safetensors file (it starts with \"", detail::printable(b, 12), "\")"));
}

/// Attention weights from an .npy, .npz or .safetensors file, recognized by content: an npy array of
/// rank 2..5; for npz and safetensors a single tensor, or one [batch, head, query, key] tensor per
/// layer named `<prefix><layer index>` (see attention_options). The data is read in place from the
/// memory map where dtype, byte order and alignment allow.
///   auto src = as::io::load_attention_file(argv[1]);
///   src.visit([](auto v) { std::cout << as::detail::format_list(v.shape()) << '\n'; });
ATTNSCOPE_FUNC attention_source load_attention_file(const std::filesystem::path& path, const attention_options& opt = {});
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC attention_source load_attention_file(const std::filesystem::path& path, const attention_options& opt) {
    const auto file = detail::file_contents::open(path);
    const bool map = opt.memory_map && file->mapped();
    const std::shared_ptr<const void> keep = map ? std::shared_ptr<const void>(file) : nullptr;
    const npy_options npy{.u2_as_bfloat16 = opt.u2_as_bfloat16, .memory_map = opt.memory_map};
    const std::string name = path.string();
    switch (sniff_format(file->bytes(), name)) {
    case file_format::npy: {
        const std::string source = detail::concat("npy file '", name, "'");
        auto a = detail::npy_from_bytes(file->bytes(), source, npy, keep, map);
        if (!opt.name.empty())
            throw argument_error(file_location{source, std::nullopt, "attention_options::name",
                                               detail::concat("holds one unnamed array; a tensor name ('", opt.name,
                                                              "') applies to npz and safetensors files only"),
                                               {}});
        if (a.rank() < 2 || a.rank() > axis_count)
            throw detail::located<shape_error>(source, std::nullopt, "shape",
                                               detail::concat("attention data must have rank 2 to 5, got shape ",
                                                              detail::format_list(a.shape())));
        return attention_source(std::move(a));
    }
    case file_format::npz: {
        const std::string source = detail::concat("npz file '", name, "'");
        return detail::assemble_attention(detail::npz_from_bytes(file->bytes(), source, npy, keep, map), opt, source);
    }
    case file_format::safetensors: break;
    }
    const std::string source = detail::concat("safetensors file '", name, "'");
    safetensors_options st;
    st.memory_map = opt.memory_map;
    return detail::assemble_attention(detail::safetensors_from_bytes(file->bytes(), source, st, keep, map), opt, source);
}
#endif

} // namespace attnscope::io
