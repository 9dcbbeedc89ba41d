/* Time loops under binomial checkpointing, C: a for loop whose trip count
   is an argument, a body calling a step routine, a state array and a
   running cost. */
#include <stdio.h>
#include <math.h>

#define N 6

void step(double u[N], double v[N], double dt)
{
    int i;
    double f[N];
    for (i = 0; i < N; i++)
        f[i] = -u[i] * fabs(u[i]) * 0.3 + 0.05 * (u[(i + 1) % N] - u[i]);
    for (i = 0; i < N; i++) {
        v[i] += dt * f[i];
        u[i] += dt * v[i];
    }
}

void run(double u[N], double v[N], int nt, double c, double *cost)
{
    int k;
    double w;
    *cost = 0.0;
    // $AD BINOMIAL-CKP 3
    for (k = 0; k < nt; k++) {
        step(u, v, 0.1 * (1.0 + 0.01 * k));
        w = u[1] * c;
        *cost += w * w + sin(v[2]) * c;
    }
    *cost += u[0] * v[0];
}

int main(void)
{
    double u[N], v[N], cost;
    int i;
    for (i = 0; i < N; i++) {
        u[i] = 0.3 * i - 0.5;
        v[i] = 0.1 * (6 - i);
    }
    run(u, v, 17, 0.7, &cost);
    printf("%.15e %.15e\n", cost, u[0]);
    return 0;
}
