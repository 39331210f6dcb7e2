/* std_rng.h — the random-number specification of randn/rand, as code (internal).
 *
 * This header is shared by the CPU library and (later) the CUDA kernels, so that both
 * produce bit-identical tensors for the same seed: it uses only integer arithmetic and the
 * IEEE double operations +, -, *, / and sqrt, each correctly rounded on both sides. The
 * transcendental functions are deliberately not libm's / CUDA's (their last-ulp results
 * differ between libraries) but fixed polynomial evaluations written out here.
 *
 * FMA contraction would change roundings, so: the CPU build compiles with
 * -ffp-contract=off, and under CUDA the operations go through __dadd_rn/__dmul_rn, which
 * the compiler never contracts. Keep every expression in the STD_DADD/STD_DMUL form.
 * The normative description is in include/daft/std.h ("random numbers").
 */
#ifndef DAFT_STD_RNG_H
#define DAFT_STD_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define STD_RNG_FN static __host__ __device__ __forceinline__
#else
#define STD_RNG_FN static inline
#endif

#if defined(__CUDA_ARCH__)
#define STD_DADD(a, b) __dadd_rn((a), (b))
#define STD_DSUB(a, b) __dsub_rn((a), (b))
#define STD_DMUL(a, b) __dmul_rn((a), (b))
#define STD_DDIV(a, b) __ddiv_rn((a), (b))
#define STD_DSQRT(a) __dsqrt_rn(a)
#else
#include <math.h>
#define STD_DADD(a, b) ((a) + (b))
#define STD_DSUB(a, b) ((a) - (b))
#define STD_DMUL(a, b) ((a) * (b))
#define STD_DDIV(a, b) ((a) / (b))
#define STD_DSQRT(a) sqrt(a)
#endif

/* Philox4x32-10 (Random123's philox4x32 with 10 rounds). */
STD_RNG_FN void std_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                                  uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* The Philox key of a seed: its 64-bit pattern split in two words. */
STD_RNG_FN void std_rng_key(int64_t seed, uint32_t key[2])
{
    uint64_t s = (uint64_t)seed;
    key[0] = (uint32_t)s;
    key[1] = (uint32_t)(s >> 32);
}

/* rand: the uniform [0,1) value of flat element i (exact in f32). */
STD_RNG_FN float std_rng_uniform(const uint32_t key[2], uint64_t i)
{
    uint64_t j = i >> 2;
    uint32_t ctr[4] = { (uint32_t)j, (uint32_t)(j >> 32), 0u, 0u };
    uint32_t x[4];
    std_philox4x32_10(ctr, key, x);
    return (float)(x[i & 3] >> 8) * 0x1p-24f;
}

/* rand into bf16 / f16: the f32 value rounded to nearest even (the 16-bit pattern h), except
 * that a value rounding up to 1.0 (bf16 0x3F80, f16 0x3C00) becomes the dtype's largest value
 * below 1 (0x3F7F = 1 - 2^-8, 0x3BFF = 1 - 2^-11), so that rand stays in [0, 1). */
STD_RNG_FN uint16_t std_rng_uniform_half(uint16_t h, int is_bf16)
{
    if (is_bf16)
        return h == 0x3F80u ? (uint16_t)0x3F7Fu : h;
    return h == 0x3C00u ? (uint16_t)0x3BFFu : h;
}

/* ln(n * 2^-32) for n in [1, 2^32], from + - * / only (see std.h for the formula). */
STD_RNG_FN double std_rng_ln_u(uint64_t n)
{
    /* n = m 2^e with m in [1, 2): e is the index of the top bit; exact. */
    int e = 63;
    while (!((n >> e) & 1u))
        e--;
    double m = STD_DMUL((double)n, 0x1p-32);
    /* scale by 2^(32-e) exactly (a power of two), so m lands in [1, 2) */
    for (int k = e; k < 32; k++)
        m = STD_DMUL(m, 2.0);
    for (int k = 32; k < e; k++)
        m = STD_DMUL(m, 0.5);
    /* centre m on 1 so the series converges fast: m in [sqrt(1/2), sqrt(2)) */
    if (m > 1.4142135623730951) {
        m = STD_DMUL(m, 0.5);
        e++;
    }
    double s = STD_DDIV(STD_DSUB(m, 1.0), STD_DADD(m, 1.0));
    double s2 = STD_DMUL(s, s);
    /* Horner over 1/(2k+1), k = 10 .. 0; |s| <= 0.1716 so the tail is below 1e-18. */
    double p = 1.0 / 21.0;
    p = STD_DADD(STD_DMUL(p, s2), 1.0 / 19.0);
    p = STD_DADD(STD_DMUL(p, s2), 1.0 / 17.0);
    p = STD_DADD(STD_DMUL(p, s2), 1.0 / 15.0);
    p = STD_DADD(STD_DMUL(p, s2), 1.0 / 13.0);
    p = STD_DADD(STD_DMUL(p, s2), 1.0 / 11.0);
    p = STD_DADD(STD_DMUL(p, s2), 1.0 / 9.0);
    p = STD_DADD(STD_DMUL(p, s2), 1.0 / 7.0);
    p = STD_DADD(STD_DMUL(p, s2), 1.0 / 5.0);
    p = STD_DADD(STD_DMUL(p, s2), 1.0 / 3.0);
    p = STD_DADD(STD_DMUL(p, s2), 1.0);
    double ln_m = STD_DMUL(STD_DMUL(2.0, s), p);
    const double ln2 = 0.69314718055994530942;
    return STD_DADD(STD_DMUL((double)(e - 32), ln2), ln_m);
}

/* sin and cos of θ in [0, π/2) by Taylor series (tails below 3e-16). */
STD_RNG_FN void std_rng_sincos_q(double t, double *sn, double *cs)
{
    double t2 = STD_DMUL(t, t);
    double s = 1.0 / 121645100408832000.0; /* 1/19! */
    s = STD_DSUB(1.0 / 355687428096000.0, STD_DMUL(s, t2));   /* 1/17! */
    s = STD_DSUB(1.0 / 1307674368000.0, STD_DMUL(s, t2));     /* 1/15! */
    s = STD_DSUB(1.0 / 6227020800.0, STD_DMUL(s, t2));        /* 1/13! */
    s = STD_DSUB(1.0 / 39916800.0, STD_DMUL(s, t2));          /* 1/11! */
    s = STD_DSUB(1.0 / 362880.0, STD_DMUL(s, t2));            /* 1/9!  */
    s = STD_DSUB(1.0 / 5040.0, STD_DMUL(s, t2));              /* 1/7!  */
    s = STD_DSUB(1.0 / 120.0, STD_DMUL(s, t2));               /* 1/5!  */
    s = STD_DSUB(1.0 / 6.0, STD_DMUL(s, t2));                 /* 1/3!  */
    s = STD_DSUB(1.0, STD_DMUL(s, t2));
    *sn = STD_DMUL(s, t);
    double c = 1.0 / 2432902008176640000.0; /* 1/20! */
    c = STD_DSUB(1.0 / 6402373705728000.0, STD_DMUL(c, t2));  /* 1/18! */
    c = STD_DSUB(1.0 / 20922789888000.0, STD_DMUL(c, t2));    /* 1/16! */
    c = STD_DSUB(1.0 / 87178291200.0, STD_DMUL(c, t2));       /* 1/14! */
    c = STD_DSUB(1.0 / 479001600.0, STD_DMUL(c, t2));         /* 1/12! */
    c = STD_DSUB(1.0 / 3628800.0, STD_DMUL(c, t2));           /* 1/10! */
    c = STD_DSUB(1.0 / 40320.0, STD_DMUL(c, t2));             /* 1/8!  */
    c = STD_DSUB(1.0 / 720.0, STD_DMUL(c, t2));               /* 1/6!  */
    c = STD_DSUB(1.0 / 24.0, STD_DMUL(c, t2));                /* 1/4!  */
    c = STD_DSUB(1.0 / 2.0, STD_DMUL(c, t2));                 /* 1/2!  */
    *cs = STD_DSUB(1.0, STD_DMUL(c, t2));
}

/* randn: the two normal values of pair j (elements 2j and 2j+1). */
STD_RNG_FN void std_rng_normal_pair(const uint32_t key[2], uint64_t j, float *z0, float *z1)
{
    uint32_t ctr[4] = { (uint32_t)j, (uint32_t)(j >> 32), 1u, 0u };
    uint32_t x[4];
    std_philox4x32_10(ctr, key, x);
    double r = STD_DSQRT(STD_DMUL(-2.0, std_rng_ln_u((uint64_t)x[0] + 1u)));
    /* φ = 2π x1/2^32 = q π/2 + θ with the quadrant q from the top two bits */
    uint32_t q = x[1] >> 30;
    double theta = STD_DMUL(STD_DMUL((double)(x[1] & 0x3FFFFFFFu), 0x1p-30),
                            1.5707963267948966);
    double s, c;
    std_rng_sincos_q(theta, &s, &c);
    double cphi, sphi;
    switch (q) {
    case 0: cphi = c; sphi = s; break;
    case 1: cphi = -s; sphi = c; break;
    case 2: cphi = -c; sphi = -s; break;
    default: cphi = s; sphi = -c; break;
    }
    *z0 = (float)STD_DMUL(r, cphi);
    *z1 = (float)STD_DMUL(r, sphi);
}

#endif /* DAFT_STD_RNG_H */
