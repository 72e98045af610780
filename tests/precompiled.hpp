// tests/precompiled.hpp - the headers nearly every test program parses, compiled once per build
// and reused by all of them (tests/CMakeLists.txt, option ATTNSCOPE_TEST_PCH). Each test still
// includes what it uses; this only saves the ~5 s of parsing per program.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"

#include <attnscope/attnscope.hpp>
