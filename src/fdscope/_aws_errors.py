"""The one place where botocore's setup errors become fdscope errors with a hint.

::

    with aws_errors("querying CloudWatch Logs Insights", region_option=False):
        logs = boto3.client("logs")
        logs.start_query(...)

No region (``NoRegionError``), no credentials (``NoCredentialsError``, a partial set,
a missing profile, an expired SSO token, keys AWS refuses) and an endpoint that does
not answer (``EndpointConnectionError``, a connect timeout) leave the block as
:class:`~fdscope.errors.NoRegion`, :class:`~fdscope.errors.NoCredentials` and
:class:`~fdscope.errors.EndpointUnreachable`: one line saying what failed and a
``hint:`` line saying what to do, which the CLI prints without a traceback. Anything
else passes unchanged: the caller's own ``except (ClientError, BotoCoreError)`` turns it
into its package's error, after :func:`setup_error` says it is not one of these.

Standard library only: the exceptions are recognised by their class names (botocore's
public names, stable since 1.x), so a runtime part (``fdscope.logs._pull``) may use it
without importing botocore.
"""

from __future__ import annotations

from fdscope.errors import AwsSetupError, EndpointUnreachable, NoCredentials, NoRegion

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

_REGION = ("NoRegionError",)
_CREDENTIALS = (
    "NoCredentialsError",
    "PartialCredentialsError",
    "ProfileNotFound",
    "TokenRetrievalError",
    "SSOTokenLoadError",
    "UnauthorizedSSOTokenError",
    "SSOError",
)
_ENDPOINT = ("EndpointConnectionError", "ConnectTimeoutError")
# ClientError codes that mean the credentials, not the request, are wrong
_REFUSED_KEYS = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
}


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def setup_error(
    exc: BaseException, what: str, *, region_option: bool = True, endpoint_option: bool = True
) -> AwsSetupError | None:
    """The fdscope error for one of botocore's setup errors, else None.

    ``region_option`` / ``endpoint_option``: the command takes ``--region`` /
    ``--endpoint-url`` (the hint names them only then)."""
    names = _names(exc)
    if names & set(_REGION):
        where = "pass --region, or set" if region_option else "set"
        return NoRegion(
            what,
            "no AWS region is configured",
            f"{where} AWS_DEFAULT_REGION (boto3 does not read AWS_REGION), or a region in "
            "~/.aws/config (`aws configure`); with a profile, AWS_PROFILE picks its region",
        )
    if names & set(_CREDENTIALS):
        if "ProfileNotFound" in names:
            hint = "check AWS_PROFILE against the profiles in ~/.aws/config (`aws configure list-profiles`)"
        elif names & {"TokenRetrievalError", "SSOTokenLoadError", "UnauthorizedSSOTokenError"}:
            hint = "the SSO session has expired: `aws sso login` (with your profile)"
        else:
            hint = (
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run "
                "`aws configure` / `aws sso login`; `aws sts get-caller-identity` checks them"
            )
        return NoCredentials(what, f"no AWS credentials ({exc})", hint)
    if names & set(_ENDPOINT):
        endpoint = str(getattr(exc, "kwargs", {}).get("endpoint_url") or "the endpoint")
        where = "--endpoint-url or " if endpoint_option else ""
        return EndpointUnreachable(
            what,
            f"cannot connect to {endpoint}",
            f"check the network and the region; for a local endpoint, that it is running "
            f"and {where}AWS_ENDPOINT_URL points at it",
        )
    if "ClientError" in names:
        code = str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))
        if code in _REFUSED_KEYS:
            return NoCredentials(
                what,
                f"AWS refused the credentials ({code})",
                "the keys are wrong or expired: refresh them (`aws sso login`, new keys) "
                "and check with `aws sts get-caller-identity`",
            )
    return None


class aws_errors:  # noqa: N801 - used as a statement: ``with aws_errors("..."):``
    """Around fdscope's own AWS calls (client creation included): setup errors leave it
    as :class:`~fdscope.errors.AwsSetupError` subclasses with a hint."""

    __slots__ = ("endpoint_option", "region_option", "what")

    def __init__(self, what: str, *, region_option: bool = True, endpoint_option: bool = True):
        self.what = what
        self.region_option = region_option
        self.endpoint_option = endpoint_option

    def __enter__(self) -> aws_errors:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, AwsSetupError):
            return
        mapped = setup_error(
            exc,
            self.what,
            region_option=self.region_option,
            endpoint_option=self.endpoint_option,
        )
        if mapped is not None:
            raise mapped from exc

    def check(self, exc: BaseException) -> None:
        """In a caller's own ``except``: raise the setup error ``exc`` is, if it is one."""
        mapped = setup_error(
            exc,
            self.what,
            region_option=self.region_option,
            endpoint_option=self.endpoint_option,
        )
        if mapped is not None:
            raise mapped from exc
