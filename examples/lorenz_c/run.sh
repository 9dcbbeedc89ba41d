#!/usr/bin/env bash
# lorenz_c: differentiate the C example with adtool, build it, and check the
# gradient.  Works from any directory; needs the installed `adtool` and gcc.
#
#   examples/lorenz_c/run.sh             # 200 RK4 steps
#   examples/lorenz_c/run.sh 500         # nsteps
#   MODE=split examples/lorenz_c/run.sh  # every call site split (default: joint)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
CC="${CC:-gcc}"
MODE="${MODE:-joint}"
head='integrate(y zmax)/(y rho)'
work="$(mktemp -d "${TMPDIR:-/tmp}/adtool-lorenz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

set -x
adtool differentiate "$here/model.c" --head "$head" --default-mode "$MODE" -o model_b.c
adtool differentiate "$here/model.c" --head "$head" --mode tangent -o model_d.c
adtool runtime rt
"$CC" -std=c99 -O2 -Wall -Wextra -I rt -c rt/adstack.c model_b.c model_d.c "$here/model.c" "$here/driver.c"
"$CC" -o lorenz driver.o model.o model_b.o model_d.o adstack.o -lm
{ set +x; } 2>/dev/null
./lorenz "$@"
