// attnscope/attnscope.hpp - the core: views, validity, selection, reducers and results.
// Interop (interop/*.hpp) and file formats (io/*.hpp) are included separately, by those who use them.
#pragma once

#include "axis.hpp"
#include "element.hpp"
#include "error.hpp"
#include "layout.hpp"
#include "result.hpp"
#include "select.hpp"
#include "validity.hpp"
#include "version.hpp"
#include "view.hpp"

#include "reduce/row_metric.hpp"
#include "reduce/entropy.hpp"
#include "reduce/concentration.hpp"
#include "reduce/positional.hpp"
#include "reduce/sink.hpp"

#include "reduce/aggregate.hpp"
#include "reduce/weights.hpp"
#include "reduce/accumulator.hpp"
#include "reduce/heads.hpp"
#include "reduce/divergence.hpp"
#include "reduce/rollout.hpp"
