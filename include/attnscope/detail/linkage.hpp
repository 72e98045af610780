// attnscope/detail/linkage.hpp - header-only or compiled: where the entry points' code is made.
//
// attnscope is header-only by default: every function is defined in its header. A program that
// links the optional compiled component (CMake target attnscope::compiled, which defines
// ATTNSCOPE_COMPILED) sees only the declarations of the heavy entry points - file loading and
// writing (npy, CSV, JSON, SVG heatmaps and figures), the layer x head reductions, and the row
// metrics over attention_view<T> for the four element types - and links their code, compiled once
// in compiled/, instead of generating it in every translation unit. Results are the same either way (fmt offers the same two modes).
//
// In a header, an entry point is declared with ATTNSCOPE_FUNC and its definition is guarded by
// ATTNSCOPE_DEFINE_ENTRY_POINTS (true header-only, and in compiled/entry_points.cpp, the one unit
// that defines ATTNSCOPE_BUILDING_COMPILED); a row metric adds ATTNSCOPE_ROW_METRIC_INSTANCES(...)
// after its template (an extern template declaration in compiled mode, nothing otherwise; the
// explicit instantiations are in compiled/row_metrics.ipp).
#pragma once

#if defined(ATTNSCOPE_COMPILED)
#define ATTNSCOPE_FUNC
#if defined(ATTNSCOPE_BUILDING_COMPILED)
#define ATTNSCOPE_DEFINE_ENTRY_POINTS 1
#else
#define ATTNSCOPE_DEFINE_ENTRY_POINTS 0
#endif
#else
#define ATTNSCOPE_FUNC inline
#define ATTNSCOPE_DEFINE_ENTRY_POINTS 1
#endif

// The element types the compiled component instantiates every row metric for.
#define ATTNSCOPE_FOR_EACH_ELEMENT(X, ...) \
    X(float, __VA_ARGS__) X(double, __VA_ARGS__) X(::attnscope::half, __VA_ARGS__) X(::attnscope::bfloat16, __VA_ARGS__)

// extern template declarations (compiled mode, in the headers) or explicit instantiations (in
// src/compiled/) of one row metric `name(const attention_view<T>&, Args...)` for every element type.
#define ATTNSCOPE_DETAIL_EXTERN_ONE(T, name, ...) \
    extern template labeled_array name<attention_view<T>>(const attention_view<T>&, __VA_ARGS__);
#define ATTNSCOPE_DETAIL_INSTANTIATE_ONE(T, name, ...) \
    template labeled_array name<attention_view<T>>(const attention_view<T>&, __VA_ARGS__);
#if defined(ATTNSCOPE_COMPILED)
#define ATTNSCOPE_ROW_METRIC_INSTANCES(name, ...) ATTNSCOPE_FOR_EACH_ELEMENT(ATTNSCOPE_DETAIL_EXTERN_ONE, name, __VA_ARGS__)
#else
#define ATTNSCOPE_ROW_METRIC_INSTANCES(name, ...)
#endif
#define ATTNSCOPE_INSTANTIATE_ROW_METRIC(name, ...) ATTNSCOPE_FOR_EACH_ELEMENT(ATTNSCOPE_DETAIL_INSTANTIATE_ONE, name, __VA_ARGS__)
