/* stats.h: percentiles of a sample, for the benchmark programs. */
#ifndef ECSHOT_BENCH_STATS_H
#define ECSHOT_BENCH_STATS_H

#include <stdlib.h>

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0..100) of v[0..n); sorts v in place. */
static inline double percentile(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    int rank = (int)(p / 100.0 * n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

#endif
