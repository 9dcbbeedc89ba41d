"""The per-call-site profile `adtool check --profile P` writes (and that
`adtool plan optimize` reads).

A profiled build (differentiate --profile, runtime compiled with
-DADSTACK_PROFILE) writes, at program exit, the runtime's JSON to
$ADTOOL_PROFILE (default adtool-profile.json):

    {"profiling": true, "current_bytes": N, "peak_bytes": N, "total_bytes": N,
     "sites": [{"site": id, "count": n, "peak_bytes": n, "left_bytes": n,
                "pushed_bytes": n, "time_s": t}, ...]}

Site ids come from the generated code; `<output>.sites.json` (written by
differentiate --profile) maps them to call sites: for a call site with id
k, k is its forward-sweep call, k+1 what the caller pushes just before it
(its recording of what the call overwrites, and when joint the snapshot;
part "snapshot" whatever the mode),
k+2 its adjoint call with the caller's pops after it, k+3 (inside k+2,
joint calls only) what of the recording the caller pushes back for the
duration of the adjoint (a value both recorded and snapshotted that f_b
may write; one f_b leaves alone is popped once and not pushed back).
`adtool check --profile P` writes the same document with those two joined:
every runtime entry gains "key" (the call site, "caller/callee#k" as in plan
files) and "part" ("forward" | "snapshot" | "adjoint"), and the document
gains "call_sites" (the .sites.json list: key, id, mode, caller, callee),
"ids" (the id rule above), "head", and the check's "adjoint_time_s" and
"primal_time_s".  Existing fields are never renamed.  `adtool plan
optimize --profile-data` takes such documents directly (one all-split and
one all-joint run).
"""
from __future__ import annotations

import json
from typing import Optional

from ..diagnostics import AdError, UNSUPPORTED
from ..output import write_atomic

PARTS = ("forward", "snapshot", "adjoint", "held")
IDS = ("id = forward-sweep call, id+1 = what the caller pushes before it (its recording "
       "of what the call overwrites, and the snapshot when joint), id+2 = adjoint call "
       "with the caller's pops after it, id+3 (inside id+2, joint only) = what of the "
       "recording the caller pushes back for the adjoint's duration")


def call_site_table(profile_sites: dict) -> list[dict]:
    """The .sites.json list, ordered by id."""
    return [dict(key=k, **v) for k, v in sorted(profile_sites.items(), key=lambda kv: kv[1]["id"])]


def merge_profile(runtime_json: str, profile_sites: Optional[dict], out: str, head: str,
                  adjoint_s: Optional[float] = None, primal_s: Optional[float] = None) -> None:
    try:
        with open(runtime_json) as fh:
            doc = json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        raise AdError(f"the profiled check program wrote no readable profile at exit "
                      f"({runtime_json}: {e})", None, UNSUPPORTED) from None
    table = call_site_table(profile_sites or {})
    by_id = {}
    for row in table:
        for k, part in enumerate(PARTS):
            by_id[row["id"] + k] = (row["key"], part)
    for s in doc.get("sites", []):
        key, part = by_id.get(s.get("site"), (None, None))
        if key is not None:
            s["key"] = key
            s["part"] = part
    doc["head"] = head
    doc["ids"] = IDS
    doc["call_sites"] = table
    if adjoint_s is not None:
        doc["adjoint_time_s"] = adjoint_s     # the profiled adjoint call's time
    if primal_s is not None:
        doc["primal_time_s"] = primal_s
    write_atomic(out, json.dumps(doc, indent=1) + "\n")
