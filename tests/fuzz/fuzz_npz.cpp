// libFuzzer target: the .npz reader (ZIP central directory, local headers, ZIP64, inflate, CRC-32),
// the npy members, and the per-layer assembly of an attention source.
#include <attnscope/io/npz.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace aio = attnscope::io;
    const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
    try {
        const auto set = aio::load_npz_bytes(bytes);
        for (const auto& a : set) attnscope_fuzz::consume(a);
    } catch (const attnscope::error& e) {
        attnscope_fuzz::require_where(e);
    }
    // in place, as from a memory map, then as attention weights
    const auto copy = attnscope_fuzz::owned_copy(data, size);
    try {
        auto set = aio::detail::npz_from_bytes(*copy, "fuzz", {.u2_as_bfloat16 = true}, copy, true);
        attnscope_fuzz::consume(aio::detail::assemble_attention(std::move(set), {}, "fuzz"));
    } catch (const attnscope::error& e) {
        attnscope_fuzz::require_where(e);
    }
    return 0;
}
