"""The language-neutral IR shared by front ends, analyses, transforms and backends."""
from .nodes import *  # noqa: F401,F403
