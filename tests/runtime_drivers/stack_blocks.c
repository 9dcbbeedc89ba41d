/*
 * Block bookkeeping check for adstack.c built with ADSTACK_BLOCK_BYTES=64
 * and count_alloc.h force-included. Prints "tag MALLOCS FREES" after each
 * phase; tests/test_runtime.py holds the expected numbers and the reasons.
 */
#include "adstack.h"

#include <stdio.h>
#include <stdlib.h>

static long mallocs, frees;

void *counted_malloc(size_t n)
{
    mallocs++;
    return malloc(n);
}

void counted_free(void *p)
{
    if (p)
        frees++;
    free(p);
}

static void show(const char *tag)
{
    printf("%s %ld %ld\n", tag, mallocs, frees);
}

int main(void)
{
    double v;
    int i;
    for (i = 0; i < 8; i++)          /* exactly fills block 0 */
        ad_push_real8(i);
    show("full");
    ad_push_real8(8);                /* opens block 1 */
    for (i = 0; i < 1000; i++) {     /* cross the boundary both ways */
        ad_pop_real8(&v);
        ad_pop_real8(&v);
        ad_push_real8(7);
        ad_push_real8(8);
    }
    show("oscillate");
    for (i = 0; i < 24; i++)         /* 8 + 192 bytes: blocks 1..4 in use */
        ad_push_real8(i);
    show("grow");
    while (!ad_stack_empty())
        ad_pop_real8(&v);
    show("drain");
    ad_stack_free();
    show("free");
    ad_push_real8(1);                /* usable again after a free */
    ad_pop_real8(&v);
    show("reuse");
    return v != 1.0;
}
