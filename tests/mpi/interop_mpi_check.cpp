// tests/mpi/interop_mpi_check.cpp - attnscope/interop/mpi.hpp under mpirun (tests/interop_mpi.cmake):
// reduce / allreduce of accumulators equal one process's merge in rank order (bit-identical), every
// rank holds the same bits after allreduce, and a shape mismatch throws on every rank.
#include <attnscope/interop/mpi.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace as = attnscope;

namespace {

int failures = 0;
void check(bool ok, const char* what, int rank) {
    if (!ok) {
        std::fprintf(stderr, "rank %d: FAIL: %s\n", rank, what);
        ++failures;
    }
}

/// Rank r's accumulator: cells [2, 3] fed 5 + r deterministic values each.
as::accumulator part(int r) {
    as::accumulator a({2, 3}, {{"layer", {}}, {"head", {}}}, "entropy", "nats");
    for (int i = 0; i < 5 + r; ++i)
        for (std::size_t c = 0; c < 6; ++c) a.add_value(c, std::sin(0.37 * (r * 100 + i) + static_cast<double>(c)));
    return a;
}

bool same_bits(const as::accumulator& a, const as::accumulator& b) {
    const auto x = a.serialize(), y = b.serialize();
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size()) == 0;
}

} // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    as::accumulator expected = part(0);
    for (int r = 1; r < size; ++r) expected.merge(part(r));

    as::accumulator a = part(rank);
    as::mpi::reduce(a, 0, MPI_COMM_WORLD);
    if (rank == 0) check(same_bits(a, expected), "reduce on the root equals the merge in rank order", rank);
    else check(same_bits(a, part(rank)), "reduce leaves the other ranks' accumulators alone", rank);

    as::accumulator b = part(rank);
    as::mpi::allreduce(b, MPI_COMM_WORLD);
    check(same_bits(b, expected), "allreduce: every rank holds the rank-order merge", rank);
    check(b.total_count() == expected.total_count(), "allreduce: counts", rank);

    // a rank with another shape: every rank throws
    as::accumulator c = rank == size - 1 && size > 1 ? as::accumulator({3, 3}, {{"layer", {}}, {"head", {}}}, "entropy", "nats") : part(rank);
    bool threw = false;
    try {
        as::mpi::allreduce(c, MPI_COMM_WORLD);
    } catch (const as::error& e) {
        threw = true;
        if (rank == 0) check(std::strstr(e.what(), "rank") != nullptr, "the root's message names the rank", rank);
    }
    check(threw == (size > 1), "a shape mismatch throws on every rank", rank);

    int all = failures;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Finalize();
    if (rank == 0) std::printf(all == 0 ? "interop/mpi.hpp checks passed on %d ranks\n" : "interop/mpi.hpp: %d failures\n", all == 0 ? size : all);
    return all == 0 ? 0 : 1;
}
