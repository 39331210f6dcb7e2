/* dp_train_ref — an independent single-process computation of examples/dp_train.daft's
 * losses: the same random inputs (libdaftstd's seeded randn, the only thing shared with
 * daft), the forward pass, MSE loss, backward pass, gradient averaging over the replicas and
 * SGD written out here in plain C loops in double precision. Prints "step S loss L" like
 * the example; run-dp-train.sh compares the two with a relative tolerance. */
#include <daft/std.h>
#include <daftrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DIM = 256, BATCH = 32, LAYERS = 2, REPLICAS = 2, STEPS = 20 };
static const double LR = 0.01;

static double *randn(int rows, int cols, int64_t seed)
{
    DaftValue args[2];
    args[0] = daft_value_list(2);
    args[0].as.list.items[0] = daft_value_i64(rows);
    args[0].as.list.items[1] = daft_value_i64(cols);
    args[1] = daft_value_i64(seed);
    DaftValue out;
    if (daft_std_tensor_randn(NULL, args, 2, &out) != 0 || out.kind != DAFT_V_TENSOR) {
        fprintf(stderr, "randn failed\n");
        exit(1);
    }
    double *d = malloc(sizeof *d * (size_t)rows * (size_t)cols);
    for (int64_t i = 0; i < (int64_t)rows * cols; i++)
        d[i] = ((const float *)out.as.tensor.data)[i];
    daft_value_free(&out);
    daft_value_free(&args[0]);
    return d;
}

/* c[m x n] = a[m x k] @ b[k x n]; ta / tb: use the transpose of a / b (stored k x m / n x k). */
static void mm(const double *a, const double *b, double *c, int m, int k, int n, int ta, int tb)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = s;
        }
}

int main(void)
{
    double *w[LAYERS], *target[REPLICAS];
    for (int l = 0; l < LAYERS; l++) {
        w[l] = randn(DIM, DIM, 7 + l);
        for (int i = 0; i < DIM * DIM; i++)
            w[l][i] = (double)(float)(w[l][i] * 0.05);  /* T.mul(randn, 0.05) is an f32 tensor */
    }
    for (int r = 0; r < REPLICAS; r++)
        target[r] = randn(BATCH, DIM, 99 + r);
    size_t act = sizeof(double) * BATCH * DIM, wsz = sizeof(double) * DIM * DIM;
    double *acts[LAYERS + 1], *g = malloc(act), *gx = malloc(act), *gw = malloc(wsz);
    double *gsum[LAYERS];
    for (int l = 0; l <= LAYERS; l++)
        acts[l] = malloc(act);
    for (int l = 0; l < LAYERS; l++)
        gsum[l] = malloc(wsz);
    for (int step = 0; step < STEPS; step++) {
        double loss_total = 0;
        for (int l = 0; l < LAYERS; l++)
            memset(gsum[l], 0, wsz);
        for (int r = 0; r < REPLICAS; r++) {
            double *x = randn(BATCH, DIM, 1000 * step + r);
            memcpy(acts[0], x, act);
            free(x);
            for (int l = 0; l < LAYERS; l++) {          /* acts[l + 1] = layer l's output */
                mm(acts[l], w[l], acts[l + 1], BATCH, DIM, DIM, 0, 0);
                if (l + 1 < LAYERS)
                    for (int i = 0; i < BATCH * DIM; i++)
                        acts[l + 1][i] = acts[l + 1][i] > 0 ? acts[l + 1][i] : 0;
            }
            double *h = acts[LAYERS], loss = 0;
            for (int i = 0; i < BATCH * DIM; i++) {
                double d = h[i] - target[r][i];
                loss += d * d;
                g[i] = 2 * d / (BATCH * DIM);           /* d loss / d h */
            }
            loss_total += loss / (BATCH * DIM);
            for (int l = LAYERS - 1; l >= 0; l--) {
                if (l + 1 < LAYERS)                     /* through the ReLU after layer l */
                    for (int i = 0; i < BATCH * DIM; i++)
                        g[i] = acts[l + 1][i] > 0 ? g[i] : 0;
                mm(acts[l], g, gw, DIM, BATCH, DIM, 1, 0);   /* gw = x^T g */
                mm(g, w[l], gx, BATCH, DIM, DIM, 0, 1);      /* gx = g w^T */
                for (int i = 0; i < DIM * DIM; i++)
                    gsum[l][i] += gw[i];
                memcpy(g, gx, act);
            }
        }
        for (int l = 0; l < LAYERS; l++)                /* allreduce(avg), then SGD */
            for (int i = 0; i < DIM * DIM; i++)
                w[l][i] -= LR * gsum[l][i] / REPLICAS;
        printf("step %d loss %.9g\n", step, loss_total / REPLICAS);
    }
    for (int l = 0; l < LAYERS; l++) {
        free(w[l]);
        free(gsum[l]);
    }
    for (int l = 0; l <= LAYERS; l++)
        free(acts[l]);
    for (int r = 0; r < REPLICAS; r++)
        free(target[r]);
    free(g);
    free(gx);
    free(gw);
    return 0;
}
