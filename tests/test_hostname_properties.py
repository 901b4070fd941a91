"""Property tests: HostnameCheck against an independent, straightforward
implementation of the RFC 9525 rules (plus the RFC 6125 §6.4.4 legacy CN
fallback), and invariants that must hold for every input."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import idna
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from certpolicy import HostnameCheck, HostnameMismatch, MalformedInput

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())
_ISSUER = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "property test CA")])


def make_cert(dns: Sequence[str], ips: Sequence[str], cns: Sequence[str]) -> x509.Certificate:
    """A leaf with exactly these dNSName / iPAddress SAN entries and CNs (no
    SAN extension when both lists are empty)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, c) for c in cns]))
        .issuer_name(_ISSUER)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
        .not_valid_after(dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc))
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=not cns)
    return builder.sign(_KEY, hashes.SHA256())


Mode = Literal["never", "legacy"]


def outcome(cert: x509.Certificate, host: str, mode: Mode = "never") -> str:
    """``"match"``, ``"mismatch"`` or ``"invalid"`` (invalid reference identity)."""
    try:
        HostnameCheck(cn_fallback=mode).check(cert, host)
    except HostnameMismatch as e:
        return "invalid" if e.outcome == "invalid-reference" else "mismatch"
    return "match"


# ---------------------------------------------------------------------------
# The oracle: RFC 9525 written out plainly, sharing no code with certpolicy
# ---------------------------------------------------------------------------

_LDH = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
# The only A-labels the generators produce; everything else starting with
# "xn--" is invalid punycode.
_VALID_A_LABELS = {"xn--bcher-kva", "xn--mnchen-3ya", "xn--jxalpdlp"}


def _valid_ascii_label(label: str) -> bool:
    if not _LDH.match(label):
        return False
    return not label.startswith("xn--") or label in _VALID_A_LABELS


def _valid_san_label(label: str) -> bool:
    # a dNSName SAN is in the preferred name syntax (RFC 5280 §4.2.1.6): no '_'
    return "_" not in label and _valid_ascii_label(label)


@dataclass(frozen=True)
class Ref:
    kind: str  # "dns", "ip" or "invalid"
    labels: tuple[str, ...] = ()
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None


def _as_ipv4_if_mapped(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        return ipaddress.IPv6Address(addr.packed)  # drops a scope id
    return addr


def oracle_reference(host: str) -> Ref:
    text = host.strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return Ref("ip", address=_as_ipv4_if_mapped(ipaddress.ip_address(bare.split("%")[0])))
    except ValueError:
        pass
    if text.endswith("."):
        text = text[:-1]
    labels = text.split(".")
    out = []
    for label in labels:
        if label == "":
            return Ref("invalid")
        if label.isascii():
            low = label.lower()
            if not _valid_ascii_label(low):
                return Ref("invalid")
            out.append(low)
        else:
            out.append(idna.encode(label, uts46=True).decode("ascii").lower())
    if out[-1].isdigit():
        return Ref("invalid")
    return Ref("dns", labels=tuple(out))


def oracle_pattern_matches(entry: str, ref: tuple[str, ...]) -> bool:
    """RFC 9525 §6.3 for one presented DNS identifier."""
    if not entry.isascii() or entry != entry.strip():
        return False
    e = entry.lower()
    if e.endswith("."):
        e = e[:-1]
    labels = e.split(".")
    if labels[0] == "*":
        if len(labels) < 3 or not all(_valid_san_label(lab) for lab in labels[1:]):
            return False
        return (
            len(ref) == len(labels)
            and not ref[0].startswith("xn--")
            and tuple(labels[1:]) == ref[1:]
        )
    if not all(_valid_san_label(lab) for lab in labels):
        return False
    return tuple(labels) == ref


def oracle(dns: Sequence[str], ips: Sequence[str], cns: Sequence[str], host: str, mode: Mode) -> str:
    ref = oracle_reference(host)
    if ref.kind == "invalid":
        return "invalid"
    if ref.kind == "ip":
        presented = {_as_ipv4_if_mapped(ipaddress.ip_address(i)) for i in ips}
        return "match" if ref.address in presented else "mismatch"
    if any(oracle_pattern_matches(d, ref.labels) for d in dns):
        return "match"
    if mode == "legacy" and not dns:
        if any(oracle_pattern_matches(cn, ref.labels) for cn in cns):
            return "match"
    return "mismatch"


# ---------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------

_BASE_LABELS = ["a", "b", "api", "www", "example", "com", "corp", "x-y", "1", "_srv", "xn--bcher-kva"]
_U_LABELS = ["bücher", "BÜCHER", "münchen", "δοκιμή"]
_BAD_LABELS = ["", "xn--zz", "-a", "a b", "f*", "*oo"]
_ADDRESSES = ["192.0.2.1", "192.0.2.2", "198.51.100.7", "2001:db8::1", "fe80::1", "::ffff:192.0.2.1"]


def _mixed_case(s: str, flips: int) -> str:
    """Flip the ASCII case of some letters, driven by ``flips`` bits."""
    out = []
    for i, ch in enumerate(s):
        out.append(ch.swapcase() if ch.isascii() and ch.isalpha() and (flips >> (i % 30)) & 1 else ch)
    return "".join(out)


@st.composite
def dns_text(draw: st.DrawFn, *, unicode: bool, bad: bool, wildcard: bool) -> str:
    pool = list(_BASE_LABELS) + (_U_LABELS if unicode else []) + (_BAD_LABELS if bad else [])
    labels = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
    if wildcard and draw(st.booleans()):
        labels = [draw(st.sampled_from(["*", "*", "f*", "*oo", "a*b"])), *labels]
    if draw(st.booleans()) and len(labels) > 1 and draw(st.booleans()):
        labels.insert(draw(st.integers(1, len(labels) - 1)), "*")  # misplaced wildcard
    text = ".".join(labels)
    text = _mixed_case(text, draw(st.integers(0, 2**30)))
    if draw(st.integers(0, 3)) == 0:
        text += "."
    return text


@st.composite
def ip_text(draw: st.DrawFn) -> str:
    addr = draw(st.sampled_from(_ADDRESSES))
    if ":" in addr:
        if draw(st.booleans()):
            addr = addr.upper()
        if addr.lower().startswith("fe80") and draw(st.booleans()):
            addr += "%eth0"
        if draw(st.booleans()):
            addr = f"[{addr}]"
    elif draw(st.booleans()):
        addr = f"::ffff:{addr}"
    return addr


san_dns = st.lists(dns_text(unicode=False, bad=True, wildcard=True), max_size=3)
san_ips = st.lists(st.sampled_from(_ADDRESSES), max_size=2)
cn_values = st.lists(
    st.one_of(dns_text(unicode=True, bad=False, wildcard=True), st.sampled_from(_ADDRESSES)),
    max_size=2,
)
references = st.one_of(dns_text(unicode=True, bad=True, wildcard=False), ip_text())
modes: st.SearchStrategy[Mode] = st.sampled_from(["never", "legacy"])


def _a_labels(host: str) -> str:
    """``host`` with its U-labels written as A-labels (as a CA writes dNSNames)."""
    return ".".join(
        lab if lab.isascii() else idna.encode(lab, uts46=True).decode("ascii")
        for lab in host.split(".")
    )


def _san_matching(ref: str) -> st.SearchStrategy[list[str]]:
    """SAN lists biased towards containing the reference (exact or a wildcard)."""
    ref = _a_labels(ref)
    return st.lists(
        st.sampled_from([ref, ref.upper(), "*." + ref.split(".", 1)[-1], ref + "."]),
        max_size=2,
    )


# ---------------------------------------------------------------------------
# Differential test against the oracle
# ---------------------------------------------------------------------------


@SETTINGS
@given(dns=san_dns, ips=san_ips, cns=cn_values, host=references, mode=modes)
@example(dns=["*.Example.COM"], ips=[], cns=[], host="a.example.com", mode="never")
@example(dns=["*.example.com"], ips=[], cns=[], host="a.b.example.com", mode="never")
@example(dns=["*.example.com"], ips=[], cns=[], host="bücher.example.com", mode="never")
@example(dns=[], ips=["198.51.100.7"], cns=["historian.plant.example"], host="historian.plant.example", mode="legacy")
@example(dns=["192.0.2.10"], ips=[], cns=["192.0.2.10"], host="192.0.2.10", mode="legacy")
@example(dns=["myhost.corp.example"], ips=[], cns=[], host="myhost.corp.example..", mode="never")
def test_hostname_check_agrees_with_rfc9525_oracle(
    dns: list[str], ips: list[str], cns: list[str], host: str, mode: Mode
) -> None:
    cert = make_cert(dns, ips, cns)
    assert outcome(cert, host, mode) == oracle(dns, ips, cns, host, mode)


@SETTINGS
@given(host=dns_text(unicode=True, bad=False, wildcard=False), data=st.data(), mode=modes)
def test_hostname_check_agrees_with_oracle_on_near_matches(
    host: str, data: st.DataObject, mode: Mode
) -> None:
    dns = data.draw(_san_matching(host.rstrip(".") or "a"))
    cns = data.draw(st.lists(st.sampled_from([host, host.lower()]), max_size=1))
    cert = make_cert(dns, [], cns)
    assert outcome(cert, host, mode) == oracle(dns, [], cns, host, mode)


# ---------------------------------------------------------------------------
# Invariants
# ---------------------------------------------------------------------------


@SETTINGS
@given(dns=san_dns, cns=cn_values, host=dns_text(unicode=True, bad=False, wildcard=False), mode=modes, flips=st.integers(0, 2**30))
def test_matching_is_ascii_case_insensitive(
    dns: list[str], cns: list[str], host: str, mode: Mode, flips: int
) -> None:
    cert = make_cert(dns, [], cns)
    swapped_cert = make_cert([d.swapcase() for d in dns], [], cns)
    assert outcome(cert, host, mode) == outcome(cert, _mixed_case(host, flips), mode)
    assert outcome(cert, host, mode) == outcome(swapped_cert, host, mode)


@SETTINGS
@given(dns=san_dns, host=dns_text(unicode=True, bad=False, wildcard=False))
def test_one_trailing_dot_does_not_change_the_result(dns: list[str], host: str) -> None:
    bare = host.rstrip(".")
    if not bare:
        return
    cert = make_cert(dns, [], [])
    assert outcome(cert, bare) == outcome(cert, bare + ".")
    dotted_cert = make_cert([d if d.endswith(".") else d + "." for d in dns], [], [])
    assert outcome(cert, bare) == outcome(dotted_cert, bare)


@SETTINGS
@given(
    suffix=st.lists(st.sampled_from(_BASE_LABELS[:-1]), min_size=2, max_size=3).map(".".join),
    extra=st.lists(st.sampled_from(["a", "b", "www", "x-y"]), min_size=2, max_size=3).map(".".join),
    mode=modes,
)
def test_wildcard_never_matches_two_labels(suffix: str, extra: str, mode: Mode) -> None:
    cert = make_cert([f"*.{suffix}"], [], [f"*.{suffix}"])
    assert outcome(cert, f"{extra}.{suffix}", mode) != "match"
    assert outcome(cert, suffix, mode) != "match"


@SETTINGS
@given(addr=st.sampled_from(_ADDRESSES), host=ip_text(), mode=modes, ips=san_ips)
def test_ip_reference_never_matches_dnsname_or_cn(addr: str, host: str, mode: Mode, ips: list[str]) -> None:
    texts = [addr, host.strip("[]"), host]
    cert = make_cert(texts, ips, [host])
    expected = oracle([], ips, [], host, mode)
    assert outcome(cert, host, mode) == expected
    assert outcome(make_cert([], [], [host]), host, "legacy") == "mismatch"


@SETTINGS
@given(host=st.text(max_size=40), dns=st.lists(st.text(st.characters(max_codepoint=127), max_size=20), max_size=3), mode=modes)
def test_arbitrary_input_never_crashes(host: str, dns: list[str], mode: Mode) -> None:
    cert = make_cert(dns, [], ["fallback.example"])
    try:
        result = HostnameCheck(cn_fallback=mode).check(cert, host)
    except (HostnameMismatch, MalformedInput):
        return
    matched = result.data["matched"]
    assert matched.split(":", 1)[1] in [*dns, "fallback.example"]
