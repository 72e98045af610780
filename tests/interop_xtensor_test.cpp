// Tests for attnscope/interop/xtensor.hpp: views over xtensor containers (both layouts), adaptors,
// xt::view / strided_view / transpose results, named axes, and the errors.
#include <attnscope/attnscope.hpp>
#include <attnscope/interop/xtensor.hpp>

#include <cstdint>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xview.hpp>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::contains;

namespace {

template <class T>
double wide(const T& x) {
    return static_cast<double>(as::widen(x));
}

// Fills an xtensor expression with seeded softmax-like values through its own element access.
template <class E>
void fill(E& e, unsigned seed) {
    using T = typename E::value_type;
    const auto ref = attnscope_test::convert<T>(
        attnscope_test::random_tensor({static_cast<std::int64_t>(e.size())}, seed));
    std::size_t i = 0;
    for (auto& x : e) x = ref[i++];
}

// Every element of a rank-3 or rank-4 expression read through the view equals e(...).
template <class E, class View>
void check_elements(const E& e, const View& v) {
    const auto& s = e.shape();
    std::vector<as::index_t> shape(s.begin(), s.end());
    REQUIRE(v.shape() == shape);
    if (s.size() == 4) {
        for (std::size_t l = 0; l < s[0]; ++l)
            for (std::size_t h = 0; h < s[1]; ++h)
                for (std::size_t q = 0; q < s[2]; ++q)
                    for (std::size_t k = 0; k < s[3]; ++k)
                        REQUIRE(v(0, static_cast<as::index_t>(l), static_cast<as::index_t>(h),
                                  static_cast<as::index_t>(q), static_cast<as::index_t>(k)) == wide(e(l, h, q, k)));
    } else {
        REQUIRE(s.size() == 3);
        for (std::size_t h = 0; h < s[0]; ++h)
            for (std::size_t q = 0; q < s[1]; ++q)
                for (std::size_t k = 0; k < s[2]; ++k)
                    REQUIRE(v(0, 0, static_cast<as::index_t>(h), static_cast<as::index_t>(q),
                              static_cast<as::index_t>(k)) == wide(e(h, q, k)));
    }
}

} // namespace

TEMPLATE_TEST_CASE("xtensor containers: every element read through the view, both layouts", "[xtensor]", float,
                   double, as::half, as::bfloat16) {
    using T = TestType;
    SECTION("xt::xarray, row-major") {
        xt::xarray<T> a = xt::xarray<T>::from_shape({3, 2, 4, 5});
        fill(a, 1);
        auto v = as::make_view(a);
        static_assert(std::is_same_v<decltype(v), as::attention_view<T>>);
        CHECK(v.data() == a.data());
        CHECK(v.axis_info(as::axis::key).stride == 1);
        check_elements(a, v);
    }
    SECTION("xt::xarray, column-major") {
        xt::xarray<T, xt::layout_type::column_major> a =
            xt::xarray<T, xt::layout_type::column_major>::from_shape({3, 2, 4, 5});
        fill(a, 2);
        auto v = as::make_view(a);
        CHECK(v.axis_info(as::axis::layer).stride == 1);
        check_elements(a, v);
    }
    SECTION("xt::xtensor and xt::xtensor_fixed") {
        xt::xtensor<T, 4> t = xt::xtensor<T, 4>::from_shape({2, 3, 4, 5});
        fill(t, 3);
        check_elements(t, as::make_view(t));
        xt::xtensor_fixed<T, xt::xshape<2, 3, 4>> f;
        fill(f, 4);
        check_elements(f, as::make_view(f));
    }
}

TEMPLATE_TEST_CASE("xt::adapt over a pointer or a vector, row- and column-major", "[xtensor][adapt]", float, as::half) {
    using T = TestType;
    auto buf = attnscope_test::convert<T>(attnscope_test::random_tensor({2, 3, 4}, 5));
    const std::vector<std::size_t> shape{2, 3, 4};
    auto rm = xt::adapt(buf.data(), buf.size(), xt::no_ownership(), shape);
    auto cm = xt::adapt<xt::layout_type::column_major>(buf.data(), buf.size(), xt::no_ownership(), shape);
    auto vr = as::make_view(rm);
    auto vc = as::make_view(cm);
    CHECK(vr.data() == buf.data());
    CHECK(vc.data() == buf.data());
    check_elements(rm, vr);
    check_elements(cm, vc);
    // the same buffer seen in both layouts: (h, q, k) at (h*3 + q)*4 + k, and at h + 2*(q + 3*k)
    CHECK(vr(0, 0, 1, 2, 3) == wide(buf[(1 * 3 + 2) * 4 + 3]));
    CHECK(vc(0, 0, 1, 2, 3) == wide(buf[1 + 2 * (2 + 3 * 3)]));
    auto av = xt::adapt(buf, shape); // adaptor over the vector itself
    check_elements(av, as::make_view(av));
    // an adaptor temporary over a borrowed pointer may be viewed directly
    auto vt = as::make_view(xt::adapt(buf.data(), buf.size(), xt::no_ownership(), shape));
    CHECK(vt(0, 0, 1, 1, 1) == wide(buf[(1 * 3 + 1) * 4 + 1]));
}

TEST_CASE("sliced and strided xtensor views are read in place", "[xtensor][view]") {
    xt::xarray<double> a = xt::xarray<double>::from_shape({4, 3, 6, 7});
    fill(a, 6);
    SECTION("xt::view with integer, range, stepped range and all()") {
        auto s = xt::view(a, xt::range(1, 4), xt::all(), xt::range(1, 6, 2), xt::range(2, 7));
        auto v = as::make_view(s);
        CHECK(v.data() == &a(1, 0, 1, 2));
        check_elements(s, v);
        auto fixed = xt::view(a, 2, xt::all(), xt::all(), xt::range(0, 7, 3)); // rank 3: [head, query, key]
        auto vf = as::make_view(fixed);
        CHECK(vf.axes() == as::axis_set{as::axis::head, as::axis::query, as::axis::key});
        check_elements(fixed, vf);
        // a view temporary over a named container may be viewed directly
        auto vt = as::make_view(xt::view(a, 3, xt::all(), xt::all(), xt::all()));
        CHECK(vt(0, 0, 2, 5, 6) == a(3, 2, 5, 6));
    }
    SECTION("strided_view, transpose and flip (negative strides)") {
        auto sv = xt::strided_view(a, {xt::range(0, 4, 3), 1, xt::all(), xt::range(1, 7, 2)});
        check_elements(sv, as::make_view(sv));
        auto tr = xt::transpose(a, {1, 0, 3, 2}); // [head, layer, key, query] as stored dims
        auto vtr = as::make_view(tr, as::axes{as::axis::head, as::axis::layer, as::axis::key, as::axis::query});
        for (std::size_t l = 0; l < 4; ++l)
            for (std::size_t h = 0; h < 3; ++h)
                for (std::size_t q = 0; q < 6; ++q)
                    for (std::size_t k = 0; k < 7; ++k)
                        REQUIRE(vtr(0, static_cast<as::index_t>(l), static_cast<as::index_t>(h),
                                    static_cast<as::index_t>(q), static_cast<as::index_t>(k)) == a(l, h, q, k));
        auto fl = xt::flip(a, 3); // keys reversed: a negative key stride
        auto vfl = as::make_view(fl);
        CHECK(vfl.axis_info(as::axis::key).stride < 0);
        check_elements(fl, vfl);
    }
}

TEST_CASE("xtensor views: named axes, ranks, bounds and what cannot be viewed", "[xtensor][errors]") {
    xt::xarray<float> bhqk = xt::xarray<float>::from_shape({2, 3, 4, 5});
    fill(bhqk, 7);
    auto v = as::make_view(bhqk, as::axes{as::axis::batch, as::axis::head, as::axis::query, as::axis::key});
    CHECK(v.axes() == as::axis_set{as::axis::batch, as::axis::head, as::axis::query, as::axis::key});
    CHECK(v(1, 0, 2, 3, 4) == bhqk(1, 2, 3, 4));

    xt::xarray<float> r1 = xt::xarray<float>::from_shape({5});
    CHECK_THROWS_AS(as::make_view(r1), as::shape_error);
    CHECK_THROWS_WITH(as::make_view(r1), contains("rank 2 to 5") && contains("rank 1"));
    xt::xarray<float> r6 = xt::xarray<float>::from_shape({1, 1, 1, 1, 2, 2});
    CHECK_THROWS_AS(as::make_view(r6), as::shape_error);
    CHECK_THROWS_AS(as::make_view(bhqk, as::axes{as::axis::query, as::axis::key}), as::shape_error);

    // an adaptor over a vector that shrank after adapting: its shape now reaches past the storage
    std::vector<float> shrinking(6, 0.5f);
    auto bad = xt::adapt(shrinking, std::vector<std::size_t>{2, 3});
    CHECK(as::make_view(bad)(0, 0, 0, 1, 2) == 0.5);
    shrinking.resize(4);
    CHECK_THROWS_AS(as::make_view(bad), as::stride_error);
    CHECK_THROWS_WITH(as::make_view(bad), contains("[0, 5]") && contains("holds 4 elements"));

    // empty extents are a valid, empty view
    xt::xarray<float> empty = xt::xarray<float>::from_shape({0, 4});
    CHECK(as::make_view(empty).row_count() == 0);

    // lazy expressions have no memory, temporaries that own memory would dangle: both are rejected
    // at compile time (the static_assert sentences); their traits are checked here.
    static_assert(!as::detail::xtensor_strided<decltype(bhqk + bhqk)>);
    static_assert(as::detail::xtensor_strided<xt::xarray<float>>);
    static_assert(!as::detail::xtensor_borrows<xt::xarray<float>>::value);
    static_assert(as::detail::xtensor_borrows<decltype(xt::view(bhqk, 0))>::value);
    static_assert(!as::detail::xtensor_borrows<decltype(xt::view(xt::xarray<float>{}, 0))>::value);
    static_assert(as::detail::xtensor_borrows<decltype(bad)>::value);
    static_assert(as::detail::xtensor_borrows<decltype(xt::adapt(shrinking.data(), 4, xt::no_ownership(),
                                                                 std::vector<std::size_t>{2, 2}))>::value);
    static_assert(!as::detail::xtensor_borrows<decltype(xt::adapt(std::vector<float>{}, std::vector<std::size_t>{0}))>::value);
}
