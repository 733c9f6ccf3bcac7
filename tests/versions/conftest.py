"""Every Lambda Python: the environments of ``make pythons`` and a layer built for all of them.

A version whose environment is missing is skipped naming it (and fails with CI=true).
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pythons import env_python, ready  # noqa: E402

from fdscope.monitor._layer import LAMBDA_PYTHONS, build_layer  # noqa: E402

CI = bool(os.environ.get("CI"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "version" in metafunc.fixturenames:
        metafunc.parametrize("version", LAMBDA_PYTHONS)


@pytest.fixture
def python(version: str) -> str:
    """The environment's interpreter for ``version`` (real awslambdaric, native client)."""
    if ready(version) is None:
        why = (
            f"Python {version} (Lambda's python{version}) has no environment: "
            f"{env_python(version).parent.parent} (make pythons; no interpreter found?)"
        )
        if CI:
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    return str(env_python(version))


def extract_as_lambda(zip_path: Path, opt: Path) -> None:
    """What Lambda does with a layer: its files under /opt, modes kept (the wrapper runs)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, opt))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                target.chmod(mode)


@pytest.fixture(scope="session")
def layer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(the extracted layer, /opt; version -> the interpreter that compiled its byte code),
    built for every Lambda Python found here (the default)."""
    tmp = tmp_path_factory.mktemp("layer")
    built = build_layer(tmp / "fdscope-layer.zip")
    opt = tmp / "opt"
    extract_as_lambda(tmp / "fdscope-layer.zip", opt)
    return opt, built.compiled
