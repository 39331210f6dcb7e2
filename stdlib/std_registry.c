/* std_registry.c — name → function table for the REPL and other interpreted paths.
 *
 * Kept sorted by symbol so lookup is a binary search; a test checks the order.
 */
#include <stdlib.h>
#include <string.h>

#include "std_internal.h"

#define T(name, lo, hi, sig) \
    { "daft_std_tensor_" #name, "std.tensor", #name, lo, hi, daft_std_tensor_##name, sig }

#define F(mod, name, lo, hi, sig) \
    { "daft_std_" #mod "_" #name, "std." #mod, #name, lo, hi, daft_std_##mod##_##name, sig }

static const DaftStdFn std_table[] = {
    F(env, get_i64, 2, 2, "get_i64(name: str, default: i64) -> i64"),
    F(env, get_str, 2, 2, "get_str(name: str, default: str) -> str"),
    T(add, 2, 2, "add(a: tensor | number, b: tensor | number) -> tensor"),
    T(concat, 2, 2, "concat(tensors: [tensor], dim: i64) -> tensor"),
    T(dtype, 1, 1, "dtype(t: tensor) -> str"),
    T(linear_backward, 3, 3, "linear_backward(x: tensor, w: tensor, gy: tensor) -> [tensor]"),
    T(linear_forward, 2, 2, "linear_forward(x: tensor, w: tensor) -> tensor"),
    T(linear_input_grad, 2, 2, "linear_input_grad(gy: tensor, w: tensor) -> tensor"),
    T(linear_weight_grad, 2, 2, "linear_weight_grad(x: tensor, gy: tensor) -> tensor"),
    T(matmul, 2, 2, "matmul(a: tensor, b: tensor) -> tensor"),
    T(mse, 2, 2, "mse(pred: tensor, target: tensor) -> tensor"),
    T(mse_grad, 2, 2, "mse_grad(pred: tensor, target: tensor) -> tensor"),
    T(mse_loss, 2, 2, "mse_loss(pred: tensor, target: tensor) -> f64"),
    T(mul, 2, 2, "mul(a: tensor | number, b: tensor | number) -> tensor"),
    T(numel, 1, 1, "numel(t: tensor) -> i64"),
    T(ones, 1, 2, "ones(shape: [i64], dtype = f32) -> tensor"),
    T(rand, 2, 3, "rand(shape: [i64], seed: i64, dtype = f32) -> tensor"),
    T(randn, 2, 3, "randn(shape: [i64], seed: i64, dtype = f32) -> tensor"),
    T(relu, 1, 1, "relu(t: tensor) -> tensor"),
    T(relu_backward, 2, 2, "relu_backward(y: tensor, gy: tensor) -> tensor"),
    T(sgd_update, 3, 3, "sgd_update(w: tensor, grad: tensor, lr: f64) -> tensor"),
    T(shape, 1, 1, "shape(t: tensor) -> [i64]"),
    T(slice, 4, 4, "slice(t: tensor, dim: i64, start: i64, end: i64) -> tensor"),
    T(sum, 1, 1, "sum(t: tensor) -> f64"),
    T(to_cpu, 1, 1, "to_cpu(t: tensor) -> tensor"),
    T(to_gpu, 1, 1, "to_gpu(t: tensor) -> tensor"),
    T(zeros, 1, 2, "zeros(shape: [i64], dtype = f32) -> tensor"),
    F(time, now, 0, 0, "now() -> f64"),
};
#undef T
#undef F

static int std_cmp_symbol(const void *key, const void *ent)
{
    return strcmp((const char *)key, ((const DaftStdFn *)ent)->symbol);
}

const DaftStdFn *daft_std_lookup(const char *symbol)
{
    if (!symbol)
        return NULL;
    return bsearch(symbol, std_table, sizeof std_table / sizeof std_table[0],
                   sizeof std_table[0], std_cmp_symbol);
}

const DaftStdFn *daft_std_functions(size_t *count)
{
    if (count)
        *count = sizeof std_table / sizeof std_table[0];
    return std_table;
}
