"""House rules a program can check: a pure domain, one reader of the environment, thin handlers."""

import ast
from pathlib import Path

from tests.conftest import ROOT

INFRASTRUCTURE = {"boto3", "botocore", "pynamodb", "wechatpy", "chalice", "requests", "aws_xray_sdk", "moto"}


def _modules(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_domain_imports_no_infrastructure_and_nothing_outside_the_domain():
    for path in _modules(ROOT / "chalicelib" / "domain"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in INFRASTRUCTURE, f"{path.name} imports {name}"
            if top == "chalicelib":
                assert name.startswith("chalicelib.domain"), f"{path.name} imports {name}"


def test_only_config_reads_the_environment():
    readers = []
    for path in [*_modules(ROOT / "chalicelib"), ROOT / "app.py"]:
        text = path.read_text(encoding="utf-8")
        if "os.environ" in text or "os.getenv" in text:
            readers.append(path.relative_to(ROOT).as_posix())
    assert readers == ["chalicelib/config.py"]


def test_route_handlers_stay_thin():
    for path in _modules(ROOT / "chalicelib" / "api"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "attr", "") in {"route", "on_sqs_message", "schedule"}
                for d in node.decorator_list
            ):
                length = node.end_lineno - node.lineno
                assert length <= 15, f"{path.name}:{node.name} has {length} lines"


def test_app_module_only_wires():
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
