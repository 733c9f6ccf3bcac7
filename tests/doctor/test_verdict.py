"""The doctor's verdict on every example of the corpus (examples/corpus.json).

Each example runs through the real local Lambda (awslambdaric, Runtime API,
outside samples, origins tracking, the in-function monitor). To keep the suite
fast, leaks are reproduced at a descriptor limit of 256 instead of 1,024 (the
seed example is also run at the default limit, in its own test); the verdict
must not depend on the limit, only on the shape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fdscope.doctor import EXIT_CODES, decide, diagnose, write_outputs
from fdscope.doctor.compare import compare
from fdscope.local import sample_event
from tests.helpers.local_lambda import assert_nothing_left

ROOT = Path(__file__).resolve().parents[2]
CORPUS = json.loads((ROOT / "examples" / "corpus.json").read_text())["examples"]
TEST_LIMIT = 256
EVENT = sample_event("apigw-http")


def _by_name(name: str) -> dict[str, Any]:
    return next(e for e in CORPUS if e["name"] == name)


@pytest.fixture(scope="module")
def moto_endpoint() -> Any:
    import boto3

    from fdscope.local import LocalAWS

    with LocalAWS() as server:
        boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=server.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="orders")
        yield server.endpoint


def _options(example: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    opts: dict[str, Any] = {"fd_limit": TEST_LIMIT, "timeout_s": 10.0, "event": EVENT}
    if example.get("needs") == "moto":
        opts["aws_endpoint"] = request.getfixturevalue("moto_endpoint")
    if example["name"] == "slow_audit_rotation":
        opts["max_invocations"] = 300  # projected, not reproduced
    if example.get("status"):
        opts["timeout_s"] = 2.0
    return opts


def _leak_lines(example: dict[str, Any]) -> set[str]:
    return {f"{example['leak_file']}:{n}" for n in example.get("leak_lines", ())}


# every Python example, with the verdict its README line states (the Node.js entries,
# runtime "nodejs", are tests/doctor/test_node_doctor.py's)
# watchdog's observers share the machine-wide inotify instance limit: test_watchdog_leak
ORDINARY = [
    e for e in CORPUS if e["name"] != "watchdog_observer" and e.get("runtime", "python") == "python"
]


@pytest.mark.parametrize("example", ORDINARY, ids=[e["name"] for e in ORDINARY])
def test_corpus_verdict(
    example: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    opts = _options(example, request)
    d = diagnose(
        example["handler"], code_root=ROOT / example["dir"], out_dir=tmp_path / "run", **opts
    )
    assert d.verdict == example["expect"], (d.verdict, d.shape, d.notes, d.summary()["gc_check"])
    assert d.exit_code == EXIT_CODES[example["expect"]]
    if example["expect"] == "leak" and "memory_rate" in example:  # memory, not descriptors
        assert d.first_limit == "memory" and d.memory["leaking"], (d.memory, d.notes)
        assert d.memory["out_of_memory_at"] is not None or d.memory["invocations_to_limit"]
        assert d.rate_per_invocation == pytest.approx(0.0, abs=0.05) and "memory" in d.advice
    elif example["expect"] == "leak":
        sites = {c.site for c in d.culprits}
        assert sites & _leak_lines(example), (sites, _leak_lines(example))
        if "thread_rate" in example:  # threads pile up, descriptors do not
            assert d.threads_only and d.threads_per_invocation > 0.5
            assert any("Threads, not descriptors" in n for n in d.notes)
        else:
            assert d.rate_per_invocation > 0 and not d.threads_only
        assert d.culprits[0].site in _leak_lines(example) or not d.culprits[0].approximate
        assert d.invocations_to_limit is not None
        assert any(c.site in d.advice for c in d.culprits)
    if example["expect"] == "gc-bound":
        assert d.peak is not None and d.peak < TEST_LIMIT
        assert d.gc_check and d.gc_check["collections_remove_growth"]
        assert d.culprits and {c.site for c in d.culprits} & _leak_lines(example)
    if example["expect"] in ("none", "bounded"):
        assert d.emfile == 0 and d.invocations_to_limit is None
    if example["name"] == "slow_audit_rotation":
        assert d.projected and d.emfile == 0
        assert d.invocations_to_limit and d.invocations_to_limit > 100
        assert any("Projected, not reproduced" in n for n in d.notes)
    if example["name"] == "boto3_client_per_call":
        assert d.per_invocation_init, "the per-invocation client is reported as a cost"
        assert any("costs time, not descriptors" in n for n in d.notes)
    if example["family"] == "broken" or example["name"] in ("forker", "flood"):
        # hangs, crashes, aborts, floods and forks leave no process, port or /tmp behind
        assert_nothing_left(SimpleNamespace(history=d.environments))
    if example.get("status") == "timeout":
        assert d.timeouts == d.invocations and d.cold_starts == d.invocations
    if example["name"] == "popen_per_call":  # processes pile up; no one process grows
        assert d.processes_only and d.emfile == 0 and d.peak is not None and d.peak < 32
        assert "end the child process" in d.advice.lower()
        assert "kept in `_active`" not in d.advice  # the library's list, not the user's
    if example["name"] == "helper_processes":  # the limit is per process
        assert d.peak is not None and d.peak < TEST_LIMIT
        assert any("the limit, 256, is per process" in n for n in d.notes)
    if example["name"] == "async_handler":
        assert "Runtime.MarshalError" in d.advice and "asyncio.run()" in d.advice
    if example["name"] == "rare_path_leak":  # a slow staircase is not mistaken for flat
        assert d.projected and 0.02 <= d.rate_per_invocation <= 0.06


@pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux only")
def test_watchdog_leak(tmp_path: Path) -> None:
    """Observers pile up until inotify's instance limit fails Observer.start with errno 24."""
    example = _by_name("watchdog_observer")
    d = diagnose(
        example["handler"],
        code_root=ROOT / example["dir"],
        out_dir=tmp_path / "run",
        fd_limit=TEST_LIMIT,
        event=EVENT,
        max_invocations=120,
    )
    assert d.verdict == "leak"
    assert d.threads_per_invocation > 0  # thread growth is part of the verdict
    assert {c.site for c in d.culprits} & _leak_lines(example) or d.kinds


def test_decide_needs_an_ok_invocation() -> None:
    assert decide([], limit=1024)[0] == "broken"


def test_compare_says_the_seed_fix_worked(tmp_path: Path) -> None:
    runs = {}
    for name in ("sockets_module_state", "sockets_module_state_fixed"):
        example = _by_name(name)
        d = diagnose(
            example["handler"],
            code_root=ROOT / example["dir"],
            out_dir=tmp_path / name,
            n=80,
            fd_limit=TEST_LIMIT,
            gc_check=False,
        )
        write_outputs(d)
        runs[name] = d
    c = compare(tmp_path / "sockets_module_state", tmp_path / "sockets_module_state_fixed")
    assert c.outcome == "fixed", c.reasons
    assert c.before.rate_per_invocation >= 0.9 and c.after.rate_per_invocation <= 0.05
    back = compare(tmp_path / "sockets_module_state_fixed", tmp_path / "sockets_module_state")
    assert back.outcome in ("worse", "unchanged")


def test_cli_doctor_exit_codes_and_report(tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="100")
    leak = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdscope",
            "doctor",
            "examples/mkstemp_leak/app.py:handler",
            "--fd-limit",
            "128",
            "--out",
            str(tmp_path / "a"),
            "-q",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert leak.returncode == 1, leak.stderr
    assert "verdict: leak" in leak.stdout and "app.py:8" in leak.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "fdscope", "doctor", "examples/no_such/app.py:handler"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr


def _sample(i: int, status: str = "ok", **kw: Any) -> Any:
    from fdscope.local import Sample

    base = dict(
        invocation=i,
        stream="s",
        request_id=f"r{i}",
        start=0,
        end=1,
        duration_ms=1.0,
        status=status,
        fd_count=10,
        by_kind={},
        threads=1,
        rss_bytes=1,
        fd_limit=TEST_LIMIT,
        cold_start=i == 1,
    )
    base.update(kw)
    return Sample(**base)


def test_a_broken_run_names_its_most_common_error_with_a_hint() -> None:
    from fdscope.doctor.advice import failure_text

    samples = [
        _sample(i, "error", error_type="KeyError", error_message="'Records'") for i in (1, 2, 3)
    ]
    text = failure_text(samples)
    assert text.startswith("KeyError: 'Records' (3 of 3 invocations)")
    assert "--event-type s3 or sqs" in text
    crashes = [
        _sample(
            i,
            "crash",
            error_type="Runtime.ExitError",
            error_message=f"RequestId: r{i} Error: Runtime exited with error: exit status 1",
        )
        for i in (1, 2)
    ]
    assert "(2 of 2 invocations)" in failure_text(crashes)  # the request id does not split them
    assert failure_text([_sample(1)]) == ""
    nocreds = [_sample(1, "error", error_type="NoCredentialsError", error_message="Unable")]
    assert "--aws-endpoint" in failure_text(nocreds)


@given(
    gap=st.integers(min_value=2, max_value=40),
    steps=st.integers(min_value=1, max_value=6),
    since=st.integers(min_value=0, max_value=120),
)
def test_a_staircase_is_followed_until_its_next_step_is_overdue(
    gap: int, steps: int, since: int
) -> None:
    from fdscope.doctor.decision import STAIRCASE_PATIENCE, _staircase_pending

    counts = [5.0] + [float(10 + (i + 1) // gap) for i in range(gap * steps)]
    counts += [counts[-1]] * since
    k = len(counts)
    pending = _staircase_pending(counts, k)
    if k >= STAIRCASE_PATIENCE:
        assert not pending
    else:
        # steps fall at body indices gap-1, 2*gap-1, ...: gaps gap-1, then gap
        longest = gap if steps >= 2 else gap - 1
        assert pending == (since < 2 * longest)
    # a count that also goes down is no staircase, however recent its last rise
    assert not _staircase_pending([*counts, counts[-1] - 1, counts[-1] + 1], k)


def test_a_handler_that_fails_most_invocations_is_not_told_nothing_to_fix(tmp_path: Path) -> None:
    # A client made once, on the first invocation's event loop (an aiohttp session at module
    # scope used under asyncio.run): every later invocation fails with "Event loop is closed".
    # No descriptor leaks, but "nothing to fix" would be wrong.
    app = tmp_path / "code" / "app.py"
    app.parent.mkdir()
    app.write_text(
        "import asyncio\n"
        "_loop = None\n"
        "async def _work():\n"
        "    global _loop\n"
        "    if _loop is None:\n"
        "        _loop = asyncio.get_running_loop()\n"
        "    done = asyncio.get_running_loop().create_future()\n"
        "    _loop.call_soon(done.set_result, 200)\n"
        "    return {'statusCode': await done}\n"
        "def handler(event, context):\n"
        "    return asyncio.run(_work())\n"
    )
    d = diagnose(f"{app}:handler", out_dir=tmp_path / "run", fd_limit=TEST_LIMIT, n=12)
    assert d.verdict == "none" and d.exit_code == 0
    assert d.errors == 11
    assert d.advice.startswith("No descriptor leak, but RuntimeError:")
    assert "Event loop is closed (11 of 12 invocations)" in d.advice
    assert any("11 of 12 invocations failed" in n for n in d.notes)


def test_the_fix_names_the_line_that_builds_the_client_when_lint_knows_it() -> None:
    from fdscope.doctor import Culprit
    from fdscope.doctor.advice import advice

    c = Culprit(
        site="app.py:8",
        function="handler",
        call="botocore.client.ClientCreator._create_api_method.<locals>._api_call",
        kind="tcp",
        endpoint="127.0.0.1:5000",
        count=40,
        approximate=False,
    )
    from fdscope.lint import Finding

    static = (Finding("/x/app.py", 7, 10, "FDS201", "boto3.client() built per invocation", ""),)
    text = advice("leak", c, False, static=static)
    assert "opened at app.py:8 (botocore.client (a client method))" in text
    assert "client built per invocation at app.py:7 (fdscope lint)" in text
    assert "<locals>" not in advice("leak", c, False)


def test_a_librarys_words_for_emfile_count_when_the_process_is_at_the_limit(
    tmp_path: Path,
) -> None:
    # sqlite3 says "unable to open database file" when no descriptor is left: at the limit
    # that is EMFILE, not an ordinary error
    from fdscope.local import LocalLambda

    app = tmp_path / "code" / "app.py"
    app.parent.mkdir()
    app.write_text(
        "import sqlite3\n"
        "_kept = []\n"
        "def handler(event, context):\n"
        "    _kept.append(sqlite3.connect('/tmp/x.db'))\n"
        "    return len(_kept)\n"
    )
    with LocalLambda(f"{app}:handler", out_dir=tmp_path / "run", fd_limit=48, sample="count") as fn:
        samples = [fn.invoke({}) for _ in range(50)]
    failed = [s for s in samples if s.status != "ok"]
    assert failed and all(s.status == "emfile" for s in failed), [
        (s.status, s.error_message) for s in failed
    ]
    assert any("unable to open database file" in (s.error_message or "") for s in failed)
