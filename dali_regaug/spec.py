"""A small declarative form for a chain of region operators, so that the CLI, benchmarks,
tests and user code build identical pipelines from one string or dict. Names, arguments,
their types and ranges all come from the operators' declarations
(:mod:`dali_regaug.ops.catalog`; ``dali-regaug ops`` lists them).

String form: operators joined by ``+``, each ``name(arg=value, ...)``::

    "gridmask(r=0.6,d=96-224,p=0.8,ramp=240) + cutmix(alpha=1.0)"

* ``name`` is an operator of :mod:`dali_regaug.fn` or one of its aliases (``gridmask``,
  ``erasing``).
* ``a-b`` is the range ``(a, b)``, ``[a,b,c]`` any sequence (such as a per-channel
  ``fill``); numbers, ``true``/``false`` and bare words (``fill=random``) are read as such.
* ``p`` is short for ``prob``; ``ramp=E`` turns ``prob`` into the linear ramp
  :class:`dali_regaug.schedule.Linear` reaching ``prob`` at epoch ``E`` (GridMask's schedule),
  from ``start=S`` at epoch 0 (default 0).
* An argument given twice (``p=0.5,prob=0.7`` too) is an error.

:func:`describe` writes the canonical string, which :func:`parse` reads back to the same
operators and arguments.

Dict form: ``{"grid_mask": {"r": 0.6, "d": (96, 224)}, "cutmix": {}}`` (in order), or a list
of ``(name, kwargs)`` pairs; ``None`` values mean the default, NumPy values and constant
schedules are read as plain numbers. At most one mixing operator may appear.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from dali_regaug import schedule
from dali_regaug.declare import COMMON
from dali_regaug.ops import catalog

SPEC_COMMON = tuple(a for a in COMMON if a.name in ("seed", "backend"))  # also in specs

_ARG_ALIASES = {"p": "prob"}
_CALL = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*$", re.S)
_NUMBER = r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"  # ASCII digits only
_RANGE = re.compile(f"^({_NUMBER})-({_NUMBER})$")


class Config(NamedTuple):
    """One operator of a spec: its name and its arguments, checked against its declaration
    and typed by it (``d=96`` is ``(96, 96)``, ``mode=I+ORE`` is ``"i+ore"``, a float
    argument given ``1`` is ``1.0``); fills and probabilities stay as given."""

    name: str
    kwargs: dict

    @property
    def operator(self):
        return catalog.get(self.name)


def parse(spec) -> list[Config]:
    """``[Config(name, kwargs), ...]`` from a string, dict or list; names, argument names
    and values are checked against the declarations.

    Parameters
    ----------
    spec : str, dict, list of (str, dict), or None
        ``None``, ``""`` and ``"none"`` mean no operator.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "none")):
        return []
    if isinstance(spec, list) and all(isinstance(c, Config) for c in spec):
        return spec  # parsed and checked already
    if isinstance(spec, str):
        parts = _split(spec)
        if any(not p.strip() for p in parts):
            raise ValueError(f"augment: {spec.strip()!r} has an empty operator (a '+' with "
                             f"nothing before or after it)")
        items = [_parse_call(part) for part in parts]
    elif isinstance(spec, dict):
        items = list(spec.items())
    elif isinstance(spec, (list, tuple)):
        items = [(item, {}) if isinstance(item, str) else tuple(item) for item in spec]
    else:
        raise TypeError(f"augment={spec!r}: expected a string, a dict or a list of (name, kwargs)")
    ops = [_check(name, dict(kwargs or {})) for name, kwargs in items]
    mixing = [c.name for c in ops if c.operator.mixes]
    if len(mixing) > 1:
        raise ValueError(f"augment: at most one mixing operator, got {mixing}")
    return ops


def describe(spec) -> str:
    """The canonical string of a spec (parses back to the same operators)."""
    def value(v):
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, (tuple, list)):
            finite = all(isinstance(x, (int, float)) and not isinstance(x, bool) and
                         x == x and abs(x) != float("inf") and x >= 0 for x in v)
            if len(v) == 2 and finite:
                return f"{v[0]}-{v[1]}"
            return f"[{','.join(value(x) for x in v)}]"
        return str(v)

    def args(name, kw):
        for k, v in kw.items():
            if isinstance(v, schedule.Linear):
                yield f"{k}={v.end},ramp={v.epochs}" + (f",start={v.start}" if v.start else "")
                continue
            text = value(v)
            if _value(text) != v or v != v:  # never write what would read back otherwise
                raise ValueError(f"augment: {name}({k}={v!r}) cannot be written as a spec "
                                 f"string (it would read back as {_value(text)!r})")
            yield f"{k}={text}"

    return " + ".join(f"{c.name}({','.join(args(c.name, c.kwargs))})" for c in parse(spec))


def mixes(spec) -> bool:
    """Whether the spec has a mixing operator (the targets then gain the partner's labels
    and a weight)."""
    return any(c.operator.mixes for c in parse(spec))


def build(spec, images, targets: dict, *, layout, views=None, bank=None, seed=None,
          return_params=False, prefix=""):
    """Apply the spec's operators in order inside a pipeline definition.

    Each operator gets the inputs it declares from ``targets`` and ``views`` by name, and
    its outputs replace them by name (mixing adds ``labels_b`` and ``lam``).

    Parameters
    ----------
    spec : str, dict or list
        See :func:`parse`.
    images : DataNode
    targets : dict of DataNode
        What each sample's label is: ``labels`` (classification), or ``boxes`` and
        ``labels`` with optional ``masks``, ``polygons`` and ``vertices`` (detection). An
        operator that mixes samples must take and update all of them.
    layout : {"HWC", "CHW"}
    views : dict of DataNode, optional
        ``sample_ids`` (passed to every operator: each sample's draws then follow its id),
        and ``crops`` and ``flips`` (the views, for the saliency-guided operators).
    bank : SaliencyBank, optional
        Their saliency maps (:mod:`dali_regaug.saliency`).
    seed : int, optional
        Operator ``k`` gets ``seed + k``; by default seeds derive from the pipeline's seed.
    return_params : bool
        Also return ``[(registry name, parameter bytes), ...]``, one per operator.
    prefix : str
        Operator ``k`` is registered as ``<prefix><name>_<k>``.

    Returns
    -------
    (images, targets), plus the parameters if asked; ``targets`` is a dict by name.
    """
    from dali_regaug import adapter

    targets = {k: v for k, v in targets.items() if v is not None}
    views = {k: v for k, v in (views or {}).items() if v is not None}
    context = {"bank": bank}
    params = []
    for k, cfg in enumerate(parse(spec)):
        decl = cfg.operator
        nodes = {**targets, **views}
        takes = {p.name for p in decl.all_inputs}
        missing = [p.name for p in decl.all_inputs if not p.optional and p.name not in nodes]
        missing += [a.name for a in decl.all_args if a.kind == "object" and
                    a.name in context and context[a.name] is None]
        if missing:
            raise ValueError(f"augment: {decl.name} needs {', '.join(missing)}, which this "
                             f"pipeline does not give it" + _hint(missing))
        left = sorted(set(targets) - takes)
        if decl.partners == "batch" and left:
            raise ValueError(f"augment: {decl.name} mixes samples but would leave their "
                             f"{', '.join(left)} unmixed; use an operator that takes them "
                             f"({_taking(set(targets))})")
        kwargs = dict(cfg.kwargs, layout=layout, return_params=True,
                      name=f"{prefix}{decl.name}_{k}",
                      **{a.name: context[a.name] for a in decl.all_args if a.name in context})
        if seed is not None:
            kwargs.setdefault("seed", seed + k)
        produced = adapter.outputs(decl, (images,), {
            **{n: nodes[n] for n in takes if n in nodes}, **kwargs})
        images = produced.pop("images")
        params.append((kwargs["name"], produced.pop("params")))
        targets.update(produced)
    out = images, targets
    return out + (params,) if return_params else out


def _hint(missing) -> str:
    if "bank" in missing or "crops" in missing:
        return " (saliency-guided: give the pipeline a bank, train_pipeline(bank=...), " \
               "train --saliency ...)"
    if "boxes" in missing:
        return " (use it in a detection pipeline)"
    return ""


def _taking(targets) -> str:
    """The operators that take every one of ``targets``."""
    names = [n for n, d in catalog.operators().items()
             if targets <= {p.name for p in d.all_inputs}]
    return ", ".join(names) or "none"


def _split(text, sep="+"):
    """Split at ``sep`` outside parentheses and brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def _parse_call(text):
    m = _CALL.match(text)
    if not m:
        raise ValueError(f"augment: cannot read {text.strip()!r}; expected name(arg=value, ...)")
    kwargs = {}
    for item in filter(None, (a.strip() for a in _split(m.group(2) or "", ","))):
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"augment: {item!r} in {text.strip()!r} is not arg=value")
        key = key.strip()
        if key in kwargs:  # a dict keeps one; p and prob together are _check's to refuse
            raise ValueError(f"augment: {key} is given twice in {text.strip()!r}")
        kwargs[key] = _value(raw.strip(), key)
    return m.group(1), kwargs


def _value(raw, key="value"):
    if raw[:1] == "(" and raw[-1:] == ")":
        inner = [x.strip() for x in _split(raw[1:-1], ",") if x.strip()]
        hint = f"{key}={inner[0]}-{inner[1]}" if len(inner) == 2 else \
            f"{key}=[{','.join(inner)}]"
        raise ValueError(f"augment: {key}={raw} is not spec syntax: write a range as a-b "
                         f"and a sequence as [a,b,c] ({hint})")
    if raw[:1] == "[" and raw[-1:] == "]":
        return tuple(_value(x.strip(), key) for x in _split(raw[1:-1], ",") if x.strip())
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    m = _RANGE.match(raw)
    if m:
        return tuple(_number(g) for g in m.groups())
    try:
        return _number(raw)
    except ValueError:
        return raw


def _number(raw):
    if not re.fullmatch(_NUMBER, raw) and raw.lower() not in ("inf", "-inf"):
        raise ValueError(raw)
    return int(raw) if re.fullmatch(r"-?[0-9]+", raw) else float(raw)


def _plain(v):
    """A value as the string form reads it: sequences (NumPy arrays too) as tuples, NumPy
    scalars as Python numbers, a constant schedule as its probability."""
    if isinstance(v, schedule.Constant):
        return v.p
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(_plain(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v))
    return v.item() if isinstance(v, np.generic) else v


def _check(name, kwargs) -> Config:
    try:
        decl = catalog.get(name)
    except ValueError as err:
        raise ValueError(f"augment: {err}") from None
    renamed = [_ARG_ALIASES.get(k, k) for k in kwargs]
    twice = sorted({k for k in renamed if renamed.count(k) > 1})
    if twice:
        raise ValueError(f"augment: {decl.name} is given {', '.join(twice)} twice")
    kwargs = {_ARG_ALIASES.get(k, k): _plain(v) for k, v in kwargs.items() if v is not None}
    ramp, start = kwargs.pop("ramp", None), kwargs.pop("start", None)
    if start is not None and ramp is None:
        raise ValueError(f"augment: {decl.name} has start={start} without ramp=E (start is "
                         f"the probability of a ramp at epoch 0)")
    allowed = {a.name: a for a in (*decl.all_args, *SPEC_COMMON) if a.spec}
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"augment: {decl.name} has no argument {', '.join(unknown)}; expected "
                         f"{', '.join(list(allowed) + ['p', 'ramp'])} (dali-regaug ops "
                         f"{decl.name})")
    if ramp is not None:  # up to the given prob, or the operator's default one
        try:
            kwargs["prob"] = schedule.Linear(kwargs.get("prob", allowed["prob"].default),
                                             epochs=ramp, start=start or 0.0)
        except (TypeError, ValueError) as err:
            raise ValueError(f"augment: {decl.name}(ramp={ramp}, start={start or 0}): ramp is "
                             f"a whole number of epochs >= 1 and start a probability ({err})"
                             ) from None
    for key, value in kwargs.items():
        try:
            checked = allowed[key].validate(value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"augment: {decl.name}: {err}") from None
        if allowed[key].kind not in ("fill", "prob"):  # typed: one spelling per value
            kwargs[key] = checked
    return Config(decl.name, kwargs)
