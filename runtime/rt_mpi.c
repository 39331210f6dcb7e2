/* rt_mpi.c — bootstrap under mpirun/srun. MPI carries exactly one thing: the driver's
 * TCP address, broadcast from rank 0. It is finalized right after, so no data can ever
 * go through it and a dead rank cannot hang a later MPI call. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

bool rt_mpi_detect(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

int rt_mpi_bootstrap(DaftRt *rt, int *argc, char ***argv)
{
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return DAFT_ESYS;
    MPI_Comm_rank(MPI_COMM_WORLD, &rt->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &rt->nranks);
    char addr[64] = {0};
    if (rt->rank == 0) {
        rt->lfd = rt_tcp_listen(rt->host, rt->laddr, sizeof rt->laddr);
        if (rt->lfd >= 0)
            rt_fmt(addr, sizeof addr, "%s", rt->laddr);
    }
    MPI_Bcast(addr, sizeof addr, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    if (!addr[0])
        return DAFT_ESYS;
    rt_fmt(rt->laddr, sizeof rt->laddr, "%s", addr);
    return 0;
}
