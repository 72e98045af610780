// attnscope/interop/xtensor.hpp - views over xtensor containers, adaptors and strided views.
//
// Anything with data(), data_offset() and strides() is read in place: xt::xarray, xt::xtensor,
// xt::xtensor_fixed, xt::adapt over a pointer or a container (any layout), xt::view with integer,
// range and all() slices, xt::strided_view, xt::transpose. Lazy expressions (a + b, xt::exp(a)) have
// no memory to view: evaluate them into a container first.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include <xtensor/xarray.hpp>
#include <xtensor/xbuffer_adaptor.hpp>
#include <xtensor/xexpression.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "../element.hpp"
#include "../error.hpp"
#include "../view.hpp"

namespace attnscope {
namespace detail {

/// An xtensor expression backed by strided memory.
template <class E>
concept xtensor_strided = requires(const E& e) {
    e.data();
    e.data_offset();
    e.strides();
    e.shape();
};

/// An xtensor expression that can tell how many elements its storage holds (for a bounds check).
template <class E>
concept xtensor_sized_storage = requires(const E& e) {
    { e.storage().size() } -> std::convertible_to<std::size_t>;
};

// Whether an xtensor object only refers to memory it does not own, so that a temporary of it can be
// viewed safely (the memory lives on after the temporary dies).
template <class E>
struct xtensor_borrows : std::false_type {};
template <class CT>
inline constexpr bool xtensor_closure_borrows =
    std::is_lvalue_reference_v<CT> || xtensor_borrows<std::remove_cvref_t<CT>>::value;
template <class EC>
inline constexpr bool xtensor_storage_borrows = std::is_lvalue_reference_v<EC>;
template <class CP, class A> // a pointer and a size, owned by someone else
inline constexpr bool xtensor_storage_borrows<xt::xbuffer_adaptor<CP, xt::no_ownership, A>> = true;
template <class EC, xt::layout_type L, class SC, class Tag>
struct xtensor_borrows<xt::xarray_adaptor<EC, L, SC, Tag>> : std::bool_constant<xtensor_storage_borrows<EC>> {};
template <class EC, std::size_t N, xt::layout_type L, class Tag>
struct xtensor_borrows<xt::xtensor_adaptor<EC, N, L, Tag>> : std::bool_constant<xtensor_storage_borrows<EC>> {};
template <class CT, class... S>
struct xtensor_borrows<xt::xview<CT, S...>> : std::bool_constant<xtensor_closure_borrows<CT>> {};
template <class CT, class S, xt::layout_type L, class FST>
struct xtensor_borrows<xt::xstrided_view<CT, S, L, FST>> : std::bool_constant<xtensor_closure_borrows<CT>> {};

template <class X>
auto xtensor_view(const X& e, const axes* named) {
    using scalar = std::remove_cv_t<typename X::value_type>;
    const auto& shape = e.shape();
    const auto& st = e.strides();
    const std::size_t rank = shape.size();
    if (rank < 2 || rank > static_cast<std::size_t>(axis_count))
        throw shape_error(concat("make_view: attention data must have rank 2 to 5 ([query, key] up to [batch, layer, ",
                                 "head, query, key]), got an xtensor expression of rank ", rank, " with shape ",
                                 format_list(shape)));
    extents ex;
    strides sx;
    ex.n = sx.n = static_cast<int>(rank);
    for (std::size_t i = 0; i < rank; ++i) {
        ex.v[i] = to_index(shape[i], "extents");
        sx.v[i] = to_index(st[i], "strides");
    }
    const index_t offset = to_index(e.data_offset(), "data_offset");
    if constexpr (xtensor_sized_storage<X>) {
        // Never trust an adaptor's shape more than its buffer: every reachable element must be inside.
        const auto r = offset_range(ex, sx.span());
        const index_t size = to_index(e.storage().size(), "storage size");
        if (r[1] >= r[0] && (checked_add(offset, r[0], "offset") < 0 || checked_add(offset, r[1], "offset") >= size))
            throw stride_error(concat("make_view: the xtensor expression reaches element offsets [", offset + r[0], ", ",
                                      offset + r[1], "] but its storage holds ", size, " elements (shape ",
                                      format_list(shape), ", strides ", format_list(st), ", data_offset ", offset, ")"));
    }
    const scalar* base = e.data();
    if (base != nullptr) base += offset;
    return attnscope::make_view<scalar>(base, ex, sx, named != nullptr ? *named : axes::canonical(static_cast<int>(rank)));
}

// Checks what a make_view argument must be, with a sentence for each failure; true when all hold.
template <class E>
constexpr bool check_xtensor_argument() {
    using X = std::remove_cvref_t<E>;
    static_assert(xtensor_strided<X>,
                  "attnscope::make_view needs an xtensor container, adaptor or strided view with data(), "
                  "data_offset() and strides(); this is a lazy expression: evaluate it first, e.g. "
                  "xt::xarray<float> a = expr;");
    static_assert(attention_element<std::remove_cv_t<typename X::value_type>>,
                  "attnscope::make_view reads float, double, attnscope::half, attnscope::bfloat16 (or Eigen's 16-bit "
                  "floats with interop/eigen.hpp); this xtensor expression's value_type is none of them.");
    static_assert(!xtensor_strided<X> || !std::is_rvalue_reference_v<E&&> || xtensor_borrows<X>::value,
                  "attnscope::make_view does not own data: pass a named xtensor container, not a temporary that "
                  "dies before the view.");
    return xtensor_strided<X> && attention_element<std::remove_cv_t<typename X::value_type>> &&
           (!std::is_rvalue_reference_v<E&&> || xtensor_borrows<X>::value);
}

} // namespace detail

/// A view over an xtensor container, adaptor or strided view of rank 2 to 5 (any layout, any
/// strides); axes default to the last `rank` of [batch, layer, head, query, key].
///   xt::xarray<float> probs = ...;                  // [L, H, Q, K]
///   auto v = as::make_view(probs);
///   auto w = as::make_view(xt::view(probs, 0, xt::all(), xt::range(0, 8), xt::all()));   // [H, 8, K]
template <class E>
    requires xt::is_xexpression<std::remove_cvref_t<E>>::value
auto make_view(E&& e) {
    if constexpr (detail::check_xtensor_argument<E>()) return detail::xtensor_view(e, nullptr);
}
/// The same with the stored dimensions named, in order.
///   auto v = as::make_view(bhqk, as::axes{as::axis::batch, as::axis::head, as::axis::query, as::axis::key});
template <class E>
    requires xt::is_xexpression<std::remove_cvref_t<E>>::value
auto make_view(E&& e, const axes& a) {
    if constexpr (detail::check_xtensor_argument<E>()) return detail::xtensor_view(e, &a);
}

} // namespace attnscope
