/* Runs binomial schedules for the (steps, snaps) pairs given on the command
   line without any step body, checking the protocol as it goes (states
   restored are the ones saved, adjoints in reverse order, snapshots within
   budget), and prints "steps snaps plain recorded peak" per pair. */
#include <stdio.h>
#include <stdlib.h>
#include "adstack.h"

int main(int argc, char **argv)
{
    int i;
    for (i = 1; i + 1 < argc; i += 2) {
        int32_t l = atoi(argv[i]), s = atoi(argv[i + 1]), h, act, it;
        int64_t cur = 0, plain = 0, rec = 0, held = 0, peak = 0, next_adj = l - 1;
        int phase;
        ad_binomial_begin(l, s, -1, &h);
        for (phase = 0; phase < 2; phase++) {
            for (;;) {
                ad_binomial_next(h, &act, &it);
                if (act == 0)
                    break;
                switch (act) {
                case 1: if (it != cur) return 10; ad_push_integer8(cur); held++;
                        if (held > peak) peak = held; break;
                case 2: if (it != cur) return 11; cur++; plain++; break;
                case 3: if (it != cur) return 12; cur++; rec++; break;
                case 4: { int64_t v; ad_pop_integer8(&v); held--; if (v != it) return 13; cur = v; break; }
                case 5: if (it != next_adj) return 14; next_adj--; break;
                default: return 15;
                }
                if (phase == 0 && (act == 4 || act == 5)) return 16;
            }
            if (phase == 0 && l > 0 && cur != l) return 17;
        }
        if (next_adj != -1 || !ad_stack_empty() || peak > s) return 18;
        printf("%d %d %lld %lld %lld %lld\n", l, s, (long long)plain, (long long)rec,
               (long long)peak, (long long)ad_binomial_cost(l, s));
    }
    return 0;
}
