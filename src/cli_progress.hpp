// src/cli_progress.hpp - the progress bar and the interrupt-safe runner of the attnscope tool.
//
// The work runs on a worker thread; the main thread draws the bar on stderr (only once the work
// has taken more than a second, and only when stderr is a terminal or --progress was given) and
// waits for SIGINT/SIGTERM/SIGHUP with sigtimedwait. Those signals are blocked in every thread, so
// an interrupt is handled here, in ordinary code: the caller's cleanup removes the staging
// directory and the process exits with 128 + signal, leaving no partial report behind.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

namespace attnscope::cli {

/// Shared progress of a long computation: the worker sets total and adds to done.
struct progress_state {
    std::atomic<std::int64_t> done{0};
    std::atomic<std::int64_t> total{0};
    std::mutex label_mutex;
    std::string label = "working";

    void set_stage(std::string l, std::int64_t t) {
        {
            std::lock_guard<std::mutex> lock(label_mutex);
            label = std::move(l);
        }
        done.store(0);
        total.store(t);
    }
    /// Raises `done` to d (progress callbacks may report out of order from several threads).
    void advance_to(std::int64_t d) {
        std::int64_t cur = done.load();
        while (cur < d && !done.compare_exchange_weak(cur, d)) {
        }
    }
    std::string current_label() {
        std::lock_guard<std::mutex> lock(label_mutex);
        return label;
    }
};

/// When to draw: auto = only if stderr is a terminal.
enum class progress_mode { automatic, always, never };

/// Blocks the signals the runner handles, in this thread and every thread created afterwards.
/// Call at the start of main(), before any thread exists.
inline sigset_t block_interrupt_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

namespace detail_progress {

inline void draw(std::FILE* err, bool tty, const std::string& label, std::int64_t done, std::int64_t total, double seconds,
                 int& last_decile) {
    const double frac = total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 0.0;
    if (tty) {
        constexpr int width = 30;
        const int filled = static_cast<int>(frac * width);
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.resize(width, '.');
        fmt::print(err, "\r\033[Kattnscope: {:<18} [{}] {:3.0f}% {}/{} {:.1f}s", label, bar, frac * 100.0, done, total, seconds);
    } else {
        const int decile = static_cast<int>(frac * 10.0);
        if (decile == last_decile) return;
        last_decile = decile;
        fmt::print(err, "attnscope: {} {:3.0f}% {}/{} {:.1f}s\n", label, frac * 100.0, done, total, seconds);
    }
    std::fflush(err);
}

} // namespace detail_progress

/// Runs `work` on a worker thread, drawing progress from `state` on stderr and handling the
/// blocked interrupt signals: on one, `on_interrupt` runs and the process exits with 128 + signal.
/// Rethrows whatever `work` threw.
inline void run_with_progress(progress_state& state, progress_mode mode, const sigset_t& signals,
                              const std::function<void()>& work, const std::function<void()>& on_interrupt) {
    std::exception_ptr failure;
    std::atomic<bool> finished{false};
    std::thread worker([&] {
        try {
            work();
        } catch (...) {
            failure = std::current_exception();
        }
        finished.store(true);
    });
    const bool tty = ::isatty(STDERR_FILENO) == 1;
    const bool enabled = mode == progress_mode::always || (mode == progress_mode::automatic && tty);
    const auto start = std::chrono::steady_clock::now();
    bool drawn = false;
    int last_decile = -1;
    while (!finished.load()) {
        timespec tick{0, 100'000'000}; // 100 ms
        siginfo_t info;
        const int sig = ::sigtimedwait(&signals, &info, &tick);
        if (sig > 0) {
            if (drawn && tty) std::fputs("\r\033[K", stderr);
            on_interrupt();
            std::fprintf(stderr, "attnscope: interrupted by signal %d; no output written\n", sig);
            std::fflush(stderr);
            std::_Exit(128 + sig);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (enabled && seconds >= 1.0 && !finished.load()) {
            detail_progress::draw(stderr, tty, state.current_label(), state.done.load(), state.total.load(), seconds, last_decile);
            drawn = true;
        }
    }
    worker.join();
    if (drawn && tty) {
        std::fputs("\r\033[K", stderr);
        std::fflush(stderr);
    }
    if (failure) std::rethrow_exception(failure);
}

} // namespace attnscope::cli
