// libFuzzer target: the .safetensors parser (header length, JSON header schema through
// nlohmann_json's SAX interface, dtypes, data offsets) and the per-layer attention assembly.
#include <attnscope/io/safetensors.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace aio = attnscope::io;
    const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
    try {
        const auto set = aio::load_safetensors_bytes(bytes);
        for (const auto& a : set) attnscope_fuzz::consume(a);
    } catch (const attnscope::error& e) {
        attnscope_fuzz::require_where(e);
    }
    const auto copy = attnscope_fuzz::owned_copy(data, size);
    try {
        auto set = aio::detail::safetensors_from_bytes(*copy, "fuzz", {}, copy, true);
        attnscope_fuzz::consume(aio::detail::assemble_attention(std::move(set), {}, "fuzz"));
    } catch (const attnscope::error& e) {
        attnscope_fuzz::require_where(e);
    }
    return 0;
}
