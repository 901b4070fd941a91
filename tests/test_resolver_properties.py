"""Property tests: the indexed resolver agrees with a plain scan, the result
does not depend on row order, and normalisation is idempotent."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certpolicy import PolicyConfigError, PolicyResolver, PolicyTable
from certpolicy.names import normalize_dns_name, parse_ip

LABELS = st.sampled_from(["a", "b", "corp", "api", "x", "example", "Bücher", "xn--bcher-kva", "svc", "MiXeD"])
NAMES = st.lists(LABELS, min_size=1, max_size=4).map(lambda ls: ".".join(ls))
V4 = st.integers(min_value=0x0A000000, max_value=0x0A0000FF).map(lambda i: str(ipaddress.IPv4Address(i)))


@st.composite
def target(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["host", "wild", "url", "urlpath", "ip", "cidr", "range"]))
    if kind == "host":
        return draw(NAMES)
    if kind == "wild":
        return "*." + draw(NAMES)
    if kind == "url":
        return f"https://{draw(NAMES)}:{draw(st.sampled_from([443, 8443]))}"
    if kind == "urlpath":
        return f"https://{draw(NAMES)}/{draw(st.sampled_from(['v1', 'v2', 'v2/x']))}/"
    if kind == "ip":
        return draw(V4)
    if kind == "cidr":
        pl = draw(st.integers(min_value=24, max_value=32))
        net = ipaddress.ip_network(f"{draw(V4)}/{pl}", strict=False)
        return str(net)
    a, b = sorted([draw(V4), draw(V4)], key=lambda s: int(ipaddress.IPv4Address(s)))
    return f"{a}-{b}"


@st.composite
def table_and_queries(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    n = draw(st.integers(min_value=0, max_value=8))
    rows = [{"name": f"r{i}", "targets": draw(st.lists(target(), min_size=1, max_size=3))} for i in range(n)]
    queries = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "host": st.one_of(NAMES, V4),
                    "peer_ip": st.one_of(st.none(), V4, st.just("203.0.113.7")),
                    "port": st.sampled_from([None, 443, 8443]),
                    "path": st.sampled_from([None, "/", "/v2/orders", "/v20/x", "/v2/x/y"]),
                }
            ),
            min_size=1,
            max_size=5,
        )
    )
    return rows, queries


def _build(rows: list[dict[str, Any]]) -> PolicyResolver | None:
    try:
        return PolicyResolver(PolicyTable.from_dict({"override": rows}))
    except PolicyConfigError:
        return None  # a tie: rejected at load time, as it must be


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table_and_queries())
def test_index_agrees_with_a_plain_scan(data: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    rows, queries = data
    resolver = _build(rows)
    if resolver is None:
        return
    for q in queries:
        scheme = "https" if q["path"] is not None else None
        res = resolver.resolve(q["host"], peer_ip=q["peer_ip"], port=q["port"], scheme=scheme, path=q["path"])
        expected = resolver.resolve_by_scan(q["host"], peer_ip=q["peer_ip"], port=q["port"], scheme=scheme, path=q["path"])
        assert res.policy.name == expected[0], (q, res.explain())
        if res.policy.kind.value == "override":
            assert res.matched_target is not None and res.matched_target.text == expected[1]


@settings(max_examples=150, deadline=None)
@given(table_and_queries(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_row_order(data: tuple[list[dict[str, Any]], list[dict[str, Any]]], rnd: Any) -> None:
    rows, queries = data
    first = _build(rows)
    shuffled_rows = list(rows)
    rnd.shuffle(shuffled_rows)
    second = _build(shuffled_rows)
    assert (first is None) == (second is None)  # a tie is a tie in any order
    if first is None or second is None:
        return
    for q in queries:
        a = first.resolve(q["host"], peer_ip=q["peer_ip"], port=q["port"])
        b = second.resolve(q["host"], peer_ip=q["peer_ip"], port=q["port"])
        assert (a.policy.name, a.matched_target) == (b.policy.name, b.matched_target)


@given(NAMES.map(lambda n: n + ".") | NAMES)
def test_name_normalisation_is_idempotent(name: str) -> None:
    once = normalize_dns_name(name)
    assert normalize_dns_name(once) == once
    assert once == once.lower() and not once.endswith(".") and once.isascii()


@given(st.ip_addresses())
def test_ip_normalisation_is_idempotent(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    once = parse_ip(str(addr))
    assert once is not None and parse_ip(str(once)) == once
    mapped = parse_ip(f"::ffff:{addr}") if addr.version == 4 else None
    assert mapped in (None, addr)
