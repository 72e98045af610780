// attnscope::mpi: interop/mpi.hpp with Open MPI's headers and library (built, not run: running
// needs mpirun).
#include <attnscope/interop/mpi.hpp>

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    attnscope::accumulator acc;
    attnscope::mpi::allreduce(acc, MPI_COMM_WORLD);
    MPI_Finalize();
    return 0;
}
