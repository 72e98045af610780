// libFuzzer target: the attnscope command's argument vectors and validity options, run in process
// (attnscope::cli::run_report) against small inputs written once: a right-padded causal batch, a
// left-padded one, a causal matrix, a row with NaN, per-layer safetensors, masks, lengths and tokens.
//
// The input is a text of arguments, one per line. "@name" stands for one of the small files below;
// when the first argument is an option, @batch is the INPUT. Every run gets "-o DIR --force
// --no-progress"; thread counts are left to the default (2 cores). A clean exit or an attnscope
// error is fine; a crash, a sanitizer report, a leak, a hang or an error the command could not word
// from its data (cli::is_internal) is a finding.
#include <attnscope/io/npy.hpp>
#include <attnscope/io/safetensors.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli_errors.hpp"
#include "cli_progress.hpp"
#include "commands.hpp"

namespace {

namespace fs = std::filesystem;
namespace as = attnscope;

struct fixture {
    fs::path dir;
    std::map<std::string, std::string> files; // @name -> path
    sigset_t signals{};

    fixture() {
        dir = fs::temp_directory_path() / ("attnscope_fuzz_cli_" + std::to_string(::getpid()));
        fs::create_directories(dir);
        signals = as::cli::block_interrupt_signals();
        const as::index_t B = 2, L = 2, H = 2, T = 4;
        // causal rows, example 1 right-padded to 3 tokens (its 4th row and key are 0)
        std::vector<float> batch(static_cast<std::size_t>(B * L * H * T * T), 0.0f), left(batch.size(), 0.0f);
        for (as::index_t b = 0; b < B; ++b)
            for (as::index_t p = 0; p < L * H; ++p)
                for (as::index_t q = 0; q < T; ++q) {
                    const as::index_t n = b == 1 ? 3 : T;
                    if (q >= n) continue;
                    for (as::index_t k = 0; k <= q; ++k) {
                        batch[static_cast<std::size_t>(((b * L * H + p) * T + q) * T + k)] = 1.0f / static_cast<float>(q + 1);
                        // left padding: example 1's tokens at positions 1..3
                        const as::index_t s = b == 1 ? 1 : 0;
                        if (q + s < T && k + s < T)
                            left[static_cast<std::size_t>(((b * L * H + p) * T + q + s) * T + k + s)] = 1.0f / static_cast<float>(q + 1);
                    }
                }
        const std::vector<as::index_t> shape{B, L, H, T, T};
        write("batch", "batch.npy", [&](const fs::path& f) { as::io::write_npy(f, batch.data(), shape); });
        write("left", "left.npy", [&](const fs::path& f) { as::io::write_npy(f, left.data(), shape); });
        std::vector<float> m{1, 0, 0, 0.5f, 0.5f, 0, 0.25f, 0.25f, 0.5f};
        const std::vector<as::index_t> s2{3, 3};
        write("causal", "causal.npy", [&](const fs::path& f) { as::io::write_npy(f, m.data(), s2); });
        m[4] = std::numeric_limits<float>::quiet_NaN();
        write("nan", "nan.npy", [&](const fs::path& f) { as::io::write_npy(f, m.data(), s2); });
        write("st", "layers.safetensors", [&](const fs::path& f) {
            as::io::safetensors_writer w(f);
            const std::vector<as::index_t> per{B, H, T, T};
            w.add("attentions.0", batch.data(), per);
            w.add("attentions.1", batch.data() + B * H * T * T, per);
            w.commit();
        });
        text("mask", "mask.json", "[[1,1,1,1],[1,1,1,0]]");
        text("lmask", "lmask.json", "[[1,1,1,1],[0,1,1,1]]");
        text("lengths", "lengths.json", "{\"key_lengths\": [4, 3]}");
        text("tokens", "tokens.json", "[\"<s>\", \"a\", \"b\", \"c\"]");
        text("bad", "bad.json", "[[1,2");
        out = (dir / "out").string();
        // the command's account goes to stdout: keep the fuzzer's output readable
        if (std::FILE* null = std::fopen("/dev/null", "w")) ::dup2(::fileno(null), 1);
    }
    template <class W>
    void write(const std::string& name, const std::string& file, W&& w) {
        w(dir / file);
        files["@" + name] = (dir / file).string();
    }
    void text(const std::string& name, const std::string& file, const std::string& body) {
        std::ofstream(dir / file) << body;
        files["@" + name] = (dir / file).string();
    }
    std::string out;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static fixture fx;
    std::vector<std::string> args;
    std::string cur;
    auto flush = [&] {
        if (cur.size() > 96) cur.resize(96);
        const auto it = fx.files.find(cur);
        args.push_back(it != fx.files.end() ? it->second : cur);
        cur.clear();
    };
    for (std::size_t i = 0; i < size && args.size() < 24; ++i) {
        const char c = static_cast<char>(data[i]);
        if (c == '\n' || c == '\0') flush();
        else cur.push_back(c);
    }
    if (!cur.empty() && args.size() < 24) flush();
    std::vector<std::string> run;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        // no output elsewhere, no help text, no thread storms
        if (a == "-o" || a == "--output" || a.rfind("--output=", 0) == 0 || a == "-j" || a.rfind("--threads", 0) == 0) {
            ++i;
            continue;
        }
        if (a.rfind("-o", 0) == 0 || a.rfind("-j", 0) == 0) continue;
        run.push_back(a);
    }
    if (run.empty() || run[0].empty() || run[0][0] == '-') run.insert(run.begin(), fx.files["@batch"]);
    run.insert(run.end(), {"-o", fx.out, "--force", "--no-progress", "--threads", "1"});
    try {
        (void)attnscope::cli::run_report(run, fx.signals);
    } catch (const std::exception& e) {
        // every error is worded from its data or by the command's own checks; a library error the
        // command could only pass through (internal_message) is a finding
        if (attnscope::cli::is_internal(e)) {
            std::fprintf(stderr, "error without data: %s\n", attnscope::cli::message_of(e).c_str());
            std::abort();
        }
    }
    return 0;
}
