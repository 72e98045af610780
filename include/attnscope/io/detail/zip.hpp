// attnscope/io/detail/zip.hpp - the subset of ZIP that .npz files use: stored and deflate members,
// ZIP64 sizes and offsets, read through the central directory with every offset, size and CRC-32
// checked; and a writer. Deflate and CRC-32 are zlib's. Internal to attnscope::io.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <zlib.h>

#include "../../error.hpp"
#include "../atomic_file.hpp"
#include "bytes.hpp"

namespace attnscope::io::detail {

inline constexpr std::uint32_t zip_local_sig = 0x04034b50;
inline constexpr std::uint32_t zip_central_sig = 0x02014b50;
inline constexpr std::uint32_t zip_eocd_sig = 0x06054b50;
inline constexpr std::uint32_t zip64_eocd_sig = 0x06064b50;
inline constexpr std::uint32_t zip64_locator_sig = 0x07064b50;
inline constexpr std::uint16_t zip64_extra_id = 0x0001;
inline constexpr std::uint16_t zip_stored = 0;
inline constexpr std::uint16_t zip_deflate = 8;
/// Deflate cannot expand data by more than about 1032:1 (a 258-byte match per 2 bits); a member
/// declaring more is rejected before anything is allocated.
inline constexpr std::uint64_t deflate_max_ratio = 1032;

/// Whether the bytes start like a ZIP archive (a local header, or the end record of an empty one).
inline bool has_zip_magic(std::span<const std::byte> b) noexcept {
    return b.size() >= 4 && (load_le<std::uint32_t>(b.data()) == zip_local_sig || load_le<std::uint32_t>(b.data()) == zip_eocd_sig);
}

/// One member as the central directory and its local header describe it.
struct zip_member {
    std::string name;
    std::uint16_t method = 0;
    std::uint16_t flags = 0;
    std::uint32_t crc32 = 0;
    std::uint64_t compressed_size = 0;
    std::uint64_t uncompressed_size = 0;
    std::uint64_t local_offset = 0;
    std::uint64_t data_offset = 0;
};

inline std::uint32_t crc32_of(std::span<const std::byte> data) noexcept {
    return static_cast<std::uint32_t>(
        ::crc32_z(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<z_size_t>(data.size())));
}

/// Reads and validates the central directory and every local header of a ZIP archive.
inline std::vector<zip_member> read_zip_directory(std::span<const std::byte> file, std::string_view source) {
    const std::uint64_t size = file.size();
    // where(): the byte offset and field of the archive that is wrong
    auto fail = [&](std::optional<std::uint64_t> at, std::string field, const auto&... what) -> format_error {
        return located(source, at, std::move(field), concat(what...));
    };
    // the end-of-central-directory record: the last one in the final 64 KiB + 22 bytes
    if (size < 22)
        throw fail(0, "end of central directory", "truncated zip archive: ", size,
                   " bytes, the end-of-central-directory record alone has 22");
    std::uint64_t eocd = size;
    const std::uint64_t lowest = size - 22 > 0xffff ? size - 22 - 0xffff : 0;
    for (std::uint64_t p = size - 22 + 1; p-- > lowest;) {
        if (load_le<std::uint32_t>(file.data() + p) == zip_eocd_sig &&
            p + 22 + load_le<std::uint16_t>(file.data() + p + 20) <= size) {
            eocd = p;
            break;
        }
    }
    if (eocd == size)
        throw fail(
            std::nullopt, "end of central directory",
            has_zip_magic(file) ? "truncated or corrupt zip archive: " : "not a zip archive: ", "no end-of-central-directory record");
    const std::byte* e = file.data() + eocd;
    std::uint64_t disk = load_le<std::uint16_t>(e + 4), cd_disk = load_le<std::uint16_t>(e + 6);
    std::uint64_t entries_here = load_le<std::uint16_t>(e + 8), entries = load_le<std::uint16_t>(e + 10);
    std::uint64_t cd_size = load_le<std::uint32_t>(e + 12), cd_offset = load_le<std::uint32_t>(e + 16);
    std::uint64_t cd_limit = eocd; // the directory ends before the end records
    if (entries == 0xffff || entries_here == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
        if (eocd < 20)
            throw fail(eocd, "end of central directory", "zip end record asks for ZIP64 but there is no room for a ZIP64 locator");
        const std::byte* loc = file.data() + eocd - 20;
        if (load_le<std::uint32_t>(loc) != zip64_locator_sig)
            throw fail(eocd - 20, "ZIP64 locator", "zip end record asks for ZIP64 but no ZIP64 locator precedes it");
        const std::uint64_t rec = load_le<std::uint64_t>(loc + 8);
        if (load_le<std::uint32_t>(loc + 4) != 0 || load_le<std::uint32_t>(loc + 16) > 1)
            throw fail(eocd - 20, "ZIP64 locator", "multi-disk zip archives are not supported");
        if (!range_inside(rec, 56, eocd - 20))
            throw fail(eocd - 20 + 8, "ZIP64 locator", "ZIP64 end record offset ", rec, " lies outside the archive's first ", eocd - 20,
                       " bytes");
        const std::byte* r = file.data() + rec;
        if (load_le<std::uint32_t>(r) != zip64_eocd_sig) throw fail(rec, "ZIP64 end record", "no ZIP64 end record signature");
        disk = load_le<std::uint32_t>(r + 16);
        cd_disk = load_le<std::uint32_t>(r + 20);
        entries_here = load_le<std::uint64_t>(r + 24);
        entries = load_le<std::uint64_t>(r + 32);
        cd_size = load_le<std::uint64_t>(r + 40);
        cd_offset = load_le<std::uint64_t>(r + 48);
        cd_limit = rec;
    }
    if (disk != 0 || cd_disk != 0 || entries_here != entries)
        throw fail(eocd, "end of central directory", "multi-disk zip archives are not supported");
    if (!range_inside(cd_offset, cd_size, cd_limit))
        throw fail(eocd, "end of central directory", "central directory [", cd_offset, ", +", cd_size, ") lies outside the archive (",
                   cd_limit, " bytes precede the end records)");
    if (entries > cd_size / 46)
        throw fail(eocd, "end of central directory", "central directory of ", cd_size, " bytes cannot hold the ", entries,
                   " entries the end record declares");

    std::vector<zip_member> members;
    members.reserve(static_cast<std::size_t>(entries));
    byte_reader cd(file.subspan(static_cast<std::size_t>(cd_offset), static_cast<std::size_t>(cd_size)), source, cd_offset);
    for (std::uint64_t i = 0; i < entries; ++i) {
        const std::uint64_t at = cd_offset + cd.position();
        if (cd.le<std::uint32_t>("a central directory entry") != zip_central_sig)
            throw fail(at, concat("central directory entry ", i), "bad signature");
        const auto h = cd.take(42, "a central directory entry");
        zip_member m;
        m.flags = load_le<std::uint16_t>(h.data() + 4);
        m.method = load_le<std::uint16_t>(h.data() + 6);
        m.crc32 = load_le<std::uint32_t>(h.data() + 12);
        m.compressed_size = load_le<std::uint32_t>(h.data() + 16);
        m.uncompressed_size = load_le<std::uint32_t>(h.data() + 20);
        const std::uint16_t name_len = load_le<std::uint16_t>(h.data() + 24);
        const std::uint16_t extra_len = load_le<std::uint16_t>(h.data() + 26);
        const std::uint16_t comment_len = load_le<std::uint16_t>(h.data() + 28);
        std::uint64_t start_disk = load_le<std::uint16_t>(h.data() + 30);
        m.local_offset = load_le<std::uint32_t>(h.data() + 38);
        const auto name = cd.take(name_len, "a member name");
        m.name.assign(reinterpret_cast<const char*>(name.data()), name.size());
        const std::uint64_t extra_at = cd_offset + cd.position();
        const auto extra = cd.take(extra_len, "a central directory extra field");
        cd.take(comment_len, "a member comment");
        // ZIP64: the saturated fields are in the 0x0001 extra field, in this order
        const bool need_u = m.uncompressed_size == 0xffffffffu, need_c = m.compressed_size == 0xffffffffu,
                   need_o = m.local_offset == 0xffffffffu, need_d = start_disk == 0xffff;
        if (need_u || need_c || need_o || need_d) {
            bool found = false;
            byte_reader x(extra, source, extra_at);
            while (x.remaining() >= 4) {
                const auto id = x.le<std::uint16_t>("an extra field id");
                const auto len = x.le<std::uint16_t>("an extra field length");
                const auto body = x.take(len, "an extra field");
                if (id != zip64_extra_id) continue;
                byte_reader z(body, source, extra_at + x.position() - len);
                const char* what = "the ZIP64 extra field of a central directory entry";
                if (need_u) m.uncompressed_size = z.le<std::uint64_t>(what);
                if (need_c) m.compressed_size = z.le<std::uint64_t>(what);
                if (need_o) m.local_offset = z.le<std::uint64_t>(what);
                if (need_d) start_disk = z.le<std::uint32_t>(what);
                found = true;
                break;
            }
            if (!found) throw fail(at, concat("member '", printable(name, 64), "'"), "saturated sizes but no ZIP64 extra field");
        }
        if (start_disk != 0) throw fail(at, concat("central directory entry ", i), "multi-disk zip archives are not supported");
        if (m.name.empty()) throw fail(at, concat("central directory entry ", i), "empty member name");
        if (m.name.find('\0') != std::string::npos)
            throw fail(at, concat("central directory entry ", i), "member name '", printable(name, 64), "' contains a NUL byte");
        if (m.flags & 0x41u) throw fail(at, concat("member '", m.name, "'"), "encrypted; encrypted archives are not supported");
        if (m.method != zip_stored && m.method != zip_deflate)
            throw fail(at, concat("member '", m.name, "'"), "compression method ", m.method,
                       "; only stored (0) and deflate (8) are supported");
        if (m.method == zip_stored && m.compressed_size != m.uncompressed_size)
            throw fail(at, concat("member '", m.name, "'"), "stored, declares ", m.compressed_size, " compressed but ", m.uncompressed_size,
                       " uncompressed bytes");
        if (m.method == zip_deflate && m.uncompressed_size / deflate_max_ratio > m.compressed_size + 1)
            throw fail(at, concat("member '", m.name, "'"), "deflate, declares ", m.uncompressed_size, " bytes from ", m.compressed_size,
                       " compressed bytes, more than deflate can produce (a decompression bomb?)");
        // the local header, which may carry a different extra field
        if (!range_inside(m.local_offset, 30, cd_offset))
            throw fail(at, concat("member '", m.name, "'"), "local header offset ", m.local_offset, " lies outside the ", cd_offset,
                       " bytes before the central directory");
        const std::byte* lh = file.data() + m.local_offset;
        if (load_le<std::uint32_t>(lh) != zip_local_sig)
            throw fail(m.local_offset, concat("member '", m.name, "'"), "no local header signature");
        const std::uint64_t lname = load_le<std::uint16_t>(lh + 26), lextra = load_le<std::uint16_t>(lh + 28);
        if (lname != name_len || !range_inside(m.local_offset + 30, lname, cd_offset) ||
            !std::equal(name.begin(), name.end(), file.begin() + static_cast<std::ptrdiff_t>(m.local_offset + 30)))
            throw fail(m.local_offset, concat("member '", m.name, "'"), "the local header names a different member");
        m.data_offset = m.local_offset + 30 + lname + lextra;
        if (!range_inside(m.data_offset, m.compressed_size, cd_offset))
            throw fail(m.data_offset, concat("member '", m.name, "'"), m.compressed_size,
                       " data bytes"
                       " run past the start of the central directory at ",
                       cd_offset);
        members.push_back(std::move(m));
    }
    // members may not share bytes (overlapping entries are how zip bombs multiply their output)
    std::vector<const zip_member*> order;
    order.reserve(members.size());
    for (const auto& m : members) order.push_back(&m);
    std::sort(order.begin(), order.end(), [](const zip_member* a, const zip_member* b) { return a->local_offset < b->local_offset; });
    for (std::size_t i = 1; i < order.size(); ++i)
        if (order[i]->local_offset < order[i - 1]->data_offset + order[i - 1]->compressed_size)
            throw fail(order[i]->local_offset, concat("member '", order[i]->name, "'"), "overlaps member '", order[i - 1]->name, "'");
    return members;
}

/// The uncompressed bytes of a member, CRC-checked: a subspan of `file` for stored members (no
/// copy), or an inflated buffer for deflate members. The buffer has exactly the declared size (which
/// the directory check already bounds by the compressed size times deflate's largest ratio) and is
/// committed page by page as zlib writes it (sparse_buffer): no growth, no copy, so a 1 GiB member
/// peaks at 1 GiB plus its compressed bytes, and memory follows what the stream really produces.
struct zip_payload {
    std::span<const std::byte> bytes;
    std::shared_ptr<const sparse_buffer> inflated; ///< set for deflate members (page aligned)
};

inline zip_payload read_zip_member(std::span<const std::byte> file, const zip_member& m, std::string_view source) {
    auto fail = [&](const auto&... what) -> format_error {
        return located(source, m.data_offset, concat("member '", m.name, "'"), concat(what...));
    };
    const auto raw = file.subspan(static_cast<std::size_t>(m.data_offset), static_cast<std::size_t>(m.compressed_size));
    zip_payload out;
    if (m.method == zip_stored) {
        out.bytes = raw;
    } else {
        if (m.uncompressed_size > std::numeric_limits<std::size_t>::max() / 4)
            throw fail("declared size ", m.uncompressed_size, " is too large");
        const auto declared = static_cast<std::size_t>(m.uncompressed_size);
        auto buf = std::make_shared<sparse_buffer>(declared);
        z_stream zs{};
        if (::inflateInit2(&zs, -15) != Z_OK) throw located<io_error>(source, m.data_offset, concat("member '", m.name, "'"), "zlib inflateInit2 failed");
        struct guard {
            z_stream* z;
            ~guard() { ::inflateEnd(z); }
        } g{&zs};
        const std::byte* in = raw.data();
        std::size_t in_left = raw.size();
        std::size_t made_total = 0;
        for (;;) {
            const auto ai = static_cast<uInt>(std::min<std::size_t>(in_left, UINT_MAX));
            const auto ao = static_cast<uInt>(std::min<std::size_t>(declared - made_total, UINT_MAX));
            // zlib does not write through next_in; the cast only satisfies its C signature
            zs.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in));
            zs.avail_in = ai;
            Bytef none = 0; // zlib refuses a null next_out even when avail_out is 0
            zs.next_out = ao == 0 ? &none : reinterpret_cast<Bytef*>(buf->data() + made_total);
            zs.avail_out = ao;
            const int ret = ::inflate(&zs, Z_NO_FLUSH);
            const std::size_t used = ai - zs.avail_in, made = ao - zs.avail_out;
            in += used;
            in_left -= used;
            made_total += made;
            if (ret == Z_STREAM_END) break;
            if (ret == Z_DATA_ERROR)
                throw fail("corrupt deflate data (", zs.msg != nullptr ? zs.msg : "zlib data error", ")");
            if (ret == Z_MEM_ERROR) throw located<io_error>(source, m.data_offset, concat("member '", m.name, "'"), "zlib is out of memory");
            if (ret != Z_OK && ret != Z_BUF_ERROR) throw fail("zlib inflate failed with code ", ret);
            if (used == 0 && made == 0) {
                if (made_total == declared) throw fail("inflates to more than its declared ", declared, " bytes");
                if (in_left == 0)
                    throw fail("compressed data ends before the deflate stream does (", made_total, " of ", declared,
                               " bytes inflated)");
            }
        }
        if (made_total != declared)
            throw fail("inflates to ", made_total, " bytes, the directory declares ", declared);
        out.bytes = std::span<const std::byte>(buf->data(), declared);
        out.inflated = std::move(buf);
    }
    const std::uint32_t crc = crc32_of(out.bytes);
    if (crc != m.crc32) {
        const auto hex = [](std::uint32_t v) {
            std::string s = "0x";
            for (int i = 7; i >= 0; --i) s.push_back("0123456789abcdef"[(v >> (4 * i)) & 15u]);
            return s;
        };
        throw fail("CRC-32 mismatch: the directory says ", hex(m.crc32), ", the data has ", hex(crc));
    }
    return out;
}

/// Writes a ZIP archive member by member into an atomic_file, then the central directory.
class zip_writer {
public:
    zip_writer(atomic_file& f, bool force_zip64) : file_(f), force64_(force_zip64) {}

    void add(std::string_view name, std::span<const std::byte> data, bool deflate, int level) {
        if (name.empty() || name.size() > 0xffff)
            throw argument_error(concat("zip member name must have 1 to 65535 bytes, got ", name.size()));
        if (name.find('\0') != std::string_view::npos) throw argument_error("zip member name contains a NUL byte");
        entry e;
        e.name = std::string(name);
        e.crc = crc32_of(data);
        e.usize = data.size();
        e.offset = offset_;
        e.method = deflate ? zip_deflate : zip_stored;
        std::string packed;
        std::span<const std::byte> payload = data;
        if (deflate) {
            packed = deflate_bytes(data, level);
            payload = std::as_bytes(std::span<const char>(packed.data(), packed.size()));
        }
        e.csize = payload.size();
        e.zip64 = force64_ || e.usize >= 0xffffffffu || e.csize >= 0xffffffffu;
        for (char c : e.name)
            if (static_cast<unsigned char>(c) >= 0x80) e.flags = 0x0800; // UTF-8 name
        std::string h;
        store_le<std::uint32_t>(h, zip_local_sig);
        store_le<std::uint16_t>(h, e.zip64 ? 45 : 20);
        store_le<std::uint16_t>(h, e.flags);
        store_le<std::uint16_t>(h, e.method);
        store_le<std::uint16_t>(h, 0);      // time 00:00:00
        store_le<std::uint16_t>(h, 0x0021); // date 1980-01-01: reproducible output
        store_le<std::uint32_t>(h, e.crc);
        store_le<std::uint32_t>(h, e.zip64 ? 0xffffffffu : static_cast<std::uint32_t>(e.csize));
        store_le<std::uint32_t>(h, e.zip64 ? 0xffffffffu : static_cast<std::uint32_t>(e.usize));
        store_le<std::uint16_t>(h, static_cast<std::uint16_t>(e.name.size()));
        store_le<std::uint16_t>(h, e.zip64 ? 20 : 0);
        h += e.name;
        if (e.zip64) {
            store_le<std::uint16_t>(h, zip64_extra_id);
            store_le<std::uint16_t>(h, 16);
            store_le<std::uint64_t>(h, e.usize);
            store_le<std::uint64_t>(h, e.csize);
        }
        put(h);
        put(payload);
        entries_.push_back(std::move(e));
    }

    void finish() {
        const std::uint64_t cd_offset = offset_;
        for (const auto& e : entries_) {
            const bool big_u = e.zip64, big_c = e.zip64, big_o = force64_ || e.offset >= 0xffffffffu;
            std::string x;
            if (big_u || big_c || big_o) {
                store_le<std::uint16_t>(x, zip64_extra_id);
                store_le<std::uint16_t>(x, static_cast<std::uint16_t>(8 * (int(big_u) + int(big_c) + int(big_o))));
                if (big_u) store_le<std::uint64_t>(x, e.usize);
                if (big_c) store_le<std::uint64_t>(x, e.csize);
                if (big_o) store_le<std::uint64_t>(x, e.offset);
            }
            std::string h;
            store_le<std::uint32_t>(h, zip_central_sig);
            store_le<std::uint16_t>(h, 0x0300 | 45); // made by: unix, spec 4.5
            store_le<std::uint16_t>(h, x.empty() ? 20 : 45);
            store_le<std::uint16_t>(h, e.flags);
            store_le<std::uint16_t>(h, e.method);
            store_le<std::uint16_t>(h, 0);
            store_le<std::uint16_t>(h, 0x0021);
            store_le<std::uint32_t>(h, e.crc);
            store_le<std::uint32_t>(h, big_c ? 0xffffffffu : static_cast<std::uint32_t>(e.csize));
            store_le<std::uint32_t>(h, big_u ? 0xffffffffu : static_cast<std::uint32_t>(e.usize));
            store_le<std::uint16_t>(h, static_cast<std::uint16_t>(e.name.size()));
            store_le<std::uint16_t>(h, static_cast<std::uint16_t>(x.size()));
            store_le<std::uint16_t>(h, 0); // comment
            store_le<std::uint16_t>(h, 0); // disk
            store_le<std::uint16_t>(h, 0); // internal attributes
            store_le<std::uint32_t>(h, 0100644u << 16);
            store_le<std::uint32_t>(h, big_o ? 0xffffffffu : static_cast<std::uint32_t>(e.offset));
            h += e.name;
            h += x;
            put(h);
        }
        const std::uint64_t cd_size = offset_ - cd_offset, n = entries_.size();
        std::string t;
        const bool z64 = force64_ || n >= 0xffff || cd_offset >= 0xffffffffu || cd_size >= 0xffffffffu;
        if (z64) {
            const std::uint64_t rec = offset_;
            store_le<std::uint32_t>(t, zip64_eocd_sig);
            store_le<std::uint64_t>(t, 44);
            store_le<std::uint16_t>(t, 0x0300 | 45);
            store_le<std::uint16_t>(t, 45);
            store_le<std::uint32_t>(t, 0);
            store_le<std::uint32_t>(t, 0);
            store_le<std::uint64_t>(t, n);
            store_le<std::uint64_t>(t, n);
            store_le<std::uint64_t>(t, cd_size);
            store_le<std::uint64_t>(t, cd_offset);
            store_le<std::uint32_t>(t, zip64_locator_sig);
            store_le<std::uint32_t>(t, 0);
            store_le<std::uint64_t>(t, rec);
            store_le<std::uint32_t>(t, 1);
        }
        store_le<std::uint32_t>(t, zip_eocd_sig);
        store_le<std::uint16_t>(t, 0);
        store_le<std::uint16_t>(t, 0);
        store_le<std::uint16_t>(t, z64 ? 0xffff : static_cast<std::uint16_t>(n));
        store_le<std::uint16_t>(t, z64 ? 0xffff : static_cast<std::uint16_t>(n));
        store_le<std::uint32_t>(t, z64 ? 0xffffffffu : static_cast<std::uint32_t>(cd_size));
        store_le<std::uint32_t>(t, z64 ? 0xffffffffu : static_cast<std::uint32_t>(cd_offset));
        store_le<std::uint16_t>(t, 0);
        put(t);
    }

private:
    struct entry {
        std::string name;
        std::uint32_t crc = 0;
        std::uint64_t usize = 0, csize = 0, offset = 0;
        std::uint16_t method = 0, flags = 0;
        bool zip64 = false;
    };

    static std::string deflate_bytes(std::span<const std::byte> data, int level) {
        z_stream zs{};
        if (::deflateInit2(&zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw argument_error(concat("zlib deflateInit2 failed (compression level ", level, " must be 0..9 or -1)"));
        struct guard {
            z_stream* z;
            ~guard() { ::deflateEnd(z); }
        } g{&zs};
        std::string out;
        const std::byte* in = data.data();
        std::size_t left = data.size();
        char chunk[65536];
        int ret = Z_OK;
        do {
            const auto ai = static_cast<uInt>(std::min<std::size_t>(left, UINT_MAX));
            zs.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in));
            zs.avail_in = ai;
            const int flush = ai == left ? Z_FINISH : Z_NO_FLUSH;
            do {
                zs.next_out = reinterpret_cast<Bytef*>(chunk);
                zs.avail_out = sizeof(chunk);
                ret = ::deflate(&zs, flush);
                if (ret == Z_STREAM_ERROR) throw io_error("zlib deflate failed");
                out.append(chunk, sizeof(chunk) - zs.avail_out);
            } while (zs.avail_out == 0);
            in += ai;
            left -= ai;
        } while (ret != Z_STREAM_END);
        return out;
    }

    void put(std::span<const std::byte> b) {
        file_.write(b);
        offset_ += b.size();
    }
    void put(const std::string& s) { put(std::as_bytes(std::span<const char>(s.data(), s.size()))); }

    atomic_file& file_;
    bool force64_;
    std::uint64_t offset_ = 0;
    std::vector<entry> entries_;
};

} // namespace attnscope::io::detail
