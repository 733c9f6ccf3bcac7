"""Each runtime package says what is public: a sorted __all__ whose every name resolves."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["fdscope.emf", "fdscope.trend", "fdscope.monitor"])
def test_all_is_sorted_and_resolves(name: str) -> None:
    mod = importlib.import_module(name)

    # isort style, as ruff sorts it: CONSTANTS, then Classes, then functions
    def order(n: str) -> tuple[int, str]:
        return (0 if n.isupper() else 1 if n[0].isupper() else 2, n)

    assert mod.__all__ == sorted(mod.__all__, key=order)
    for attr in mod.__all__:
        assert getattr(mod, attr) is not None, attr
    with pytest.raises(AttributeError):
        mod.not_a_public_name  # noqa: B018
