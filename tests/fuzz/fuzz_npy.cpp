// libFuzzer target: the .npy parser (header dict, dtype, shape, data size) and the arrays it makes.
#include <attnscope/io/npy.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace aio = attnscope::io;
    const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
    for (bool bf16 : {false, true}) {
        try {
            attnscope_fuzz::consume(aio::load_npy_bytes(bytes, {.u2_as_bfloat16 = bf16}));
        } catch (const attnscope::error& e) {
            attnscope_fuzz::require_where(e);
        }
    }
    // in place, as from a memory map
    const auto copy = attnscope_fuzz::owned_copy(data, size);
    try {
        attnscope_fuzz::consume(aio::detail::npy_from_bytes(*copy, "fuzz", {.u2_as_bfloat16 = true}, copy, true));
    } catch (const attnscope::error& e) {
        attnscope_fuzz::require_where(e);
    }
    return 0;
}
