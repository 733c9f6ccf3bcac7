"""Whose code is a file: the user's, the standard library's, a package's, fdscope's."""

from __future__ import annotations

import os
import socket
import sysconfig
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from fdscope.origins import _judge


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    _judge.clear_cache()


@pytest.mark.parametrize(
    "filename, expected",
    [
        (socket.__file__, _judge.STDLIB),  # a pure-Python standard module
        (requests.__file__, _judge.LIBRARY),  # installed in site-packages
        (_judge.__file__, _judge.FDSCOPE),  # fdscope itself
        (__file__, _judge.USER),  # these tests are the user's code
        ("<frozen importlib._bootstrap>", _judge.STDLIB),  # frozen modules are stdlib
        ("<string>", _judge.USER),  # exec'd text is the user's
        ("<stdin>", _judge.USER),
    ],
)
def test_known_files(filename: str, expected: int) -> None:
    assert _judge.judge_file(filename) == expected


def test_lambda_task_layout_code_and_dependencies_side_by_side(tmp_path: Path) -> None:
    task = tmp_path / "task"
    (task / "mylib" / "sub").mkdir(parents=True)
    (task / "mylib" / "__init__.py").write_text("")
    (task / "mylib" / "sub" / "x.py").write_text("")
    (task / "single.py").write_text("")
    (task / "app.py").write_text("")
    (task / "helpers").mkdir()
    (task / "helpers" / "__init__.py").write_text("")
    dist = task / "mylib-1.0.dist-info"
    dist.mkdir()
    (dist / "RECORD").write_text(
        "mylib/__init__.py,sha256=x,0\nmylib/sub/x.py,,\n../../bin/tool,,\n"
    )
    other = task / "single_module-2.0.dist-info"
    other.mkdir()
    (other / "RECORD").write_text("single.py,sha256=x,0\n")
    assert _judge.judge_file(str(task / "app.py")) == _judge.USER
    assert _judge.judge_file(str(task / "helpers" / "__init__.py")) == _judge.USER
    assert _judge.judge_file(str(task / "mylib" / "__init__.py")) == _judge.LIBRARY
    assert _judge.judge_file(str(task / "mylib" / "sub" / "x.py")) == _judge.LIBRARY
    assert _judge.judge_file(str(task / "single.py")) == _judge.LIBRARY


def test_egg_info_in_a_source_tree_does_not_make_user_code_a_package(tmp_path: Path) -> None:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp.egg-info").mkdir()
    (tmp_path / "myapp.egg-info" / "top_level.txt").write_text("myapp\n")
    assert _judge.judge_file(str(tmp_path / "myapp" / "__init__.py")) == _judge.USER


def test_stdlib_dir_is_known() -> None:
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    assert _judge.judge_file(os.path.join(stdlib, "json", "__init__.py")) == _judge.STDLIB


def test_module_name_from_sys_path() -> None:
    assert _judge.module_name(requests.api.__file__) == "requests.api"
    assert _judge.module_name(requests.__file__) == "requests"
    assert _judge.module_name("<frozen os>") == "os"
    assert _judge.module_name("<string>") is None


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=400))
def test_any_record_text_is_read_without_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    # RECORD and top_level.txt are untrusted text: whatever they hold, judging never raises
    task = tmp_path_factory.mktemp("fuzz")
    dist = task / "pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "RECORD").write_bytes(text.encode("utf-8", "surrogatepass"))
    (dist / "top_level.txt").write_bytes(text.encode("utf-8", "surrogatepass"))
    (task / "app.py").write_text("")
    _judge.clear_cache()
    names = _judge._claimed_names(str(task))
    assert "pkg" in names  # the distribution's own name always counts
    assert _judge.judge_file(str(task / "app.py")) in (_judge.USER, _judge.LIBRARY)


@settings(max_examples=100, deadline=None)
@given(name=st.text(max_size=80))
def test_any_filename_is_judged(name: str) -> None:
    assert _judge.judge_file(name) in (_judge.USER, _judge.STDLIB, _judge.LIBRARY, _judge.FDSCOPE)
