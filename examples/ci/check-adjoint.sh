#!/usr/bin/env bash
# CI job: fail the build when the adjoint is wrong or the gradient changed.
#
# Copy this file into your repository and adapt the four settings below.
# It runs `adtool check` on your own program (the FILEs include the main
# program that calls the head), compares the gradient with the reference
# committed next to it, and writes a JUnit report your CI can display.
#
#   ./check-adjoint.sh              # check against the reference (CI)
#   ./check-adjoint.sh --update     # after an intended model change: new reference
#
# Exit status: 0 all checks pass; 3 a derivative check failed or the
# gradient departs from the reference (the worst entries are printed);
# 1 a compile or run failure (the build directory is kept and named);
# 2 bad input (a missing or mismatched reference, a missing compiler...).
set -euo pipefail

# ---- settings -------------------------------------------------------------
here="$(cd "$(dirname "$0")" && pwd)"
SOURCES=("$here/../heat2d/model.f90" "$here/../make/main.f90")  # your model and main program
HEAD='simulate(cost)/(t0 kappa qsrc)'                            # what to differentiate
PLAN="$here/../make/plan.toml"                                   # your checkpoint plan
REFERENCE="$here/../make/reference.json"                         # the committed reference
# ---------------------------------------------------------------------------

FC="${FC:-gfortran}"
CC="${CC:-gcc}"
FFLAGS="${FFLAGS:--O2}"
REPORT="${REPORT:-adtool-check.xml}"

command -v adtool >/dev/null || { echo "adtool not found: python3 -m pip install /path/to/adtool" >&2; exit 2; }

if [ "${1:-}" = "--update" ]; then
  exec adtool check "${SOURCES[@]}" --head "$HEAD" --checkpoint-file "$PLAN" \
       --fc "$FC" --cc "$CC" --flags="$FFLAGS" --save-reference "$REFERENCE"
fi
exec adtool check "${SOURCES[@]}" --head "$HEAD" --checkpoint-file "$PLAN" \
     --fc "$FC" --cc "$CC" --flags="$FFLAGS" --reference "$REFERENCE" --junit "$REPORT"
