/*
 * adstack.c -- out-of-line parts of the adtool value stack (see adstack.h
 * for the contract and the byte accounting).
 *
 * Build:  cc -O2 -c adstack.c                      (normal)
 *         cc -O2 -DADSTACK_PROFILE -c adstack.c    (per-site profiling)
 *         -DADSTACK_BLOCK_BYTES=N changes the block size (tests use tiny
 *         blocks so that every value straddles a boundary sooner or later).
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c99 */
#define ADSTACK_IMPLEMENTATION
#include "adstack.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef ADSTACK_PROFILE
#include <time.h>
#endif

#ifndef ADSTACK_BLOCK_BYTES
#define ADSTACK_BLOCK_BYTES ((size_t)1 << 20)
#endif
#define BLOCK ((size_t)(ADSTACK_BLOCK_BYTES))
/* Control words live in their own blocks of about the same size. */
#define CTL_WORDS (BLOCK / 8 > 0 ? BLOCK / 8 : 1)

#if defined(__GNUC__)
#define NORETURN_ __attribute__((noreturn))
#define PRINTF_(a, b) __attribute__((format(printf, a, b)))
#else
#define NORETURN_
#define PRINTF_(a, b)
#endif

static void die(const char *fmt, ...) NORETURN_ PRINTF_(1, 2);

/* abort() rather than exit(): a debugger then stops at the faulty pop. */
static void die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("adstack: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* ---- blocks ----------------------------------------------------------- */

struct adblock {
    struct adblock *prev, *next;
    char data[];
};

/* Blocks above the current one are kept for reuse (see blk_down). */
static struct adblock *blk_up(struct adblock *b, size_t bytes)
{
    struct adblock *n = b ? b->next : NULL;
    if (n)
        return n;
    n = (struct adblock *)malloc(sizeof *n + bytes);
    if (!n)
        die("out of memory allocating a %zu-byte stack block "
            "(stack holds %" PRId64 " bytes)", bytes,
            (int64_t)(ad_stack_hot_.top - ad_stack_hot_.base) + ad_stack_hot_.off);
    n->prev = b;
    n->next = NULL;
    if (b)
        b->next = n;
    return n;
}

static struct adblock *blk_down(struct adblock *b)
{
    /* Blocks above stay allocated: an adjoint fills and drains the stack
       again and again (every time step, every joint call), and giving the
       memory back would make the next fill page-fault all of it in again.
       ad_stack_free releases everything. */
    return b->prev;
}

static void blk_free_chain(struct adblock *b)
{
    if (!b)
        return;
    while (b->next)
        b = b->next;
    while (b) {
        struct adblock *p = b->prev;
        free(b);
        b = p;
    }
}

/* ---- state ------------------------------------------------------------ */

/* Before the first block, top/base/limit all point here so that the fast
   paths' pointer differences stay within one object (and are zero). */
static char origin_[1];

struct ad_stack_hot ad_stack_hot_ = {origin_, origin_, origin_, 0, 0, 0};

/* Value bytes on the stack when the counters were last reset: the bytes
   pushed since are those popped since plus the growth since. */
static int64_t value_at_reset;
#define HOT ad_stack_hot_

static struct adblock *main_blk;   /* current block of the value stream */
static char *main_end = origin_;   /* real end of the current block */
static int64_t main_below;         /* bytes in the (full) blocks below it */

static uint64_t ctl_acc;           /* newest control bits, newest lowest */
static unsigned ctl_cnt;           /* bits held in ctl_acc, 0..63 */
static int64_t ctl_bits;           /* control bits on the stack */
static int64_t ctl_total_bits;     /* control bits pushed since reset */
static struct adblock *ctl_blk;    /* current block of full 64-bit words */
static size_t ctl_idx;             /* words used in ctl_blk */

static int64_t value_bytes(void)
{
    return main_below + (HOT.top - HOT.base);
}

/* Current bytes, control stream included (see the accounting in adstack.h). */
static int64_t cur_bytes(void)
{
    return (int64_t)(HOT.top - HOT.base) + HOT.off;
}

/* off follows main_below and the control stream's bytes (both change out
   of line only). */
static void set_off(void)
{
    HOT.off = main_below + (ctl_bits + 7) / 8;
}

static void sample_peak(void)
{
    int64_t c = cur_bytes();
    if (c > HOT.peak)
        HOT.peak = c;
}

static int64_t total_bytes(void)
{
    return HOT.popped + value_bytes() - value_at_reset + (ctl_total_bits + 7) / 8;
}

/* ---- profiling state -------------------------------------------------- */

#ifdef ADSTACK_PROFILE
struct site {
    int64_t count, peak, left, pushed;
    double time;
    int32_t depth;                 /* open activations (recursion) */
};
struct frame {
    int32_t site;
    int64_t cur0, total0, peak;
    struct timespec t0;
};
static struct site *sites;
static size_t nsites;
static struct frame *frames;
static size_t nframes, cap_frames;

/* Only the innermost frame is updated per push; exits hand the peak to
   the parent, so nesting depth does not slow pushes down. */
static void prof_note(void)
{
    if (nframes && cur_bytes() > frames[nframes - 1].peak)
        frames[nframes - 1].peak = cur_bytes();
}
#define PROF_NOTE() prof_note()
#else
#define PROF_NOTE() ((void)0)
#endif

/* ---- value stream ------------------------------------------------------ */

static void set_window(char *base, char *top)
{
    HOT.base = base;
    HOT.top = top;
    main_end = base + BLOCK;
#ifdef ADSTACK_PROFILE
    HOT.limit = base;   /* no inline push fits: every push reaches prof_note */
#else
    HOT.limit = main_end;
#endif
}

static void main_up(void)
{
    if (main_blk)
        main_below += (int64_t)BLOCK;
    main_blk = blk_up(main_blk, BLOCK);
    set_window(main_blk->data, main_blk->data);
    set_off();
}

static void main_down(void)
{
    main_blk = blk_down(main_blk);
    main_below -= (int64_t)BLOCK;
    set_window(main_blk->data, main_blk->data + BLOCK);
    set_off();
}

void ad_stack_push_bytes(const void *p, size_t n)
{
    const char *src = (const char *)p;
    while (n > 0) {
        size_t room = (size_t)(main_end - HOT.top);
        if (room == 0) {
            main_up();
            continue;
        }
        if (room > n)
            room = n;
        memcpy(HOT.top, src, room);
        HOT.top += room;
        src += room;
        n -= room;
    }
    PROF_NOTE();
}

void ad_stack_pop_bytes(void *p, size_t n)
{
    int64_t have = value_bytes();
    char *dst;
    if ((uint64_t)n > (uint64_t)have) {
        if (have == 0)
            die("pop of %zu bytes from an empty stack "
                "(more pops than pushes)", n);
        die("pop of %zu bytes but the stack holds only %" PRId64
            " value bytes (more pops than pushes, or a pop of another "
            "type than was pushed)", n, have);
    }
    if (n == 0)
        return;
    sample_peak();
    HOT.popped += (int64_t)n;
    /* Fill from the end: the newest bytes are the tail of the value. */
    dst = (char *)p + n;
    while (n > 0) {
        size_t avail = (size_t)(HOT.top - HOT.base);
        if (avail == 0) {
            main_down();
            continue;
        }
        if (avail > n)
            avail = n;
        HOT.top -= avail;
        dst -= avail;
        memcpy(dst, HOT.top, avail);
        n -= avail;
    }
}

/* ---- arrays ------------------------------------------------------------ */

static size_t array_bytes(int64_t n, size_t elem, const char *fn)
{
    if (n < 0 || (uint64_t)n > SIZE_MAX / elem)
        die("%s: invalid element count %" PRId64, fn, n);
    return (size_t)n * elem;
}

void ad_stack_push_array_(void *a, int64_t n, size_t elem, const char *fn)
{
    ad_stack_push_bytes(a, array_bytes(n, elem, fn));
}

void ad_stack_pop_array_(void *a, int64_t n, size_t elem, const char *fn)
{
    ad_stack_pop_bytes(a, array_bytes(n, elem, fn));
}

/* The external definitions of the real and integer array push/pop come
   from adstack.h (ADSTACK_IMPLEMENTATION). */

/* Logicals shrink 4 -> 1 byte through a small buffer; the value stream is
   contiguous, so chunking the push one way and the pop another is fine. */
#define LCHUNK 4096

void ad_push_logical_array(const int32_t *a, int64_t n)
{
    unsigned char buf[LCHUNK];
    size_t left = array_bytes(n, 1, "ad_push_logical_array");
    while (left > 0) {
        size_t k = left < LCHUNK ? left : LCHUNK, i;
        for (i = 0; i < k; i++)
            buf[i] = (unsigned char)(a[i] != 0);
        ad_stack_push_bytes(buf, k);
        a += k;
        left -= k;
    }
}

void ad_pop_logical_array(int32_t *a, int64_t n)
{
    unsigned char buf[LCHUNK];
    size_t left = array_bytes(n, 1, "ad_pop_logical_array");
    while (left > 0) {
        size_t k = left < LCHUNK ? left : LCHUNK, i;
        ad_stack_pop_bytes(buf, k);
        left -= k;
        for (i = 0; i < k; i++)
            a[left + i] = buf[i];
    }
}

void ad_push_characters(const char *a, int64_t n)
{
    ad_stack_push_bytes(a, array_bytes(n, 1, "ad_push_characters"));
}

void ad_pop_characters(char *a, int64_t n)
{
    ad_stack_pop_bytes(a, array_bytes(n, 1, "ad_pop_characters"));
}

/* ---- control bits ------------------------------------------------------- */

static void ctl_push_word(uint64_t w)
{
    if (!ctl_blk || ctl_idx == CTL_WORDS) {
        ctl_blk = blk_up(ctl_blk, CTL_WORDS * 8);
        ctl_idx = 0;
    }
    memcpy(ctl_blk->data + ctl_idx * 8, &w, 8);
    ctl_idx++;
}

static uint64_t ctl_pop_word(void)
{
    uint64_t w;
    if (ctl_idx == 0) {
        ctl_blk = blk_down(ctl_blk);
        ctl_idx = CTL_WORDS;
    }
    ctl_idx--;
    memcpy(&w, ctl_blk->data + ctl_idx * 8, 8);
    return w;
}

static void check_control(const char *fn, int32_t v, int32_t nbits, int push)
{
    if (nbits < 1 || nbits > 8)
        die("%s: nbits = %" PRId32 " outside 1..8", fn, nbits);
    if (push && (v < 0 || v >= (1 << nbits)))
        die("%s: value %" PRId32 " does not fit in %" PRId32 " bits",
            fn, v, nbits);
}

/* Records are packed back to back with no padding: when the accumulator
   would overflow, the record's high bits complete the current word and its
   low bits start the next one. */
void ad_push_control(int32_t v, int32_t nbits)
{
    unsigned n, k;
    uint64_t u = (uint64_t)(uint32_t)v;
    check_control("ad_push_control", v, nbits, 1);
    n = (unsigned)nbits;
    ctl_bits += n;
    ctl_total_bits += n;
    set_off();
    if (ctl_cnt + n < 64) {
        ctl_acc = (ctl_acc << n) | u;
        ctl_cnt += n;
    } else {
        k = 64 - ctl_cnt;                       /* 1..n bits still fit */
        ctl_push_word((ctl_acc << k) | (u >> (n - k)));
        ctl_cnt = n - k;
        ctl_acc = u & ((UINT64_C(1) << ctl_cnt) - 1);
    }
    PROF_NOTE();
}

void ad_pop_control(int32_t *v, int32_t nbits)
{
    unsigned n, m;
    check_control("ad_pop_control", 0, nbits, 0);
    n = (unsigned)nbits;
    if ((int64_t)n > ctl_bits)
        die("ad_pop_control: pop of %u bits but the control stream holds "
            "%" PRId64 " (more pops than pushes)", n, ctl_bits);
    sample_peak();
    ctl_bits -= n;
    set_off();
    if (ctl_cnt >= n) {
        *v = (int32_t)(ctl_acc & ((UINT64_C(1) << n) - 1));
        ctl_acc >>= n;
        ctl_cnt -= n;
    } else {
        uint64_t w = ctl_pop_word();
        m = n - ctl_cnt;                        /* bits taken from w */
        *v = (int32_t)(((w & ((UINT64_C(1) << m) - 1)) << ctl_cnt) | ctl_acc);
        ctl_acc = w >> m;
        ctl_cnt = 64 - m;
    }
}

/* ---- statistics ---------------------------------------------------------- */

int64_t ad_stack_bytes(void)
{
    return cur_bytes();
}

int64_t ad_stack_peak_bytes(void)
{
    sample_peak();
    return HOT.peak;
}

int64_t ad_stack_total_bytes(void)
{
    return total_bytes();
}

void ad_stack_reset_peak(void)
{
    HOT.peak = cur_bytes();
}

void ad_stack_reset_counters(void)
{
    HOT.popped = 0;
    value_at_reset = value_bytes();
    ctl_total_bits = 0;
    HOT.peak = cur_bytes();
}

void ad_stack_report(void)
{
    sample_peak();
    printf("adstack: current %" PRId64 " B, peak %" PRId64 " B, pushed %"
           PRId64 " B\n", cur_bytes(), HOT.peak, total_bytes());
    fflush(stdout);
}

int ad_stack_empty(void)
{
    return cur_bytes() == 0;
}

/* Refusing a non-empty stack catches a forgotten backward sweep; the
   counters survive so that a report after freeing still makes sense. */
void ad_stack_free(void)
{
    if (cur_bytes() != 0)
        die("ad_stack_free: the stack still holds %" PRId64 " bytes "
            "(pop them first)", cur_bytes());
    blk_free_chain(main_blk);
    blk_free_chain(ctl_blk);
    main_blk = NULL;
    ctl_blk = NULL;
    ctl_idx = 0;
    ctl_acc = 0;
    ctl_cnt = 0;
    main_below = 0;
    HOT.base = HOT.top = HOT.limit = main_end = origin_;
    set_off();
}

/* ---- binomial (revolve) checkpointing schedules -------------------------- */

/*
 * A binomial loop of l iterations reversed with s snapshots: generated code
 * asks ad_binomial_next what to do next and does it (push a snapshot, run
 * one plain step, run one recording step, pop a snapshot, run one step's
 * adjoint).  The schedule is the optimal recursion
 *     rev(a, m, s): m == 1: record a, adjoint a;
 *                   else advance j plain steps, snapshot a+j (if m-j > 1),
 *                        rev(a+j, m-j, s-1), restore a, rev(a, j, s)
 * with j minimising j + t(m-j, s-1) + t(j, s); it runs t(l, s) plain steps
 * (checkpointing.md), holds at most s snapshots and has no cap on s.  The
 * recursion is kept as an explicit frame stack so that a schedule can be
 * left after its forward phase (which ends with the first recording step,
 * the last iteration's) and resumed by the backward sweep.
 */

/* Optimal number of plain steps, t(m, s) = r m - sum_{k<r} C(s+k, k). */
int64_t ad_binomial_cost(int64_t m, int64_t s)
{
    int64_t sum = 0, b = 1, r = 0;
    if (m <= 1)
        return 0;
    if (s < 1)
        die("ad_binomial_cost: %" PRId64 " steps need at least one snapshot", m);
    while (b < m) {
        sum += b;
        r++;
        b = b * (s + r) / r;      /* C(s+r, r) from C(s+r-1, r-1); b < m before */
    }
    return r * m - sum;
}

static int64_t binom_split(int64_t m, int64_t s)
{
    int64_t lo = 1, hi = m - 1;
    if (s == 1)
        return m - 1;             /* no snapshot left for the right part */
    /* j + t(m-j, s-1) + t(j, s) is convex in j: the first j where it stops
       decreasing is a minimum. */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t f0 = mid + ad_binomial_cost(m - mid, s - 1) + ad_binomial_cost(mid, s);
        int64_t f1 = mid + 1 + ad_binomial_cost(m - mid - 1, s - 1) + ad_binomial_cost(mid + 1, s);
        if (f1 >= f0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

enum { BN_DONE, BN_PUSH, BN_PLAIN, BN_RECORD, BN_POP, BN_ADJOINT };

struct bn_frame {
    int64_t a, m, s, j, k;
    int stage;
};
struct bn_sched {
    int used, backward, after_push;
    int32_t site;
    int64_t steps, snaps, plain, held, peak_held, snap_bytes, cur0;
    struct bn_frame *fr;
    size_t nfr, capfr;
};
static struct bn_sched *bn;
static size_t nbn;

/* Per loop site, profiling builds report these (see ad_prof_json). */
struct bn_site {
    int64_t count, steps, snaps, plain, peak_held, snap_bytes;
};
static struct bn_site *bn_sites;
static size_t nbn_sites;

static void bn_frame_push(struct bn_sched *q, int64_t a, int64_t m, int64_t s, int stage)
{
    if (q->nfr == q->capfr) {
        size_t n = q->capfr ? 2 * q->capfr : 16;
        struct bn_frame *f = (struct bn_frame *)realloc(q->fr, n * sizeof *f);
        if (!f)
            die("ad_binomial: out of memory");
        q->fr = f;
        q->capfr = n;
    }
    q->fr[q->nfr].a = a;
    q->fr[q->nfr].m = m;
    q->fr[q->nfr].s = s;
    q->fr[q->nfr].j = q->fr[q->nfr].k = 0;
    q->fr[q->nfr].stage = stage;
    q->nfr++;
}

void ad_binomial_begin(int32_t steps, int32_t snaps, int32_t site, int32_t *handle)
{
    size_t h;
    struct bn_sched *q;
    if (snaps < 1)
        die("ad_binomial_begin: %" PRId32 " snapshots (at least 1 is needed)", snaps);
    for (h = 0; h < nbn && bn[h].used; h++)
        ;
    if (h == nbn) {
        size_t n = nbn ? 2 * nbn : 8;
        struct bn_sched *b = (struct bn_sched *)realloc(bn, n * sizeof *b);
        if (!b)
            die("ad_binomial_begin: out of memory");
        memset(b + nbn, 0, (n - nbn) * sizeof *b);
        bn = b;
        nbn = n;
    }
    q = &bn[h];
    q->used = 1;
    q->backward = q->after_push = 0;
    q->site = site;
    q->steps = steps < 0 ? 0 : steps;
    q->snaps = snaps;
    q->plain = q->held = q->peak_held = q->snap_bytes = 0;
    q->nfr = 0;
    if (q->steps >= 1)
        bn_frame_push(q, 0, q->steps, snaps, q->steps > 1 ? -1 : 0);
    *handle = (int32_t)h;
}

static void bn_finish(struct bn_sched *q)
{
    if (q->site >= 0) {
        struct bn_site *t;
        if ((size_t)q->site >= nbn_sites) {
            size_t n = nbn_sites ? 2 * nbn_sites : 64;
            while (n <= (size_t)q->site)
                n *= 2;
            t = (struct bn_site *)realloc(bn_sites, n * sizeof *t);
            if (!t)
                die("ad_binomial: out of memory");
            memset(t + nbn_sites, 0, (n - nbn_sites) * sizeof *t);
            bn_sites = t;
            nbn_sites = n;
        }
        t = &bn_sites[q->site];
        t->count++;
        t->steps += q->steps;
        t->snaps = q->snaps;
        t->plain += q->plain;
        if (q->peak_held > t->peak_held)
            t->peak_held = q->peak_held;
        if (q->snap_bytes > t->snap_bytes)
            t->snap_bytes = q->snap_bytes;
    }
    q->used = 0;
}

/* The next action for schedule h and the (0-based) iteration it concerns;
   BN_DONE ends the forward phase (after the first recording step) and then
   the whole schedule. */
void ad_binomial_next(int32_t handle, int32_t *action, int32_t *step)
{
    struct bn_sched *q;
    if (handle < 0 || (size_t)handle >= nbn || !bn[handle].used)
        die("ad_binomial_next: no open schedule %" PRId32, handle);
    q = &bn[handle];
    if (q->after_push) {          /* what the snapshot just pushed weighs */
        int64_t b = cur_bytes() - q->cur0;
        if (b > q->snap_bytes)
            q->snap_bytes = b;
        q->after_push = 0;
    }
    *step = 0;
    for (;;) {
        struct bn_frame *f;
        if (q->nfr == 0) {
            if (!q->backward) {
                q->backward = 1;
            } else {
                bn_finish(q);
            }
            *action = BN_DONE;
            return;
        }
        f = &q->fr[q->nfr - 1];
        switch (f->stage) {
        case -1:                  /* the snapshot of iteration 0 */
            f->stage = 0;
            *action = BN_PUSH;
            *step = 0;
            break;
        case 0:
            if (f->m == 1) {
                f->stage = 5;
                *action = BN_RECORD;
                *step = (int32_t)f->a;
                return;
            }
            f->j = binom_split(f->m, f->s);
            f->k = 0;
            f->stage = 1;
            continue;
        case 1:
            if (f->k < f->j) {
                *action = BN_PLAIN;
                *step = (int32_t)(f->a + f->k++);
                q->plain++;
                return;
            }
            f->stage = 2;
            if (f->m - f->j > 1) {
                *action = BN_PUSH;
                *step = (int32_t)(f->a + f->j);
                break;
            }
            continue;
        case 2: {
            int64_t a = f->a + f->j, m = f->m - f->j, s = f->s - 1;
            f->stage = 3;
            bn_frame_push(q, a, m, s, 0);   /* may move q->fr */
            continue;
        }
        case 3:
            f->stage = 4;
            q->held--;
            *action = BN_POP;
            *step = (int32_t)f->a;
            return;
        case 4:
            f->m = f->j;
            f->stage = 0;
            if (f->j > 1) {
                *action = BN_PUSH;
                *step = (int32_t)f->a;
                break;
            }
            continue;
        case 5:
            if (!q->backward) {   /* the forward phase ends here */
                q->backward = 1;
                *action = BN_DONE;
                return;
            }
            f->stage = 6;
            *action = BN_ADJOINT;
            *step = (int32_t)f->a;
            return;
        default:                  /* 6: this frame is done */
            q->nfr--;
            continue;
        }
        /* a push: count it and weigh it at the next call */
        q->held++;
        if (q->held > q->peak_held)
            q->peak_held = q->held;
        if (q->held > q->snaps)
            die("ad_binomial_next: schedule holds %" PRId64 " snapshots, more than %" PRId64,
                q->held, q->snaps);
        q->after_push = 1;
        q->cur0 = cur_bytes();
        return;
    }
}

/* ---- profiling ------------------------------------------------------------ */

#ifdef ADSTACK_PROFILE

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A profiled build writes its profile when the program exits, without the
   user's program calling anything: to $ADTOOL_PROFILE, else
   adtool-profile.json in the working directory (interface.md).  The format
   is ad_prof_json's; `adtool check --profile` adds each site's key. */
static void prof_at_exit(void)
{
    const char *path = getenv("ADTOOL_PROFILE");
    ad_prof_json(path && *path ? path : "adtool-profile.json");
}

void ad_prof_enter(int32_t site)
{
    static int registered = 0;
    struct frame *f;
    if (!registered) {
        registered = 1;
        if (atexit(prof_at_exit) != 0)
            fprintf(stderr, "adstack: warning: cannot register the profile writer\n");
    }
    if (site < 0)
        die("ad_prof_enter: negative site id %" PRId32, site);
    if ((size_t)site >= nsites) {
        size_t n = nsites ? 2 * nsites : 64;
        struct site *s;
        while (n <= (size_t)site)
            n *= 2;
        s = (struct site *)realloc(sites, n * sizeof *s);
        if (!s)
            die("ad_prof_enter: out of memory for %zu sites", n);
        memset(s + nsites, 0, (n - nsites) * sizeof *s);
        sites = s;
        nsites = n;
    }
    if (nframes == cap_frames) {
        size_t n = cap_frames ? 2 * cap_frames : 64;
        struct frame *fr = (struct frame *)realloc(frames, n * sizeof *fr);
        if (!fr)
            die("ad_prof_enter: out of memory for %zu nested sites", n);
        frames = fr;
        cap_frames = n;
    }
    f = &frames[nframes++];
    f->site = site;
    f->cur0 = cur_bytes();
    f->total0 = total_bytes();
    f->peak = cur_bytes();             /* what is there on entry is seen inside */
    clock_gettime(CLOCK_MONOTONIC, &f->t0);
    sites[site].depth++;
}

void ad_prof_exit(int32_t site)
{
    struct frame f;
    struct site *s;
    if (nframes == 0)
        die("ad_prof_exit(%" PRId32 ") with no site open", site);
    f = frames[nframes - 1];
    if (f.site != site)
        die("ad_prof_exit(%" PRId32 ") does not match the innermost open "
            "site %" PRId32, site, f.site);
    nframes--;
    s = &sites[site];
    s->count++;
    if (f.peak > s->peak)
        s->peak = f.peak;
    s->left += cur_bytes() - f.cur0;
    s->pushed += total_bytes() - f.total0;
    /* A recursive site's inner activations lie inside the outer one, so
       only the outermost adds wall time. */
    if (--s->depth == 0)
        s->time += now_seconds() - ((double)f.t0.tv_sec + 1e-9 * (double)f.t0.tv_nsec);
    if (nframes && f.peak > frames[nframes - 1].peak)
        frames[nframes - 1].peak = f.peak;
}

void ad_prof_report(void)
{
    size_t i;
    for (i = 0; i < nsites; i++) {
        const struct site *s = &sites[i];
        if (s->count == 0)
            continue;
        printf("adstack-prof: site %zu: count %" PRId64 ", peak %" PRId64
               " B, left %" PRId64 " B, pushed %" PRId64 " B, time %.6f s\n",
               i, s->count, s->peak, s->left, s->pushed, s->time);
    }
    fflush(stdout);
}

#else /* !ADSTACK_PROFILE */

void ad_prof_enter(int32_t site)
{
    (void)site;
}

void ad_prof_exit(int32_t site)
{
    (void)site;
}

/* Says so instead of printing nothing, so that a profiling run against a
   non-profiling build is noticed. */
void ad_prof_report(void)
{
    printf("adstack-prof: profiling not compiled in "
           "(build adstack.c with -DADSTACK_PROFILE)\n");
    fflush(stdout);
}

#endif /* ADSTACK_PROFILE */

/* The stack totals are written in both builds; "profiling" tells a reader
   whether the (otherwise empty) site list can be trusted. */
void ad_prof_json(const char *path)
{
    FILE *fp;
    int to_stdout = path == NULL || strcmp(path, "-") == 0;
#ifdef ADSTACK_PROFILE
    size_t i;
    int first = 1;
#endif
    fp = to_stdout ? stdout : fopen(path, "w");
    if (!fp) {
        fflush(stdout);
        fprintf(stderr, "adstack: warning: cannot write profile to '%s'\n",
                path);
        return;
    }
    sample_peak();
    fprintf(fp, "{\"profiling\": %s, \"current_bytes\": %" PRId64
            ", \"peak_bytes\": %" PRId64 ", \"total_bytes\": %" PRId64
            ", \"sites\": [",
#ifdef ADSTACK_PROFILE
            "true",
#else
            "false",
#endif
            cur_bytes(), HOT.peak, total_bytes());
#ifdef ADSTACK_PROFILE
    for (i = 0; i < nsites; i++) {
        const struct site *s = &sites[i];
        if (s->count == 0)
            continue;
        fprintf(fp, "%s\n  {\"site\": %zu, \"count\": %" PRId64
                ", \"peak_bytes\": %" PRId64 ", \"left_bytes\": %" PRId64
                ", \"pushed_bytes\": %" PRId64 ", \"time_s\": %.9g}",
                first ? "" : ",", i, s->count, s->peak, s->left, s->pushed,
                s->time);
        first = 0;
    }
#endif
    fprintf(fp, "]");
#ifdef ADSTACK_PROFILE
    fprintf(fp, ", \"binomial\": [");
    {
        size_t k;
        int first_b = 1;
        for (k = 0; k < nbn_sites; k++) {
            const struct bn_site *b = &bn_sites[k];
            if (b->count == 0)
                continue;
            fprintf(fp, "%s\n  {\"site\": %zu, \"count\": %" PRId64
                    ", \"trip_count\": %" PRId64 ", \"snapshots\": %" PRId64
                    ", \"peak_snapshots\": %" PRId64 ", \"steps_rerun\": %" PRId64
                    ", \"snapshot_bytes\": %" PRId64 "}",
                    first_b ? "" : ",", k, b->count, b->steps, b->snaps,
                    b->peak_held, b->plain, b->snap_bytes);
            first_b = 0;
        }
    }
    fprintf(fp, "]");
#endif
    fprintf(fp, "}\n");
    if (to_stdout)
        fflush(fp);
    else if (fclose(fp) != 0)
        fprintf(stderr, "adstack: warning: error writing profile '%s'\n", path);
}
