// tests/io_loaders_util.hpp - fixtures, byte buffers, temporary directories and error checks shared by
// the loader tests (tests/io_npy_test.cpp, io_npz_test.cpp, io_safetensors_test.cpp, io_load_test.cpp).
#pragma once

#include <attnscope/error.hpp>
#include <attnscope/io/array.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "catch.hpp"

namespace attnscope_test::loaders {

namespace fs = std::filesystem;
using bytes = std::vector<std::byte>;

/// Path of a committed fixture under tests/data/io (written by tools/make_io_fixtures.py).
inline std::string fixture(const std::string& rel) { return std::string(ATTNSCOPE_TEST_DATA) + "/io/" + rel; }

/// The value of element i (C order) of every numeric fixture: exact in float16 and bfloat16.
inline double fixture_value(std::size_t i) { return static_cast<double>(i % 29) / 16.0; }

inline bytes read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f.good());
    std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    bytes b(c.size());
    for (std::size_t i = 0; i < c.size(); ++i) b[i] = static_cast<std::byte>(c[i]);
    return b;
}

inline void write_bytes(const fs::path& path, const bytes& b) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    REQUIRE(f.good());
}

inline bytes to_bytes(const std::string& s) {
    bytes b(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) b[i] = static_cast<std::byte>(s[i]);
    return b;
}

inline std::uint64_t get_le(const bytes& b, std::size_t at, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(std::to_integer<std::uint8_t>(b.at(at + static_cast<std::size_t>(i)))) << (8 * i);
    return v;
}
inline void put_le(bytes& b, std::size_t at, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.at(at + static_cast<std::size_t>(i)) = static_cast<std::byte>((v >> (8 * i)) & 0xffu);
}

/// A fresh directory for one test, removed with everything in it at scope exit.
class temp_dir {
public:
    temp_dir() {
        static int counter = 0;
        path_ = fs::temp_directory_path() /
                ("attnscope_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    fs::path operator/(const std::string& name) const { return path_ / name; }
    const fs::path& path() const { return path_; }
    /// Number of entries in the directory (to see that failed writes leave no temporary files).
    std::size_t count() const {
        return static_cast<std::size_t>(std::distance(fs::directory_iterator(path_), fs::directory_iterator()));
    }

private:
    fs::path path_;
};

/// Exact equality of shapes and values (a function, as Catch cannot decompose xtensor's ==).
inline bool same_values(const xt::xarray<double>& a, const xt::xarray<double>& b) { return a == b; }

/// Checks every element of an array against fixture_value(i) + offset in C order.
inline void check_fixture_values(const attnscope::io::array& a, double offset = 0.0) {
    const auto x = a.to_xarray();
    REQUIRE(static_cast<attnscope::index_t>(x.size()) == a.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        INFO("element " << i << " of '" << a.name() << "'");
        REQUIRE(x.data()[i] == fixture_value(i) + offset);
    }
}

/// Runs f on a hostile input: it must either succeed or throw an attnscope::error, never anything else.
template <class F>
bool loads_or_throws_attnscope_error(F&& f) {
    try {
        f();
        return true;
    } catch (const attnscope::error&) {
        return false;
    }
}

/// Whether /usr/bin/python3 with numpy is there (the cross-checks against numpy need it).
inline bool have_numpy() {
    static const bool ok = std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
    return ok;
}

/// Runs a Python script with numpy; returns its exit status (0 = the script's checks passed).
inline int run_python(const temp_dir& dir, const std::string& script) {
    const auto path = dir / "check.py";
    {
        std::ofstream f(path);
        f << "import sys\nimport numpy as np\n" << script;
    }
    return std::system(("/usr/bin/python3 '" + path.string() + "'").c_str());
}

/// Deterministic pseudo-random bytes for mutation sweeps.
inline std::mt19937& rng() {
    static std::mt19937 g(20260401u);
    return g;
}

} // namespace attnscope_test::loaders
