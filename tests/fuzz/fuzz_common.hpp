// tests/fuzz/fuzz_common.hpp - what every fuzz target does with a loaded array or attention
// source: read every element through every access path, so that AddressSanitizer sees any read
// outside the input and UBSan any overflow in the index arithmetic.
#pragma once

#include <attnscope/io/array.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

namespace attnscope_fuzz {

namespace aio = attnscope::io;

/// Every error of a loader says where, as data (error::where(): file, field, offset): a loader
/// error without it is a finding (the attnscope command words its messages from these fields).
inline void require_where(const attnscope::error& e) {
    if (!e.where()) {
        std::fprintf(stderr, "loader error without where(): %s\n", e.what());
        std::abort();
    }
}

/// Keeps the sum of everything read alive so the reads are not optimized away.
inline volatile double sink = 0;

inline void consume(const aio::array& a) {
    double s = 0;
    if (a.size() <= (1 << 20)) { // deflate members may legitimately inflate to much more than the input
        const auto x = a.to_xarray();
        for (double v : x) s += v;
    }
    if (a.size() > 0) {
        std::vector<attnscope::index_t> last(a.shape().begin(), a.shape().end());
        for (auto& d : last) d -= 1;
        s += a.at(std::span<const attnscope::index_t>(last));
    }
    if (a.rank() >= 2 && a.rank() <= 5) {
        try {
            a.visit([&](auto v) {
                if (v.row_count() > (1 << 20)) return;
                v.for_each_row([&](attnscope::row_index, auto row) {
                    for (attnscope::index_t k = 0; k < row.size; ++k) s += static_cast<double>(row[k]);
                });
            });
        } catch (const attnscope::error&) {
        }
    }
    sink = sink + s;
}

inline void consume(const aio::attention_source& src) {
    double s = 0;
    src.visit([&](auto v) {
        if (v.row_count() > (1 << 20)) return;
        v.for_each_row([&](attnscope::row_index, auto row) {
            for (attnscope::index_t k = 0; k < row.size; ++k) s += static_cast<double>(row[k]);
        });
    });
    sink = sink + s;
}

/// A copy of the input that arrays may point into (the zero-copy path a memory map takes).
inline std::shared_ptr<std::vector<std::byte>> owned_copy(const std::uint8_t* data, std::size_t size) {
    auto v = std::make_shared<std::vector<std::byte>>(size);
    if (size > 0) std::memcpy(v->data(), data, size);
    return v;
}

} // namespace attnscope_fuzz
