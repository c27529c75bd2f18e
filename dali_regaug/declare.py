"""How an operator declares itself: its inputs, outputs and arguments (type, default, range,
meaning), from which the DALI nodes, the spec grammar, the CLI's operator list and the
docstrings are derived (:mod:`dali_regaug.ops.catalog` collects the declarations).

An :class:`Arg` is the one owner of an argument's facts: the operator's constructor checks
values with it, the spec parser and ``dali-regaug ops`` read it, and docstrings print it.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dali_regaug import fill as fill_mod
from dali_regaug import schedule, validate

REQUIRED = inspect.Parameter.empty  # the default of an argument that has none


@dataclass(frozen=True)
class Arg:
    """One argument.

    ``kind`` is one of ``float``, ``int``, ``interval`` (a number or a ``(min, max)`` pair),
    ``int_interval``, ``bool``, ``choice`` (one of ``choices``), ``fill``, ``prob`` (a
    probability or a :mod:`dali_regaug.schedule`), ``optional_int`` (an integer or None),
    ``str``, or ``object`` (checked by ``check``); ``str`` and ``object`` are not written in
    specs. ``per_sample`` arguments also take a DataNode with one value per
    sample, as DALI's argument inputs do.
    """

    name: str
    default: object
    meaning: str
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    per_sample: bool = False
    check: Callable | None = None  # further check of the validated value (raises)

    def validate(self, value, name: str | None = None):
        """``value`` checked and normalized; errors name the argument, the value and what is
        allowed."""
        name = name or self.name
        k = self.kind
        if k in ("float", "int"):
            out = validate.number(name, value, self.low, self.high, integer=k == "int")
        elif k in ("interval", "int_interval"):
            out = validate.interval(name, value, self.low, self.high,
                                    integer=k == "int_interval")
        elif k == "bool":
            out = validate.flag(name, value)
        elif k == "choice":  # strings match whatever their case
            same = [c for c in self.choices if c == value or (
                isinstance(c, str) and isinstance(value, str) and c.lower() == value.lower())]
            if not same:
                raise ValueError(f"{name}={value!r}: expected one of "
                                 f"{', '.join(map(repr, self.choices))}")
            out = same[0]
        elif k == "fill":
            out = fill_mod.parse(value, name)
        elif k == "prob":
            out = schedule.as_schedule(value, name)
        elif k == "optional_int":
            out = None if value is None else validate.number(name, value, self.low, self.high,
                                                             integer=True)
        elif k == "str":
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name}={value!r}: expected a string")
            out = value
        else:
            out = value
        if self.check is not None:
            self.check(name, value, out)
        return out

    def per_sample_values(self, values, op_name: str) -> np.ndarray:
        """A DataNode argument's batch checked like constants, the sample named on failure:
        ``(N,)`` numbers, or ``(N, 2)`` ranges for an interval (a number or a pair per
        sample). float32 and float16 values are read as the shortest decimal that gives
        them (``0.6``, not ``0.6000000238``), so that a value means what the constant
        means."""
        pair = self.kind in ("interval", "int_interval")
        out = []
        for i, v in enumerate(values):
            try:
                v = np.asarray(v)
                if v.dtype.kind not in "iuf" or np.size(v) not in ((1, 2) if pair else (1,)):
                    want = "one or two numbers" if pair else "one number"
                    raise ValueError(f"{self.name}: expected {want} per sample, got {v.dtype} "
                                     f"{v.shape}")
                nums = [float(str(x)) if v.dtype.kind == "f" else int(x) for x in v.ravel()]
                given = tuple(nums) if len(nums) == 2 else nums[0]
                checked = self.validate(given)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{op_name}: {self.name} of sample {i} in the batch: "
                                 f"{err}") from None
            out.append(checked.p if hasattr(checked, "p") else checked)
        return np.array(out, np.float64).reshape(len(out), *((2,) if pair else ()))

    @property
    def spec(self) -> bool:
        """Whether the argument can be written in a spec string."""
        return self.kind not in ("object", "str")

    def allowed(self) -> str:
        """What values are allowed, for people."""
        span = ""
        if self.low is not None or self.high is not None:
            lo = "-inf" if self.low is None else _num(self.low)
            hi = "inf" if self.high is None else _num(self.high)
            span = f" in [{lo}, {hi}]"
        return {"float": f"number{span}", "int": f"integer{span}",
                "interval": f"number or (min, max){span}",
                "int_interval": f"integer or (min, max){span}", "bool": "true or false",
                "choice": "one of " + ", ".join(map(str, self.choices)),
                "fill": "number, per-channel sequence, 'random' or 'region'",
                "prob": "probability in [0, 1] or a schedule",
                "optional_int": f"integer{span} or None", "str": "str",
                }.get(self.kind, "object")

    def shown_default(self) -> str:
        return "required" if self.default is REQUIRED else repr(_plain(self.default))


@dataclass(frozen=True)
class Port:
    """An input or output besides the images.

    Inputs: ``host`` inputs go to the sampler (CPU DataNodes); ``labels`` pass through (and
    are permuted for the partner's); ``partner`` is a second image source on the images'
    device (made by the adapter's ``default`` builder when not given); ``masks`` are pixel
    masks that follow the records; ``instances`` are COCO polygons and vertices.

    Outputs: ``sampled`` come from the sampler; ``input`` is the input of that name passed
    on; ``permuted`` that input in the partners' order; ``masks`` the masks after the
    records (``op.for_masks()`` applies them); ``instances`` the instances of the boxes the
    sampler lists in its ``kept`` output, then, when it also samples ``pasted`` and
    ``regions``, the partner's instances it lists there, clipped to the regions. Outputs
    that are not ``public`` feed other nodes only.
    """

    name: str
    meaning: str
    source: str = "host"
    optional: bool = False
    public: bool = True
    keyword: bool = False  # an input given by keyword on every operator (ids, views)
    default: str | None = None  # an input's builder when not given
    of: str | None = None  # an output's input (input, permuted, masks, instances)


SAMPLE_IDS = Port("sample_ids", "CPU int64 id per sample; each sample's draws then depend only "
                  "on (seed, sample_id, how many times that id was seen)", optional=True,
                  keyword=True)

COMMON = (
    Arg("device", None, "'cpu' or 'gpu'; default: the images' device (CPU images are moved "
        "to the GPU for 'gpu')", "choice", choices=(None, "cpu", "gpu")),
    Arg("layout", None, "layout of the images; by default read from the pipeline's graph, as "
        "DALI's operators do (give it when the graph cannot tell); a value that disagrees "
        "with the input's is an error. The output keeps the input's layout",
        "choice", choices=(None, "HWC", "CHW")),
    Arg("seed", None, "same seed and input order give the same output, bit for bit; by "
        "default derived from the pipeline's seed", "optional_int", 0, 2**63 - 1),
    Arg("return_params", False, "also return the sampled parameter records (a CPU uint8 "
        "DataNode, last; decode with dali_regaug.fn.decode_params)", "bool"),
    Arg("backend", None, "'emulator' runs the CUDA kernels on the CPU emulator in CPU "
        "pipelines (testing)", "choice", choices=(None, "emulator")),
    Arg("name", None, "registry name for set_epoch and state; default <operator>_<index>",
        "str"),
)

# The arguments of the adapter's image-level transform A(x) (dali_regaug.fn.image_level), the
# default second source of a paste.
IMAGE_LEVEL = (Arg("rotate", 30.0, "default A(x): largest rotation in degrees", "float",
                   0.0, 180.0),
               Arg("brightness", 0.4, "default A(x): largest change of the brightness factor",
                   "float", 0.0, 1.0),
               Arg("contrast", 0.4, "default A(x): largest change of the contrast factor",
                   "float", 0.0, 1.0))


@dataclass(frozen=True)
class Operator:
    """One operator: ``cls`` constructed with its arguments (and a ``placement``), the
    ports besides the images, and what the adapter and the docs need.

    Parameters
    ----------
    name : str
        The ``dali_regaug.fn`` function and spec name.
    cls : type
        The operator class; its ``ARGS`` are the operator's arguments.
    summary : str
        One line with the paper.
    inputs, outputs : tuple of Port
    placement : type, optional
        A placement strategy class (:mod:`dali_regaug.ops.placement`) with its own ``ARGS``
        and ``INPUTS``; the operator then places its regions by saliency.
    graph_args : tuple of Arg
        Arguments of the adapter's default builders (not the operator's).
    partners : {None, "batch"} or str
        ``"batch"``: each sample's partner is another sample of the batch; or the name of
        the partner input.
    aliases : tuple of str
        Other names in specs.
    """

    name: str
    cls: type
    summary: str
    inputs: tuple = (SAMPLE_IDS,)
    outputs: tuple = ()
    placement: type | None = None
    graph_args: tuple = ()
    partners: str | None = None
    aliases: tuple = ()
    module: str = ""  # where it is declared, with its paper's readings (set by the catalog)

    def __post_init__(self):
        names = [p.name for p in self.all_inputs] + [a.name for a in self.all_args]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise TypeError(f"operator {self.name} declares {twice} twice")

    @property
    def all_args(self) -> tuple:
        """The class's arguments, its placement's, then the graph's."""
        extra = tuple(self.placement.ARGS) if self.placement is not None else ()
        return tuple(self.cls.ARGS) + extra + tuple(self.graph_args)

    @property
    def all_inputs(self) -> tuple:
        """Inputs after the images: the placement's (required) replace optional ones."""
        extra = tuple(self.placement.INPUTS) if self.placement is not None else ()
        names = {p.name for p in extra}
        return extra + tuple(p for p in self.inputs if p.name not in names)

    def arg(self, name: str) -> Arg:
        for a in self.all_args + COMMON:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def guided(self) -> bool:
        """Whether it places its regions by saliency (reads a bank)."""
        return self.placement is not None

    @property
    def mixes(self) -> bool:
        """Whether it mixes labels (outputs the partner's labels and a weight)."""
        return any(p.source == "permuted" for p in self.outputs)

    def bind(self, kwargs: dict) -> dict:
        """Every argument's value, defaults filled in; an unknown or missing one is named
        (the class and the placement check the values, the adapter the graph's)."""
        return values(self.name, self.all_args, kwargs, check=False)

    def build(self, *, layout="HWC", seed=None, backend=None, **kwargs):
        """The operator object, its arguments checked by its class and placement (graph
        arguments are not its)."""
        values = self.bind(kwargs)
        graph = {a.name for a in self.graph_args}
        placement = None
        if self.placement is not None:
            placement = self.placement(**{a.name: values.pop(a.name)
                                          for a in self.placement.ARGS})
        own = {k: v for k, v in values.items() if k not in graph}
        op = self.cls(layout=layout, seed=seed, backend=backend, placement=placement, **own)
        op.operator = self
        return op

    # -- what people read ------------------------------------------------------------------
    def doc(self) -> str:
        """The ``dali_regaug.fn`` docstring, NumPy style."""
        lines = [f"{self.summary}; see :mod:`{self.module or self.cls.__module__}`.", "",
                 "Parameters",
                 "----------", "images : DataNode",
                 "    uint8, float16 or float32 images, HWC or CHW, on CPU or GPU."]
        for p in self.all_inputs:
            how = ", optional" if p.optional else ", keyword" if p.keyword else ""
            lines += [f"{p.name} : DataNode{how}", _wrap(_sentence(p.meaning))]
        for a in self.all_args + COMMON:
            kind = a.allowed() + (", or a DataNode per sample" if a.per_sample else "")
            default = "" if a.default is REQUIRED else f" Default {a.shown_default()}."
            lines += [f"{a.name} : {kind}" + ("" if a.default is REQUIRED else ", optional"),
                      _wrap(_sentence(a.meaning) + default)]
        lines += ["", "Returns", "-------", self.returns()]
        lines += [_wrap(f"{p.name}: {_sentence(p.meaning)}") for p in self.outputs if p.public]
        return "\n".join(lines)

    def returns(self) -> str:
        outs = ["images"] + [p.name + (" (when given)" if p.optional else "")
                             for p in self.outputs if p.public]
        return ("(" + ", ".join(outs) + ")" if len(outs) > 1 else "images") + \
            ", then the parameter records with return_params"

    def signature(self) -> inspect.Signature:
        P = inspect.Parameter
        params = [P("images", P.POSITIONAL_OR_KEYWORD)]
        params += [P(p.name, P.POSITIONAL_OR_KEYWORD) for p in self.all_inputs
                   if not p.optional and not p.keyword]
        params += [P(p.name, P.KEYWORD_ONLY) for p in self.all_inputs
                   if not p.optional and p.keyword]
        params += [P(p.name, P.KEYWORD_ONLY, default=None) for p in self.all_inputs
                   if p.optional]
        params += [P(a.name, P.KEYWORD_ONLY, default=a.default)
                   for a in self.all_args + COMMON]
        return inspect.Signature(params)


def values(owner: str, args, kwargs: dict, *, check: bool = True) -> dict:
    """``{name: value}`` for ``args`` from ``kwargs`` (checked by each :class:`Arg` with
    ``check``), defaults filled in; an unknown or missing argument is named."""
    known = {a.name: a for a in args}
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise TypeError(f"{owner}() got unexpected argument(s) {', '.join(unknown)}; "
                        f"expected {', '.join(known)}")
    out = {}
    for name, a in known.items():
        value = kwargs.get(name, a.default)
        if value is REQUIRED:
            raise TypeError(f"{owner}() needs {name}: {a.meaning}")
        out[name] = a.validate(value) if check else value
    return out


def _sentence(text: str) -> str:
    return text + ("" if text.endswith(".") else ".")


def _wrap(text: str) -> str:
    return textwrap.fill(text, 88, initial_indent="    ", subsequent_indent="    ")


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _plain(v):
    if isinstance(v, schedule.Constant):
        return v.p
    return v
