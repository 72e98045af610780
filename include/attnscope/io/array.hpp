// attnscope/io/array.hpp - N-D arrays as loaded from npy, npz and safetensors files, and the
// attention source (one tensor, or one tensor per layer) the loaders assemble from them.
//
// attnscope parses these formats itself so that an array can be a zero-copy view of a memory-mapped
// file and so that every size in a hostile file is checked before it is used; see npy.hpp,
// npz.hpp and safetensors.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../axis.hpp"
#include "../element.hpp"
#include "../error.hpp"
#include "../view.hpp"
#include "detail/element_dispatch.hpp"
#include "detail/messages.hpp"

namespace attnscope::io {

namespace detail {

/// Largest rank a file may declare (numpy 2 allows 64 dimensions).
inline constexpr std::size_t max_file_rank = 64;

/// Product of the extents (each at least 1 for the overflow check) times the element size, checked:
/// returns the element count; throws overflow_error naming `what` when a byte count overflows.
/// With `at` (a file's shape field), the error carries it as where(), its problem the rest.
inline index_t checked_element_count(std::span<const index_t> shape, std::size_t elem, std::string_view what,
                                     const file_location* at = nullptr) {
    auto fail = [&]<class E>(E*, std::string problem) -> E {
        if (at != nullptr) return E(file_location{at->file, at->offset, at->field, std::move(problem)});
        return E(concat(what, ": ", problem));
    };
    index_t bound = static_cast<index_t>(elem);
    index_t count = 1;
    for (index_t d : shape) {
        if (d < 0) throw fail(static_cast<shape_error*>(nullptr), concat("negative extent ", d, " in shape ", format_list(shape)));
        if (__builtin_mul_overflow(bound, d > 0 ? d : 1, &bound))
            throw fail(static_cast<overflow_error*>(nullptr), concat("shape ", format_list(shape), " of ", elem,
                                                                     "-byte elements has more bytes than a 64-bit index can count"));
        count *= d; // cannot overflow: |count| <= bound
    }
    return count;
}

/// Row-major (C) or column-major (Fortran) element strides for a shape whose byte size was checked.
inline std::vector<index_t> contiguous_strides(std::span<const index_t> shape, bool fortran) {
    std::vector<index_t> s(shape.size());
    index_t acc = 1;
    if (fortran) {
        for (std::size_t i = 0; i < shape.size(); ++i) {
            s[i] = acc;
            acc *= shape[i] > 0 ? shape[i] : 1;
        }
    } else {
        for (std::size_t i = shape.size(); i-- > 0;) {
            s[i] = acc;
            acc *= shape[i] > 0 ? shape[i] : 1;
        }
    }
    return s;
}

template <class T>
using layer_pointers = std::vector<const T*>;

/// The first few names of a list, for messages about files with very many tensors.
inline std::string short_name_list(const std::vector<std::string>& names) {
    constexpr std::size_t shown = 12;
    if (names.size() <= shown) return format_list(names);
    std::vector<std::string> head(names.begin(), names.begin() + shown);
    head.push_back(concat("... (", names.size(), " in all)"));
    return format_list(head);
}

} // namespace detail

/// An N-D array loaded from a file: dtype, shape, element strides and native-endian elements that
/// are either owned (a 64-byte aligned heap buffer) or a read-only memory map of the file, unmapped
/// when the last array pointing into it goes. Move-only.
///   auto a = as::io::load_npy("probs.npy");            // [L, H, Q, K] float32
///   auto v = a.view<float>();                          // attention_view<float>, zero-copy
///   double x = a.at({0, 1, 2, 3});
class array {
    // calls g(std::type_identity<T>{}) for the stored element type T
    template <class G>
    decltype(auto) dispatch(G&& g) const {
        return detail::with_element_type(type_, std::forward<G>(g));
    }

public:
    array() = default;

    /// Low-level constructor (the loaders use it): `buffer` holds native-endian elements of `type`
    /// starting at element 0 and is kept alive by `owner`; the strides (non-negative, in elements)
    /// must keep every element inside the buffer, or a stride_error names the reach.
    array(attnscope::dtype type, std::vector<index_t> shape, std::vector<index_t> strides,
          std::span<const std::byte> buffer, std::shared_ptr<const void> owner, bool mapped = false,
          std::string name = {})
        : type_(type), shape_(std::move(shape)), strides_(std::move(strides)), data_(buffer.data()),
          owner_(std::move(owner)), mapped_(mapped), name_(std::move(name)) {
        const std::size_t elem = size_of(type_);
        if (shape_.size() > detail::max_file_rank)
            throw shape_error(detail::concat("array '", name_, "': rank ", shape_.size(), " exceeds ", detail::max_file_rank));
        if (strides_.size() != shape_.size())
            throw stride_error(detail::concat("array '", name_, "': ", strides_.size(), " strides for shape ",
                                              detail::format_list(shape_)));
        size_ = detail::checked_element_count(shape_, elem, detail::concat("array '", name_, "'"));
        index_t reach = 0; // highest element offset
        for (std::size_t i = 0; i < shape_.size(); ++i) {
            if (strides_[i] < 0)
                throw stride_error(detail::concat("array '", name_, "': negative stride ", strides_[i], " in ",
                                                  detail::format_list(strides_)));
            if (shape_[i] == 0) continue;
            index_t r = 0;
            if (__builtin_mul_overflow(shape_[i] - 1, strides_[i], &r) || __builtin_add_overflow(reach, r, &reach))
                throw overflow_error(detail::concat("array '", name_, "': strides ", detail::format_list(strides_),
                                                    " overflow for shape ", detail::format_list(shape_)));
        }
        span_ = size_ == 0 ? 0 : reach + 1;
        if (size_ > 0) {
            if (static_cast<std::uint64_t>(span_) > buffer.size() / elem)
                throw stride_error(detail::concat("array '", name_, "': shape ", detail::format_list(shape_), " with strides ",
                                                  detail::format_list(strides_), " reaches ", span_,
                                                  " elements, the buffer holds ", buffer.size() / elem));
            if (reinterpret_cast<std::uintptr_t>(data_) % elem != 0)
                throw stride_error(detail::concat("array '", name_, "': data is not aligned to its ", elem, "-byte elements"));
        }
    }

    array(array&&) noexcept = default;
    array& operator=(array&&) noexcept = default;
    array(const array&) = delete;
    array& operator=(const array&) = delete;

    /// The element type as stored.
    attnscope::dtype dtype() const noexcept { return type_; }
    /// Extents, outermost first.
    const std::vector<index_t>& shape() const noexcept { return shape_; }
    /// Element (not byte) strides; column-major for Fortran-order npy files.
    const std::vector<index_t>& strides() const noexcept { return strides_; }
    int rank() const noexcept { return static_cast<int>(shape_.size()); }
    /// Number of elements.
    index_t size() const noexcept { return size_; }
    /// Member name inside an npz or safetensors file; empty for a plain npy file.
    const std::string& name() const noexcept { return name_; }
    /// Whether the elements are read in place from a memory-mapped file.
    bool is_mapped() const noexcept { return mapped_; }
    /// Whether the strides are row-major contiguous.
    bool is_c_contiguous() const { return strides_ == detail::contiguous_strides(shape_, false); }
    /// The bytes of element 0 onwards (native endian).
    const std::byte* bytes() const noexcept { return data_; }

    /// The elements reachable through the strides, typed; dtype_error when T is not the stored type.
    ///   std::span<const float> e = a.elements<float>();
    template <attention_element T>
    std::span<const T> elements() const {
        check_type<T>("elements");
        return {reinterpret_cast<const T*>(data_), static_cast<std::size_t>(span_)};
    }

    /// An attention_view over the array with the canonical axes of its rank (rank 2..5), or with the
    /// given axes; dtype_error naming both dtypes when T is not the stored type.
    ///   auto v = a.view<float>(as::axes{as::axis::batch, as::axis::head, as::axis::query, as::axis::key});
    template <attention_element T>
    attention_view<T> view() const {
        if (shape_.size() < 2 || shape_.size() > static_cast<std::size_t>(axis_count))
            throw shape_error(detail::concat("array '", name_, "': attention data must have rank 2 to 5, got shape ",
                                             detail::format_list(shape_)));
        return view<T>(axes::canonical(rank()));
    }
    template <attention_element T>
    attention_view<T> view(const axes& a) const {
        check_type<T>("view");
        if (shape_.size() > static_cast<std::size_t>(axis_count))
            throw shape_error(detail::concat("array '", name_, "': attention data must have rank 2 to 5, got shape ",
                                             detail::format_list(shape_)));
        const extents e = std::span<const index_t>(shape_);
        // an empty array may have no buffer at all: zero strides keep every row pointer at the
        // (null) base instead of offsetting it, and no element is ever read
        const std::vector<index_t> zero(shape_.size(), 0);
        const attnscope::strides s = std::span<const index_t>(size_ == 0 ? zero : strides_);
        return make_view(elements<T>(), e, s, a);
    }

    /// Calls f with the typed attention_view for the stored dtype (canonical or given axes).
    ///   double n = a.visit([](auto v) { return double(v.row_count()); });
    template <class F>
    decltype(auto) visit(F&& f) const {
        return dispatch([&]<class T>(std::type_identity<T>) -> decltype(auto) { return f(view<T>()); });
    }
    template <class F>
    decltype(auto) visit(const axes& a, F&& f) const {
        return dispatch([&]<class T>(std::type_identity<T>) -> decltype(auto) { return f(view<T>(a)); });
    }

    /// One element widened to double; shape_error when the index is out of range.
    ///   double x = a.at({1, 2});
    double at(std::span<const index_t> index) const {
        if (index.size() != shape_.size())
            throw shape_error(detail::concat("array '", name_, "': index ", detail::format_list(index), " for shape ",
                                             detail::format_list(shape_)));
        index_t off = 0;
        for (std::size_t i = 0; i < index.size(); ++i) {
            if (index[i] < 0 || index[i] >= shape_[i])
                throw shape_error(detail::concat("array '", name_, "': index ", detail::format_list(index),
                                                 " is outside shape ", detail::format_list(shape_)));
            off += index[i] * strides_[i];
        }
        return element(off);
    }
    double at(std::initializer_list<index_t> index) const { return at(std::span<const index_t>(index.begin(), index.size())); }

    /// A row-major xt::xarray<double> copy of the values (any rank, any stored dtype and order).
    ///   xt::xarray<double> x = a.to_xarray();
    xt::xarray<double> to_xarray() const {
        std::vector<std::size_t> sh(shape_.begin(), shape_.end());
        xt::xarray<double> out(sh);
        if (size_ == 0) return out;
        dispatch([&]<class T>(std::type_identity<T>) {
            const T* p = reinterpret_cast<const T*>(data_);
            double* o = out.data();
            const std::size_t r = shape_.size();
            if (r == 0) {
                o[0] = static_cast<double>(widen(p[0]));
                return;
            }
            std::vector<index_t> idx(r, 0);
            index_t off = 0;
            const index_t inner = shape_[r - 1], inner_stride = strides_[r - 1];
            for (index_t n = 0; n < size_; n += inner) {
                for (index_t k = 0; k < inner; ++k) *o++ = static_cast<double>(widen(p[off + k * inner_stride]));
                // advance the outer index (odometer over dims 0..r-2)
                for (std::size_t d = r - 1; d-- > 0;) {
                    off += strides_[d];
                    if (++idx[d] < shape_[d]) break;
                    off -= idx[d] * strides_[d];
                    idx[d] = 0;
                }
            }
        });
        return out;
    }

private:
    double element(index_t off) const {
        return dispatch([&]<class T>(std::type_identity<T>) {
            return static_cast<double>(widen(reinterpret_cast<const T*>(data_)[off]));
        });
    }

    template <class T>
    void check_type(const char* what) const {
        if (element_traits<T>::tag != type_)
            throw dtype_error(detail::concat("array '", name_, "': ", what, "<", to_string(element_traits<T>::tag),
                                             ">: expected dtype ", to_string(element_traits<T>::tag), ", the array holds ",
                                             to_string(type_)));
    }

    attnscope::dtype type_ = attnscope::dtype::f32;
    std::vector<index_t> shape_;
    std::vector<index_t> strides_;
    const std::byte* data_ = nullptr;
    std::shared_ptr<const void> owner_;
    bool mapped_ = false;
    std::string name_;
    index_t size_ = 0;
    index_t span_ = 0;
};

/// The named arrays of an npz or safetensors file, in file order, with the file's string metadata
/// (safetensors' `__metadata__`; empty for npz).
///   auto set = as::io::load_npz("run.npz");
///   const as::io::array& probs = set.at("probs");
///   for (const auto& a : set) std::cout << a.name() << '\n';
class array_set {
public:
    using metadata_map = std::map<std::string, std::string, std::less<>>;

    array_set() = default;
    /// Names must be unique (argument_error otherwise).
    explicit array_set(std::vector<array> arrays, metadata_map metadata = {})
        : arrays_(std::move(arrays)), metadata_(std::move(metadata)) {
        std::map<std::string_view, std::size_t> seen;
        for (std::size_t i = 0; i < arrays_.size(); ++i)
            if (!seen.emplace(arrays_[i].name(), i).second)
                throw argument_error(detail::concat("array_set: the name '", arrays_[i].name(), "' appears twice"));
    }
    array_set(array_set&&) noexcept = default;
    array_set& operator=(array_set&&) noexcept = default;

    std::size_t size() const noexcept { return arrays_.size(); }
    bool empty() const noexcept { return arrays_.empty(); }
    auto begin() const noexcept { return arrays_.begin(); }
    auto end() const noexcept { return arrays_.end(); }
    const array& operator[](std::size_t i) const { return arrays_.at(i); }

    /// The array with this name or nullptr.
    const array* find(std::string_view name) const noexcept {
        for (const auto& a : arrays_)
            if (a.name() == name) return &a;
        return nullptr;
    }
    bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
    /// The array with this name; argument_error listing the names there are otherwise.
    const array& at(std::string_view name) const {
        if (const array* a = find(name)) return *a;
        throw argument_error(detail::concat("no array named '", name, "'; the file holds ", detail::short_name_list(names())));
    }
    std::vector<std::string> names() const {
        std::vector<std::string> n;
        n.reserve(arrays_.size());
        for (const auto& a : arrays_) n.push_back(a.name());
        return n;
    }
    const metadata_map& metadata() const noexcept { return metadata_; }
    /// Moves the arrays out (e.g. into an attention_source).
    std::vector<array> release() && { return std::move(arrays_); }

private:
    std::vector<array> arrays_;
    metadata_map metadata_;
};

/// Attention weights from a file: one array of rank 2..5 (the last `rank` of [batch, layer, head,
/// query, key] unless axes are given), or one array per layer ([batch, head, query, key], or
/// [head, query, key], or [query, key]) stacked into one view without copying. Move-only; views
/// it returns stay valid while it lives.
///   auto src = as::io::load_attention_file("attn.safetensors");
///   src.visit([](auto v) { std::cout << as::detail::format_list(v.shape()) << '\n'; });
class attention_source {
    // calls g(std::type_identity<T>{}) for the stored element type T
    template <class G>
    decltype(auto) dispatch(G&& g) const {
        if (arrays_.empty()) throw argument_error("attention_source: empty (default-constructed)");
        return detail::with_element_type(arrays_.front().dtype(), std::forward<G>(g));
    }

    // an empty tensor holds no attention, and a zero extent would let a tiny hostile file declare
    // billions of empty rows for a consumer to iterate
    static void check_not_empty(const array& a) {
        if (a.size() == 0)
            throw shape_error(detail::concat("attention tensor '", a.name(), "' of shape ", detail::format_list(a.shape()),
                                             " is empty"));
    }

public:
    attention_source() = default;

    /// One tensor holding all the data; shape_error unless its rank is 2..5 and it is not empty.
    explicit attention_source(array single) {
        if (single.rank() < 2 || single.rank() > axis_count)
            throw shape_error(detail::concat("attention tensor '", single.name(), "' must have rank 2 to 5, got shape ",
                                             detail::format_list(single.shape())));
        check_not_empty(single);
        arrays_.push_back(std::move(single));
    }

    /// One tensor per layer, in layer order: same dtype, shape and strides, rank 2..4, not empty.
    static attention_source from_layers(std::vector<array> layers) {
        if (layers.empty()) throw argument_error("attention_source::from_layers: the list of per-layer tensors is empty");
        const array& first = layers.front();
        if (first.rank() < 2 || first.rank() > 4)
            throw shape_error(detail::concat("per-layer attention tensor '", first.name(),
                                             "' must have rank 2 to 4 ([batch, head, query, key] or a suffix), got shape ",
                                             detail::format_list(first.shape())));
        check_not_empty(first);
        for (std::size_t l = 1; l < layers.size(); ++l) {
            const array& a = layers[l];
            if (a.dtype() != first.dtype())
                throw dtype_error(detail::concat("per-layer tensor '", a.name(), "' (layer ", l, ") holds ", to_string(a.dtype()),
                                                 ", layer 0 ('", first.name(), "') holds ", to_string(first.dtype())));
            if (a.shape() != first.shape())
                throw shape_error(detail::concat("per-layer tensor '", a.name(), "' (layer ", l, ") has shape ",
                                                 detail::format_list(a.shape()), ", layer 0 ('", first.name(), "') has ",
                                                 detail::format_list(first.shape())));
            if (a.strides() != first.strides())
                throw stride_error(detail::concat("per-layer tensor '", a.name(), "' (layer ", l, ") has strides ",
                                                  detail::format_list(a.strides()), ", layer 0 ('", first.name(),
                                                  "') has ", detail::format_list(first.strides())));
        }
        attention_source s;
        s.arrays_ = std::move(layers);
        s.layered_ = true;
        s.dispatch([&]<class T>(std::type_identity<T>) {
            detail::layer_pointers<T> p;
            p.reserve(s.arrays_.size());
            for (const auto& a : s.arrays_) p.push_back(a.size() == 0 ? nullptr : a.elements<T>().data());
            s.bases_ = std::move(p);
        });
        return s;
    }

    attention_source(attention_source&&) noexcept = default;
    attention_source& operator=(attention_source&&) noexcept = default;
    attention_source(const attention_source&) = delete;
    attention_source& operator=(const attention_source&) = delete;

    /// The element type of the data.
    attnscope::dtype dtype() const {
        if (arrays_.empty()) throw argument_error("attention_source: empty (default-constructed)");
        return arrays_.front().dtype();
    }
    /// Whether the data is one tensor per layer.
    bool layered() const noexcept { return layered_; }
    /// The underlying arrays: one, or one per layer in layer order.
    const std::vector<array>& arrays() const noexcept { return arrays_; }

    /// The typed view over all the data; dtype_error when T is not the stored type. For per-layer
    /// data the axes describe one layer's tensor (default: the last rank of [batch, head, query, key]).
    ///   auto v = src.view<as::half>();
    template <attention_element T>
    attention_view<T> view() const {
        if (arrays_.empty()) throw argument_error("attention_source: empty (default-constructed)");
        if (!layered_) return arrays_.front().view<T>();
        static constexpr std::array<axis, 4> per_layer{axis::batch, axis::head, axis::query, axis::key};
        const int r = arrays_.front().rank();
        axes a{};
        a.n = r;
        for (int i = 0; i < r; ++i) a.v[static_cast<std::size_t>(i)] = per_layer[static_cast<std::size_t>(4 - r + i)];
        return view<T>(a);
    }
    template <attention_element T>
    attention_view<T> view(const axes& a) const {
        if (arrays_.empty()) throw argument_error("attention_source: empty (default-constructed)");
        if (!layered_) return arrays_.front().view<T>(a);
        const array& first = arrays_.front();
        if (element_traits<T>::tag != first.dtype())
            throw dtype_error(detail::concat("attention_source: view<", to_string(element_traits<T>::tag), ">: expected dtype ",
                                             to_string(element_traits<T>::tag), ", the per-layer tensors hold ",
                                             to_string(first.dtype())));
        const auto& ptrs = std::get<detail::layer_pointers<T>>(bases_);
        const extents e = std::span<const index_t>(first.shape());
        const strides s = std::span<const index_t>(first.strides());
        return make_layered_view(std::span<const T* const>(ptrs.data(), ptrs.size()), e, s, a);
    }

    /// Calls f with the typed view for the stored dtype.
    ///   auto shape = src.visit([](auto v) { return v.shape(); });
    template <class F>
    decltype(auto) visit(F&& f) const {
        return dispatch([&]<class T>(std::type_identity<T>) -> decltype(auto) { return f(view<T>()); });
    }
    template <class F>
    decltype(auto) visit(const axes& a, F&& f) const {
        return dispatch([&]<class T>(std::type_identity<T>) -> decltype(auto) { return f(view<T>(a)); });
    }

    /// Extents of the present axes in canonical [batch, layer, head, query, key] order.
    std::vector<index_t> shape() const {
        return visit([](auto v) { return v.shape(); });
    }

private:
    std::vector<array> arrays_;
    bool layered_ = false;
    std::variant<std::monostate, detail::layer_pointers<half>, detail::layer_pointers<bfloat16>, detail::layer_pointers<float>,
                 detail::layer_pointers<double>>
        bases_;
};

/// Which tensors of a file hold the attention weights, for load_attention_file and load_attention.
///   auto src = as::io::load_attention_file("out.safetensors", {.name = "attentions."});
struct attention_options {
    /// Empty: the file's only tensor, or all its tensors when every name is `<prefix><layer index>`
    /// with one common prefix (attentions.0, attentions.1, ...). Otherwise the exact name of one
    /// tensor, or the prefix of per-layer tensors (`attentions.` or `attentions`). A single tensor
    /// is [.., layer, head, query, key] by rank; to read one HF layer as [batch, head, query, key]
    /// name its prefix ("attentions").
    std::string name{};
    /// npy/npz only: read uint16 arrays as bfloat16 bit patterns (see npy_options).
    bool u2_as_bfloat16 = false;
    /// Read data in place from a memory map when possible.
    bool memory_map = true;
};

namespace detail {

/// Splits "attentions.12" into ("attentions.", 12); false when the name does not end in 1..9 digits.
inline bool split_layer_name(std::string_view name, std::string_view& prefix, index_t& layer) noexcept {
    std::size_t d = name.size();
    while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9') --d;
    const std::size_t digits = name.size() - d;
    if (digits == 0 || digits > 9) return false;
    layer = 0;
    for (std::size_t i = d; i < name.size(); ++i) layer = layer * 10 + (name[i] - '0');
    prefix = name.substr(0, d);
    return true;
}

/// Picks the attention tensor(s) out of a file's arrays as attention_options::name says.
inline attention_source assemble_attention(array_set set, const attention_options& opt, std::string_view source) {
    if (set.empty()) throw located(source, std::nullopt, "tensors", "holds no tensors");
    const auto names = set.names();
    std::vector<array> all = std::move(set).release();
    if (!opt.name.empty()) {
        for (auto& a : all)
            if (a.name() == opt.name) return attention_source(std::move(a));
    } else if (all.size() == 1) {
        return attention_source(std::move(all.front()));
    }
    // per-layer tensors: <prefix><index>
    std::vector<std::pair<index_t, std::size_t>> layers; // (layer, position in all)
    std::string_view common;
    bool have_common = false;
    for (std::size_t i = 0; i < all.size(); ++i) {
        std::string_view prefix;
        index_t layer = 0;
        const bool split = split_layer_name(all[i].name(), prefix, layer);
        if (!opt.name.empty()) {
            std::string_view want = opt.name;
            if (!split || prefix.substr(0, want.size()) != want) continue;
            const auto rest = prefix.substr(want.size()); // at most one separator after the given prefix
            if (!(rest.empty() || (rest.size() == 1 && std::string_view("._-/:").find(rest[0]) != std::string_view::npos)))
                continue;
        } else {
            if (!split)
                throw format_error(file_location{std::string(source), std::nullopt, "tensors",
                                                 concat("holds ", all.size(), " tensors ", short_name_list(names),
                                                        " that are neither one attention tensor nor per-layer tensors named ",
                                                        "<prefix><layer index>"),
                                                 "attention_options::name"});
            if (have_common && prefix != common)
                throw format_error(file_location{std::string(source), std::nullopt, "tensors",
                                                 concat("tensors ", short_name_list(names), " have different prefixes ('", common,
                                                        "' and '", prefix, "')"),
                                                 "attention_options::name"});
            common = prefix;
            have_common = true;
        }
        layers.emplace_back(layer, i);
    }
    if (layers.empty())
        throw argument_error(file_location{std::string(source), std::nullopt, "tensors",
                                           concat("no tensor named '", opt.name, "' and no per-layer tensors '", opt.name,
                                                  "<layer index>'; the file holds ", short_name_list(names)),
                                           "attention_options::name"});
    std::sort(layers.begin(), layers.end());
    for (std::size_t i = 0; i < layers.size(); ++i) {
        if (i > 0 && layers[i].first == layers[i - 1].first)
            throw located(source, std::nullopt, "tensors",
                          concat("tensors '", all[layers[i - 1].second].name(), "' and '", all[layers[i].second].name(),
                                 "' both claim layer ", layers[i].first));
        if (layers[i].first != static_cast<index_t>(i)) {
            std::vector<index_t> found;
            for (const auto& l : layers) found.push_back(l.first);
            if (found.size() > 12) found.resize(12);
            throw located(source, std::nullopt, "tensors",
                          concat("per-layer tensors must number the layers 0, 1, 2, ... without gaps; layer ", i,
                                 " is missing (found layers ", format_list(found), layers.size() > 12 ? " ...)" : ")"));
        }
    }
    std::vector<array> ordered;
    ordered.reserve(layers.size());
    for (const auto& l : layers) ordered.push_back(std::move(all[l.second]));
    // the layers must agree in shape, dtype and strides: say so about this file, as data
    try {
        return attention_source::from_layers(std::move(ordered));
    } catch (const shape_error& e) {
        throw located<shape_error>(source, std::nullopt, "tensors", e.what());
    } catch (const dtype_error& e) {
        throw located<dtype_error>(source, std::nullopt, "tensors", e.what());
    } catch (const stride_error& e) {
        throw located<stride_error>(source, std::nullopt, "tensors", e.what());
    }
}

} // namespace detail

} // namespace attnscope::io
