/*
 * Script-driven exerciser for adstack.c, used by tests/test_runtime.py.
 *
 * The Python test generates the operation sequence and predicts every
 * counter on its own; this driver only performs the operations and checks
 * that each pop returns, bit for bit, what the matching push stored.  The
 * pushed values are regenerated from a per-push seed at pop time, so arrays
 * of millions of elements need no saved copy.
 *
 * One operation per line:
 *   p T N SEED   push; T = d real8, f real4, i integer4, k integer8,
 *                l logical, c control; N = -1 scalar, N >= 0 array length,
 *                for c the bit width
 *   o            pop the newest push not yet popped, and verify it
 *   x T N        raw pop with no bookkeeping (to provoke underflow)
 *   y V NBITS    raw control push (to provoke range errors)
 *   q            print "q CUR PEAK TOTAL EMPTY"
 *   r / z / f    reset peak / reset counters / free the stack
 *   e S / E S    enter / exit profiling site S
 *   R / P        ad_stack_report / ad_prof_report
 *   J PATH       ad_prof_json(PATH)
 * At the end: "done ERRORS".
 */
#include "adstack.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

struct rec {
    char t;
    int64_t n;
    uint64_t seed;
};

static size_t elem_size(char t)
{
    switch (t) {
    case 'd': case 'k': return 8;
    case 'f': case 'i': return 4;
    case 'l': return 4;   /* the caller-side element is a 4-byte int */
    default: return 0;
    }
}

/* Caller-side data for a push: raw random bits, so reals include NaN
   payloads, infinities, subnormals and negative zero. Logicals are a mix
   of 0 and arbitrary nonzero ints. */
static void fill(char t, int64_t count, uint64_t seed, void *buf)
{
    int64_t j;
    uint64_t s = seed;
    for (j = 0; j < count; j++) {
        uint64_t x = splitmix(&s);
        if (t == 'd' || t == 'k') {
            memcpy((char *)buf + 8 * j, &x, 8);
        } else if (t == 'f' || t == 'i') {
            uint32_t y = (uint32_t)(x >> 32);
            memcpy((char *)buf + 4 * j, &y, 4);
        } else if (t == 'l') {
            int32_t y = (x & 3) == 0 ? 0 : (int32_t)(uint32_t)(x >> 32);
            if ((x & 3) == 1)
                y = -1;
            memcpy((char *)buf + 4 * j, &y, 4);
        }
    }
}

/* What a pop must give back: logicals come back normalised to 0/1. */
static void expected(char t, int64_t count, uint64_t seed, void *buf)
{
    int64_t j;
    fill(t, count, seed, buf);
    if (t == 'l')
        for (j = 0; j < count; j++) {
            int32_t *p = (int32_t *)buf + j;
            *p = *p != 0;
        }
}

static void *scratch(size_t bytes, int which)
{
    static void *buf[2];
    static size_t cap[2];
    if (bytes > cap[which]) {
        free(buf[which]);
        buf[which] = malloc(bytes);
        if (!buf[which]) {
            fprintf(stderr, "driver: out of memory\n");
            exit(3);
        }
        cap[which] = bytes;
    }
    return buf[which];
}

static void do_push(char t, int64_t n, uint64_t seed)
{
    int64_t count = n < 0 ? 1 : n;
    void *b;
    if (t == 'c') {
        uint64_t s = seed;
        ad_push_control((int32_t)(splitmix(&s) & ((1u << n) - 1)), (int32_t)n);
        return;
    }
    b = scratch((size_t)count * elem_size(t) + 8, 0);
    fill(t, count, seed, b);
    if (n < 0) {
        switch (t) {
        case 'd': ad_push_real8(*(double *)b); break;
        case 'f': ad_push_real4(*(float *)b); break;
        case 'i': ad_push_integer4(*(int32_t *)b); break;
        case 'k': ad_push_integer8(*(int64_t *)b); break;
        case 'l': ad_push_logical(*(int32_t *)b); break;
        }
        return;
    }
    switch (t) {
    case 'd': ad_push_real8_array((const double *)b, n); break;
    case 'f': ad_push_real4_array((const float *)b, n); break;
    case 'i': ad_push_integer4_array((const int32_t *)b, n); break;
    case 'k': ad_push_integer8_array((const int64_t *)b, n); break;
    case 'l': ad_push_logical_array((const int32_t *)b, n); break;
    }
}

/* Pops into got (scalar or array) without checking anything. */
static void do_pop(char t, int64_t n, void *got)
{
    if (t == 'c') {
        ad_pop_control((int32_t *)got, (int32_t)n);
        return;
    }
    if (n < 0) {
        switch (t) {
        case 'd': ad_pop_real8((double *)got); break;
        case 'f': ad_pop_real4((float *)got); break;
        case 'i': ad_pop_integer4((int32_t *)got); break;
        case 'k': ad_pop_integer8((int64_t *)got); break;
        case 'l': ad_pop_logical((int32_t *)got); break;
        }
        return;
    }
    switch (t) {
    case 'd': ad_pop_real8_array((double *)got, n); break;
    case 'f': ad_pop_real4_array((float *)got, n); break;
    case 'i': ad_pop_integer4_array((int32_t *)got, n); break;
    case 'k': ad_pop_integer8_array((int64_t *)got, n); break;
    case 'l': ad_pop_logical_array((int32_t *)got, n); break;
    }
}

static int check_pop(const struct rec *r, long line)
{
    int64_t count = r->n < 0 || r->t == 'c' ? 1 : r->n;
    size_t bytes = (size_t)count * (r->t == 'c' ? 4 : elem_size(r->t));
    void *got = scratch(bytes + 8, 0);
    void *want = scratch(bytes + 8, 1);
    do_pop(r->t, r->n, got);
    if (r->t == 'c') {
        uint64_t s = r->seed;
        int32_t v = (int32_t)(splitmix(&s) & ((1u << r->n) - 1));
        memcpy(want, &v, 4);
    } else {
        expected(r->t, count, r->seed, want);
    }
    if (memcmp(got, want, bytes) != 0) {
        printf("mismatch line %ld: type %c n %" PRId64 "\n", line, r->t, r->n);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    FILE *fp;
    char line[4096];
    struct rec *live = NULL;
    size_t nlive = 0, cap = 0;
    long lineno = 0, errors = 0;
    if (argc != 2 || !(fp = fopen(argv[1], "r"))) {
        fprintf(stderr, "usage: %s SCRIPT\n", argv[0]);
        return 2;
    }
    while (fgets(line, sizeof line, fp)) {
        char t = 0, path[4000];
        int64_t n = 0, a = 0;
        unsigned long long seed = 0;
        int32_t v;
        lineno++;
        switch (line[0]) {
        case 'p':
            if (sscanf(line + 1, " %c %" SCNd64 " %llu", &t, &n, &seed) != 3)
                goto bad;
            if (nlive == cap) {
                cap = cap ? 2 * cap : 1024;
                live = (struct rec *)realloc(live, cap * sizeof *live);
                if (!live)
                    return 3;
            }
            live[nlive].t = t;
            live[nlive].n = n;
            live[nlive].seed = seed;
            nlive++;
            do_push(t, n, seed);
            break;
        case 'o':
            if (nlive == 0)
                goto bad;
            errors += check_pop(&live[--nlive], lineno);
            break;
        case 'x': {
            double junk[2];
            if (sscanf(line + 1, " %c %" SCNd64, &t, &n) != 2 || (t != 'c' && n > 1))
                goto bad;
            do_pop(t, n, junk);
            break;
        }
        case 'y':
            if (sscanf(line + 1, " %" SCNd64 " %" SCNd64, &a, &n) != 2)
                goto bad;
            ad_push_control((int32_t)a, (int32_t)n);
            break;
        case 'q':
            printf("q %" PRId64 " %" PRId64 " %" PRId64 " %d\n", ad_stack_bytes(),
                   ad_stack_peak_bytes(), ad_stack_total_bytes(), ad_stack_empty());
            break;
        case 'r': ad_stack_reset_peak(); break;
        case 'z': ad_stack_reset_counters(); break;
        case 'f': ad_stack_free(); break;
        case 'e':
        case 'E':
            if (sscanf(line + 1, " %" SCNd32, &v) != 1)
                goto bad;
            if (line[0] == 'e')
                ad_prof_enter(v);
            else
                ad_prof_exit(v);
            break;
        case 'R': ad_stack_report(); break;
        case 'P': ad_prof_report(); break;
        case 'J':
            if (sscanf(line + 1, " %3999s", path) != 1)
                goto bad;
            ad_prof_json(path);
            break;
        case '\n':
        case '#':
            break;
        default:
            goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "driver: bad script line %ld: %s", lineno, line);
        return 2;
    }
    fclose(fp);
    free(live);
    printf("done %ld\n", errors);
    return errors != 0;
}
