"""The one door to fdscope's optional dependencies: a missing one names its extra.

::

    with extra("query"):
        import duckdb

A module the block fails to import becomes :class:`~fdscope.errors.MissingExtra`
("duckdb is not installed: pip install 'fdscope[query]'"), which the CLI prints as
one line with exit code 2. The import stays a plain ``import`` statement, so the
import contract and the type checker still see it. Missing fdscope modules are
never disguised as a missing extra: they propagate unchanged.

Standard library only and nothing imported here: the runtime parts use it too.
Extras (``pyproject.toml``): cli (click, rich), query (duckdb), plot (matplotlib),
aws (boto3, botocore), lambda (awslambdaric), psutil (psutil), local-aws (moto:
``--aws-endpoint local``).
"""

from __future__ import annotations

from fdscope.errors import MissingExtra

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of every cold start
if TYPE_CHECKING:
    from types import TracebackType


class extra:  # noqa: N801 - used as a statement: ``with extra("aws"):``
    """Context manager around the import lines of one extra's dependencies.

    ``needed_for`` (optional) says what needs it: ``with extra("aws", "sending to
    CloudWatch"):`` gives "sending to CloudWatch needs boto3: pip install 'fdscope[aws]'".
    """

    __slots__ = ("name", "needed_for")

    def __init__(self, name: str, needed_for: str | None = None) -> None:
        self.name = name
        self.needed_for = needed_for

    def __enter__(self) -> extra:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, ImportError):
            return
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing == "fdscope":
            return  # not a dependency: fdscope itself is broken; show it as it is
        hint = f"pip install 'fdscope[{self.name}]'"
        if not isinstance(exc, ModuleNotFoundError):
            what = f"{missing} is installed but cannot be imported ({exc}); reinstall it: {hint}"
        elif self.needed_for:
            what = f"{self.needed_for} needs {missing}: {hint}"
        else:
            what = f"{missing} is not installed: {hint}"
        raise MissingExtra(self.name, missing, what) from exc
