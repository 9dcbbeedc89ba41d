/* Two binomial loops nested in one routine (both directive spellings of C);
   the inner one with a single snapshot. */
#include <stdio.h>
#include <math.h>
void run(double u[4], int nt, int ns, double *cost)
{
    int k, j, i;
    double acc = 0.0;
    #pragma ad BINOMIAL-CKP 2
    for (k = 0; k < nt; k++) {
        // $AD BINOMIAL-CKP 1
        for (j = 0; j < ns; j++) {
            for (i = 0; i < 4; i++)
                u[i] = u[i] + 0.1 * sin(u[(i + 1) % 4]) * (1.0 + 0.01 * j);
        }
        acc += u[0] * u[0];
        for (i = 0; i < 3; i++)
            acc += 0.0;
    }
    *cost = acc + u[3];
}
int main(void)
{
    double u[4] = {0.1, 0.5, -0.3, 0.7}, cost;
    int nt = 9, ns = 4;
    run(u, nt, ns, &cost);
    printf("%.15e\n", cost);
    return 0;
}
