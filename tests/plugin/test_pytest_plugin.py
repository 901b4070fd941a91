"""The pytest plugin as a user meets it: a sample project (sample_project.py) run through
``pytester`` with nothing but certpolicy installed, ``-p no:certpolicy``, pytest-xdist,
and an import that starts nothing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from certpolicy.testing.crl_server import CrlServer
from certpolicy.testing.faults import FAULTS
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder
from certpolicy.testing.tls_server import LoopbackTLSServer

pytest_plugins = ["pytester"]

SAMPLE = (Path(__file__).parent / "sample_project.py").read_text()


def test_sample_project_uses_every_fixture_and_every_fault(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=SAMPLE)
    t = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=13)
    assert time.monotonic() - t < 25
    used = {name for name in FAULTS if f'"{name}"' in SAMPLE}
    assert used == set(FAULTS)


def test_the_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(certpolicy_pki):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:certpolicy", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'certpolicy_pki' not found*"])


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed")
def test_the_fixtures_work_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest, requests, certpolicy
            from certpolicy.integrations.requests import session

            @pytest.mark.parametrize("n", range(4))
            def test_one_download(n, certpolicy_pki, tls_server, crl_server, policy_table):
                srv = tls_server()
                s = session(certpolicy.create_ssl_context(policy_table({"defaults": {"crl": "enforce"}})))
                assert s.get(srv.url("/", hostname="localhost")).status_code == 200
                assert crl_server.count == 1
            """
        )
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_importing_the_plugin_starts_nothing() -> None:
    code = (
        "import threading, certpolicy.testing.pytest_plugin as p;"
        "import os; print(threading.active_count(), len(os.listdir('/proc/self/fd')))"
    )
    before = subprocess.run([sys.executable, "-c", "import os; print(1, len(os.listdir('/proc/self/fd')))"],
                            capture_output=True, text=True, check=True).stdout.split()
    after = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert after[0] == "1"            # no thread
    assert after[1] == before[1]      # no socket or file left open


@pytest.mark.parametrize("cls", [LoopbackHTTPServer, CrlServer])
def test_servers_refuse_addresses_that_are_not_loopback(cls: type) -> None:
    with pytest.raises(ValueError, match="loopback"):
        cls("0.0.0.0")


def test_every_server_binds_loopback_port_0_and_starts_fast() -> None:
    from certpolicy.pki import CA

    ca = CA.create("bind test")
    t = time.monotonic()
    with LoopbackHTTPServer("::1") as h6, CrlServer() as crl, OcspResponder(ca) as oc, \
            LoopbackTLSServer(ca.issue_server("localhost")) as tls:
        assert time.monotonic() - t < 0.5
        assert h6.url().startswith("http://[::1]:")
        assert crl.server.host == oc.server.host == tls.host == "127.0.0.1"
    with pytest.raises(ValueError, match="cannot produce"):
        LoopbackHTTPServer().fault("bad_nonce")
    with pytest.raises(ValueError, match="unknown fault"):
        LoopbackHTTPServer().fault("explode")
