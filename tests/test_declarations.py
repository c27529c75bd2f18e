"""Operators are declared once: the functions of dali_regaug.fn, their docstrings, the spec
grammar and ``dali-regaug ops`` derive from the declarations; adding an operator is adding
one module; imports point down the layers; every record dtype has one owner."""

import ast
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def

from dali_regaug import fn as rfn
from dali_regaug import spec
from dali_regaug.ops import catalog

ROOT = Path(__file__).resolve().parents[1]


def test_each_fn_function_is_its_declaration():
    for name, decl in catalog.operators().items():
        f = getattr(rfn, name)
        assert inspect.signature(f) == decl.signature() and f.__doc__ == decl.doc()
        for a in decl.all_args:
            assert f"\n{a.name} : " in f.__doc__, (name, a.name)
        for p in decl.all_inputs:
            assert f"\n{p.name} : DataNode" in f.__doc__, (name, p.name)
    assert "(images, labels, labels_b, lam)" in rfn.cutmix.__doc__
    assert "keep_cutout" in rfn.__all__ and rfn.keep_cutout.__name__ == "keep_cutout"


def test_fn_spec_and_the_cli_know_no_operator():
    names = set(catalog.operators()) | set(catalog.aliases())
    for path in ("dali_regaug/fn.py", "dali_regaug/spec.py", "dali_regaug/cli.py",
                 "dali_regaug/adapter.py"):
        words = {n.value for n in ast.walk(ast.parse((ROOT / path).read_text()))
                 if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not names & words, (path, sorted(names & words))


TOY = '''
import numpy as np
from dali_regaug.declare import Arg, Operator
from dali_regaug.ops import rects
from dali_regaug.ops.base import prob_arg
from dali_regaug.ops.erasing import Erase


class Corner(Erase):
    """Erase the top-left square of side ``side``."""

    ARGS = (Arg("side", 2, "side of the square", "int", 1, 64), prob_arg(1.0),
            Arg("fill", 0.0, "fill", "fill"))

    def setup(self):
        self.params_dtype = rects.params_dtype(1)

    def sample(self, hw, keys, prob, view=None):
        return self._records(keys, np.asarray(prob) > 0.5,
                             np.tile([0, 0, self.side, self.side], (len(keys), 1, 1)), 1)


OPERATORS = (Operator("toy_corner", Corner, "A corner, for the test"),)
'''


@pytest.fixture
def toy_module(tmp_path, monkeypatch):
    """An operator added the way the project asks: one new module in dali_regaug.ops."""
    from dali_regaug import ops

    folder = tmp_path / "extra_ops"
    folder.mkdir()
    (folder / "toy_corner.py").write_text(TOY)
    monkeypatch.setattr(ops, "__path__", [*ops.__path__, str(folder)])
    for cache in (catalog.operators, catalog.aliases):
        cache.cache_clear()
    yield
    sys.modules.pop("dali_regaug.ops.toy_corner", None)
    for cache in (catalog.operators, catalog.aliases):
        cache.cache_clear()


def test_an_operator_added_in_its_own_module_reaches_specs_pipelines_and_the_cli(toy_module,
                                                                                 capsys):
    from dali_regaug.cli import main

    assert spec.describe("toy_corner(side=3)") == "toy_corner(side=3)"
    with pytest.raises(ValueError, match="side=99 is out of range"):
        spec.parse("toy_corner(side=99)")

    @pipeline_def(batch_size=2, num_threads=1, device_id=None, seed=0)
    def pipe():
        x = fn.external_source(source=lambda: [np.full((8, 8, 3), 9, np.uint8)] * 2,
                               batch=True, layout="HWC")
        return spec.build("toy_corner(side=3)", x, {"labels": x}, layout="HWC")[0]

    p = pipe()
    p.build()
    out = np.asarray(p.run()[0].at(0))
    assert (out[:3, :3] == 0).all() and (out[3:] == 9).all()
    assert main(["ops", "toy_corner"]) == 0
    assert "side : integer in [1, 64]" in capsys.readouterr().out


LAYERS = {  # a module may import its own layer and those below it, never above
    "core": ("records", "batch", "declare", "validate", "rng", "schedule", "fill", "kernels",
             "emulator", "nvrtc", "coco", "config", "extras"),
    "backends": ("launch", "cubin"),
    "ops": ("ops",),
    "adapters": ("adapter", "cpu_node", "dtypes", "fn", "spec", "registry", "layouts", "loader",
                 "torch", "saliency", "pipelines"),
    "tools": ("cli", "train", "preview", "sample_data", "sample_coco", "benchmarks"),
}
ORDER = list(LAYERS)


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "dali_regaug" or len(parts) < 2:
        return None
    for i, (layer, heads) in enumerate(LAYERS.items()):
        if parts[1] in heads:
            return i
    if parts[1] in ("load_state_dict", "set_epoch", "state_dict"):
        return None  # names of the package itself (dali_regaug/__init__.py)
    raise AssertionError(f"{module} is in no layer")


def _sources():
    dirs = {"dali_regaug": ROOT / "dali_regaug", "dali_regaug.kernels": ROOT / "kernels",
            "dali_regaug.pipelines": ROOT / "pipelines"}
    for package, folder in dirs.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            name = ".".join((package, *rel.parts)).removesuffix(".__init__")
            yield name, path


def test_imports_point_down_the_layers():
    wrong = []
    for module, path in _sources():
        own = _layer(module)
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            if isinstance(node, ast.ImportFrom) and len(targets) > 1:
                # "from dali_regaug import a, b": each name is a module (or a name of the
                # package itself, which counts as its own layer)
                targets = targets[1:] if node.module == "dali_regaug" else targets[:1]
            for t in targets:
                layer = _layer(t) if t.startswith("dali_regaug.") else None
                if layer is not None and own is not None and layer > own:
                    wrong.append(f"{module} ({ORDER[own]}) imports {t} ({ORDER[layer]})")
    assert not wrong, "\n".join(wrong)


def test_every_record_dtype_has_one_owner():
    for module, path in _sources():
        if module == "dali_regaug.records":
            continue
        text = path.read_text()
        assert "np.dtype([" not in text, f"{module} defines a record dtype: use records"
