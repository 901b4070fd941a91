"""Target syntax: every form of the SPEC, normalisation and bad input."""

from __future__ import annotations

import ipaddress

import pytest

from certpolicy import PolicyConfigError
from certpolicy.targets import HostTarget, IPRangeTarget, UrlTarget, parse_target, parse_targets


def test_exact_host_is_normalised_to_lower_case_a_labels_without_trailing_dot() -> None:
    t = parse_target("Bücher.Example.")
    assert isinstance(t, HostTarget) and not t.wildcard
    assert t.host == "xn--bcher-kva.example"


def test_wildcard_host_keeps_its_suffix() -> None:
    t = parse_target("*.Corp.Example")
    assert isinstance(t, HostTarget) and t.wildcard and t.host == "corp.example"
    assert t.matches_host("a.b.corp.example")
    assert not t.matches_host("corp.example")
    assert not t.matches_host("evilcorp.example")


def test_star_alone_matches_every_host() -> None:
    t = parse_target("*")
    assert isinstance(t, HostTarget) and t.matches_host("anything.example")


@pytest.mark.parametrize("bad", ["f*.example.com", "a.*.example.com", "*example.com", "**.example.com", "a..b", "-a.example"])
def test_wildcard_anywhere_but_the_whole_leftmost_label_is_an_error(bad: str) -> None:
    with pytest.raises(PolicyConfigError):
        parse_target(bad)


def test_url_target_carries_scheme_host_port_and_path_segments() -> None:
    t = parse_target("https://API.example.com:8443/v2/")
    assert isinstance(t, UrlTarget)
    assert (t.scheme, t.host, t.port, t.explicit_port, t.path) == ("https", "api.example.com", 8443, True, ("v2",))
    assert t.matches_path("/v2/orders") and t.matches_path("/v2")
    assert not t.matches_path("/v20/orders")


def test_url_target_without_port_uses_the_scheme_default() -> None:
    t = parse_target("https://api.example.com")
    assert isinstance(t, UrlTarget) and t.port == 443 and not t.explicit_port and not t.has_path


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("10.1.2.3", "10.1.2.3", "10.1.2.3"),
        ("10.10.10.0/24", "10.10.10.0", "10.10.10.255"),
        ("10.10.11.0-10.10.11.165", "10.10.11.0", "10.10.11.165"),
        ("fc00::/7", "fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("::ffff:10.1.2.3", "10.1.2.3", "10.1.2.3"),
        ("fe80::1%eth0", "fe80::1", "fe80::1"),
    ],
)
def test_ip_forms(text: str, first: str, last: str) -> None:
    t = parse_target(text)
    assert isinstance(t, IPRangeTarget)
    assert (t.first, t.last) == (ipaddress.ip_address(first), ipaddress.ip_address(last))


@pytest.mark.parametrize(
    "bad",
    ["10.0.0.0/33", "10.0.0.1/24", "10.0.0.9-10.0.0.1", "10.0.0.1-::1", "10.0.0.1-host", "ftp://x.example/", "https://u:p@x.example/", "https://x.example/?q=1"],
)
def test_invalid_ip_and_url_targets_are_configuration_errors(bad: str) -> None:
    with pytest.raises(PolicyConfigError) as err:
        parse_target(bad)
    assert bad.split("/")[0] in str(err.value) or bad in str(err.value)


def test_comma_separated_lists_and_arrays_combine() -> None:
    ts = parse_targets(["ldaps.corp.example, 10.10.10.0/24", "10.10.11.0-10.10.11.165"])
    assert [t.text for t in ts] == ["ldaps.corp.example", "10.10.10.0/24", "10.10.11.0-10.10.11.165"]


def test_non_string_targets_are_rejected() -> None:
    with pytest.raises(PolicyConfigError):
        parse_targets(42)


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from certpolicy.targets import cidr_cover  # noqa: E402


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**20))
def test_cidr_cover_equals_ipaddress_summarize(start: int, length: int) -> None:
    end = min(start + length, 2**32 - 1)
    expected = [
        (int(n.network_address), n.prefixlen)
        for n in ipaddress.summarize_address_range(ipaddress.IPv4Address(start), ipaddress.IPv4Address(end))
    ]
    assert cidr_cover(start, end, 32) == expected



@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("/admin/x", True),
        ("/%61dmin/x", True),
        ("/./admin/x", True),
        ("/v2/../admin/x", True),
        ("/v2/%2e%2e/admin/x", True),
        ("//admin//x", True),
        ("/administrator", False),
        ("/v2/admin", False),
    ],
)
def test_path_rules_compare_normalised_paths(path: str, matches: bool) -> None:
    t = parse_target("https://api.example.com/admin/")
    assert isinstance(t, UrlTarget)
    assert t.matches_path(path) is matches


@pytest.mark.parametrize("bad", ["10.0.0.1.", "010.0.0.1", "192.168.0.0/²", "192.168.0.0/\u0662\u0664"])
def test_address_lookalikes_are_configuration_errors(bad: str) -> None:
    with pytest.raises(PolicyConfigError):
        parse_target(bad)


def test_zone_id_in_a_cidr_keeps_the_prefix() -> None:
    t = parse_target("fe80::%eth0/64")
    assert isinstance(t, IPRangeTarget) and t.size == 2**64
