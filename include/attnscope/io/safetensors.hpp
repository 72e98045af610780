// attnscope/io/safetensors.hpp - load and write .safetensors files (F16, BF16, F32, F64 tensors).
//
// Why parsed here: tensors are read in place from the memory-mapped file (zero-copy), and the
// header of a possibly hostile file is checked before any size in it is used. nlohmann_json lexes
// the JSON header, through its SAX interface so that the schema (and the header size limit) is
// enforced while parsing and no document tree of unbounded size or depth is ever built.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the data buffer; offsets are relative to its start (byte 8 + N). Elements are little-endian.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xarray.hpp>

#include "../element.hpp"
#include "../error.hpp"
#include "../result.hpp"
#include "array.hpp"
#include "atomic_file.hpp"
#include "detail/bytes.hpp"

namespace attnscope::io {

/// How load_safetensors reads a file.
///   auto set = as::io::load_safetensors("attn.safetensors", {.memory_map = false});
struct safetensors_options {
    /// Largest JSON header accepted, in bytes (the safetensors reference implementation's limit).
    std::uint64_t max_header_size = 100'000'000;
    /// Read tensors in place from a memory map when aligned (and the host is little-endian).
    bool memory_map = true;
};

namespace detail {

/// One tensor entry of a safetensors header.
struct safetensors_entry {
    std::string name;
    std::string dtype;
    std::vector<index_t> shape;
    std::array<std::uint64_t, 2> offsets{};
};

/// SAX handler enforcing the safetensors header schema while nlohmann_json lexes it.
class safetensors_header_sax {
public:
    using json = nlohmann::json;
    explicit safetensors_header_sax(std::string_view source) : source_(source) {}

    std::vector<safetensors_entry> entries;
    array_set::metadata_map metadata;
    std::optional<error> failure; // set when parsing stopped
    bool overflow = false;

    bool null() { return unexpected("null"); }
    bool boolean(bool) { return unexpected("a boolean"); }
    bool number_integer(json::number_integer_t v) {
        if (state_ == state::shape || state_ == state::offsets)
            return fail(concat("negative ", state_ == state::shape ? "dimension " : "offset ", v));
        return unexpected("a number");
    }
    bool number_unsigned(json::number_unsigned_t v) {
        if (state_ == state::shape) {
            if (cur_.shape.size() == max_file_rank) return fail(concat("'shape' has more than ", max_file_rank, " dimensions"));
            if (v > static_cast<std::uint64_t>(std::numeric_limits<index_t>::max())) {
                overflow = true;
                return fail(concat("dimension ", v, " does not fit a 64-bit signed index"));
            }
            cur_.shape.push_back(static_cast<index_t>(v));
            return true;
        }
        if (state_ == state::offsets) {
            if (n_offsets_ == 2) return fail("'data_offsets' must have exactly 2 entries [begin, end]");
            cur_.offsets[n_offsets_++] = v;
            return true;
        }
        return unexpected("a number");
    }
    bool number_float(json::number_float_t, const json::string_t& text) {
        if (state_ == state::shape || state_ == state::offsets)
            return fail(concat("'", text, "' in '", state_ == state::shape ? "shape" : "data_offsets",
                               "' is not a non-negative integer"));
        return unexpected("a number");
    }
    bool string(json::string_t& v) {
        switch (state_) {
        case state::tensor_value:
            if (key_ == "dtype") {
                cur_.dtype = std::move(v);
                state_ = state::tensor;
                return true;
            }
            return unexpected("a string");
        case state::metadata_value:
            metadata.emplace(std::move(meta_key_), std::move(v));
            state_ = state::metadata;
            return true;
        default: return unexpected("a string");
        }
    }
    bool binary(json::binary_t&) { return unexpected("binary data"); }

    bool start_object(std::size_t) {
        switch (state_) {
        case state::start: state_ = state::top; return true;
        case state::top_value:
            if (in_metadata_key_) {
                state_ = state::metadata;
                return true;
            }
            state_ = state::tensor;
            return true;
        default: return unexpected("an object");
        }
    }
    bool key(json::string_t& k) {
        switch (state_) {
        case state::top: {
            if (!top_keys_.insert(k).second) return fail(concat("key '", k, "' appears twice"));
            in_metadata_key_ = k == "__metadata__";
            if (!in_metadata_key_) {
                cur_ = safetensors_entry{};
                cur_.name = k;
                seen_ = 0;
                n_offsets_ = 0;
            }
            state_ = state::top_value;
            return true;
        }
        case state::tensor: {
            const int bit = k == "dtype" ? 1 : k == "shape" ? 2 : k == "data_offsets" ? 4 : 0;
            if (bit == 0)
                return fail(concat("unknown key '", k, "' (expected dtype, shape, data_offsets)"));
            if (seen_ & bit) return fail(concat("the key '", k, "' appears twice"));
            seen_ |= bit;
            key_ = k;
            state_ = state::tensor_value;
            return true;
        }
        case state::metadata:
            if (metadata.count(k) != 0) return fail(concat("__metadata__ has the key '", k, "' twice"));
            meta_key_ = k;
            state_ = state::metadata_value;
            return true;
        default: return unexpected("a key");
        }
    }
    bool end_object() {
        switch (state_) {
        case state::top: state_ = state::done; return true;
        case state::metadata: state_ = state::top; return true;
        case state::tensor:
            if (seen_ != 7)
                return fail(concat("lacks ", (seen_ & 1) ? "" : "'dtype' ", (seen_ & 2) ? "" : "'shape' ",
                                   (seen_ & 4) ? "" : "'data_offsets'"));
            entries.push_back(std::move(cur_));
            state_ = state::top;
            return true;
        default: return unexpected("the end of an object");
        }
    }
    bool start_array(std::size_t) {
        if (state_ == state::tensor_value && key_ == "shape") {
            state_ = state::shape;
            return true;
        }
        if (state_ == state::tensor_value && key_ == "data_offsets") {
            state_ = state::offsets;
            return true;
        }
        return unexpected("an array");
    }
    bool end_array() {
        if (state_ == state::shape) {
            state_ = state::tensor;
            return true;
        }
        if (state_ == state::offsets) {
            if (n_offsets_ != 2) return fail("'data_offsets' must have exactly 2 entries [begin, end]");
            state_ = state::tensor;
            return true;
        }
        return unexpected("the end of an array");
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
        // position counts the characters read, 1-based: the offending byte is at 8 + position - 1
        failure = located(source_, 8 + (position > 0 ? position - 1 : 0), "header", concat("malformed JSON: ", ex.what()));
        return false;
    }

private:
    enum class state { start, top, top_value, tensor, tensor_value, shape, offsets, metadata, metadata_value, done };

    bool fail(const std::string& what) {
        // the JSON lexer reports no position for schema events: the field names the entry instead
        std::string field = state_ == state::metadata || state_ == state::metadata_value ? std::string("header __metadata__")
                            : cur_.name.empty() || state_ == state::top                  ? std::string("header")
                                                                                          : concat("header tensor '", cur_.name, "'");
        if (overflow)
            failure = located<overflow_error>(source_, std::nullopt, std::move(field), what);
        else
            failure = located(source_, std::nullopt, std::move(field), what);
        return false;
    }
    bool unexpected(const char* what) {
        switch (state_) {
        case state::start: return fail(concat("the header must be a JSON object, found ", what));
        case state::top_value:
            return fail(concat(in_metadata_key_ ? "__metadata__" : "a tensor entry", " must be an object, found ", what));
        case state::tensor_value: return fail(concat("unexpected ", what, " as the value of '", key_, "'"));
        case state::shape: return fail(concat("'shape' must hold non-negative integers, found ", what));
        case state::offsets: return fail(concat("'data_offsets' must hold non-negative integers, found ", what));
        case state::metadata_value: return fail(concat("__metadata__ values must be strings, found ", what));
        default: return fail(concat("unexpected ", what));
        }
    }

    std::string_view source_;
    state state_ = state::start;
    std::set<std::string> top_keys_;
    safetensors_entry cur_;
    std::string key_;
    std::string meta_key_;
    int seen_ = 0;
    std::size_t n_offsets_ = 0;
    bool in_metadata_key_ = false;
};

inline attnscope::dtype safetensors_dtype(std::string_view tensor, std::string_view d, std::string_view source) {
    if (d == "F16") return attnscope::dtype::f16;
    if (d == "BF16") return attnscope::dtype::bf16;
    if (d == "F32") return attnscope::dtype::f32;
    if (d == "F64") return attnscope::dtype::f64;
    throw located<dtype_error>(source, std::nullopt, concat("dtype of tensor '", tensor, "'"),
                               concat("'", d, "' is not supported; supported: F16, BF16, F32, F64"));
}

inline std::string_view safetensors_name(attnscope::dtype t) noexcept {
    switch (t) {
    case attnscope::dtype::f16: return "F16";
    case attnscope::dtype::bf16: return "BF16";
    case attnscope::dtype::f32: return "F32";
    case attnscope::dtype::f64: break;
    }
    return "F64";
}

inline array_set safetensors_from_bytes(std::span<const std::byte> bytes, std::string_view source,
                                        const safetensors_options& opt, const std::shared_ptr<const void>& keep,
                                        bool mapped) {
    if (bytes.size() < 8)
        throw located(source, 0, "header length", concat("truncated safetensors file: ", bytes.size(), " bytes, the header length alone has 8"));
    const std::uint64_t n = load_le<std::uint64_t>(bytes.data());
    if (n > opt.max_header_size)
        throw located(source, 0, "header length", concat(n, " exceeds the limit of ", opt.max_header_size, " bytes"));
    if (n > bytes.size() - 8)
        throw located(source, 0, "header length", concat(n, " runs past the end of the ", bytes.size(), "-byte file"));
    const auto header = bytes.subspan(8, static_cast<std::size_t>(n));
    safetensors_header_sax sax(source);
    const char* first = reinterpret_cast<const char*>(header.data());
    const bool ok = nlohmann::json::sax_parse(first, first + header.size(), &sax);
    if (sax.failure) {
        if (sax.overflow) throw overflow_error(*sax.failure->where());
        throw format_error(*sax.failure->where());
    }
    if (!ok) throw located(source, 8, "header", "malformed JSON");

    const auto data = bytes.subspan(8 + static_cast<std::size_t>(n));
    auto& entries = sax.entries;
    std::sort(entries.begin(), entries.end(), [](const safetensors_entry& a, const safetensors_entry& b) {
        return a.offsets[0] != b.offsets[0] ? a.offsets[0] < b.offsets[0] : a.name < b.name;
    });
    std::vector<array> arrays;
    arrays.reserve(entries.size());
    // The tensors tile the data buffer exactly, as the format promises: each starts where the
    // previous one (in offset order) ends, none overlaps another, no hole, no trailing byte.
    const std::uint64_t data_start = 8 + n;
    std::uint64_t cursor = 0;
    for (auto& e : entries) {
        const attnscope::dtype t = safetensors_dtype(e.name, e.dtype, source);
        const std::size_t elem = size_of(t);
        const file_location shape_at{std::string(source), std::nullopt, concat("shape of tensor '", e.name, "'"), {}};
        const index_t count = checked_element_count(e.shape, elem, source, &shape_at);
        const std::uint64_t nbytes = static_cast<std::uint64_t>(count) * elem;
        const auto [begin, end] = e.offsets;
        const std::string field = concat("data_offsets of tensor '", e.name, "'");
        if (begin > end || end > data.size())
            throw format_error(file_location{std::string(source), data_start + std::min<std::uint64_t>(begin, data.size()), field,
                                             concat("[", begin, ", ", end, "] is outside the ", data.size(), "-byte data buffer")});
        if (end - begin != nbytes)
            throw format_error(file_location{std::string(source), data_start + begin, field,
                                             concat("a tensor of shape ", format_list(e.shape), " and dtype ", e.dtype, " needs ",
                                                    nbytes, " bytes, [", begin, ", ", end, "] spans ", end - begin)});
        if (begin < cursor)
            throw format_error(file_location{std::string(source), data_start + begin, field,
                                             concat("[", begin, ", ", end, "] overlaps the previous tensor, which ends at ", cursor)});
        if (begin > cursor)
            throw format_error(file_location{std::string(source), data_start + cursor, field,
                                             concat("[", begin, ", ", end, "] leaves a hole of ", begin - cursor,
                                                    " unused bytes after the previous tensor, which ends at ", cursor)});
        cursor = end;
        auto st = contiguous_strides(e.shape, false);
        const auto raw = data.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(nbytes));
        constexpr bool little = std::endian::native == std::endian::little;
        if (keep && little && reinterpret_cast<std::uintptr_t>(raw.data()) % elem == 0) {
            arrays.emplace_back(t, std::move(e.shape), std::move(st), raw, keep, mapped, std::move(e.name));
            continue;
        }
        auto buf = std::make_shared<aligned_buffer>(static_cast<std::size_t>(nbytes));
        if (nbytes > 0) {
            if (little)
                std::memcpy(buf->data(), raw.data(), static_cast<std::size_t>(nbytes));
            else
                byteswap_copy(buf->data(), raw.data(), static_cast<std::size_t>(count), elem);
        }
        const auto view = buf->bytes();
        arrays.emplace_back(t, std::move(e.shape), std::move(st), view, std::move(buf), false, std::move(e.name));
    }
    if (cursor != data.size())
        throw format_error(file_location{std::string(source), data_start + cursor, "data buffer",
                                         concat(data.size() - cursor, " trailing bytes after the last tensor (the tensors cover ",
                                                cursor, " of the ", data.size(), " data bytes)")});
    return array_set(std::move(arrays), std::move(sax.metadata));
}

} // namespace detail

/// Loads every tensor of a .safetensors file (F16, BF16, F32, F64; any other dtype is a dtype_error
/// naming the tensor), in data order, with `__metadata__` as a string map. Tensors are read in
/// place from the memory map when aligned.
///   auto set = as::io::load_safetensors("attn.safetensors");
///   auto v = set.at("attentions").view<as::bfloat16>();
inline array_set load_safetensors(const std::filesystem::path& path, const safetensors_options& opt = {}) {
    const auto file = detail::file_contents::open(path);
    const bool map = opt.memory_map && file->mapped();
    return detail::safetensors_from_bytes(file->bytes(), detail::concat("safetensors file '", path.string(), "'"), opt,
                                          map ? std::shared_ptr<const void>(file) : nullptr, map);
}

/// Parses a .safetensors file held in memory; the arrays own copies of their data.
///   auto set = as::io::load_safetensors_bytes(std::as_bytes(std::span(buf)));
inline array_set load_safetensors_bytes(std::span<const std::byte> bytes, const safetensors_options& opt = {},
                                        std::string_view source = "safetensors buffer") {
    return detail::safetensors_from_bytes(bytes, source, opt, nullptr, false);
}

/// Attention weights from a .safetensors file: its one tensor of rank 2..5 (e.g. [layer, head,
/// query, key]), or one [batch, head, query, key] tensor per layer named `<prefix><layer index>`
/// (attentions.0, attentions.1, ...; sorted numerically, gaps are an error), stacked into one
/// zero-copy view. attention_options::name picks a tensor or a per-layer prefix. For npy and npz
/// as well, see load_attention_file (load.hpp).
///   auto src = as::io::load_attention("hf_attentions.safetensors");
///   auto v = src.view<float>();                  // [batch, layer, head, query, key]
inline attention_source load_attention(const std::filesystem::path& path, const attention_options& opt = {}) {
    return detail::assemble_attention(load_safetensors(path, {.memory_map = opt.memory_map}), opt,
                                      detail::concat("safetensors file '", path.string(), "'"));
}

/// Writes a .safetensors file atomically: tensors sorted by element size (largest first, then in
/// the order added) so that every tensor is aligned, the header padded with spaces to 8 bytes.
///   as::io::safetensors_writer w("attn.safetensors");
///   w.add("attentions.0", layer0.data(), shape);   // const float*, std::span<const as::index_t>
///   w.metadata("model", "gpt2");
///   w.commit();
class safetensors_writer {
public:
    explicit safetensors_writer(std::filesystem::path path) : path_(std::move(path)) {}

    /// Adds a tensor of row-major typed data.
    template <attention_element T>
    void add(std::string_view name, const T* data, std::span<const index_t> shape) {
        static_assert(sizeof(T) == size_of(element_traits<T>::tag), "add needs a dtype's storage type");
        if (shape.size() > detail::max_file_rank)
            throw shape_error(detail::concat("safetensors_writer: tensor '", name, "' has rank ", shape.size()));
        const index_t n = detail::checked_element_count(shape, sizeof(T), detail::concat("safetensors_writer: tensor '", name, "'"));
        if (n > 0 && data == nullptr) throw argument_error(detail::concat("safetensors_writer: tensor '", name, "': null data"));
        tensor t;
        t.name = check_name(name);
        t.type = element_traits<T>::tag;
        t.shape.assign(shape.begin(), shape.end());
        t.bytes.resize(static_cast<std::size_t>(n) * sizeof(T));
        if (n > 0) {
            if constexpr (std::endian::native == std::endian::little)
                std::memcpy(t.bytes.data(), data, t.bytes.size());
            else
                detail::byteswap_copy(t.bytes.data(), reinterpret_cast<const std::byte*>(data), static_cast<std::size_t>(n), sizeof(T));
        }
        tensors_.push_back(std::move(t));
    }
    /// Adds a tensor of doubles (F64).
    void add(std::string_view name, const xt::xarray<double>& values) {
        const xt::xarray<double> c = values; // row-major
        std::vector<index_t> shape(c.shape().begin(), c.shape().end());
        add(name, c.data(), std::span<const index_t>(shape));
    }
    void add(std::string_view name, const labeled_array& a) { add(name, a.values); }
    /// Sets a `__metadata__` entry.
    void metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

    /// Writes the file (temporary file + rename).
    void commit() {
        std::vector<const tensor*> order;
        for (const auto& t : tensors_) order.push_back(&t);
        std::stable_sort(order.begin(), order.end(),
                         [](const tensor* a, const tensor* b) { return size_of(a->type) > size_of(b->type); });
        nlohmann::json h = nlohmann::json::object();
        std::uint64_t offset = 0;
        for (const tensor* t : order) {
            h[t->name] = {{"dtype", detail::safetensors_name(t->type)},
                          {"shape", t->shape},
                          {"data_offsets", {offset, offset + t->bytes.size()}}};
            offset += t->bytes.size();
        }
        if (!metadata_.empty()) h["__metadata__"] = metadata_;
        std::string text = h.dump();
        text.append((8 - (text.size() % 8)) % 8, ' ');
        atomic_file f(path_);
        std::string len;
        detail::store_le<std::uint64_t>(len, text.size());
        f.write(len);
        f.write(text);
        for (const tensor* t : order) f.write(std::span<const std::byte>(t->bytes));
        f.commit();
    }

private:
    struct tensor {
        std::string name;
        attnscope::dtype type = attnscope::dtype::f32;
        std::vector<index_t> shape;
        std::vector<std::byte> bytes;
    };
    std::string check_name(std::string_view name) const {
        if (name == "__metadata__") throw argument_error("safetensors_writer: '__metadata__' is reserved");
        for (const auto& t : tensors_)
            if (t.name == name) throw argument_error(detail::concat("safetensors_writer: tensor '", name, "' added twice"));
        return std::string(name);
    }

    std::filesystem::path path_;
    std::vector<tensor> tensors_;
    std::map<std::string, std::string> metadata_;
};

/// Writes named arrays of doubles (F64) and string metadata as a .safetensors file, atomically.
///   as::io::write_safetensors("grids.safetensors", {{"entropy", ent}}, {{"unit", "nats"}});
inline void write_safetensors(const std::filesystem::path& path, const std::map<std::string, xt::xarray<double>>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    safetensors_writer w(path);
    for (const auto& [name, values] : tensors) w.add(name, values);
    for (const auto& [k, v] : metadata) w.metadata(k, v);
    w.commit();
}

} // namespace attnscope::io
