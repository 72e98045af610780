// attnscope/attnscope.hpp - the core: views, validity, reducers and results.
// Interop (interop/*.hpp) and file formats (io/*.hpp) are included separately, by those who use them.
#pragma once

#include "axis.hpp"
#include "element.hpp"
#include "error.hpp"
#include "result.hpp"
#include "select.hpp"
#include "validity.hpp"
#include "view.hpp"
#include "version.hpp"
