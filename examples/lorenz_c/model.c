/* Lorenz system integrated by classical fourth-order Runge-Kutta: the C
   model of README's C example (adtool differentiates integrate). Pointer
   parameters used as vectors, a scalar result through a pointer. */
#include <stdio.h>

static void rhs(const double *y, double *dy, double sigma, double rho, double beta)
{
    dy[0] = sigma * (y[1] - y[0]);
    dy[1] = y[0] * (rho - y[2]) - y[1];
    dy[2] = y[0] * y[1] - beta * y[2];
}

void rk4_step(double *y, double h, double rho)
{
    double k1[3], k2[3], k3[3], k4[3], t[3];
    int i;
    rhs(y, k1, 10.0, rho, 8.0 / 3.0);
    for (i = 0; i < 3; i++) t[i] = y[i] + 0.5 * h * k1[i];
    rhs(t, k2, 10.0, rho, 8.0 / 3.0);
    for (i = 0; i < 3; i++) t[i] = y[i] + 0.5 * h * k2[i];
    rhs(t, k3, 10.0, rho, 8.0 / 3.0);
    for (i = 0; i < 3; i++) t[i] = y[i] + h * k3[i];
    rhs(t, k4, 10.0, rho, 8.0 / 3.0);
    for (i = 0; i < 3; i++)
        y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
}

void integrate(double *y, double rho, int nsteps, double *zmax)
{
    int n;
    *zmax = y[2];
    for (n = 0; n < nsteps; n++) {
        rk4_step(y, 0.01, rho);
        if (y[2] > *zmax) *zmax = y[2];
    }
}

