"""Split expressions: which samples of a store a run trains, evaluates or explains on.

A split is a string, so that it stays plain data in a config, on a command line and in a bundle:

* ``all`` (or empty): every sample;
* ``PROTOCOL/PART``: a split the reader stored with the data set, e.g. ``xview/test``, ``fold3/train``;
* a condition ``FIELD OP VALUE`` on each sample's meta (``setup``, ``view``, ``performer``, ... as the
  reader parsed them from the file names) or on ``label`` (0-based), ``class`` (its name), ``id`` or
  ``frames`` (the sample's length). ``OP`` is one of ``= != < <= > >=``; ``=`` and ``!=`` take
  alternatives separated by ``|`` (``view=1|2``); the order operators take a number;
* several terms joined by ``&``: the samples in all of them.

A value that holds ``&``, ``|`` or spaces at its ends goes in double or single quotes: ``id="run 3&4"``,
``id='a|b'|c`` (the quotes are not part of the value).

Examples: the test part of the method sheet's dataset-shift protocol on an NTU 120 store (the setups NTU
120 added, for the 60 classes NTU 60 has), ``setup>=18 & action<=60``; NTU 120 cross-subject on the
single-person actions only, ``xsub/test & action<=49``; NW-UCLA's validation views, ``view=1|2``.
Positions come back sorted in store order, which is also the order of a stored split.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from .store import SkeletonStore

_COND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|==|=|<|>)\s*(.+?)\s*$")
BUILTIN_FIELDS = ("label", "class", "id", "frames")


def _split_unquoted(text: str, sep: str, where: str) -> list[str]:
    """``text`` split at each ``sep`` outside ``"..."`` / ``'...'``; pieces keep their quotes."""
    pieces, cur, quote = [], [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == sep:
            pieces.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if quote:
        raise DataError(None, f"split {where!r}: an unclosed {quote} quote")
    pieces.append("".join(cur))
    return pieces


def _unquote(text: str) -> tuple[str, bool]:
    """``(value, was_quoted)`` of one stripped value: the inside of a value wholly in matching quotes."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1], True
    return text, False


def is_expression(split: str) -> bool:
    """True when ``split`` is more than a stored ``PROTOCOL/PART`` (a condition or an ``&``)."""
    return "&" in split or any(op in split for op in ("=", "<", ">"))


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if np.isfinite(v) else None


def _field_values(store: "SkeletonStore", field: str) -> list[Any]:
    if field == "label":
        return [int(v) for v in store.labels]
    if field == "class":
        names = store.class_names
        return [names[v] if 0 <= v < len(names) else None for v in store.labels]
    if field == "id":
        return list(store.ids)
    if field == "frames":
        return [int(v) for v in store.lengths]
    metas = store.index["meta"]
    if not any(field in m for m in metas):
        known = sorted({k for m in metas for k in m} | set(BUILTIN_FIELDS))
        raise DataError(store.path, f"split field {field!r} is in no sample's meta; fields: {', '.join(known)}")
    return [m.get(field) for m in metas]


def example_condition(store: "SkeletonStore") -> str:
    """A condition this store can take, for error messages: two values of a numeric meta field, views and
    setups first (``view=1|2`` on NW-UCLA, ``setup=1|2`` on NTU), else two labels (``label=0|1``)."""
    metas = store.index["meta"]
    fields = {k for m in metas[:200] for k in m}
    first = [f for f in ("view", "setup", "camera", "subject", "performer") if f in fields]
    for field in first + sorted(fields - set(first)):
        values = sorted({m[field] for m in metas if isinstance(m.get(field), int) and not isinstance(m[field], bool)})
        if len(values) >= 2:
            return f"{field}={values[0]}|{values[1]}"
    return "label=0|1"


def _matches(values: list[Any], op: str, raw: str, where: str, field: str = "",
             fields: frozenset[str] = frozenset()) -> np.ndarray:
    if raw[:1] in "<>=!":  # 'view=<2', 'view => 2': the regex read '=' and a value starting with an operator
        bad = op + raw[:1] + (raw[1:2] if raw[1:2] == "=" else "")
        raise DataError(None, f"split {where!r}: unknown operator {bad!r} in {field + op + raw!r}; "
                              "operators: = != < <= > >=")
    op = "=" if op == "==" else op
    if op in ("=", "!="):
        alternatives = [_unquote(w.strip()) for w in _split_unquoted(raw, "|", where)]
        wanted = [w for w, _ in alternatives]
        if not all(w.strip() or quoted for w, quoted in alternatives):
            raise DataError(None, f"split {where!r}: an empty alternative in {raw!r}")
        for w, quoted in alternatives:  # 'view=1 | view=2': '|' separates values of one field, not conditions
            m = None if quoted else _COND.match(w)
            if m and m.group(1) in fields:
                raise DataError(None, f"split {where!r}: {w!r} in {where!r} is a condition, not a value of "
                                      f"{field!r}; '|' separates values of one field ({field}=1|2), and "
                                      "conditions combine only with '&'")
        nums = [_number(w) for w in wanted]

        def hit(v: Any) -> bool:
            if v is None:
                return False
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return any(n is not None and float(v) == n for n in nums)
            return str(v) in wanted
        out = np.array([hit(v) for v in values], dtype=bool)
        if op == "!=":
            out = ~out & np.array([v is not None for v in values], dtype=bool)
        return out
    bound = _number(_unquote(raw)[0])
    if bound is None:
        raise DataError(None, f"split {where!r}: {op} needs a number, got {raw!r}")
    cmp = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}[op]
    if values and not any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise DataError(None, f"split {where!r}: {field!r} holds no numbers; {op!r} needs a numeric field "
                              f"(use = or != for its values)")
    out = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[i] = bool(cmp(float(v), bound))
    return out


def _term(store: "SkeletonStore", term: str, whole: str) -> np.ndarray:
    """Boolean ``(len(store),)`` membership of one term."""
    if term == "all":
        return np.ones(len(store), dtype=bool)
    m = _COND.match(term)
    if m:
        field, op, raw = m.groups()
        fields = frozenset({k for meta in store.index["meta"] for k in meta} | set(BUILTIN_FIELDS))
        return _matches(_field_values(store, field), op, raw, whole, field, fields)
    proto, sep, part = term.partition("/")
    if not sep or proto not in store.splits or part not in store.splits[proto]:
        raise DataError(store.path, f"no split {term!r}" + (f" in {whole!r}" if term != whole else "")
                        + f"; stored splits: {', '.join(store.split_names()) or 'none'}; or a condition "
                          f"such as {example_condition(store)!r} (see stf.data.splits)")
    out = np.zeros(len(store), dtype=bool)
    out[[store.position(i) for i in store.splits[proto][part]]] = True
    return out


def select(store: "SkeletonStore", split: str | None, allow_empty: bool = False) -> np.ndarray:
    """Positions ``(N,)`` int64 of the samples of ``split`` (see the module doc), sorted.

    An unknown stored split, a field no sample has, an order operator without a number, or (unless
    ``allow_empty``) a split that selects nothing is a DataError that names the split.
    """
    if split is None or not str(split).strip() or str(split).strip() == "all":
        return np.arange(len(store), dtype=np.int64)
    whole = str(split).strip()
    terms = [t.strip() for t in _split_unquoted(whole, "&", whole)]
    if not all(terms):
        raise DataError(store.path, f"split {whole!r}: an empty term around '&'")
    keep = np.ones(len(store), dtype=bool)
    for t in terms:
        keep &= _term(store, t, whole)
    if not keep.any() and not allow_empty:
        raise DataError(store.path, f"split {whole!r} holds no samples")
    return np.flatnonzero(keep).astype(np.int64)
