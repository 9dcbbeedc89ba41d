"""Locating and copying the runtime library that ships with adtool."""
from __future__ import annotations

import os
import shutil
from importlib import resources

RUNTIME_FILES = ("adstack.h", "adstack.c", "adstack_mod.f90")


def runtime_dir() -> str:
    return str(resources.files("adtool") / "runtime")


def install_runtime(dest: str) -> list[str]:
    if os.path.exists(dest) and not os.path.isdir(dest):
        from .diagnostics import bad_input
        raise bad_input(f"'{dest}' exists and is not a directory")
    os.makedirs(dest, exist_ok=True)
    out = []
    for name in RUNTIME_FILES:
        src = os.path.join(runtime_dir(), name)
        dst = os.path.join(dest, name)
        shutil.copyfile(src, dst)
        out.append(dst)
    return out
