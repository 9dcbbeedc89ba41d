#!/usr/bin/env python3
"""Adjoint time / primal time of the C fixtures written in the style of the
well-known AD benchmarks (fixtures/c/real: gmm, bundle, lstm), issue 10.

Each fixture's head runs at a benchmark-like size: its file is compiled
with -O2 (its own main renamed away), the adjoint adtool generates (joint,
then split, then both again with --no-primal-outputs) is compiled apart
with -O2, and a driver times K primal calls and K adjoint calls (inputs
reset before every call, seeds set, adjoints zeroed, in both loops
alike), K chosen so the primal loop takes about
--target seconds; the median over --rounds rounds is reported, as wall
time and as the ratio of the process's CPU times (the column to read on a
loaded machine: time spent waiting for a core is not counted).

    python3 bench/c_real.py [--rounds 5] [--target 0.3] [--out bench/results.md]
                            [--tool DIR]

--tool DIR generates the adjoints with the adtool (and runtime) of another
checkout, e.g. the branch point, for before/after tables.

With --out, the table is appended to that file under its own heading.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT
if "--tool" in sys.argv:
    TOOL = Path(sys.argv[sys.argv.index("--tool") + 1]).resolve()
sys.path.insert(0, str(TOOL))

from adtool.pipeline import Options, generate          # noqa: E402
from adtool.runtime_files import install_runtime       # noqa: E402

# Per fixture: head spec, sizes, the driver's setup, one primal call, one
# adjoint call (seeds and zeroing included), reset of inputs the call changes.
CASES = {
    "gmm": dict(
        file="gmm.c", spec="gmm_objective(result)/(alphas means icf)",
        size="d = 10, k = 5, n = 1000",
        setup="""
    int d = 10, k = 5, n = 1000, icf_sz = d * (d + 1) / 2;
    double *alphas = malloc(k * sizeof(double)), *means = malloc(d * k * sizeof(double));
    double *icf = malloc(icf_sz * k * sizeof(double)), *x = malloc(d * n * sizeof(double));
    double *alphasb = calloc(k, sizeof(double)), *meansb = calloc(d * k, sizeof(double));
    double *icfb = calloc(icf_sz * k, sizeof(double));
    for (int i = 0; i < k; i++) alphas[i] = 0.3 * sin(1.0 + i);
    for (int i = 0; i < d * k; i++) means[i] = 0.5 * cos(0.7 * i);
    for (int i = 0; i < icf_sz * k; i++) icf[i] = 0.2 * sin(0.3 * i + 0.1);
    for (int i = 0; i < d * n; i++) x[i] = sin(0.37 * i) + 0.1;
    double sink = 0.0;""",
        primal="sink += gmm_objective(d, k, n, alphas, means, icf, x, 1.0, 0);",
        adjoint="""double fb = 1.0;
        gmm_objective_b(d, k, n, alphas, alphasb, means, meansb, icf, icfb, x, 1.0, 0, &fb);""",
        protos="""double gmm_objective(int, int, int, const double *, const double *, const double *,
                     const double *, double, int);
void gmm_objective_b(int, int, int, const double *, double *, const double *, double *,
                     const double *, double *, const double *, double, int, double *);"""),
    "bundle": dict(
        file="bundle.c", spec="ba_objective(reproj_err w_err)/(cams X w)",
        size="21 cameras, 2000 points, 10000 observations",
        setup="""
    int n = 21, m = 2000, p = 10000;
    double *cams = malloc(11 * n * sizeof(double)), *X = malloc(3 * m * sizeof(double));
    double *w = malloc(p * sizeof(double)), *feats = malloc(2 * p * sizeof(double));
    double *err = malloc(2 * p * sizeof(double)), *werr = malloc(p * sizeof(double));
    double *camsb = calloc(11 * n, sizeof(double)), *Xb = calloc(3 * m, sizeof(double));
    double *wb = calloc(p, sizeof(double)), *errb = malloc(2 * p * sizeof(double));
    double *werrb = malloc(p * sizeof(double));
    int *obs = malloc(2 * p * sizeof(int));
    for (int i = 0; i < 11 * n; i++) cams[i] = 0.1 * sin(1.0 + i);
    for (int c = 0; c < n; c++) { cams[11 * c + 5] = -3.0 - 0.01 * c; cams[11 * c + 6] = 1.0; }
    for (int i = 0; i < 3 * m; i++) X[i] = 0.3 * cos(0.5 * i);
    for (int i = 0; i < p; i++) { w[i] = 0.8 + 0.01 * (i % 7); obs[2 * i] = i % n; obs[2 * i + 1] = i % m; }
    for (int i = 0; i < 2 * p; i++) feats[i] = 0.2 * sin(0.7 * i);
    double sink = 0.0;""",
        primal="ba_objective(n, m, p, cams, X, w, obs, feats, err, werr); sink += err[0];",
        adjoint="""for (int i = 0; i < 2 * p; i++) errb[i] = 1.0;
        for (int i = 0; i < p; i++) werrb[i] = 1.0;
        ba_objective_b(n, m, p, cams, camsb, X, Xb, w, wb, obs, feats, err, errb, werr, werrb);""",
        protos="""void ba_objective(int, int, int, const double *, const double *, const double *,
                  const int *, const double *, double *, double *);
void ba_objective_b(int, int, int, const double *, double *, const double *, double *,
                    const double *, double *, const int *, const double *, double *, double *,
                    double *, double *);"""),
    "lstm": dict(
        file="lstm.c", spec="lstm_objective(loss)/(main_params extra_params)",
        size="2 layers, 14 features, 200 steps",
        setup="""
    int l = 2, c = 200, b = 14;
    double *mp = malloc(8 * l * b * sizeof(double)), *ep = malloc(3 * b * sizeof(double));
    double *state0 = malloc(2 * l * b * sizeof(double)), *state = malloc(2 * l * b * sizeof(double));
    double *seq = malloc(c * b * sizeof(double));
    double *mpb = calloc(8 * l * b, sizeof(double)), *epb = calloc(3 * b, sizeof(double));
    double *stateb = calloc(2 * l * b, sizeof(double));
    for (int i = 0; i < 8 * l * b; i++) mp[i] = 0.4 * sin(0.3 * i + 0.2);
    for (int i = 0; i < 3 * b; i++) ep[i] = 0.5 + 0.1 * cos(0.5 * i);
    for (int i = 0; i < 2 * l * b; i++) state0[i] = 0.1 * cos(0.7 * i);
    for (int i = 0; i < c * b; i++) seq[i] = sin(0.9 * i);
    double sink = 0.0, loss;""",
        primal="""memcpy(state, state0, 2 * l * b * sizeof(double));
        lstm_objective(l, c, b, mp, ep, state, seq, &loss); sink += loss;""",
        adjoint="""memcpy(state, state0, 2 * l * b * sizeof(double));
        double lossb = 1.0;
        lstm_objective_b(l, c, b, mp, mpb, ep, epb, state, stateb, seq, &loss, &lossb);""",
        protos="""void lstm_objective(int, int, int, const double *, const double *, double *,
                    const double *, double *);
void lstm_objective_b(int, int, int, const double *, double *, const double *, double *,
                      double *, double *, const double *, double *, double *);"""),
}

DRIVER = """#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
%(protos)s
static double clk(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static double now(void) { return clk(CLOCK_MONOTONIC); }
static double cpu(void) { return clk(CLOCK_PROCESS_CPUTIME_ID); }
int main(int argc, char **argv)
{
    int K = argc > 1 ? atoi(argv[1]) : 1;
%(setup)s
    %(primal)s
    { %(adjoint)s }
    double t0 = now(), c0 = cpu();
    for (int it = 0; it < K; it++) {
        %(primal)s
    }
    double tp = now() - t0, cp = cpu() - c0;
    t0 = now();
    c0 = cpu();
    for (int it = 0; it < K; it++) {
        %(adjoint)s
    }
    double ta = now() - t0, ca = cpu() - c0;
    printf("%%.6e %%.6e %%.6e %%.6e %%g\\n", tp, ta, cp, ca, sink);
    return 0;
}
"""


# (default mode, the head's f_b computes the primal outputs too). Without
# them (--no-primal-outputs) a joint head's forward sweep keeps only what its
# backward sweep reads: the comparison with Tapenade's adjoints, which skip
# the primal when the adjoint needs none of it (issue 13 item 4).
VARIANTS = (("joint", True), ("split", True), ("joint", False), ("split", False))


def sh(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{p.stdout}{p.stderr}")
    return p.stdout


def measure(name: str, case: dict, mode: str, primal_outputs: bool, rounds: int, target: float,
            work: Path) -> tuple[float, float, int, float]:
    src = ROOT / "fixtures" / "c" / "real" / case["file"]
    d = work / f"{name}_{mode}_{int(primal_outputs)}"
    d.mkdir(parents=True)
    install_runtime(str(d / "rt"))
    text, _ = generate(Options(files=[str(src)], head=case["spec"], mode="reverse", default_mode=mode,
                               primal_outputs=primal_outputs))
    (d / "adj.c").write_text(text)
    (d / "drv.c").write_text(DRIVER % case)
    cc = ["gcc", "-std=c99", "-O2"]
    sh(cc + ["-c", str(d / "rt" / "adstack.c"), "-o", "rt.o"], d)
    sh(cc + ["-Dmain=fixture_main", "-Wno-unknown-pragmas", "-c", str(src), "-o", "prim.o"], d)
    sh(cc + ["-I", "rt", "-c", "adj.c", "-o", "adj.o"], d)
    sh(cc + ["-c", "drv.c", "-o", "drv.o"], d)
    sh(["gcc", "-o", "bench", "drv.o", "prim.o", "adj.o", "rt.o", "-lm"], d)
    # K from the fastest of three single calls: one call timed on a loaded
    # machine can take many times its share and leave K far too small.
    tp = min(float(sh(["./bench", "1"], d).split()[0]) for _ in range(3))
    k = max(1, int(target / max(tp, 1e-7)))
    runs = []
    for _ in range(rounds):
        runs.append([float(v) for v in sh(["./bench", str(k)], d).split()[:4]])
    tp = statistics.median(r[0] for r in runs) / k
    ta = statistics.median(r[1] for r in runs) / k
    # CPU time of the process: what a loaded, shared machine disturbs least
    # (time spent waiting for a core is not counted); median of the
    # per-run ratios.
    cpu_ratio = statistics.median(r[3] / r[2] for r in runs)
    return tp, ta, k, cpu_ratio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target", type=float, default=0.3)
    ap.add_argument("--out")
    ap.add_argument("--tool", help="checkout whose adtool generates the adjoints")
    a = ap.parse_args()
    rows = ["| fixture | size | mode | calls per run | primal [s/call] | adjoint [s/call] | ratio "
            "| ratio (CPU time) |",
            "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="adtool-bench-") as tmp:
        for name, case in CASES.items():
            for mode, outputs in VARIANTS:
                tp, ta, k, cr = measure(name, case, mode, outputs, a.rounds, a.target, Path(tmp))
                label = mode if outputs else f"{mode}, no primal outputs"
                rows.append(f"| {name} | {case['size']} | {label} | {k} | {tp:.3e} | {ta:.3e} | {ta / tp:.2f} "
                            f"| {cr:.2f} |")
                print(rows[-1], flush=True)
    if a.out:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=TOOL, capture_output=True,
                             text=True).stdout.strip()
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        with open(a.out, "a") as fh:
            fh.write("\n## C fixtures in the style of the AD benchmarks (issue 10)\n\n"
                     f"Measured with `python3 bench/c_real.py --rounds {a.rounds}` (gcc -O2, medians over "
                     f"{a.rounds} runs of K calls; adtool commit {rev}; load average after: {load}).\n\n"
                     + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
