"""The import graph: the library never imports a CLI, the loop stays light."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "betavae_jax"
CLIS = ("betavae_jax.evaluate", "betavae_jax.visualize", "betavae_jax.main")
# Top-level names of this repository that are not the package.
OUTSIDE = ("benchmarks", "configs", "experiments", "tests")
# What the metric suite, the figures and preparing data need; the loop
# reaches the first two through hooks only, and loads tensorflow_datasets
# (which loads PIL) only when it loads a dataset.
HEAVY = ("matplotlib", "sklearn", "scipy", "tensorflow_datasets", "PIL")


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(ROOT).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> set[str]:
  """Every module an import statement of `path` names, nested ones too."""
  names = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names.add(node.module)
      names.update(f"{node.module}.{alias.name}" for alias in node.names)
  return names


def _package_modules() -> list[pathlib.Path]:
  return sorted(p for p in PACKAGE.rglob("*.py")
                if "pretrained_models" not in p.parts)


@pytest.mark.parametrize("path", _package_modules(),
                         ids=lambda p: _module_name(p))
def test_no_package_module_imports_a_cli_or_the_outside(path):
  imported = _imports(path)
  clis = sorted(m for m in imported
                if any(m == c or m.startswith(c + ".") for c in CLIS))
  assert not clis, f"{_module_name(path)} imports the CLI {clis}"
  outside = sorted(m for m in imported if m.split(".")[0] in OUTSIDE)
  assert not outside, f"{_module_name(path)} imports {outside}"


@pytest.mark.parametrize("module", ["betavae_jax.train", "betavae_jax.hooks",
                                    "betavae_jax.plotting.arrays"])
@pytest.mark.slow
def test_importing_the_loop_loads_no_suite_figures_or_tfds(module):
  code = (f"import sys, {module}\n"
          f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == "", f"{module} loads {proc.stdout.strip()}"
