"""The pytest plugin, through real pytest sessions (pytester): modes, identity, no false alarms."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from fdscope.pytest_plugin._plugin import IgnorePatternError, new_fds, parse_ignore

# In-process pytester runs drop modules first imported inside them; import what the plugin
# uses now so every inner session sees the same tracker.
for _name in (
    "fdscope.handles",
    "fdscope.origins",
    "fdscope.origins._report",
    "fdscope.origins._triggers",
    "fdscope.origins._tracker",
):
    importlib.import_module(_name)

pytest_plugins = ["pytester"]


# hypothesis's plugin imports hypothesis in every inner session (seconds each): not needed here
_QUIET = ("-p", "no:hypothesispytest")


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*_QUIET, *args)


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


LEAKY = """
import os
KEEP = []

def test_leaks(tmp_path):
    KEEP.append(open(tmp_path / "kept.txt", "w"))

def test_clean(tmp_path):
    with open(tmp_path / "closed.txt", "w") as f:
        f.write("x")
"""


def test_inert_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LEAKY)
    result = _run(pytester, "-W", "error::pytest.PytestWarning")
    result.assert_outcomes(passed=2)
    assert "leaked" not in result.stdout.str()


def test_option_requires_one_of_the_modes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LEAKY)
    result = _run(pytester, "--fd-leaks", "tests/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "invalid choice: 'tests/'" in result.stderr.str()


def test_warn_mode_warns_with_the_creation_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky=LEAKY)
    result = _run(pytester, "--fd-leaks=warn")
    result.assert_outcomes(passed=2, warnings=1)
    out = result.stdout.str()
    assert "test_leaky.py::test_leaks leaked 1 descriptor" in out
    assert "kept.txt" in out
    line = _line_of(pytester.path / "test_leaky.py", "KEEP.append")  # the line that opened it
    assert f"test_leaky.py:{line} in test_leaks via open" in out
    assert "test_clean leaked" not in out


def test_fail_mode_fails_the_leaky_test_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky=LEAKY)
    result = _run(pytester, "--fd-leaks=fail")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*", "*kept.txt*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_ini_option_and_marker_override(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfd_leaks = fail\n")
    pytester.makepyfile(
        """
        import pytest
        KEEP = []

        def test_leaks(tmp_path):
            KEEP.append(open(tmp_path / "a", "w"))

        @pytest.mark.fd_leaks("off")
        def test_leaks_but_excused(tmp_path):
            KEEP.append(open(tmp_path / "b", "w"))
        """
    )
    result = _run(
        pytester,
    )
    result.assert_outcomes(passed=2, errors=1)
    assert "test_leaks_but_excused" not in "".join(
        line for line in result.stdout.lines if "ERROR at teardown" in line
    )


def test_reused_descriptor_number_is_caught_where_lsof_misses_it(
    pytester: pytest.Pytester,
) -> None:
    # fd N is open before the test; the test closes it and leaks a new file that gets the
    # same number. pytest's --lsof compares numbers only and misses it.
    pytester.makepyfile(
        test_reuse="""
        import os, tempfile
        D = tempfile.mkdtemp()
        BEFORE = open(os.path.join(D, "before.txt"), "w")
        KEEP = []

        def test_reuse():
            n = BEFORE.fileno()
            BEFORE.close()
            leaked = open(os.path.join(D, "after.txt"), "w")
            assert leaked.fileno() == n
            KEEP.append(leaked)
        """
    )
    lsof = _run(pytester, "-p", "pytester", "--lsof", "-W", "always")
    lsof.assert_outcomes(passed=1)
    assert "FD leakage" not in lsof.stdout.str()
    ours = _run(pytester, "--fd-leaks=fail")
    ours.assert_outcomes(passed=1, errors=1)
    text = ours.stdout.str()
    assert "after.txt" in text
    line = _line_of(pytester.path / "test_reuse.py", "leaked = open")
    assert f"test_reuse.py:{line} in test_reuse via open" in text


def test_no_false_alarms_from_pytest_machinery(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import socket, pytest

        class LazyServer:
            def __init__(self):
                self.sock = None
            def use(self):
                if self.sock is None:
                    self.sock = socket.socket()
                    self.sock.bind(("127.0.0.1", 0))
                return self.sock.getsockname()

        @pytest.fixture(scope="session")
        def lazy():
            srv = LazyServer()
            yield srv
            if srv.sock is not None:
                srv.sock.close()

        @pytest.fixture(scope="module")
        def module_file(tmp_path_factory):
            f = open(tmp_path_factory.mktemp("m") / "m.txt", "w")
            yield f
            f.close()
        """
    )
    pytester.makepyfile(
        """
        import logging, os, sys

        def test_capfd(capfd):
            os.write(1, b"out")
            print("x", file=sys.stderr)
            assert capfd.readouterr().out == "out"

        def test_capsys(capsys):
            print("hello")
            assert capsys.readouterr().out == "hello\\n"

        def test_caplog(caplog):
            logging.getLogger("x").warning("careful")
            assert "careful" in caplog.text

        def test_tmp_path(tmp_path):
            (tmp_path / "f").write_text("x")
            assert (tmp_path / "f").read_text() == "x"

        def test_lazy_session_fixture(lazy):
            assert lazy.use()[0] == "127.0.0.1"

        def test_module_fixture(module_file):
            module_file.write("x")

        def test_garbage_cycle(tmp_path):
            class Node:
                pass
            a, b = Node(), Node()
            a.other, b.other = b, a
            a.f = open(tmp_path / "cycle", "w")
        """
    )
    result = _run(pytester, "--fd-leaks=fail")
    result.assert_outcomes(passed=7)


def test_xdist_workers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x=LEAKY
        + """
def test_capfd(capfd):
    print("x")
    assert capfd.readouterr().out == "x\\n"
"""
    )
    result = pytester.runpytest_subprocess(
        *_QUIET, "-n", "2", "--fd-leaks=fail", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3, errors=1)
    assert "kept.txt" in result.stdout.str()


def test_ignore_patterns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky=LEAKY)
    result = _run(pytester, "--fd-leaks=fail", "--fd-leaks-ignore=path:*kept.txt")
    result.assert_outcomes(passed=2)
    result = _run(pytester, "--fd-leaks=fail", "--fd-leaks-ignore=kind:pipe")
    result.assert_outcomes(passed=2, errors=1)


@pytest.mark.parametrize(
    "pattern",
    ["pipe", "colour:red", ":x"],  # no field; unknown field; empty field
)
def test_bad_ignore_pattern(pattern: str) -> None:
    with pytest.raises(IgnorePatternError):
        parse_ignore([pattern])


def test_new_fds_compares_identity_not_numbers() -> None:
    before = {3: ("/a", 1, 1), 4: ("socket:[9]",)}
    # 3 now holds another file; 5 is a dup of the socket (same identity, counted twice)
    after = {3: ("/b", 2, 1), 4: ("socket:[9]",), 5: ("socket:[9]",)}
    assert new_fds(before, after) == [3, 5]
    assert new_fds(after, after) == []
    # a renumbered handle (dup2 then close) is not new
    assert new_fds({7: ("pipe:[1]",)}, {9: ("pipe:[1]",)}) == []


def test_plugin_load_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, fdscope.pytest_plugin as p; assert p.__all__ == sorted(p.__all__);"
        "print(sorted(m for m in sys.modules if m.startswith(('fdscope.handles', "
        "'fdscope.origins', 'fdscope.pytest_plugin._plugin', 'pytest', 'click', 'duckdb'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


KEEP_ALIVE_CONFTEST = """
import http.client, http.server, threading, pytest

class _H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the accepted socket stays open between tests
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass

@pytest.fixture(scope="session")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()

@pytest.fixture(scope="session")
def pool(server):
    import urllib3
    p = urllib3.PoolManager()
    yield p
    p.clear()

@pytest.fixture(scope="module")
def conn(server):
    c = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
    yield c
    c.close()
"""

KEEP_ALIVE_TESTS = """
import http.client
KEEP = []

def test_pool_1(pool, server):
    assert pool.request("GET", f"http://127.0.0.1:{server.server_address[1]}/").data == b"ok"

def test_pool_2(pool, server):
    assert pool.request("GET", f"http://127.0.0.1:{server.server_address[1]}/").data == b"ok"

def test_conn_1(conn):
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"ok"

def test_conn_2(conn):
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"ok"

def test_leaks_a_connection_to_the_server(server):
    c = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
    c.request("GET", "/")
    assert c.getresponse().read() == b"ok"
    KEEP.append(c)
"""


def _keep_alive_suite(pytester: pytest.Pytester) -> None:
    pytest.importorskip("urllib3")
    pytester.makeconftest(KEEP_ALIVE_CONFTEST)
    pytester.makepyfile(test_keep_alive=KEEP_ALIVE_TESTS)


def _assert_only_the_true_leak(result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=5, errors=1)
    out = result.stdout.str()
    errors = [line for line in result.stdout.lines if "ERROR at teardown" in line]
    assert len(errors) == 1 and "test_leaks_a_connection_to_the_server" in errors[0], out
    assert "in test_leaks_a_connection_to_the_server via" in out


def test_keep_alive_session_server_accepted_socket_is_not_blamed(
    pytester: pytest.Pytester,
) -> None:
    # the server's thread accepts the session/module client's connection lazily, during the
    # first test that uses it: that accepted socket is the fixtures' connection, not a leak;
    # a test that leaks its own connection to the same server is still caught
    _keep_alive_suite(pytester)
    # in a subprocess: the suite leaks a connection on purpose, and its server's handler
    # thread would otherwise live on in this worker, closing sockets during later tests
    result = pytester.runpytest_subprocess(*_QUIET, "--fd-leaks=fail", "-p", "no:cacheprovider")
    _assert_only_the_true_leak(result)


def test_keep_alive_session_server_under_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    _keep_alive_suite(pytester)
    result = pytester.runpytest_subprocess(
        *_QUIET, "-n", "2", "--fd-leaks=fail", "-p", "no:cacheprovider"
    )
    _assert_only_the_true_leak(result)


def test_second_open_of_a_file_a_session_fixture_holds_is_a_leak(
    pytester: pytest.Pytester,
) -> None:
    # ownership is per descriptor, not per file: a handler added per test on the log file a
    # session fixture holds open leaks a descriptor of its own
    log = pytester.path / "app.log"
    pytester.makepyfile(
        test_same=f"""
        import logging, pytest
        P = {str(log)!r}

        @pytest.fixture(scope="session")
        def session_log():
            f = open(P, "a")
            yield f
            f.close()

        def test_uses_log(session_log):
            session_log.write("x")

        def test_leaks_same_file(session_log):
            logging.getLogger("app").addHandler(logging.FileHandler(P))

        def test_uses_log_again(session_log):
            session_log.write("y")
        """
    )
    result = _run(pytester, "--fd-leaks=fail")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks_same_file*", "*app.log*"])


def test_bad_ignore_pattern_on_the_command_line_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_leaky=LEAKY)
    result = _run(pytester, "--fd-leaks=fail", "--fd-leaks-ignore=pipe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "'pipe' must start with kind:, path: or endpoint:" in result.stderr.str()


def test_marker_with_an_unknown_mode_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.fd_leaks("fial")
        def test_typo(tmp_path):
            pass

        @pytest.mark.fd_leaks(ignore=["pipe"])
        def test_bad_ignore(tmp_path):
            pass

        def test_fine():
            pass
        """
    )
    result = _run(pytester, "--fd-leaks=fail")
    result.assert_outcomes(passed=1, errors=2)
    out = result.stdout.str()
    assert "mode 'fial' is not one of off, warn, fail" in out
    assert "'pipe' must start with kind:, path: or endpoint:" in out
    assert "INTERNALERROR" not in out


# ---- the recommended fix passes: a client at module scope, its pooled connection ----------
# A keep-alive server in ANOTHER process (so no accepted socket of this process pairs with the
# client's) and an app module holding its client at module scope, as the doctor advises.
REMOTE_SERVER = """
import http.server, sys

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.timeout = 0.5
print(srv.server_address[1], flush=True)
import threading, time
threading.Thread(target=srv.serve_forever, daemon=True).start()
time.sleep(float(sys.argv[1]))  # bounded: ends by itself
"""

APP_MODULE = """
import os, urllib3

URL = f"http://127.0.0.1:{os.environ['REMOTE_PORT']}/"
POOL = urllib3.PoolManager()      # at module scope, as the doctor advises
_lazy = None                      # or made on first use (the lazy-init form)
_sessions = []                    # the leak: a pool per call, kept

def handler(event=None):
    return POOL.request("GET", URL).data

def lazy_handler(event=None):
    global _lazy
    if _lazy is None:
        _lazy = urllib3.PoolManager()
    return _lazy.request("GET", URL).data

def leaky_handler(event=None):
    pool = urllib3.PoolManager()
    _sessions.append(pool)
    return pool.request("GET", URL).data
"""

APP_TESTS = """
import app

def test_first_call():
    assert app.handler() == b"ok"

def test_second_call():
    assert app.handler() == b"ok"

def test_lazy_first():
    assert app.lazy_handler() == b"ok"

def test_lazy_second():
    assert app.lazy_handler() == b"ok"

def test_keeps_its_own_pool():
    assert app.leaky_handler() == b"ok"
"""


def test_pooled_connection_of_a_module_scope_client_is_not_a_leak(
    pytester: pytest.Pytester,
) -> None:
    import subprocess
    import sys

    pytest.importorskip("urllib3")
    srv = subprocess.Popen(
        [sys.executable, "-c", REMOTE_SERVER, "60"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = srv.stdout.readline().strip()  # type: ignore[union-attr]
        pytester.makepyfile(app=APP_MODULE, test_app=APP_TESTS)
        pytester.syspathinsert()
        result = _run_env(pytester, {"REMOTE_PORT": port})
    finally:
        srv.kill()
        srv.wait()
    result.assert_outcomes(passed=5, errors=1)
    errors = [line for line in result.stdout.lines if "ERROR at teardown" in line]
    assert len(errors) == 1 and "test_keeps_its_own_pool" in errors[0], result.stdout.str()
    line = _line_of(pytester.path / "app.py", "return pool.request")
    assert f"app.py:{line}" in result.stdout.str()


def _run_env(pytester: pytest.Pytester, env: dict[str, str]) -> pytest.RunResult:
    mp = pytest.MonkeyPatch()
    try:
        for k, v in env.items():
            mp.setenv(k, v)
        return pytester.runpytest_subprocess(*_QUIET, "--fd-leaks=fail", "-p", "no:cacheprovider")
    finally:
        mp.undo()


def test_a_leak_landing_on_fd_0_after_a_test_closed_it_is_caught(
    pytester: pytest.Pytester,
) -> None:
    # with -s (no capture) fds 0-2 are the terminal's; a test closes stdin, the next test's
    # leaked file gets descriptor 0 and must not pass unseen
    pytester.makepyfile(
        test_zero="""
        import os, tempfile
        KEEP = []

        def test_closes_stdin():
            os.close(0)

        def test_leaks_onto_zero():
            f = open(tempfile.mktemp(), "w")
            assert f.fileno() == 0
            KEEP.append(f)

        def test_clean():
            pass
        """
    )
    for capture in ("-s", "--capture=fd"):
        result = pytester.runpytest_subprocess(
            *_QUIET, capture, "--fd-leaks=fail", "-p", "no:cacheprovider"
        )
        errors = [line for line in result.stdout.lines if "ERROR at teardown" in line]
        assert any("test_leaks_onto_zero" in e for e in errors), (capture, result.stdout.str())
        assert not any("test_clean" in e or "test_closes_stdin" in e for e in errors)
