/* W8: how long planning takes as programs grow (bench/RESULTS.md records the figures).
 *
 *  1. Graphs built in memory: a pipeline of N stages (one GPU actor each, the activation
 *     passed stage to stage over NCCL) and one data-parallel training step over N replicas
 *     (forward, backward of L layers each followed by an allreduce over all replicas, then
 *     the updates), for N = 10 .. 10,000. Planning and verifying are timed separately.
 *  2. With a daftc path as argv[1]: the same shapes as generated .daft programs, timing the
 *     whole `daftc --emit-plan` (parse, check, scan, trace, plan, print).
 */
#define _GNU_SOURCE
#include <daft/plan.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { DP_LAYERS = 4 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const DaftCommHint AUTO = {DAFT_COMM_AUTO, NULL, false};

static DaftGraph *pipeline(int n) {
    DaftGraph *g = daft_graph_new("pipeline");
    int64_t dims[2] = {DAFT_DIM_DYNAMIC, 4096};
    DaftPayload act = daft_payload_tensor(DAFT_DT_F32, 2, dims);
    int v = daft_graph_add_input(g, "x", act);
    for (int i = 0; i < n; i++) {
        int a = daft_graph_add_actor(g, NULL, "Stage", 1, -1, -1);
        DaftGraphArg arg = daft_arg_value(v);
        v = daft_graph_add_task(g, a, "forward", &arg, 1, act, AUTO);
    }
    daft_graph_add_output(g, "result", v);
    return g;
}

static DaftGraph *dp_step(int n) {
    DaftGraph *g = daft_graph_new("train_step");
    int64_t dims[2] = {4096, 4096};
    DaftPayload grad = daft_payload_tensor(DAFT_DT_F32, 2, dims);
    int step = daft_graph_add_input(g, "step", daft_payload_scalar(DAFT_PAY_I64));
    int *members = malloc(sizeof(int) * (size_t)n), *vals = malloc(sizeof(int) * (size_t)n);
    int *red = malloc(sizeof(int) * (size_t)n * DP_LAYERS);
    for (int i = 0; i < n; i++) {
        members[i] = daft_graph_add_actor(g, NULL, "Replica", 1, -1, -1);
        DaftGraphArg arg = daft_arg_value(step);
        int loss = daft_graph_add_task(g, members[i], "forward", &arg, 1, daft_payload_scalar(DAFT_PAY_F64), AUTO);
        daft_graph_add_output(g, "loss", loss);
    }
    for (int l = 0; l < DP_LAYERS; l++) {
        for (int i = 0; i < n; i++) {
            DaftGraphArg arg = daft_arg_i64(DP_LAYERS - 1 - l);
            vals[i] = daft_graph_add_task(g, members[i], "backward", &arg, 1, grad, AUTO);
        }
        daft_graph_add_collective(g, DAFT_COLL_ALLREDUCE, DAFT_REDUCE_AVG, 0, members, vals, n, red + (size_t)l * n);
    }
    for (int l = 0; l < DP_LAYERS; l++)
        for (int i = 0; i < n; i++) {
            DaftGraphArg args[2] = {daft_arg_i64(DP_LAYERS - 1 - l), daft_arg_value(red[(size_t)l * n + i])};
            daft_graph_add_task(g, members[i], "update", args, 2, daft_payload_scalar(DAFT_PAY_NONE), AUTO);
        }
    free(members), free(vals), free(red);
    return g;
}

static long total_ops(const DaftPlan *p) {
    long n = 0;
    for (int a = 0; a < p->nactors; a++)
        n += p->actors[a].nops;
    return n;
}

/* Best of `reps` runs, so one-off page faults do not dominate small sizes. */
static void bench_graph(const char *what, DaftGraph *(*make)(int), int n, int reps) {
    double best_build = 1e9, best_plan = 1e9, best_verify = 1e9;
    long ops = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        DaftGraph *g = make(n);
        double t1 = now();
        DaftPlan *p;
        char err[512];
        DaftPlanOptions opt = {0};
        if (daft_plan_build(g, &opt, &p, err, sizeof err)) {
            fprintf(stderr, "%s %d: %s\n", what, n, err);
            exit(1);
        }
        double t2 = now();
        if (daft_plan_verify(p, err, sizeof err)) {
            fprintf(stderr, "%s %d: verify: %s\n", what, n, err);
            exit(1);
        }
        double t3 = now();
        ops = total_ops(p);
        best_build = t1 - t0 < best_build ? t1 - t0 : best_build;
        best_plan = t2 - t1 < best_plan ? t2 - t1 : best_plan;
        best_verify = t3 - t2 < best_verify ? t3 - t2 : best_verify;
        daft_plan_free(p);
        daft_graph_free(g);
    }
    printf("| %-10s | %6d | %8ld | %9.3f | %9.3f | %9.3f | %8.2f |\n", what, n, ops, best_build * 1e3,
           best_plan * 1e3, best_verify * 1e3, (best_plan + best_verify) * 1e9 / (double)ops);
}

static void write_program(const char *path, const char *kind, int n) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fprintf(f, "import std.tensor as T;\nimport std.collective as collective;\n\n");
    if (strcmp(kind, "pipeline") == 0) {
        fprintf(f, "actor Stage(gpus = 1) {\n    @hint(tensor<f32, [?, 4096]>, comm = nccl)\n"
                   "    extern fn forward(x: tensor<f32>) -> tensor<f32> = \"stage_forward\";\n}\n\n"
                   "compiled schedule pp(stages: [Stage], x: tensor<f32>) -> Ref<tensor<f32>> {\n"
                   "    let h = stages[0].forward(x);\n"
                   "    for i in 1..len(stages) { h = stages[i].forward(h); }\n    return h;\n}\n\n"
                   "fn main() {\n    let stages = [spawn Stage() for s in 0..%d];\n"
                   "    print(T.sum(get(pp(stages, T.randn([8, 4096], 1)))));\n}\n", n);
    } else {
        fprintf(f, "actor Replica(gpus = 1) {\n    extern fn forward(step: i64) -> f64 = \"fw\";\n"
                   "    @hint(tensor<f32, [4096, 4096]>, comm = nccl)\n"
                   "    extern fn backward(l: i64) -> tensor<f32> = \"bw\";\n"
                   "    extern fn update(l: i64, g: tensor<f32>) = \"up\";\n}\n\n"
                   "compiled schedule step(rs: [Replica], comm: Comm, s: i64) -> [Ref<f64>] {\n"
                   "    let losses = [r.forward(s) for r in rs];\n"
                   "    let grads = [collective.allreduce([r.backward(%d - 1 - k) for r in rs], comm, op = avg) for k in 0..%d];\n"
                   "    for k in 0..%d { for i in 0..len(rs) { rs[i].update(%d - 1 - k, grads[k][i]); } }\n"
                   "    return losses;\n}\n\n"
                   "fn main() {\n    let rs = [spawn Replica() for r in 0..%d];\n"
                   "    let comm = collective.init(rs);\n    print(get(step(rs, comm, 0)));\n}\n",
                DP_LAYERS, DP_LAYERS, DP_LAYERS, DP_LAYERS, n);
    }
    fclose(f);
}

static void bench_daftc(const char *daftc, const char *kind, int n) {
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "/tmp/daft_w8_%s_%d.daft", kind, n);
    write_program(path, kind, n);
    snprintf(cmd, sizeof cmd, "%s --emit-plan %s > /dev/null", daftc, path);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        int rc = system(cmd);
        double t = now() - t0;
        if (rc != 0) {
            printf("| %-10s | %6d | daftc failed (exit %d) |\n", kind, n, rc);
            return;
        }
        best = t < best ? t : best;
    }
    printf("| %-10s | %6d | %10.3f |\n", kind, n, best);
    remove(path);
}

int main(int argc, char **argv) {
    static const int sizes[] = {10, 100, 1000, 10000};
    printf("W8 planner (graphs in memory; best of 3; ns/op = (plan + verify) per op)\n\n");
    printf("| workload   | actors |      ops |  graph ms |   plan ms | verify ms |   ns/op |\n");
    printf("|------------|--------|----------|-----------|-----------|-----------|---------|\n");
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        bench_graph("pipeline", pipeline, sizes[i], 3);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        bench_graph("dp step", dp_step, sizes[i], 3);
    if (argc < 2)
        return 0;
    printf("\nW8 daftc --emit-plan on generated programs (whole compiler run; best of 3)\n\n");
    printf("| workload   | actors |  seconds   |\n|------------|--------|------------|\n");
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        bench_daftc(argv[1], "pipeline", sizes[i]);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        bench_daftc(argv[1], "dp", sizes[i]);
    return 0;
}
