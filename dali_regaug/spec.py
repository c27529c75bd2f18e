"""A small declarative form for a chain of region operators, so that the CLI, benchmarks,
tests and user code build identical pipelines from one string or dict.

String form: operators joined by ``+``, each ``name(arg=value, ...)``::

    "gridmask(r=0.6,d=96-224,p=0.8,ramp=240) + cutmix(alpha=1.0)"

* ``name`` is a function of :mod:`dali_regaug.fn` (``grid_mask``, ``random_erasing``,
  ``cutout``, ``cutmix``, ``mixup``, ``mix``; with a saliency bank ``keep_cutout``,
  ``keep_paste``, ``keep_cutmix``, ``cam_erasing``), or an alias (``gridmask``, ``erasing``).
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

import inspect
import re

import numpy as np

from dali_regaug import schedule

ALIASES = {"gridmask": "grid_mask", "erasing": "random_erasing", "random_erase": "random_erasing"}
MASKS = ("grid_mask", "random_erasing", "cutout")
MIXING = ("cutmix", "mixup", "mix", "keep_cutmix")
BOXES = ("bbox_erasing",)  # detection: they take and return boxes and labels
GUIDED = ("keep_cutout", "keep_paste", "keep_cutmix", "cam_erasing")  # read saliency maps
_ARG_ALIASES = {"p": "prob"}
_CALL = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*$", re.S)
_NUMBER = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(f"^({_NUMBER})-({_NUMBER})$")


def parse(spec) -> list[tuple[str, dict]]:
    """``[(operator name, kwargs), ...]`` from a string, dict or list; names and argument
    names are checked here, values when the pipeline is built.

    Parameters
    ----------
    spec : str, dict, list of (str, dict), or None
        ``None``, ``""`` and ``"none"`` mean no operator.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "none")):
        return []
    if isinstance(spec, str):
        items = [_parse_call(part) for part in _split(spec)]
    elif isinstance(spec, dict):
        items = list(spec.items())
    elif isinstance(spec, (list, tuple)):
        items = [tuple(item) for item in spec]
    else:
        raise TypeError(f"augment={spec!r}: expected a string, a dict or a list of (name, kwargs)")
    ops = [_check(name, dict(kwargs or {})) for name, kwargs in items]
    mixing = [name for name, _ in ops if name in MIXING]
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

    return " + ".join(f"{name}({','.join(args(name, kw))})" for name, kw in parse(spec))


def mixes(spec) -> bool:
    """Whether the spec has a mixing operator (the targets are then a label triple)."""
    return any(name in MIXING for name, _ in parse(spec))


def build(spec, images, labels, *, layout, boxes=None, masks=None, polygons=None,
          vertices=None, sample_ids=None, crops=None, flips=None, bank=None, seed=None,
          return_params=False, prefix=""):
    """Apply the spec's operators in order inside a pipeline definition.

    Parameters
    ----------
    spec : str, dict or list
        See :func:`parse`.
    images, labels : DataNode
    layout : {"HWC", "CHW"}
    boxes, masks, polygons, vertices : DataNode, optional
        Detection: ltrb boxes (one row per label), optional uint8 pixel masks and optional
        instance polygons, which ``bbox_erasing`` and ``cutmix`` update; the other mixing
        operators are then refused.
    sample_ids : DataNode, optional
        Passed to every operator (each sample's draws then follow its id).
    crops, flips : DataNode, optional
        The views' crop windows and flips, for the saliency-guided operators.
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
    (images, targets), plus the parameters if asked; ``targets`` is ``(labels,)`` or
    ``(labels_a, labels_b, lam)``, or with boxes ``(boxes, labels)``, then ``masks``, then
    ``polygons`` and ``vertices``, those given.
    """
    from dali_regaug import fn as rfn

    targets, params = (labels,), []
    if boxes is not None:
        given = dict(boxes=boxes, labels=labels, masks=masks, polygons=polygons,
                     vertices=vertices)
        names = [k for k, v in given.items() if v is not None]
        targets = tuple(given[k] for k in names)
    for k, (name, kwargs) in enumerate(parse(spec)):
        if name in MIXING and name != "cutmix" and boxes is not None:
            raise ValueError(f"augment: {name} has no detection mode; use cutmix, "
                             f"bbox_erasing or a mask operator ({', '.join(MASKS)})")
        if name in BOXES and boxes is None:
            raise ValueError(f"augment: {name} needs boxes; use it in a detection pipeline")
        if name in GUIDED and (bank is None or crops is None or sample_ids is None):
            raise ValueError(f"augment: {name} reads saliency maps; give the pipeline a "
                             f"bank (train_pipeline(bank=...), train --saliency ...)")
        kwargs = dict(kwargs, layout=layout, sample_ids=sample_ids, return_params=True,
                      name=f"{prefix}{name}_{k}")
        if seed is not None:
            kwargs.setdefault("seed", seed + k)
        if name in BOXES or (name in MIXING and boxes is not None):  # cutmix's detection mode
            images, *targets, p = getattr(rfn, name)(images, **dict(zip(names, targets)),
                                                     **kwargs)
        elif name in GUIDED:
            views = dict(kwargs, sample_ids=sample_ids, crops=crops, flips=flips, bank=bank)
            if name in MIXING:
                images, *targets, p = getattr(rfn, name)(images, labels, **views)
            else:
                images, p = getattr(rfn, name)(images, **views)
        elif name in MIXING:
            images, *targets, p = getattr(rfn, name)(images, labels, **kwargs)
        else:
            images, p = getattr(rfn, name)(images, **kwargs)
        params.append((kwargs["name"], p))
    out = images, tuple(targets)
    return out + (params,) if return_params else out


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
        kwargs[key] = _value(raw.strip())
    return m.group(1), kwargs


def _value(raw):
    if raw[:1] and raw[:1] in "([" and raw[-1:] in ")]":
        return tuple(_value(x.strip()) for x in _split(raw[1:-1], ",") if x.strip())
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
    return int(raw) if re.fullmatch(r"-?\d+", raw) else float(raw)


def _plain(v):
    """A value as the string form reads it: sequences (NumPy arrays too) as tuples, NumPy
    scalars as Python numbers, a constant schedule as its probability."""
    if isinstance(v, schedule.Constant):
        return v.p
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(_plain(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v))
    return v.item() if isinstance(v, np.generic) else v


def _check(name, kwargs):
    from dali_regaug import fn as rfn

    name = ALIASES.get(str(name).lower(), str(name).lower())
    if name not in MASKS + MIXING + BOXES + GUIDED:
        raise ValueError(f"augment: unknown operator {name!r}; expected one of "
                         f"{', '.join(MASKS + MIXING + BOXES + GUIDED)} "
                         f"(or {', '.join(ALIASES)})")
    renamed = [_ARG_ALIASES.get(k, k) for k in kwargs]
    twice = sorted({k for k in renamed if renamed.count(k) > 1})
    if twice:
        raise ValueError(f"augment: {name} is given {', '.join(twice)} twice")
    kwargs = {_ARG_ALIASES.get(k, k): _plain(v) for k, v in kwargs.items() if v is not None}
    ramp, start = kwargs.pop("ramp", None), kwargs.pop("start", None)
    if start is not None and ramp is None:
        raise ValueError(f"augment: {name} has start={start} without ramp=E (start is the "
                         f"probability of a ramp at epoch 0)")
    allowed = [p for p in inspect.signature(getattr(rfn, name)).parameters
               if p not in ("images", "labels", "boxes", "masks", "polygons", "vertices",
                            "layout", "sample_ids", "crops", "flips", "bank",
                            "return_params", "name")]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"augment: {name} has no argument {', '.join(unknown)}; expected "
                         f"{', '.join(allowed + ['p', 'ramp'])}")
    if ramp is not None:
        kwargs["prob"] = schedule.Linear(kwargs.get("prob", 1.0), epochs=ramp,
                                         start=start or 0.0)
    return name, kwargs
