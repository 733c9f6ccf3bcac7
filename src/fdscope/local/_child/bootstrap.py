"""The local Lambda's runtime entry point, run as a script in the child process.

``python bootstrap.py HANDLER`` plays ``/var/runtime/bootstrap``: it applies the
environment's rules (descriptor limit, network policy, origins tracking, a
``gc.collect()`` after each invocation when asked), then hands over to the real
runtime interface client, ``awslambdaric``. Standard library only; must run on
CPython 3.8+ because it runs on the user's interpreter (``--python``).

The frames of this file are dropped from error stack traces by ``awslambdaric``
itself (it strips leading frames from files named ``bootstrap.py``).
"""

import ipaddress
import os
import sys


def _refuse_network() -> None:
    """Refuse ``socket.connect`` to anything but loopback and local sockets."""
    import errno

    def allowed(address: object) -> bool:
        if not isinstance(address, tuple) or not address:
            return True  # AF_UNIX paths, netlink, ...
        host = address[0]
        if not isinstance(host, str):
            return True
        if host in ("localhost", ""):
            return True
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False  # a name that did not go through getaddrinfo
        if ip.is_loopback:
            return True
        mapped = getattr(ip, "ipv4_mapped", None)
        return bool(mapped is not None and mapped.is_loopback)

    def hook(event: str, args: tuple) -> None:
        if event == "socket.connect" and not allowed(args[1]):
            raise PermissionError(
                errno.EACCES,
                f"fdscope: network access to {args[1]!r} refused in the local Lambda "
                "(only loopback is allowed; use --allow-network)",
            )

    sys.addaudithook(hook)


def _wrap_handlers(gc_between: bool, report: bool, track: bool) -> None:
    """Make awslambdaric's handler lookup return a wrapper doing per-invocation work."""
    from awslambdaric import bootstrap as ric

    original = ric._get_handler
    count = [0]

    def before_invocation() -> None:
        if track:
            try:
                from fdscope import origins

                # what the runtime client opened in C since the last invocation (its
                # connections to the Runtime API) is not the user's next line
                origins.checkpoint()
            except Exception as exc:  # never break the user's invocation
                sys.stderr.write(f"fdscope: origins checkpoint failed: {exc!r}\n")

    def after_invocation() -> None:
        count[0] += 1
        if gc_between:
            import gc

            gc.collect()
        if report:
            try:
                from fdscope import origins

                origins.send_report(invocation=count[0])
            except Exception as exc:  # never break the user's invocation
                sys.stderr.write(f"fdscope: origins report failed: {exc!r}\n")

    def get_handler(handler):  # type: ignore[no-untyped-def]
        user = original(handler)

        def invoke(event, context):  # type: ignore[no-untyped-def]
            before_invocation()
            try:
                return user(event, context)
            finally:
                after_invocation()

        return invoke

    ric._get_handler = get_handler


def main(argv: list) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]
    # fdscope's staging directory (the runtime client for a foreign interpreter,
    # a pure-Python runtime_client fallback) goes last, like /var/runtime.
    staging = os.environ.pop("_FDSCOPE_STAGING", "")
    if staging:
        sys.path.append(staging)
    if os.environ.get("FDSCOPE_ALLOW_NETWORK") != "1":
        _refuse_network()
    track = os.environ.get("FDSCOPE_TRACK") == "1"
    if track:
        try:
            import fdscope.origins  # noqa: F401  (starts tracking at import)
        except ImportError as exc:
            sys.stderr.write(f"fdscope: origins tracking unavailable: {exc}\n")
            track = False
    gc_between = os.environ.pop("_FDSCOPE_GC_BETWEEN", "") == "1"
    # Lambda's bootstrap reads the handler from _HANDLER (an exec wrapper may
    # have changed it); fdscope's monitor sends its own origins reports.
    handler = os.environ.get("_HANDLER") or (argv[1] if len(argv) > 1 else "")
    report = track and handler != "fdscope.monitor.entry.handler"
    if gc_between or track:
        _wrap_handlers(gc_between, report, track)
    from awslambdaric import __main__ as ric_main

    ric_main.main([argv[0], handler])


if __name__ == "__main__":
    main(sys.argv)
