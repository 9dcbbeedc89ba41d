"""A structural copy of IR trees, many times faster than copy.deepcopy.

The transform builds each derivative routine from pieces of the primal and
copies expressions and whole routines constantly; copy.deepcopy spends most
of its time on its memo and the generic reduce protocol.  The IR is plain
dataclasses, lists, tuples and dicts of them, so a copy can walk it
directly.  Immutable leaves (strings, numbers, Span, a Type without a length
expression) are shared, as deepcopy shares them.  Unlike deepcopy, a node
reached twice inside one copied tree comes out as two nodes: the IR never
relies on sharing (every stage treats nodes as owned by one parent), and two
owners are what a later in-place edit needs anyway.  Attributes named
`_cache_*` (indexes a node keeps of its own children) are not copied: they
would point into the original.
"""
from __future__ import annotations

import copy
from dataclasses import is_dataclass

from .nodes import Span, TranslationUnit, Type

_SHARED = {str, int, float, bool, complex, type(None), Span, bytes}
_NODE: dict[type, bool] = {}     # class -> copied field by field (mutable dataclass)
# The classes that keep `_cache_*` indexes of their own children (nodes.py).
_CACHING = {TranslationUnit}


def clone(x):
    """A copy of x that shares nothing mutable with it."""
    t = type(x)
    if t in _SHARED:
        return x
    if t is list:
        return [i if type(i) in _SHARED else clone(i) for i in x]
    if t is tuple:
        return tuple([i if type(i) in _SHARED else clone(i) for i in x])
    if t is dict:
        return {k: v if type(v) in _SHARED else clone(v) for k, v in x.items()}
    if t is Type:
        return x if x.length is None else Type(x.base, x.kind, clone(x.length), x.default, x.name)
    node = _NODE.get(t)
    if node is None:
        node = _NODE[t] = is_dataclass(t) and not t.__dataclass_params__.frozen \
            and not hasattr(t, "__slots__")
    if node:
        new = object.__new__(t)
        if t in _CACHING:
            new.__dict__ = {k: v if type(v) in _SHARED else clone(v) for k, v in x.__dict__.items()
                            if not k.startswith("_cache_")}
        else:
            new.__dict__ = {k: v if type(v) in _SHARED else clone(v) for k, v in x.__dict__.items()}
        return new
    return copy.deepcopy(x)


def shallow(x):
    """A new node with the same field values (copy.copy, without the
    generic reduce protocol): for passes that rebuild one level at a time."""
    t = type(x)
    if _NODE.get(t) is None:
        _NODE[t] = is_dataclass(t) and not t.__dataclass_params__.frozen and not hasattr(t, "__slots__")
    if not _NODE[t]:
        return copy.copy(x)
    new = object.__new__(t)
    new.__dict__ = dict(x.__dict__)
    return new
