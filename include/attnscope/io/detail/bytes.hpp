// attnscope/io/detail/bytes.hpp - bounds-checked little-endian reads, byte swapping, aligned buffers
// and the read-only file mapping the loaders share. Internal to attnscope::io.
#pragma once

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../axis.hpp"
#include "../../error.hpp"
#include "messages.hpp"

namespace attnscope::io::detail {

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big,
              "attnscope's file formats need a little- or big-endian host");

/// Reads an unsigned little-endian integer of N bytes at p (the caller has checked the bounds).
template <class U>
inline U load_le(const std::byte* p) noexcept {
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<U>(std::to_integer<std::uint8_t>(p[i])) << (8 * i));
    return v;
}

/// Appends an unsigned integer as little-endian bytes.
template <class U>
inline void store_le(std::string& out, U v) {
    for (std::size_t i = 0; i < sizeof(U); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

/// A cursor over untrusted bytes: every read checks that the bytes are there, and a short read
/// throws format_error naming the source and what was being read.
class byte_reader {
public:
    /// `base`: the file offset of bytes[0], so that errors locate bytes in the file.
    byte_reader(std::span<const std::byte> bytes, std::string_view source, std::uint64_t base = 0)
        : bytes_(bytes), source_(source), base_(base) {}

    std::size_t size() const noexcept { return bytes_.size(); }
    std::size_t position() const noexcept { return pos_; }
    std::size_t remaining() const noexcept { return bytes_.size() - pos_; }

    void seek(std::uint64_t pos, const char* what) {
        if (pos > bytes_.size())
            throw located(source_, base_ + pos, what, concat("lies past the end of the ", bytes_.size(), "-byte input"));
        pos_ = static_cast<std::size_t>(pos);
    }
    std::span<const std::byte> take(std::uint64_t n, const char* what) {
        if (n > remaining())
            throw located(source_, base_ + pos_, what, concat("truncated: needs ", n, " bytes, only ", remaining(), " remain"));
        auto s = bytes_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    template <class U>
    U le(const char* what) {
        return load_le<U>(take(sizeof(U), what).data());
    }

private:
    std::span<const std::byte> bytes_;
    std::string_view source_;
    std::uint64_t base_ = 0;
    std::size_t pos_ = 0;
};

/// Whether [offset, offset + length) lies inside a buffer of `size` bytes (overflow-safe).
constexpr bool range_inside(std::uint64_t offset, std::uint64_t length, std::uint64_t size) noexcept {
    return offset <= size && length <= size - offset;
}

/// Reverses the bytes of each of `count` elements of `elem` bytes (2, 4 or 8) from src into dst.
inline void byteswap_copy(std::byte* dst, const std::byte* src, std::size_t count, std::size_t elem) noexcept {
    for (std::size_t i = 0; i < count; ++i)
        for (std::size_t b = 0; b < elem; ++b) dst[i * elem + b] = src[i * elem + (elem - 1 - b)];
}

/// A heap buffer aligned for any element type (64 bytes), shared by the arrays that point into it.
class aligned_buffer {
public:
    static constexpr std::size_t alignment = 64;
    explicit aligned_buffer(std::size_t n) : size_(n) {
        if (n > 0) data_ = static_cast<std::byte*>(::operator new(n, std::align_val_t{alignment}));
    }
    aligned_buffer(const aligned_buffer&) = delete;
    aligned_buffer& operator=(const aligned_buffer&) = delete;
    ~aligned_buffer() {
        if (data_ != nullptr) ::operator delete(data_, std::align_val_t{alignment});
    }
    std::byte* data() noexcept { return data_; }
    const std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

private:
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// A zero-filled buffer of an exact size whose memory is committed only where it is written: an
/// anonymous private mapping (MAP_NORESERVE). Inflating into it needs no growth and no final copy,
/// and the resident memory follows the bytes really produced, not the size a header claims.
class sparse_buffer {
public:
    explicit sparse_buffer(std::size_t n) : size_(n) {
        if (n == 0) return;
        void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        data_ = static_cast<std::byte*>(p);
    }
    sparse_buffer(const sparse_buffer&) = delete;
    sparse_buffer& operator=(const sparse_buffer&) = delete;
    ~sparse_buffer() {
        if (data_ != nullptr) ::munmap(data_, size_);
    }
    std::byte* data() noexcept { return data_; }
    const std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

private:
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// The read-only contents of a file: a private memory map for regular files (unmapped on
/// destruction), a heap copy for pipes and other streams. A file truncated by another process
/// while mapped raises SIGBUS on access, as with every mmap reader; attnscope never writes into it.
class file_contents {
public:
    /// Largest stream (pipe, FIFO, character device) read into memory by default: a file that is
    /// not regular has no size to check first, and /dev/zero never ends.
    static constexpr std::size_t default_stream_limit = std::size_t{1} << 32;

    static std::shared_ptr<const file_contents> open(const std::filesystem::path& path,
                                                     std::size_t stream_limit = default_stream_limit) {
        const std::string name = path.string();
        int fd = -1;
        do {
            fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) throw located<io_error>(name, std::nullopt, "", concat("cannot open for reading: ", std::strerror(errno)));
        struct fd_guard {
            int fd;
            ~fd_guard() { ::close(fd); }
        } guard{fd};
        struct stat st {};
        if (::fstat(fd, &st) != 0) throw located<io_error>(name, std::nullopt, "", concat("cannot stat: ", std::strerror(errno)));
        if (S_ISDIR(st.st_mode)) throw located<io_error>(name, std::nullopt, "", "is a directory, not a file");
        auto out = std::shared_ptr<file_contents>(new file_contents());
        if (S_ISREG(st.st_mode)) {
            if (st.st_size < 0) throw located<io_error>(name, std::nullopt, "", "reports a negative size");
            const auto size = static_cast<std::uint64_t>(st.st_size);
            if (size > std::numeric_limits<std::size_t>::max() / 2)
                throw located<io_error>(name, std::nullopt, "", concat("is too large to map (", size, " bytes)"));
            if (size == 0) return out;
            void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) throw located<io_error>(name, std::nullopt, "", concat("cannot map: ", std::strerror(errno)));
            out->map_ = p;
            out->data_ = static_cast<const std::byte*>(p);
            out->size_ = static_cast<std::size_t>(size);
            return out;
        }
        // not seekable: read what is there, growing the buffer by what actually arrives
        std::vector<std::byte> buf;
        std::size_t used = 0;
        for (;;) {
            if (used > stream_limit)
                throw located<io_error>(name, used, "", concat("is not a regular file and delivers more than ", stream_limit,
                                                                " bytes; save it to a regular file first"));
            if (buf.size() - used < 65536) buf.resize(std::max<std::size_t>(buf.size() * 2, 65536 + used));
            const std::size_t room = std::min(buf.size() - used, stream_limit + 1 - used); // never read far past the limit
            const ::ssize_t n = ::read(fd, buf.data() + used, room);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw located<io_error>(name, used, "", concat("reading failed: ", std::strerror(errno)));
            }
            if (n == 0) break;
            used += static_cast<std::size_t>(n);
        }
        buf.resize(used);
        out->copy_ = std::move(buf);
        out->data_ = out->copy_.data();
        out->size_ = used;
        return out;
    }

    file_contents(const file_contents&) = delete;
    file_contents& operator=(const file_contents&) = delete;
    ~file_contents() {
        if (map_ != nullptr) ::munmap(map_, size_);
    }

    std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
    bool mapped() const noexcept { return map_ != nullptr; }

private:
    file_contents() = default;
    void* map_ = nullptr;
    std::vector<std::byte> copy_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// A short printable rendering of untrusted bytes for messages ("PK\x03\x04").
inline std::string printable(std::span<const std::byte> b, std::size_t max = 16) {
    std::string s;
    const std::size_t n = std::min(b.size(), max);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = std::to_integer<unsigned char>(b[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            s.push_back(static_cast<char>(c));
        } else {
            constexpr char hex[] = "0123456789abcdef";
            s += "\\x";
            s.push_back(hex[c >> 4]);
            s.push_back(hex[c & 15]);
        }
    }
    if (b.size() > max) s += "...";
    return s;
}

} // namespace attnscope::io::detail
