// compiled/entry_points.cpp - the one translation unit that defines attnscope::compiled's
// non-template entry points (see detail/linkage.hpp): loading attention files; writing npy, CSV,
// JSON, SVG heatmaps and figures; the labeled-array reductions (mean ... layer_head_mean) and
// rank_heads. Every other unit of the component sees their declarations only, so each is defined
// exactly once.
#define ATTNSCOPE_BUILDING_COMPILED
#include <attnscope/io/csv.hpp>
#include <attnscope/io/figure.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/load.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/io/svg.hpp>
#include <attnscope/reduce/aggregate.hpp>
#include <attnscope/reduce/heads.hpp>
