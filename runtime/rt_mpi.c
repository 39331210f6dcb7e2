/* rt_mpi.c — bootstrap under mpirun/srun. MPI carries exactly two things: the driver's
 * TCP address and the job secret (rt_tcp.c), broadcast from rank 0. When every rank runs
 * on one host, all listeners stay on 127.0.0.1; only a multi-node launch listens on an
 * external interface (still authenticated by the secret). It is finalized right after, so no data can ever
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
    MPI_Comm node;
    int local = 0;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    if (local == rt->nranks) /* one host: nothing needs to listen beyond loopback */
        rt_fmt(rt->host, sizeof rt->host, "127.0.0.1");
    /* addr, then the secret; a failed getrandom on rank 0 sends an empty address */
    char addr[64 + RT_SECRET_LEN] = {0};
    if (rt->rank == 0 && rt_tcp_secret_init() == 0) {
        rt->lfd = rt_tcp_listen(rt->host, rt->laddr, sizeof rt->laddr);
        if (rt->lfd >= 0) {
            rt_fmt(addr, 64, "%s", rt->laddr);
            memcpy(addr + 64, rt_tcp_secret(), RT_SECRET_LEN);
        }
    }
    MPI_Bcast(addr, sizeof addr, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    if (!addr[0])
        return DAFT_ESYS;
    rt_fmt(rt->laddr, sizeof rt->laddr, "%s", addr);
    rt_tcp_secret_set((const uint8_t *)addr + 64);
    return 0;
}
