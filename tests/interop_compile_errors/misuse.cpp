// tests/interop_compile_errors/misuse.cpp - each ATTNSCOPE_MISUSE_<n> is one misuse of the interop
// make_view overloads that must not compile, and must say why in a sentence (a static_assert).
// Built with -fsyntax-only by tests/interop_compile_errors.cmake; without a define it compiles
// (the interop tests use every overload that is called here outside the #if).
#include <attnscope/interop/eigen.hpp>
#include <attnscope/interop/xtensor.hpp>

namespace as = attnscope;

int main() {
    Eigen::MatrixXf m = Eigen::MatrixXf::Zero(2, 2);
    xt::xarray<float> a = xt::zeros<float>({2, 2});
    [[maybe_unused]] auto ok1 = as::make_view(m);
    [[maybe_unused]] auto ok2 = as::make_view(a);
    [[maybe_unused]] auto ok3 = as::make_view(xt::view(a, xt::all(), xt::range(0, 1)));
#if defined(ATTNSCOPE_MISUSE_1) // an owning Eigen temporary
    [[maybe_unused]] auto v = as::make_view(Eigen::MatrixXf(2, 2));
#elif defined(ATTNSCOPE_MISUSE_2) // a lazy xtensor expression
    [[maybe_unused]] auto v = as::make_view(a + a);
#elif defined(ATTNSCOPE_MISUSE_3) // an owning xtensor temporary
    [[maybe_unused]] auto v = as::make_view(xt::xarray<float>{{1, 2}, {3, 4}});
#elif defined(ATTNSCOPE_MISUSE_4) // an Eigen tensor of rank 1
    Eigen::Tensor<float, 1> t(3);
    [[maybe_unused]] auto v = as::make_view(t);
#elif defined(ATTNSCOPE_MISUSE_5) // an element type that is not a float type
    xt::xarray<int> ints = xt::zeros<int>({2, 2});
    [[maybe_unused]] auto v = as::make_view(ints);
#endif
}
