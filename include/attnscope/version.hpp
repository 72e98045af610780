// attnscope/version.hpp - the library version.
#pragma once

#define ATTNSCOPE_VERSION_MAJOR 0
#define ATTNSCOPE_VERSION_MINOR 1
#define ATTNSCOPE_VERSION_PATCH 0

namespace attnscope {
/// The library version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
} // namespace attnscope
