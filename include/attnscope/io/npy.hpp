// attnscope/io/npy.hpp - load and write NumPy .npy files (format versions 1.0, 2.0, 3.0).
//
// Why parsed here: numpy-free C++ readers either copy or trust the header; attnscope maps the file
// and reads the data in place when it can (zero-copy), and checks every length, dimension and byte
// count of a possibly hostile header first. Writing doubles uses xtensor's xt::dump_npy; the
// 16-bit writers (which xtensor lacks) share attnscope's own header writer.
//
// bfloat16: numpy has no bfloat16 dtype, so write_npy stores bfloat16 as its uint16 bit patterns
// ('<u2'), and load_npy reads a uint16 array ('<u2', '>u2', '|u2') as bfloat16 only when
// npy_options::u2_as_bfloat16 says so. numpy widens such a file with
// `(np.load(f).astype(np.uint32) << 16).view(np.float32)`.
#pragma once

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include "../element.hpp"
#include "../error.hpp"
#include "../result.hpp"
#include "array.hpp"
#include "atomic_file.hpp"
#include "detail/bytes.hpp"
#include "detail/npy_header.hpp"
#include "../detail/linkage.hpp"

namespace attnscope::io {

/// How load_npy reads a file.
///   auto a = as::io::load_npy("bf16.npy", {.u2_as_bfloat16 = true});
struct npy_options {
    /// Read uint16 arrays ('<u2', '>u2', '|u2') as bfloat16 bit patterns (how write_npy stores
    /// bfloat16); without it a uint16 array is a dtype_error.
    bool u2_as_bfloat16 = false;
    /// Read the data in place from a memory map when dtype, byte order and alignment allow it;
    /// false always copies into an owned buffer.
    bool memory_map = true;
};

namespace detail {

/// Parses a whole npy file held in `bytes`. When `keep` owns those bytes and the data is native
/// and aligned, the array points into them; otherwise it gets an owned (byte-swapped) copy.
inline array npy_from_bytes(std::span<const std::byte> bytes, std::string_view source, const npy_options& opt,
                            std::shared_ptr<const void> keep, bool mapped, std::string name = {}) {
    const npy_header h = parse_npy_header(bytes, source);
    const npy_descr d = interpret_descr(h.descr, opt.u2_as_bfloat16, source, h.descr_offset);
    const std::size_t elem = size_of(d.type);
    const file_location shape_at{std::string(source), h.shape_offset, "shape", {}};
    const index_t count = checked_element_count(h.shape, elem, source, &shape_at);
    const auto nbytes = static_cast<std::uint64_t>(count) * elem;
    const std::uint64_t avail = bytes.size() - h.data_offset;
    if (avail != nbytes)
        throw located(source, h.data_offset, "data",
                      concat(avail < nbytes ? "truncated npy data: " : "npy data too long: ", "shape ", format_list(h.shape), " of ",
                             to_string(d.type), " needs ", nbytes, " data bytes, ", avail, " follow the header"));
    auto st = contiguous_strides(h.shape, h.fortran_order);
    const auto data = bytes.subspan(h.data_offset);
    if (keep && !d.swap && reinterpret_cast<std::uintptr_t>(data.data()) % elem == 0)
        return array(d.type, h.shape, std::move(st), data, std::move(keep), mapped, std::move(name));
    auto buf = std::make_shared<aligned_buffer>(static_cast<std::size_t>(nbytes));
    if (nbytes > 0) {
        if (d.swap)
            byteswap_copy(buf->data(), data.data(), static_cast<std::size_t>(count), elem);
        else
            std::memcpy(buf->data(), data.data(), static_cast<std::size_t>(nbytes));
    }
    const auto view = buf->bytes();
    return array(d.type, h.shape, std::move(st), view, std::move(buf), false, std::move(name));
}

inline void check_write_shape(std::span<const index_t> shape, std::size_t elem, const void* data, std::string_view what) {
    if (shape.size() > max_file_rank)
        throw shape_error(concat(what, ": rank ", shape.size(), " exceeds ", max_file_rank));
    const index_t n = checked_element_count(shape, elem, what);
    if (n > 0 && data == nullptr) throw argument_error(concat(what, ": null data pointer for shape ", format_list(shape)));
}

/// The complete bytes of an npy file holding `data` (row-major, `shape`).
template <attention_element T>
std::string npy_bytes(const T* data, std::span<const index_t> shape) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) == size_of(element_traits<T>::tag),
                  "npy_bytes needs the storage type of a dtype (half, bfloat16, float, double)");
    check_write_shape(shape, sizeof(T), data, "write_npy");
    const index_t n = checked_element_count(shape, sizeof(T), "write_npy");
    std::string out = npy_preamble(descr_for(element_traits<T>::tag), false, shape);
    const std::size_t head = out.size();
    out.resize(head + static_cast<std::size_t>(n) * sizeof(T));
    if (n > 0) std::memcpy(out.data() + head, data, static_cast<std::size_t>(n) * sizeof(T));
    return out;
}

inline std::string npy_bytes(const xt::xarray<double>& a) {
    if (a.dimension() > max_file_rank) throw shape_error(concat("write_npy: rank ", a.dimension(), " exceeds ", max_file_rank));
    return xt::dump_npy(a);
}

} // namespace detail

/// Loads an .npy file: memory-mapped and zero-copy when dtype and byte order are native and the
/// data is aligned, an owned converted copy otherwise. Fortran-order files keep column-major strides.
/// format_error / dtype_error / overflow_error name the file and what is wrong.
///   auto a = as::io::load_npy("probs.npy");
///   auto v = a.view<float>().with(as::causal());
ATTNSCOPE_FUNC array load_npy(const std::filesystem::path& path, const npy_options& opt = {});
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC array load_npy(const std::filesystem::path& path, const npy_options& opt) {
    const auto file = detail::file_contents::open(path);
    const std::string source = detail::concat("npy file '", path.string(), "'");
    const bool map = opt.memory_map && file->mapped();
    return detail::npy_from_bytes(file->bytes(), source, opt, map ? file : nullptr, map);
}
#endif

/// Parses an .npy file held in memory; the array owns a copy of the data.
///   auto a = as::io::load_npy_bytes(std::as_bytes(std::span(buf)));
ATTNSCOPE_FUNC array load_npy_bytes(std::span<const std::byte> bytes, const npy_options& opt = {},
                                    std::string_view source = "npy buffer");
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC array load_npy_bytes(std::span<const std::byte> bytes, const npy_options& opt,
                                    std::string_view source) {
    return detail::npy_from_bytes(bytes, source, opt, nullptr, false);
}
#endif

/// Writes an xt::xarray<double> as '<f8' (xtensor's xt::dump_npy), atomically.
///   as::io::write_npy("grid.npy", xt::xarray<double>{{1, 2}, {3, 4}});
ATTNSCOPE_FUNC void write_npy(const std::filesystem::path& path, const xt::xarray<double>& values);
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC void write_npy(const std::filesystem::path& path, const xt::xarray<double>& values) {
    write_file_atomic(path, detail::npy_bytes(values));
}
#endif

/// Writes the values of a labeled_array as '<f8'; axis names, ticks and unit belong in the JSON sidecar.
///   as::io::write_npy("entropy.npy", as::row_entropy(v));
ATTNSCOPE_FUNC void write_npy(const std::filesystem::path& path, const labeled_array& a);
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC void write_npy(const std::filesystem::path& path, const labeled_array& a) { write_npy(path, a.values); }
#endif

/// Writes row-major typed data of `shape` atomically: float as '<f4', double as '<f8', half as
/// '<f2', bfloat16 as '<u2' bit patterns (read back with npy_options::u2_as_bfloat16).
///   std::vector<as::half> h(L * H * Q * K);
///   as::index_t shape[] = {L, H, Q, K};
///   as::io::write_npy("probs.npy", h.data(), shape);
template <attention_element T>
void write_npy(const std::filesystem::path& path, const T* data, std::span<const index_t> shape) {
    write_file_atomic(path, detail::npy_bytes(data, shape));
}

} // namespace attnscope::io
