"""Live policy end to end (issue 13): a running context takes new tables from
real sources on loopback (a policy URL and the instance's Table API, served
over HTTPS with chains from certpolicy.pki) while threads make requests
through requests and httpx; bad answers never replace the table in force;
the last-known-good file carries a table to the next start."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

import certpolicy
from _policy_server import PolicyServer, api_row
from certpolicy import HostnameMismatch
from certpolicy.integrations.httpx import client as httpx_client
from certpolicy.integrations.requests import session as requests_session
from certpolicy.midconfig import PARAM_USE_INSTANCE, MidConfig
from certpolicy.sources import (
    FieldMap,
    FileSource,
    InstanceSource,
    LastKnownGood,
    PolicySync,
    UrlSource,
    auth_header,
    map_rows,
)
from certpolicy.tablediff import diff_tables
from certpolicy.testing.pytest_plugin import TestPKI
from certpolicy.testing.tls_server import LoopbackTLSServer

TOKEN = "s3cret"  # the loopback policy server's test credential
SAMPLE_CONFIG = Path(__file__).parent / "data" / "mid" / "config.xml"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("live-pki"))


@pytest.fixture(scope="module")
def private_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("live-private"), name="corp private")


@pytest.fixture(scope="module")
def app_server(pki: TestPKI) -> Any:
    """An application server whose certificate names app.test only (not localhost)."""
    with LoopbackTLSServer(pki.issue_server("app.test"), body=b"app\n") as srv:
        yield srv


@pytest.fixture()
def policy_server(pki: TestPKI, tmp_path: Path) -> Any:
    with PolicyServer(pki.issue_server("127.0.0.1"), tmp_path, credentials="Bearer s3cret") as srv:
        yield srv


def _instance_rows(*, app_hostname: bool) -> list[dict[str, str]]:
    return [
        api_row("instance", "instance", "127.0.0.1", order=10),
        api_row("legacy-app", "override", "localhost", hostname=app_hostname, order=20),
    ]


def _bootstrap(pki: TestPKI) -> certpolicy.PolicyTable:
    return pki.table({"instance": {"targets": ["127.0.0.1"]}, "overrides": [
        {"name": "legacy-app", "targets": ["localhost"], "hostname": "off"}]})


# -- hot swap under load ---------------------------------------------------------


def test_instance_sync_swaps_the_table_under_8_threads_of_requests_and_httpx(
    pki: TestPKI, app_server: Any, policy_server: PolicyServer
) -> None:
    """The Table API at first keeps the hostname check off for localhost
    (the app's certificate names app.test only); then the instance turns it
    on. Requests that started before the swap succeed, requests that
    start after it are refused (pooled connections included), and no request
    fails for any other reason."""
    ctx = certpolicy.create_ssl_context(_bootstrap(pki))
    policy_server.rows = _instance_rows(app_hostname=False)
    source = InstanceSource(
        policy_server.instance, ctx, headers=auth_header(token=TOKEN), defaults={"trust": pki.trust()}
    )
    sync = PolicySync(ctx, source)
    first = sync.sync_once()
    assert first.outcome in ("replaced", "unchanged"), first  # the instance rows equal the bootstrap rows
    url = app_server.url("/", hostname="localhost")
    sessions = [requests_session(ctx) for _ in range(4)]
    clients = [httpx_client(ctx) for _ in range(4)]
    swapped_at: list[float] = []
    results: list[tuple[float, float, str]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def worker(i: int) -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                if i < 4:
                    r = sessions[i].get(url, timeout=10)
                else:
                    r = clients[i - 4].get(url, timeout=10)
                outcome = "ok" if r.status_code == 200 and r.content == b"app\n" else f"bad {r.status_code}"
            except (requests.exceptions.SSLError, httpx.ConnectError) as e:
                outcome = "refused" if "hostname" in str(e).lower() else f"error {type(e).__name__}: {e}"
            except Exception as e:  # anything else is a failure caused by the swap
                outcome = f"error {type(e).__name__}: {e}"
            with lock:
                results.append((t0, time.monotonic(), outcome))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.6)
    policy_server.rows = _instance_rows(app_hostname=True)
    begin = time.monotonic()
    outcome = sync.sync_once()
    swapped_at.append(time.monotonic())
    time.sleep(0.6)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    for s in sessions:
        s.close()
    for c in clients:
        c.close()
    assert outcome.outcome == "replaced", outcome
    assert "legacy-app" in outcome.reason and "hostname" in outcome.reason
    errors = [r for r in results if r[2].startswith(("error", "bad"))]
    assert not errors, errors[:5]
    before = [r for r in results if r[1] < begin]
    after = [r for r in results if r[0] > swapped_at[0]]
    assert before and all(r[2] == "ok" for r in before)
    assert after and all(r[2] == "refused" for r in after), [r for r in after if r[2] != "refused"][:3]
    assert ctx.table_version >= 1
    with pytest.raises(HostnameMismatch):
        ctx.verify_chain(_app_chain(pki), "localhost")


def _app_chain(pki: TestPKI) -> list[bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding

    leaf = pki.issue_server("app.test")
    return [c.public_bytes(Encoding.DER) for c in leaf.chain]


# -- a policy URL: full table documents, conditional requests -------------------------


def _url_document(pki: TestPKI, private: TestPKI | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"defaults": {"trust": pki.trust()}, "instance": {"targets": ["127.0.0.1"]}}
    row: dict[str, Any] = {"name": "corp-app", "targets": ["localhost"], "hostname": "off"}
    if private is not None:
        row["trust"] = private.trust()  # the app must now chain to the private CA
    doc["overrides"] = [row]
    return doc


def test_url_source_override_requiring_a_private_ca_rejects_the_old_server(
    pki: TestPKI, private_pki: TestPKI, app_server: Any, policy_server: PolicyServer, tmp_path: Path
) -> None:
    policy_server.credentials = None
    ctx = certpolicy.create_ssl_context(_bootstrap(pki))
    policy_server.document = _url_document(pki, None)
    lkg = tmp_path / "state" / "last-good.json"
    sync = PolicySync(ctx, UrlSource(policy_server.url("/policy.json"), ctx), last_known_good=lkg)
    assert sync.sync_once().outcome == "replaced"
    url = app_server.url("/", hostname="localhost")
    with requests_session(ctx) as s:
        assert s.get(url, timeout=10).status_code == 200
        again = sync.sync_once()  # same document: a conditional request answered 304
        assert again.outcome == "unchanged" and "304" in again.reason
        assert policy_server.requests[-1][1].get("if-none-match")
        policy_server.document = _url_document(pki, private_pki)
        assert sync.sync_once().outcome == "replaced"
        with pytest.raises(requests.exceptions.SSLError, match="chain"):
            s.get(url, timeout=10)  # the pooled connection is not reused
    assert stat.S_IMODE(os.stat(lkg).st_mode) == 0o600
    assert json.loads(lkg.read_text())["document"] == _url_document(pki, private_pki)


def test_the_url_source_is_fetched_under_the_policy_in_force(
    private_pki: TestPKI, policy_server: PolicyServer
) -> None:
    """The policy server's certificate does not chain to the anchors the
    bootstrap table gives it: the fetch is refused, nothing is replaced."""
    ctx = certpolicy.create_ssl_context(private_pki.table({"instance": {"targets": ["127.0.0.1"]}}))
    before = ctx.table
    outcome = PolicySync(ctx, UrlSource(policy_server.url("/policy.json"), ctx)).sync_once()
    assert outcome.outcome == "rejected" and "refused by the policy in force" in outcome.reason
    assert "chain" in outcome.reason and ctx.table is before


# -- bad answers never replace the table in force; the last known good -----------------------


@pytest.mark.parametrize("fault", ["down", "500", "garbage", "invalid-row", "huge", "slow", "unauthorised"])
def test_a_bad_answer_keeps_the_table_in_force_and_the_next_start_uses_the_last_known_good(
    fault: str, pki: TestPKI, policy_server: PolicyServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = certpolicy.create_ssl_context(_bootstrap(pki))
    limits = certpolicy.policy.FetchLimits(2.0, 1.0, 1.5, 8 * 1024 * 1024, 3)
    lkg = tmp_path / "lkg.json"
    policy_server.rows = _instance_rows(app_hostname=False)

    def source(c: Any) -> InstanceSource:
        return InstanceSource(
            policy_server.instance, c, headers=auth_header(token=TOKEN), defaults={"trust": pki.trust()}, limits=limits
        )

    sync = PolicySync(ctx, source(ctx), last_known_good=lkg)
    assert sync.sync_once().outcome in ("replaced", "unchanged")  # the rows equal the bootstrap rows
    good = ctx.table
    if fault == "invalid-row":
        policy_server.rows = [*_instance_rows(app_hostname=False), {"name": "x", "type": "override", "target": "a..b"}]
    elif fault == "unauthorised":
        policy_server.credentials = "Bearer other"
    elif fault != "down":
        policy_server.mode = fault
        policy_server.slow_seconds = 3.0
    else:
        policy_server.stop()
    policy_server.rows = [*policy_server.rows, api_row("extra", "override", "extra.test")]
    caplog.set_level(logging.INFO, logger="certpolicy.sync")
    t0 = time.monotonic()
    outcome = sync.sync_once()
    assert time.monotonic() - t0 < 5
    assert outcome.outcome == "rejected", outcome
    assert ctx.table is good
    records = [r for r in caplog.records if getattr(r, "certpolicy_event", None) == "policy-sync"]
    assert records and records[-1].levelno == logging.WARNING and records[-1].outcome == "rejected"  # type: ignore[attr-defined]
    # the next start: the source still fails, the saved table is put in force
    fresh = certpolicy.create_ssl_context(_bootstrap(pki))
    restarted = PolicySync(fresh, source(fresh), last_known_good=lkg, interval=600)
    with restarted:
        assert restarted.last is not None and restarted.last.outcome == "last-known-good"
    assert fresh.table == good


def test_a_damaged_last_known_good_file_is_not_used(pki: TestPKI, tmp_path: Path) -> None:
    lkg = LastKnownGood(tmp_path / "lkg.json")
    lkg.save("x", {"policies": []})
    data = json.loads(Path(lkg.path).read_text())
    data["document"] = {"overrides": [{"name": "evil", "targets": ["*"], "chain": "off"}]}
    Path(lkg.path).write_text(json.dumps(data))
    assert lkg.load() is None


# -- use.instance.security.policy -------------------------------------------------------------


@pytest.mark.parametrize("use_instance", [False, True])
def test_instance_rows_apply_and_config_xml_is_written_back_only_when_use_instance_is_true(
    use_instance: bool, pki: TestPKI, policy_server: PolicyServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.xml"
    shutil.copy(SAMPLE_CONFIG, config)
    text = config.read_text()
    config.write_text(
        text.replace(f'name="{PARAM_USE_INSTANCE}" value="false"', f'name="{PARAM_USE_INSTANCE}" value="{str(use_instance).lower()}"')
    )
    before = config.read_bytes()
    mid = MidConfig.load(config, environ={})
    assert mid.use_instance_security_policy is use_instance
    ctx = certpolicy.create_ssl_context(pki.table({"instance": {"targets": ["127.0.0.1"]}}))
    policy_server.rows = [api_row("instance", "instance", "127.0.0.1", hostname=False)]
    source = InstanceSource(
        policy_server.instance,
        ctx,
        headers=auth_header(token=TOKEN),
        mid_config=mid,
        write_back=True,
        defaults={"trust": pki.trust()},
    )
    outcome = PolicySync(ctx, source).sync_once()
    assert outcome.outcome == "replaced", outcome
    explained = ctx.resolver.resolve("127.0.0.1").explain()
    if use_instance:
        assert ctx.table.instance.hostname is certpolicy.CheckMode.OFF
        assert config.read_bytes() != before
        assert 'name="mid.ssl.bootstrap.default.check_cert_hostname" value="false"' in config.read_text()
    else:
        assert config.read_bytes() == before  # byte for byte
        assert any("fetched but not applied" in w for w in ctx.table.warnings)
        assert "fetched but not applied" in explained


def test_map_rows_reads_reference_fields_skips_inactive_rows_and_takes_a_field_map() -> None:
    rows = [
        {"u_name": {"value": "b", "link": "x"}, "u_kind": "custom", "u_targets": "b.test", "u_chain": "false", "order": "2"},
        {"u_name": "a", "u_kind": "override", "u_targets": "a.test", "active": "false"},
        {"u_name": "c", "u_kind": "override", "u_targets": "c.test", "order": "1"},
    ]
    fields = FieldMap.from_mapping({"name": "u_name", "kind": "u_kind", "targets": "u_targets", "chain": "u_chain"})
    mapped = map_rows(rows, fields)
    assert [m["name"] for m in mapped] == ["c", "b"]
    assert mapped[1]["checks"] == {"chain": False} and mapped[1]["kind"] == "override"
    with pytest.raises(certpolicy.PolicyConfigError, match="unknown field map key"):
        FieldMap.from_mapping({"nmae": "x"})
    with pytest.raises(certpolicy.PolicyConfigError, match="true or false"):
        map_rows([{"name": "x", "type": "override", "target": "x.test", "check_cert_chain": "maybe"}])


# -- a watched file; replace_table itself -----------------------------------------------------


def test_file_source_replaces_on_change_and_keeps_the_table_on_a_broken_file(pki: TestPKI, tmp_path: Path) -> None:
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"defaults": {"trust": pki.trust()}}))
    ctx = certpolicy.create_ssl_context(certpolicy.PolicyTable.load(path))
    sync = PolicySync(ctx, FileSource(path), interval=0.05)
    assert sync.sync_once().outcome in ("replaced", "unchanged")
    with sync.start():
        path.write_text(json.dumps({"defaults": {"trust": pki.trust()}, "overrides": [{"name": "n", "targets": ["n.test"]}]}))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(ctx.table.overrides) != 1:
            time.sleep(0.05)
        assert [p.name for p in ctx.table.overrides] == ["n"]
        good = ctx.table
        path.write_text("{ not json")
        time.sleep(0.4)
        assert ctx.table is good and sync.last is not None and sync.last.outcome == "rejected"


def test_replace_table_refuses_a_table_whose_files_are_missing(pki: TestPKI, tmp_path: Path) -> None:
    ctx = certpolicy.create_ssl_context(pki.table())
    before = ctx.table
    broken = certpolicy.PolicyTable.from_dict({"defaults": {"trust": {"system": False, "extra": [str(tmp_path / "missing.pem")]}}})
    with pytest.raises(certpolicy.PolicyConfigError, match=r"missing\.pem"):
        ctx.replace_table(broken)
    assert ctx.table is before and ctx.table_version == 0
    assert not ctx.replace_table(pki.table()).changed  # an equal table replaces nothing
    assert ctx.table is before


def test_unchanged_rows_keep_their_cached_verdicts_and_changed_rows_lose_them(pki: TestPKI) -> None:
    ctx = certpolicy.create_ssl_context(pki.table({"overrides": [{"name": "o", "targets": ["other.test"]}]}))
    chain = _app_chain(pki)
    assert not ctx.verify_chain(chain, "app.test").cached
    assert ctx.verify_chain(chain, "app.test").cached
    ctx.replace_table(pki.table({"overrides": [{"name": "o", "targets": ["other.test"], "hostname": "off"}]}))
    assert ctx.verify_chain(chain, "app.test").cached  # the internet row did not change
    ctx.replace_table(pki.table({"defaults": {"cn_fallback": "legacy"}}))
    assert not ctx.verify_chain(chain, "app.test").cached


def test_diff_tables_names_rows_targets_and_switches(pki: TestPKI) -> None:
    old = pki.table({"overrides": [{"name": "a", "targets": ["a.test"]}, {"name": "b", "targets": ["b.test"]}]})
    new = pki.table({"overrides": [{"name": "a", "targets": ["a.test", "a2.test"], "chain": "audit"}, {"name": "c", "targets": ["c.test"]}]})
    diff = diff_tables(old, new)
    text = "\n".join(diff.lines())
    assert "target added: a2.test" in text and "chain: enforce -> audit" in text
    assert "+ override 'c': added" in text and "- override 'b': removed" in text
    assert diff.to_dict()["changed"] is True


# -- asyncio clients ------------------------------------------------------------------------


def test_async_clients_do_not_reuse_a_connection_verified_under_a_changed_row(pki: TestPKI, app_server: Any) -> None:
    """httpx's async transport and aiohttp's connector: after the swap, a
    request to the same server does not ride on the pooled connection that
    the old row let through."""
    import asyncio

    import aiohttp

    from certpolicy.integrations.aiohttp import session as aiohttp_session
    from certpolicy.integrations.httpx import async_client

    lenient = pki.table({"overrides": [{"name": "app", "targets": ["localhost"], "hostname": "off"}]})
    strict = pki.table({"overrides": [{"name": "app", "targets": ["localhost"], "hostname": "enforce"}]})
    url = app_server.url("/", hostname="localhost")

    async def run() -> None:
        ctx = certpolicy.create_ssl_context(lenient)
        async with async_client(ctx) as c:
            assert (await c.get(url)).status_code == 200
            ctx.replace_table(strict)
            with pytest.raises(httpx.ConnectError, match="hostname"):
                await c.get(url)
        ctx = certpolicy.create_ssl_context(lenient)
        async with aiohttp_session(ctx) as s:
            async with s.get(url) as r:
                assert r.status == 200
                await r.read()
            ctx.replace_table(strict)
            with pytest.raises(aiohttp.ClientError):
                async with s.get(url) as r:
                    await r.read()

    asyncio.run(run())


# -- found by hostile review ----------------------------------------------------------------


def test_a_redirect_to_plain_http_is_refused(pki: TestPKI, policy_server: PolicyServer) -> None:
    from certpolicy.testing.http_server import LoopbackHTTPServer

    policy_server.credentials = None
    ctx = certpolicy.create_ssl_context(_bootstrap(pki))
    before = ctx.table
    evil = {"overrides": [{"name": "evil", "targets": "*", "chain": "off", "hostname": "off"}]}
    with LoopbackHTTPServer() as plain:
        plain.route("/policy.json", json.dumps(evil).encode(), "application/json")
        policy_server.mode = "redirect"
        policy_server.redirect_to = plain.url("/policy.json")
        outcome = PolicySync(ctx, UrlSource(policy_server.url("/policy.json"), ctx)).sync_once()
        assert plain.hits("/policy.json") == 0
    assert outcome.outcome == "rejected" and "only https" in outcome.reason
    assert ctx.table is before


def test_httpx_does_not_reuse_a_connection_checked_under_a_changed_address_row(pki: TestPKI, app_server: Any) -> None:
    lenient = pki.table({"overrides": [{"name": "lo", "targets": ["127.0.0.1"], "hostname": "off"}]})
    strict = pki.table({"overrides": [{"name": "lo", "targets": ["127.0.0.1"], "hostname": "enforce"}]})
    ctx = certpolicy.create_ssl_context(lenient)
    url = app_server.url("/", hostname="localhost")
    with httpx_client(ctx) as c:
        assert c.get(url).status_code == 200
        ctx.replace_table(strict)
        with pytest.raises(httpx.ConnectError, match="hostname"):
            c.get(url)


def test_a_refused_table_is_tried_again_at_the_next_sync(pki: TestPKI, tmp_path: Path) -> None:
    anchor = tmp_path / "later.pem"
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"defaults": {"trust": {"system": False, "extra": [str(anchor)]}}}))
    ctx = certpolicy.create_ssl_context(pki.table())
    sync = PolicySync(ctx, FileSource(path))
    first = sync.sync_once()
    assert first.outcome == "rejected" and "later.pem" in first.reason
    shutil.copy(pki.root_pem, anchor)  # the file the table names now exists
    assert sync.sync_once().outcome == "replaced"
    assert sync.sync_once().outcome == "unchanged"


def test_rows_equal_but_moved_keep_their_objects_and_identical_files_diff_clean(pki: TestPKI, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from certpolicy.cli import main

    old = pki.table({"overrides": [{"name": "corp", "targets": ["corp.test"]}]})
    new = pki.table({"overrides": [{"name": "new", "targets": ["new.test"]}, {"name": "corp", "targets": ["corp.test"]}]})
    ctx = certpolicy.create_ssl_context(old)
    corp = ctx.table.get("corp")
    diff = ctx.replace_table(new)
    assert [r.name for r in diff.rows] == ["new"]
    assert ctx.table.get("corp") is corp
    a = tmp_path / "a.toml"
    a.write_text('[[override]]\nname = "x"\ntargets = ["x.test"]\n')
    b = tmp_path / "b.toml"
    b.write_bytes(a.read_bytes())
    r = CliRunner().invoke(main, ["policy", "diff", str(a), str(b)])
    assert r.exit_code == 0 and "no change" in r.output


def test_url_source_reads_toml_by_content_type_and_refuses_repeated_json_keys(
    pki: TestPKI, policy_server: PolicyServer
) -> None:
    policy_server.credentials = None
    ctx = certpolicy.create_ssl_context(_bootstrap(pki))
    policy_server.raw_body = (
        f'[defaults]\ntrust = {{ system = false, extra = ["{pki.root_pem}"] }}\n\n[instance]\ntargets = ["127.0.0.1"]\n'
        '\n[[override]]\nname = "t"\ntargets = ["t.test"]\n'
    ).encode()
    policy_server.content_type = "application/toml"
    sync = PolicySync(ctx, UrlSource(policy_server.url("/policy.toml"), ctx))
    assert sync.sync_once().outcome == "replaced"
    assert [p.name for p in ctx.table.overrides] == ["t"]
    policy_server.content_type = "application/json"
    policy_server.raw_body = b'{"overrides": [{"name": "a", "targets": ["a.test"]}], "overrides": []}'
    outcome = sync.sync_once()
    assert outcome.outcome == "rejected" and "twice" in outcome.reason


def test_a_planted_or_foreign_last_known_good_file_is_not_used(tmp_path: Path) -> None:
    lkg = LastKnownGood(tmp_path / "lkg.json")
    lkg.save("https://policy.example/p.json", {"policies": []})
    assert lkg.load("https://policy.example/p.json") is not None
    assert lkg.load("https://other.example/p.json") is None
    os.chmod(lkg.path, 0o620)  # group-writable: as good as planted
    assert lkg.load("https://policy.example/p.json") is None
    os.chmod(lkg.path, 0o600)
    link = tmp_path / "link.json"
    link.symlink_to(lkg.path)
    assert LastKnownGood(link).load() is None


def test_an_instance_answer_without_rows_keeps_the_table(pki: TestPKI, policy_server: PolicyServer) -> None:
    ctx = certpolicy.create_ssl_context(_bootstrap(pki))
    before = ctx.table
    policy_server.rows = []
    outcome = PolicySync(ctx, InstanceSource(policy_server.instance, ctx, headers=auth_header(token=TOKEN))).sync_once()
    assert outcome.outcome == "rejected" and "no active row" in outcome.reason
    assert ctx.table is before
