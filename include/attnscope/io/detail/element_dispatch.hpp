// attnscope/io/detail/element_dispatch.hpp - the one switch from a runtime element type (dtype) to
// the C++ type that stores it, for every io class that holds typed data of a type known only once
// a file is read. Internal.
#pragma once

#include <type_traits>

#include "../../element.hpp"

namespace attnscope::io::detail {

/// Calls g(std::type_identity<T>{}) for the storage type T of `type` (half, bfloat16, float,
/// double) and returns what it returns.
///   with_element_type(a.dtype(), [&]<class T>(std::type_identity<T>) { use(a.elements<T>()); });
template <class G>
decltype(auto) with_element_type(attnscope::dtype type, G&& g) {
    switch (type) {
    case attnscope::dtype::f16: return g(std::type_identity<half>{});
    case attnscope::dtype::bf16: return g(std::type_identity<bfloat16>{});
    case attnscope::dtype::f32: return g(std::type_identity<float>{});
    case attnscope::dtype::f64: break;
    }
    return g(std::type_identity<double>{});
}

} // namespace attnscope::io::detail
