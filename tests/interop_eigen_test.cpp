// Tests for attnscope/interop/eigen.hpp: Eigen 16-bit floats, views over Eigen tensors, matrices,
// maps and blocks (both storage orders), and 2-D results as Eigen matrices.
#include <attnscope/attnscope.hpp>
#include <attnscope/interop/eigen.hpp>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::contains;

namespace {

template <class T>
T from_double(double x) {
    return static_cast<T>(static_cast<float>(x));
}

// Fills any Eigen object with direct storage with seeded softmax-like values, in storage order.
template <class T>
void fill(T* data, std::size_t n, unsigned seed) {
    const auto ref = attnscope_test::random_tensor({static_cast<std::int64_t>(n)}, seed);
    for (std::size_t i = 0; i < n; ++i) data[i] = from_double<T>(ref[i] * static_cast<double>(n));
}

template <class T>
double wide(const T& x) {
    return static_cast<double>(as::widen(x));
}

// Every element of a rank-4 Eigen tensor read through the view equals the tensor's own access.
template <class Tensor, class View>
void check_rank4(const Tensor& t, const View& v) {
    const auto& d = t.dimensions();
    REQUIRE(v.shape() == std::vector<as::index_t>{d[0], d[1], d[2], d[3]});
    for (Eigen::Index l = 0; l < d[0]; ++l)
        for (Eigen::Index h = 0; h < d[1]; ++h)
            for (Eigen::Index q = 0; q < d[2]; ++q)
                for (Eigen::Index k = 0; k < d[3]; ++k) REQUIRE(v(0, l, h, q, k) == wide(t(l, h, q, k)));
}

// Every element of a matrix-like Eigen object read through a [query, key] view equals m(q, k).
template <class M, class View>
void check_matrix(const M& m, const View& v) {
    REQUIRE(v.shape() == std::vector<as::index_t>{m.rows(), m.cols()});
    for (Eigen::Index q = 0; q < m.rows(); ++q)
        for (Eigen::Index k = 0; k < m.cols(); ++k) REQUIRE(v(0, 0, 0, q, k) == wide(m(q, k)));
}

} // namespace

TEST_CASE("Eigen::half and Eigen::bfloat16 widen exactly like attnscope's own 16-bit types", "[eigen][element]") {
    static_assert(as::attention_element<Eigen::half> && as::attention_element<Eigen::bfloat16>);
    static_assert(as::element_traits<Eigen::half>::tag == as::dtype::f16);
    static_assert(as::element_traits<Eigen::bfloat16>::tag == as::dtype::bf16);
    int mismatches = 0;
    for (std::uint32_t bits = 0; bits <= 0xffffu; ++bits) {
        const auto b = static_cast<std::uint16_t>(bits);
        const float e = as::widen(Eigen::numext::bit_cast<Eigen::half>(b));
        const float a = as::widen(as::half::from_bits(b));
        const float eb = as::widen(Eigen::numext::bit_cast<Eigen::bfloat16>(b));
        const float ab = as::widen(as::bfloat16::from_bits(b));
        if (!(e == a || (std::isnan(e) && std::isnan(a)))) ++mismatches;
        if (!(eb == ab || (std::isnan(eb) && std::isnan(ab)))) ++mismatches;
    }
    CHECK(mismatches == 0);
}

TEMPLATE_TEST_CASE("Eigen::Tensor views read every element, column- and row-major", "[eigen][tensor]", float, double,
                   Eigen::half, Eigen::bfloat16) {
    using T = TestType;
    const Eigen::Index L = 3, H = 2, Q = 4, K = 5;
    SECTION("column-major: the first index is fastest") {
        Eigen::Tensor<T, 4, Eigen::ColMajor> t(L, H, Q, K);
        fill(t.data(), static_cast<std::size_t>(t.size()), 1);
        auto v = as::make_view(t);
        static_assert(std::is_same_v<decltype(v), as::attention_view<T>>);
        CHECK(v.axes() == as::axis_set{as::axis::layer, as::axis::head, as::axis::query, as::axis::key});
        CHECK(v.axis_info(as::axis::layer).stride == 1);
        CHECK(v.axis_info(as::axis::key).stride == L * H * Q);
        check_rank4(t, v);
    }
    SECTION("row-major: the last index is fastest") {
        Eigen::Tensor<T, 4, Eigen::RowMajor> t(L, H, Q, K);
        fill(t.data(), static_cast<std::size_t>(t.size()), 2);
        auto v = as::make_view(t);
        CHECK(v.axis_info(as::axis::key).stride == 1);
        CHECK(v.axis_info(as::axis::layer).stride == H * Q * K);
        check_rank4(t, v);
    }
}

TEST_CASE("Eigen tensors of rank 2, 3 and 5 take the last axes; named axes override", "[eigen][tensor]") {
    Eigen::Tensor<float, 2, Eigen::ColMajor> t2(3, 4);
    fill(t2.data(), 12, 3);
    auto v2 = as::make_view(t2);
    CHECK(v2.axes() == as::axis_set{as::axis::query, as::axis::key});
    for (Eigen::Index q = 0; q < 3; ++q)
        for (Eigen::Index k = 0; k < 4; ++k) CHECK(v2(0, 0, 0, q, k) == wide(t2(q, k)));

    Eigen::Tensor<double, 3, Eigen::RowMajor> t3(2, 3, 4);
    fill(t3.data(), 24, 4);
    auto v3 = as::make_view(t3);
    CHECK(v3.axes() == as::axis_set{as::axis::head, as::axis::query, as::axis::key});
    for (Eigen::Index h = 0; h < 2; ++h)
        for (Eigen::Index q = 0; q < 3; ++q)
            for (Eigen::Index k = 0; k < 4; ++k) CHECK(v3(0, 0, h, q, k) == wide(t3(h, q, k)));

    Eigen::Tensor<float, 5, Eigen::ColMajor> t5(2, 3, 2, 3, 4);
    fill(t5.data(), static_cast<std::size_t>(t5.size()), 5);
    auto v5 = as::make_view(t5);
    CHECK(v5.rank() == 5);
    for (Eigen::Index b = 0; b < 2; ++b)
        for (Eigen::Index l = 0; l < 3; ++l)
            for (Eigen::Index h = 0; h < 2; ++h)
                for (Eigen::Index q = 0; q < 3; ++q)
                    for (Eigen::Index k = 0; k < 4; ++k) REQUIRE(v5(b, l, h, q, k) == wide(t5(b, l, h, q, k)));

    // HF layout of one layer, column-major: [batch, head, query, key] named explicitly
    Eigen::Tensor<float, 4, Eigen::ColMajor> bhqk(2, 3, 4, 5);
    fill(bhqk.data(), static_cast<std::size_t>(bhqk.size()), 6);
    auto vb = as::make_view(bhqk, as::axes{as::axis::batch, as::axis::head, as::axis::query, as::axis::key});
    CHECK(vb.axes() == as::axis_set{as::axis::batch, as::axis::head, as::axis::query, as::axis::key});
    for (Eigen::Index b = 0; b < 2; ++b)
        for (Eigen::Index h = 0; h < 3; ++h)
            for (Eigen::Index q = 0; q < 4; ++q)
                for (Eigen::Index k = 0; k < 5; ++k) REQUIRE(vb(b, 0, h, q, k) == wide(bhqk(b, h, q, k)));

    // stored [key, query]: named axes put the dimensions where they belong
    auto vt = as::make_view(t2, as::axes{as::axis::key, as::axis::query});
    CHECK(vt.extent(as::axis::key) == 3);
    CHECK(vt.extent(as::axis::query) == 4);
    CHECK(vt(0, 0, 0, 2, 1) == wide(t2(1, 2)));

    CHECK_THROWS_AS(as::make_view(t3, as::axes{as::axis::head, as::axis::head, as::axis::key}), as::shape_error);
    CHECK_THROWS_AS(as::make_view(t3, as::axes{as::axis::query, as::axis::key}), as::shape_error);
}

TEMPLATE_TEST_CASE("TensorMap and TensorFixedSize views read in place", "[eigen][tensor]", float, Eigen::half) {
    using T = TestType;
    std::vector<T> buf(2 * 3 * 4);
    fill(buf.data(), buf.size(), 7);
    SECTION("TensorMap, both layouts, const and non-const") {
        Eigen::TensorMap<Eigen::Tensor<T, 3, Eigen::RowMajor>> rm(buf.data(), 2, 3, 4);
        Eigen::TensorMap<Eigen::Tensor<const T, 3, Eigen::ColMajor>> cm(buf.data(), 2, 3, 4);
        Eigen::TensorMap<const Eigen::Tensor<T, 3, Eigen::ColMajor>> ccm(buf.data(), 2, 3, 4);
        auto vr = as::make_view(rm);
        auto vc = as::make_view(cm);
        auto vcc = as::make_view(ccm);
        CHECK(vr.data() == buf.data());
        CHECK(vc.data() == buf.data());
        for (Eigen::Index h = 0; h < 2; ++h)
            for (Eigen::Index q = 0; q < 3; ++q)
                for (Eigen::Index k = 0; k < 4; ++k) {
                    REQUIRE(vr(0, 0, h, q, k) == wide(rm(h, q, k)));
                    REQUIRE(vc(0, 0, h, q, k) == wide(cm(h, q, k)));
                    REQUIRE(vcc(0, 0, h, q, k) == wide(ccm(h, q, k)));
                }
        // the same buffer in both layouts: row-major (h, q, k) at (h*3 + q)*4 + k
        CHECK(vr(0, 0, 1, 2, 3) == wide(buf[(1 * 3 + 2) * 4 + 3]));
        CHECK(vc(0, 0, 1, 2, 3) == wide(buf[1 + 2 * (2 + 3 * 3)]));
        // a map temporary does not own data, so it may be viewed directly
        auto vt = as::make_view(Eigen::TensorMap<Eigen::Tensor<T, 2>>(buf.data(), 4, 6));
        CHECK(vt(0, 0, 0, 3, 5) == wide(buf[3 + 4 * 5]));
    }
    SECTION("TensorFixedSize") {
        Eigen::TensorFixedSize<T, Eigen::Sizes<2, 3, 4>, Eigen::RowMajor> f;
        fill(f.data(), 24, 8);
        auto v = as::make_view(f);
        for (Eigen::Index h = 0; h < 2; ++h)
            for (Eigen::Index q = 0; q < 3; ++q)
                for (Eigen::Index k = 0; k < 4; ++k) REQUIRE(v(0, 0, h, q, k) == wide(f(h, q, k)));
    }
}

TEMPLATE_TEST_CASE("Eigen matrices, maps with strides and blocks give [query, key] views", "[eigen][matrix]", float,
                   double, Eigen::half, Eigen::bfloat16) {
    using T = TestType;
    using col_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
    using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Index Q = 5, K = 7;
    col_major c(Q, K);
    row_major r(Q, K);
    fill(c.data(), static_cast<std::size_t>(c.size()), 9);
    fill(r.data(), static_cast<std::size_t>(r.size()), 10);

    SECTION("plain matrices, both storage orders") {
        auto vc = as::make_view(c);
        auto vr = as::make_view(r);
        CHECK(vc.axes() == as::axis_set{as::axis::query, as::axis::key});
        CHECK(vc.axis_info(as::axis::query).stride == 1);
        CHECK(vr.axis_info(as::axis::key).stride == 1);
        check_matrix(c, vc);
        check_matrix(r, vr);
    }
    SECTION("blocks are strided views into the same storage") {
        check_matrix(c.block(1, 2, 3, 4), as::make_view(c.block(1, 2, 3, 4)));
        check_matrix(r.block(1, 2, 3, 4), as::make_view(r.block(1, 2, 3, 4)));
        check_matrix(c.middleCols(1, 3), as::make_view(c.middleCols(1, 3)));
        check_matrix(r.bottomRows(2), as::make_view(r.bottomRows(2)));
        CHECK(as::make_view(c.block(1, 2, 3, 4)).data() == &c(1, 2));
    }
    SECTION("Map with OuterStride and with inner and outer strides") {
        // a [Q, K] matrix inside a larger row-major buffer with row pitch 10
        std::vector<T> buf(static_cast<std::size_t>(Q * 10));
        fill(buf.data(), buf.size(), 11);
        Eigen::Map<row_major, 0, Eigen::OuterStride<>> pitched(buf.data(), Q, K, Eigen::OuterStride<>(10));
        check_matrix(pitched, as::make_view(pitched));
        // every other element of every third row, column-major map: (q, k) at q*2 + k*(3*Q*2)... explicit strides
        Eigen::Map<col_major, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>> sparse(
            buf.data(), 4, 3, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(15, 2));
        auto vs = as::make_view(sparse);
        CHECK(vs.axis_info(as::axis::query).stride == 2);
        CHECK(vs.axis_info(as::axis::key).stride == 15);
        check_matrix(sparse, vs);
        const Eigen::Ref<const row_major, 0, Eigen::OuterStride<>> ref = pitched;
        check_matrix(ref, as::make_view(ref));
    }
    SECTION("arrays and a transposed [key, query] layout") {
        Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic> a = c.array();
        check_matrix(a, as::make_view(a));
        auto vkq = as::make_view(c, as::axes{as::axis::key, as::axis::query}); // rows are keys
        CHECK(vkq.extent(as::axis::key) == Q);
        CHECK(vkq.extent(as::axis::query) == K);
        for (Eigen::Index q = 0; q < K; ++q)
            for (Eigen::Index k = 0; k < Q; ++k) REQUIRE(vkq(0, 0, 0, q, k) == wide(c(k, q)));
    }
}

TEST_CASE("Eigen views carry validity rules and subviews like any view", "[eigen][validity]") {
    Eigen::MatrixXf p = Eigen::MatrixXf::Constant(4, 4, 0.25f);
    auto v = as::make_view(p).with(as::causal());
    auto r = v.row({.query = 1});
    CHECK(r.keys.count() == 2);
    CHECK(r.keys.counts(1));
    CHECK_FALSE(r.keys.counts(2));
    Eigen::MatrixXf empty(0, 3);
    auto ve = as::make_view(empty);
    CHECK(ve.row_count() == 0);
}

namespace {

as::labeled_array grid(std::vector<std::size_t> shape) {
    as::labeled_array a;
    a.values = xt::xarray<double>::from_shape(shape);
    std::iota(a.values.begin(), a.values.end(), 0.5);
    const char* names[] = {"layer", "head", "query"};
    for (std::size_t i = 0; i < shape.size(); ++i) a.axes.push_back({names[i], {}});
    a.quantity = "entropy";
    a.unit = "nats";
    return a;
}

} // namespace

TEST_CASE("to_eigen copies a 2-D result; other ranks are a shape_error", "[eigen][result]") {
    const auto a = grid({3, 4});
    const Eigen::MatrixXd m = as::to_eigen(a);
    REQUIRE(m.rows() == 3);
    REQUIRE(m.cols() == 4);
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 4; ++j)
            CHECK(m(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) == a.values(i, j));
    CHECK_THROWS_AS(as::to_eigen(grid({2, 3, 4})), as::shape_error);
    CHECK_THROWS_WITH(as::to_eigen(grid({2, 3, 4})), contains("expected a 2-D result, got rank 3") &&
                                                         contains("[2, 3, 4]") && contains("[layer, head, query]"));
    CHECK_THROWS_AS(as::to_eigen(grid({5})), as::shape_error);
}

TEST_CASE("as_eigen_map is a zero-copy row-major map over a 2-D result", "[eigen][result]") {
    // xt::xarray<double> defaults to row-major: the map relies on it and checks the strides.
    static_assert(xt::xarray<double>::static_layout == xt::layout_type::row_major);
    for (auto shape : {std::vector<std::size_t>{3, 4}, std::vector<std::size_t>{1, 5}, std::vector<std::size_t>{5, 1},
                       std::vector<std::size_t>{0, 3}}) {
        auto a = grid(shape);
        const auto m = as::as_eigen_map(a);
        REQUIRE(static_cast<std::size_t>(m.rows()) == shape[0]);
        REQUIRE(static_cast<std::size_t>(m.cols()) == shape[1]);
        for (std::size_t i = 0; i < shape[0]; ++i)
            for (std::size_t j = 0; j < shape[1]; ++j)
                REQUIRE(m(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) == a.values(i, j));
        if (a.values.size() > 0) {
            CHECK(m.data() == a.values.data());
            a.values(shape[0] - 1, shape[1] - 1) = -7.0; // a write to the result shows through the map
            CHECK(m(m.rows() - 1, m.cols() - 1) == -7.0);
        }
    }
    const auto a3 = grid({2, 2, 2});
    CHECK_THROWS_AS(as::as_eigen_map(a3), as::shape_error);
    static_assert(!std::is_invocable_v<decltype([](auto&& x) -> decltype(as::as_eigen_map(std::move(x))) {
                                           return as::as_eigen_map(std::move(x));
                                       }),
                                       as::labeled_array&&>,
                  "as_eigen_map of a temporary must not compile");
}
