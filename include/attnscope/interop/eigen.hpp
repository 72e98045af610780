// attnscope/interop/eigen.hpp - views over Eigen matrices and tensors, Eigen's 16-bit floats as
// element types, and 2-D results as Eigen matrices.
//
// Every make_view here is zero-copy: the view points into the Eigen object's storage, so the object
// must outlive the view (owning temporaries are rejected at compile time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>
#include <unsupported/Eigen/CXX11/Tensor>

#include "../element.hpp"
#include "../error.hpp"
#include "../result.hpp"
#include "../view.hpp"

namespace attnscope {

/// Eigen::half (IEEE binary16) is read directly, widened to float with Eigen's own conversion.
///   Eigen::Tensor<Eigen::half, 4, Eigen::RowMajor> probs(L, H, Q, K);
///   auto v = as::make_view(probs);                  // attention_view<Eigen::half>
template <>
struct element_traits<Eigen::half> {
    static constexpr dtype tag = dtype::f16;
    using wide = float;
    static float widen(Eigen::half x) noexcept { return static_cast<float>(x); }
};

/// Eigen::bfloat16 is read directly, widened to float with Eigen's own conversion.
///   Eigen::Matrix<Eigen::bfloat16, Eigen::Dynamic, Eigen::Dynamic> m(Q, K);
///   auto v = as::make_view(m);                      // [query, key]
template <>
struct element_traits<Eigen::bfloat16> {
    static constexpr dtype tag = dtype::bf16;
    using wide = float;
    static float widen(Eigen::bfloat16 x) noexcept { return static_cast<float>(x); }
};

namespace detail {

// A buffer written by numpy, torch or ggml as 2-byte floats is read through these types in place,
// so they must be exactly the 2-byte storage, without padding or a non-trivial copy.
template <class T>
inline constexpr bool is_two_byte_storage = sizeof(T) == 2 && alignof(T) <= 2 && std::is_trivially_copyable_v<T> &&
                                            std::is_standard_layout_v<T>;
static_assert(is_two_byte_storage<Eigen::half>,
              "Eigen::half must be a trivially copyable 2-byte type to read fp16 buffers in place.");
static_assert(is_two_byte_storage<Eigen::bfloat16>,
              "Eigen::bfloat16 must be a trivially copyable 2-byte type to read bf16 buffers in place.");

template <class X>
struct is_eigen_tensor_object : std::false_type {};
template <class S, int N, int O, class I>
struct is_eigen_tensor_object<Eigen::Tensor<S, N, O, I>> : std::true_type {};
template <class S, class D, int O, class I>
struct is_eigen_tensor_object<Eigen::TensorFixedSize<S, D, O, I>> : std::true_type {};
template <class P, int O>
struct is_eigen_tensor_object<Eigen::TensorMap<P, O, Eigen::MakePointer>> : std::true_type {};

/// An Eigen tensor whose elements live in memory: Tensor, TensorFixedSize or TensorMap.
template <class X>
concept eigen_tensor_object = is_eigen_tensor_object<std::remove_cvref_t<X>>::value;

/// An Eigen dense matrix or array with direct access (Matrix, Array, Map, Ref, Block of those).
template <class X>
concept eigen_direct_dense = std::is_base_of_v<Eigen::DenseBase<std::remove_cvref_t<X>>, std::remove_cvref_t<X>> &&
                             ((std::remove_cvref_t<X>::Flags & Eigen::DirectAccessBit) != 0);

/// Whether an Eigen object owns its storage (a temporary of it would leave a view dangling).
template <class X>
inline constexpr bool eigen_owns_storage =
    std::is_base_of_v<Eigen::PlainObjectBase<std::remove_cvref_t<X>>, std::remove_cvref_t<X>>;
template <class S, int N, int O, class I>
inline constexpr bool eigen_owns_storage<Eigen::Tensor<S, N, O, I>> = true;
template <class S, class D, int O, class I>
inline constexpr bool eigen_owns_storage<Eigen::TensorFixedSize<S, D, O, I>> = true;
template <class P, int O, class St> // may hold a copy of the expression it was bound to
inline constexpr bool eigen_owns_storage<Eigen::Ref<const P, O, St>> = true;

template <class X>
auto eigen_tensor_view(const X& t, const axes* named) {
    using scalar = std::remove_const_t<typename X::Scalar>;
    constexpr int rank = static_cast<int>(X::NumIndices);
    static_assert(attention_element<scalar>,
                  "attnscope::make_view reads float, double, Eigen::half, Eigen::bfloat16 or a type with "
                  "attnscope::element_traits; this Eigen tensor's scalar type is none of them.");
    static_assert(rank >= 2 && rank <= axis_count,
                  "attnscope::make_view needs an Eigen tensor of rank 2 ([query, key]) to 5 ([batch, layer, head, "
                  "query, key]).");
    extents e;
    e.n = rank;
    for (int i = 0; i < rank; ++i)
        e.v[static_cast<std::size_t>(i)] = to_index(t.dimensions()[static_cast<std::size_t>(i)], "extents");
    // Eigen's column-major puts the FIRST index fastest; row-major the last.
    std::array<index_t, axis_count> s{};
    index_t acc = 1;
    if constexpr (static_cast<int>(X::Layout) == static_cast<int>(Eigen::RowMajor)) {
        for (int i = rank - 1; i >= 0; --i) {
            s[static_cast<std::size_t>(i)] = acc;
            acc = checked_mul(acc, std::max<index_t>(e[i], 1), "extents");
        }
    } else {
        for (int i = 0; i < rank; ++i) {
            s[static_cast<std::size_t>(i)] = acc;
            acc = checked_mul(acc, std::max<index_t>(e[i], 1), "extents");
        }
    }
    const scalar* data = t.data();
    return detail::build_view<scalar>(data, {}, e, std::span<const index_t>(s.data(), static_cast<std::size_t>(rank)),
                                      named != nullptr ? *named : axes::canonical(rank), 1);
}

template <class X>
auto eigen_dense_view(const X& m, const axes* named) {
    using scalar = std::remove_const_t<typename X::Scalar>;
    static_assert(attention_element<scalar>,
                  "attnscope::make_view reads float, double, Eigen::half, Eigen::bfloat16 or a type with "
                  "attnscope::element_traits; this Eigen matrix's scalar type is none of them.");
    const extents e{to_index(m.rows(), "extents"), to_index(m.cols(), "extents")};
    const index_t s[2] = {to_index(m.rowStride(), "strides"), to_index(m.colStride(), "strides")};
    const scalar* data = m.data();
    return detail::build_view<scalar>(data, {}, e, std::span<const index_t>(s, 2),
                                      named != nullptr ? *named : axes::canonical(2), 1);
}

} // namespace detail

/// A view over an Eigen::Tensor, TensorFixedSize or TensorMap of rank 2 to 5, row- or column-major;
/// axes default to the last `rank` of [batch, layer, head, query, key] in index order.
///   Eigen::Tensor<float, 4> probs(L, H, Q, K);       // column-major: index 0 fastest
///   auto v = as::make_view(probs);                  // probs(l, h, q, k) == v(0, l, h, q, k)
template <class X>
    requires detail::eigen_tensor_object<X>
auto make_view(X&& t) {
    static_assert(!(std::is_rvalue_reference_v<X&&> && detail::eigen_owns_storage<std::remove_cvref_t<X>>),
                  "attnscope::make_view does not own data: pass a named Eigen tensor, not a temporary that dies "
                  "before the view.");
    return detail::eigen_tensor_view(t, nullptr);
}
/// The same with the stored dimensions named, in index order.
///   Eigen::Tensor<float, 4, Eigen::RowMajor> t(B, H, Q, K);
///   auto v = as::make_view(t, as::axes{as::axis::batch, as::axis::head, as::axis::query, as::axis::key});
template <class X>
    requires detail::eigen_tensor_object<X>
auto make_view(X&& t, const axes& a) {
    static_assert(!(std::is_rvalue_reference_v<X&&> && detail::eigen_owns_storage<std::remove_cvref_t<X>>),
                  "attnscope::make_view does not own data: pass a named Eigen tensor, not a temporary that dies "
                  "before the view.");
    return detail::eigen_tensor_view(t, &a);
}

/// A [query, key] view over an Eigen matrix or array with direct access: Matrix, Array, Map (with any
/// Stride), Ref and blocks of those, in either storage order. Rows are queries, columns keys.
///   Eigen::MatrixXf p(Q, K);
///   auto v = as::make_view(p.middleCols(0, 16));    // first 16 keys, zero-copy
template <class X>
    requires detail::eigen_direct_dense<X>
auto make_view(X&& m) {
    static_assert(!(std::is_rvalue_reference_v<X&&> && detail::eigen_owns_storage<std::remove_cvref_t<X>>),
                  "attnscope::make_view does not own data: pass a named Eigen matrix, not a temporary that dies "
                  "before the view.");
    return detail::eigen_dense_view(m, nullptr);
}
/// The same with the two dimensions named (rows first), e.g. a [key, query] matrix.
///   auto v = as::make_view(kq, as::axes{as::axis::key, as::axis::query});
template <class X>
    requires detail::eigen_direct_dense<X>
auto make_view(X&& m, const axes& a) {
    static_assert(!(std::is_rvalue_reference_v<X&&> && detail::eigen_owns_storage<std::remove_cvref_t<X>>),
                  "attnscope::make_view does not own data: pass a named Eigen matrix, not a temporary that dies "
                  "before the view.");
    return detail::eigen_dense_view(m, &a);
}

namespace detail {

inline void check_2d(const labeled_array& a, const char* what) {
    if (a.values.dimension() != 2) {
        std::vector<std::string> names;
        for (const auto& ax : a.axes) names.push_back(ax.name);
        throw shape_error(concat(what, ": expected a 2-D result, got rank ", a.values.dimension(), " with shape ",
                                 format_list(a.values.shape()), " and axes ", format_list(names)));
    }
}

} // namespace detail

/// Copies a 2-D result (e.g. a [layer, head] grid) into an Eigen::MatrixXd; shape_error otherwise.
///   Eigen::MatrixXd grid = as::to_eigen(as::mean(ent, as::axis::query));
///   Eigen::Index worst_layer; grid.rowwise().mean().maxCoeff(&worst_layer);
inline Eigen::MatrixXd to_eigen(const labeled_array& a) {
    detail::check_2d(a, "to_eigen");
    const auto rows = static_cast<Eigen::Index>(detail::to_index(a.values.shape()[0], "to_eigen rows"));
    const auto cols = static_cast<Eigen::Index>(detail::to_index(a.values.shape()[1], "to_eigen cols"));
    Eigen::MatrixXd m(rows, cols);
    for (Eigen::Index i = 0; i < rows; ++i)
        for (Eigen::Index j = 0; j < cols; ++j)
            m(i, j) = a.values(static_cast<std::size_t>(i), static_cast<std::size_t>(j));
    return m;
}

/// A read-only row-major Eigen::Map over a 2-D result's own storage, without copying; the result
/// must outlive the map. shape_error for other ranks, stride_error if the storage is not row-major.
///   auto grid = as::mean(ent, as::axis::query);
///   auto m = as::as_eigen_map(grid);                 // m(l, h) == grid.values(l, h)
inline Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>
as_eigen_map(const labeled_array& a) {
    detail::check_2d(a, "as_eigen_map");
    const auto& sh = a.values.shape();
    const auto& st = a.values.strides();
    // xtensor gives extent-1 dimensions a stride of 0; only strides of dimensions > 1 matter.
    const bool row_major = (sh[1] <= 1 || st[1] == 1) && (sh[0] <= 1 || static_cast<std::size_t>(st[0]) == sh[1]);
    if (!row_major)
        throw stride_error(detail::concat("as_eigen_map: expected row-major contiguous storage with strides [", sh[1],
                                          ", 1], got strides ", detail::format_list(st), " for shape ",
                                          detail::format_list(sh)));
    using map_type = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
    return map_type(a.values.data(), static_cast<Eigen::Index>(detail::to_index(sh[0], "as_eigen_map rows")),
                    static_cast<Eigen::Index>(detail::to_index(sh[1], "as_eigen_map cols")));
}
/// A map over a temporary result would dangle at once: keep the result in a variable first.
void as_eigen_map(labeled_array&&) = delete;

} // namespace attnscope
