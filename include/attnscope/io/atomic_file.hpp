// attnscope/io/atomic_file.hpp - all-or-nothing file writes (temporary file + fsync + rename).
//
// Every writer in attnscope goes through this: an error or a crash while writing never leaves a
// partial file, and an existing good file is only replaced by a complete new one.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../error.hpp"
#include "detail/messages.hpp"

namespace attnscope::io {

/// Writes a file atomically: bytes go to a temporary file next to `path`, which is renamed over
/// `path` by commit(). Destroying an uncommitted writer removes the temporary file.
///   as::io::atomic_file f("grid.csv");
///   f.write("layer,head,value\n");
///   f.commit();
class atomic_file {
public:
    explicit atomic_file(std::filesystem::path path) : path_(std::move(path)) {
        const auto dir = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
        std::string tmpl = (dir / ("." + path_.filename().string() + ".tmp.XXXXXX")).string();
        fd_ = ::mkstemp(tmpl.data());
        if (fd_ < 0)
            throw ::attnscope::detail::located<io_error>(path_.string(), std::nullopt, "",
                                            detail::concat("cannot create a temporary file: ", std::strerror(errno)));
        tmp_ = tmpl;
    }
    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;
    ~atomic_file() { discard(); }

    /// Appends bytes; throws io_error (and the target stays untouched) on failure.
    void write(std::span<const std::byte> bytes) {
        if (fd_ < 0) throw io_error(detail::concat("write to '", path_.string(), "' after commit or discard"));
        const std::byte* p = bytes.data();
        std::size_t left = bytes.size();
        while (left > 0) {
            const ::ssize_t n = ::write(fd_, p, left);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw ::attnscope::detail::located<io_error>(path_.string(), std::nullopt, "", detail::concat("writing failed: ", std::strerror(errno)));
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    void write(std::string_view s) { write(std::as_bytes(std::span<const char>(s.data(), s.size()))); }

    /// Flushes to disk and renames the temporary file over the target.
    void commit() {
        if (fd_ < 0) throw io_error(detail::concat("commit of '", path_.string(), "' twice"));
        ::fchmod(fd_, 0644);
        if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
            const int e = errno;
            fd_ = -1;
            ::unlink(tmp_.c_str());
            throw ::attnscope::detail::located<io_error>(path_.string(), std::nullopt, "", detail::concat("flushing failed: ", std::strerror(e)));
        }
        fd_ = -1;
        if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
            const int e = errno;
            ::unlink(tmp_.c_str());
            throw ::attnscope::detail::located<io_error>(path_.string(), std::nullopt, "",
                                            detail::concat("renaming the temporary file onto it failed: ", std::strerror(e)));
        }
        tmp_.clear();
    }

    /// Drops what was written; the target is untouched. Called by the destructor.
    void discard() noexcept {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
        if (!tmp_.empty()) {
            ::unlink(tmp_.c_str());
            tmp_.clear();
        }
    }

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
    std::string tmp_;
    int fd_ = -1;
};

/// Writes a whole file atomically.
///   as::io::write_file_atomic("summary.json", text);
inline void write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
    atomic_file f(path);
    f.write(contents);
    f.commit();
}

} // namespace attnscope::io
