"""Dependencies flow downward only (docs/design.md, "The layers"): a lower layer never imports a higher one."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "chainplug"
ORDER = [
    *("crypto", "envelope", "verify", "keystore", "migration", "registry", "signer", "node", "devnet"),
    *("bench", "cli"),
]
BASE = {"constants", "errors", "types", "_fs", "rpc"}
"""Base modules (and the base package ``rpc``): every layer may import them; they import no layer."""


def _imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    rel_parts = path.relative_to(PACKAGE).parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("chainplug."):
                found.add(node.module.split(".")[1])
            elif node.level > 0:
                base = list(rel_parts[:-1])[: len(rel_parts) - node.level]
                target = [*base, *(node.module.split(".") if node.module else [])]
                if target:
                    found.add(target[0].removesuffix(".py"))
                else:
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("chainplug."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("layer", [name for name in ORDER if (PACKAGE / name).exists()])
def test_layer_imports_only_lower_layers(layer: str) -> None:
    allowed = set(ORDER[: ORDER.index(layer) + 1]) | BASE
    for path in (PACKAGE / layer).rglob("*.py"):
        bad = _imported_layers(path) - allowed
        bad = {name for name in bad if name in ORDER}
        assert not bad, f"{path.relative_to(PACKAGE)} imports higher layer(s) {sorted(bad)}"


def test_base_modules_import_no_layer() -> None:
    for name in BASE:
        paths = [PACKAGE / f"{name}.py"] if (PACKAGE / f"{name}.py").exists() else (PACKAGE / name).rglob("*.py")
        for path in paths:
            assert not (_imported_layers(path) & set(ORDER)), path.relative_to(PACKAGE)


def test_rpc_package_imports_only_errors_and_constants() -> None:
    """The shared JSON-RPC plumbing sits below the signer: stdlib, aiohttp, requests, errors, constants."""
    paths = list((PACKAGE / "rpc").rglob("*.py"))
    assert paths
    for path in paths:
        outside = _imported_layers(path) - {"errors", "constants"} - {p.stem for p in paths} - {"rpc"}
        assert not outside, f"{path.relative_to(PACKAGE)} imports {sorted(outside)}"
