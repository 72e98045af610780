// src/cli_distribute.hpp - per-file work spread over MPI ranks, folded in file order on rank 0.
//
// File i is computed on rank i % N; rank 0 receives the results and folds them in file order, so
// the outputs are bit-identical for any N (and to a run without MPI). A file that fails stops its
// rank's work; rank 0 reports the first failing file in file order (the file a single process
// would have stopped at), prints the one line and ends with status 1; the other ranks end quietly
// with 0, so that mpirun does not abort rank 0 before it has printed (quiet_failure).
// MPI is used when the command was built with ATTNSCOPE_MPI and launched by mpirun; otherwise
// this is a plain loop.
#pragma once

#include <attnscope/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#ifdef ATTNSCOPE_MPI
#include <mpi.h>
#endif

#include "cli_errors.hpp"

namespace attnscope::cli {

/// The processes of this run: one (no MPI), or the ranks of MPI_COMM_WORLD. Initializes MPI when
/// launched by mpirun (and finalises it on destruction).
class process_world {
public:
    process_world() {
#ifdef ATTNSCOPE_MPI
        if (launched_by_mpirun()) {
            int provided = 0;
            MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
            if (provided < MPI_THREAD_SERIALIZED) {
                MPI_Finalize();
                throw command_error("MPI: the library does not support MPI_THREAD_SERIALIZED");
            }
            mpi_ = true;
            MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
            MPI_Comm_size(MPI_COMM_WORLD, &size_);
        }
#endif
    }
    process_world(const process_world&) = delete;
    process_world& operator=(const process_world&) = delete;
    ~process_world() {
#ifdef ATTNSCOPE_MPI
        if (mpi_) MPI_Finalize();
#endif
    }

    int rank() const noexcept { return rank_; }
    int size() const noexcept { return size_; }
    bool root() const noexcept { return rank_ == 0; }
    bool distributed() const noexcept { return mpi_; }

    /// Every rank learns whether rank 0 succeeded at a step; non-root ranks throw quiet_failure
    /// when it did not. Rank 0 passes its failure (or nullptr) and rethrows it after telling.
    void agree(std::exception_ptr root_failure) const {
#ifdef ATTNSCOPE_MPI
        if (mpi_) {
            int ok = root_failure ? 0 : 1;
            MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
            if (!ok && !root()) throw quiet_failure();
        }
#endif
        if (root_failure) std::rethrow_exception(root_failure);
    }

    /// Runs compute(i) for the files this rank owns and, on rank 0, fold(i, result) for every i in
    /// [0, n) in order. `to_bytes` / `from_bytes` carry a result between ranks. Throws the first
    /// failing file's error on rank 0, quiet_failure on the other ranks.
    template <class R>
    void in_file_order(std::size_t n, const std::function<R(std::size_t)>& compute, const std::function<void(std::size_t, R&&)>& fold,
                       const std::function<std::vector<std::byte>(const R&)>& to_bytes,
                       const std::function<R(std::span<const std::byte>)>& from_bytes) const {
        if (!mpi_ || size_ == 1) {
            for (std::size_t i = 0; i < n; ++i) fold(i, compute(i));
            return;
        }
#ifdef ATTNSCOPE_MPI
        const auto N = static_cast<std::size_t>(size_);
        if (!root()) {
            bool failed = false;
            for (std::size_t i = static_cast<std::size_t>(rank_); i < n && !failed; i += N) {
                std::vector<std::byte> msg(1, std::byte{0});
                try {
                    const auto bytes = to_bytes(compute(i));
                    msg.insert(msg.end(), bytes.begin(), bytes.end());
                } catch (const std::exception& e) {
                    msg.assign(1, std::byte{1});
                    const std::string text = message_of(e); // the line rank 0 prints
                    for (char c : text) msg.push_back(static_cast<std::byte>(c));
                    failed = true;
                }
                MPI_Send(msg.data(), static_cast<int>(msg.size()), MPI_BYTE, 0, tag, MPI_COMM_WORLD);
            }
            int ok = 0;
            MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
            if (!ok) throw quiet_failure();
            return;
        }
        std::optional<std::string> first_error;
        std::vector<bool> stopped(N, false);
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t owner = i % N;
            if (stopped[owner]) continue;
            if (owner == 0) {
                if (first_error) continue; // nothing after the first failure is used
                try {
                    fold(i, compute(i));
                } catch (const std::exception& e) {
                    first_error = message_of(e);
                    stopped[0] = true;
                }
                continue;
            }
            MPI_Status st;
            MPI_Probe(static_cast<int>(owner), tag, MPI_COMM_WORLD, &st);
            int count = 0;
            MPI_Get_count(&st, MPI_BYTE, &count);
            std::vector<std::byte> msg(static_cast<std::size_t>(count));
            MPI_Recv(msg.data(), count, MPI_BYTE, static_cast<int>(owner), tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (msg.empty() || msg[0] != std::byte{0}) {
                stopped[owner] = true;
                if (!first_error)
                    first_error = msg.empty() ? detail::concat("MPI: rank ", owner, " sent an empty message for file ", i)
                                              : std::string(reinterpret_cast<const char*>(msg.data()) + 1, msg.size() - 1);
                continue;
            }
            if (first_error) continue;
            try {
                fold(i, from_bytes(std::span<const std::byte>(msg).subspan(1)));
            } catch (const std::exception& e) {
                first_error = message_of(e);
            }
        }
        int ok = first_error ? 0 : 1;
        MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (first_error) throw command_error(*first_error);
#endif
    }

private:
    static bool launched_by_mpirun() {
        for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
            if (std::getenv(v) != nullptr) return true;
        return false;
    }
    static constexpr int tag = 15;
    bool mpi_ = false;
    int rank_ = 0, size_ = 1;
};

} // namespace attnscope::cli
