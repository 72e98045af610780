// attnscope/interop/mpi.hpp - dataset statistics over MPI: reduce / allreduce of an accumulator
// across the ranks of a communicator (link attnscope::mpi).
//
// Every rank accumulates its share of the data; reduce() gathers the serialized accumulators
// (accumulator::serialize) on the root, which merges them in rank order 0, 1, ..., N-1, so the
// result is bit-identical from run to run for a given N (and within 1e-12 relative of any other
// order). allreduce() then broadcasts the root's bytes, so every rank holds the same bits.
// Accumulators must have the same shape, axis names, quantity and unit on every rank; a mismatch
// throws (on the root, naming the rank; the other ranks learn of it and throw too).
//   as::accumulator acc(grid_template);          // every rank, same shape
//   for (auto& f : my_files) acc.add(per_prompt_grid(f));
//   as::mpi::allreduce(acc, MPI_COMM_WORLD);      // every rank: the statistics of all files
#pragma once

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../reduce/accumulator.hpp"

namespace attnscope::mpi {

namespace detail {

inline void check(int rc, const char* what) {
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int n = 0;
        MPI_Error_string(rc, text, &n);
        throw io_error(attnscope::detail::concat("attnscope::mpi: ", what, " failed: ", std::string(text, static_cast<std::size_t>(n))));
    }
}

/// Gathers every rank's bytes on root (rank order); returns them on root, nothing elsewhere.
inline std::vector<std::vector<std::byte>> gather_bytes(const std::vector<std::byte>& mine, int root, MPI_Comm comm) {
    int rank = 0, size = 1;
    check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
    check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
    if (mine.size() > static_cast<std::size_t>(INT_MAX))
        throw argument_error(attnscope::detail::concat("attnscope::mpi: an accumulator of ", mine.size(), " bytes exceeds MPI's int counts"));
    int n = static_cast<int>(mine.size());
    std::vector<int> sizes(rank == root ? static_cast<std::size_t>(size) : 0);
    check(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, comm), "MPI_Gather");
    std::vector<int> offsets;
    std::vector<std::byte> all;
    if (rank == root) {
        long long total = 0;
        for (int s : sizes) {
            offsets.push_back(static_cast<int>(total));
            total += s;
            if (total > INT_MAX) throw argument_error("attnscope::mpi: the gathered accumulators exceed MPI's int counts");
        }
        all.resize(static_cast<std::size_t>(total));
    }
    check(MPI_Gatherv(mine.data(), n, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, root, comm), "MPI_Gatherv");
    std::vector<std::vector<std::byte>> out;
    if (rank == root)
        for (std::size_t r = 0; r < sizes.size(); ++r)
            out.emplace_back(all.begin() + offsets[r], all.begin() + offsets[r] + sizes[r]);
    return out;
}

/// Broadcasts whether root succeeded; false on every rank when it did not.
inline bool agree(bool ok, int root, MPI_Comm comm) {
    int flag = ok ? 1 : 0;
    check(MPI_Bcast(&flag, 1, MPI_INT, root, comm), "MPI_Bcast");
    return flag != 0;
}

} // namespace detail

/// Merges the accumulators of every rank of `comm` into `acc` on `root`, in rank order; the other
/// ranks' `acc` is left as it was. Collective: every rank of comm must call it.
///   as::mpi::reduce(acc, 0, MPI_COMM_WORLD);   // rank 0: all ranks' statistics
inline void reduce(accumulator& acc, int root, MPI_Comm comm) {
    int rank = 0;
    detail::check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
    const auto parts = detail::gather_bytes(acc.serialize(), root, comm);
    std::string failure;
    if (rank == root) {
        try {
            accumulator total = accumulator::deserialize(parts[0]);
            for (std::size_t r = 1; r < parts.size(); ++r) {
                try {
                    total.merge(accumulator::deserialize(parts[r]));
                } catch (const error& e) {
                    throw argument_error(attnscope::detail::concat("attnscope::mpi::reduce: rank ", r, ": ", e.what()));
                }
            }
            acc = std::move(total);
        } catch (const error& e) {
            failure = e.what();
        }
    }
    if (!detail::agree(failure.empty(), root, comm)) {
        if (rank == root) throw argument_error(failure);
        throw argument_error(attnscope::detail::concat("attnscope::mpi::reduce: the accumulators do not match (see rank ", root, ")"));
    }
}

/// Every rank ends with the same accumulator: reduce() on rank 0, then its bytes broadcast.
///   as::mpi::allreduce(acc, MPI_COMM_WORLD);
inline void allreduce(accumulator& acc, MPI_Comm comm) {
    reduce(acc, 0, comm);
    int rank = 0;
    detail::check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
    std::vector<std::byte> bytes;
    if (rank == 0) bytes = acc.serialize();
    long long n = static_cast<long long>(bytes.size());
    detail::check(MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, comm), "MPI_Bcast");
    if (n > INT_MAX) throw argument_error("attnscope::mpi::allreduce: the accumulator exceeds MPI's int counts");
    bytes.resize(static_cast<std::size_t>(n));
    detail::check(MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0, comm), "MPI_Bcast");
    if (rank != 0) acc = accumulator::deserialize(bytes);
}

} // namespace attnscope::mpi
