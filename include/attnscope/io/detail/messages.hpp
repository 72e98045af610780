// attnscope/io/detail/messages.hpp - the message helpers of attnscope::detail (concat, format_list,
// located) made visible in attnscope::io::detail, once for every io header. Internal.
#pragma once

#include "../../error.hpp"

namespace attnscope::io::detail {

using ::attnscope::detail::concat;
using ::attnscope::detail::format_list;
using ::attnscope::detail::located;

} // namespace attnscope::io::detail
