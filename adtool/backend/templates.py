"""Where the Jinja templates live and how they are rendered.

The templates sit in the repository's top-level `templates/` folder, which
packaging installs as the subpackage `adtool.templates`.  Loading goes
through importlib.resources when that subpackage exists, so an installed
adtool (even from a zip) never depends on the source tree layout.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, Environment, StrictUndefined, TemplateNotFound

__all__ = ["environment", "render", "template_root"]


def template_root():
    """A Traversable (a Path when running from the source tree)."""
    try:
        spec = importlib.util.find_spec("adtool.templates")
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        from importlib.resources import files
        return files("adtool.templates")
    return Path(__file__).resolve().parents[2] / "templates"


class _ResourceLoader(BaseLoader):
    """FileSystemLoader needs a real directory; a Traversable may be inside
    a wheel or zip, so read through the resources API instead."""

    def __init__(self, root) -> None:
        self.root = root

    def get_source(self, environment: Environment, template: str):
        node = self.root
        for part in template.split("/"):
            if part in ("", ".", ".."):
                raise TemplateNotFound(template)
            node = node.joinpath(part)
        if not node.is_file():
            raise TemplateNotFound(template)
        source = node.read_text(encoding="utf-8")
        return source, str(node), lambda: True


@lru_cache(maxsize=None)
def environment() -> Environment:
    # autoescape would turn `a < b` into `a &lt; b`; StrictUndefined makes a
    # misspelt template variable an error instead of silently empty code.
    return Environment(loader=_ResourceLoader(template_root()),
                       autoescape=False, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True, undefined=StrictUndefined)


def render(template: str, /, **context: Any) -> str:
    return environment().get_template(template).render(**context)
