"""A module importing a package that is not installed (Runtime.ImportModuleError)."""

import fdscope_no_such_package  # noqa: F401


def handler(event, context):  # pragma: no cover - never reached
    return "unreachable"
