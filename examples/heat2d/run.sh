#!/usr/bin/env bash
# heat2d: differentiate the example with adtool, build it, and check the
# gradient.  Works from any directory; needs only the installed `adtool`,
# gfortran and gcc (override with FC= and CC=).
#
#   examples/heat2d/run.sh                # default 24 x 20 grid, 60 steps
#   examples/heat2d/run.sh 64 64 400      # nx ny nsteps
#   KEEP=1 examples/heat2d/run.sh         # keep the build directory
#   MODE=split examples/heat2d/run.sh     # every call site split (default: joint)
#
# Exit status 0 if the finite-difference check (rel. error <= 1e-6) and the
# dot-product test (rel. error <= 1e-10) pass, non-zero otherwise.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
FC="${FC:-gfortran}"
CC="${CC:-gcc}"
FFLAGS="${FFLAGS:--O2}"
MODE="${MODE:-joint}"
head='simulate(cost)/(t0 kappa qsrc)'

for tool in adtool "$FC" "$CC"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: '$tool' not found on PATH" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/adtool-heat2d.XXXXXX")"
if [ "${KEEP:-0}" = "1" ]; then
  echo "build directory: $work"
else
  trap 'rm -rf "$work"' EXIT
fi
cd "$work"

# echo each command (quoted so that it can be pasted), keep its output quiet
show() {
  local a out="+"
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./=:+-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
  done
  echo "$out"
}
step() { show "$@"; "$@" >/dev/null; }

# 1. differentiate: adjoint (reverse) and tangent, then the runtime
step adtool differentiate "$here/model.f90" --head "$head" --default-mode "$MODE" -o model_b.f90
step adtool differentiate "$here/model.f90" --head "$head" --mode tangent -o model_d.f90
step adtool runtime rt

# 2. compile: runtime, the user's model (no main program), derivatives, driver
step "$CC" -O2 -c rt/adstack.c -o adstack.o
step "$FC" $FFLAGS -c rt/adstack_mod.f90 -o adstack_mod.o
step "$FC" $FFLAGS -c "$here/model.f90" -o model.o
step "$FC" $FFLAGS -c model_b.f90 -o model_b.o
step "$FC" $FFLAGS -c model_d.f90 -o model_d.o
step "$FC" $FFLAGS -c "$here/driver.f90" -o driver.o
step "$FC" $FFLAGS -o heat2d driver.o model.o model_b.o model_d.o adstack_mod.o adstack.o

# 3. run: the driver prints the checks and exits non-zero if one fails
show ./heat2d "$@"
./heat2d "$@"
