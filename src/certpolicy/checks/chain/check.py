"""The ChainCheck: certification path validation of a presented chain against a policy's trust anchors.

The check parses the chain (:mod:`.parse`), lets the validator chosen by
:mod:`.verifiers` build and validate a path, recovers from a failure
(missing intermediates from caIssuers; pyhanko-certvalidator for
directoryName name constraints, names that chain only under RFC 5280 §7.1
and critical certificate policy extensions, see :mod:`.pkix`; a
self-signed endpoint certificate that is itself a trust anchor), runs
certpolicy's rules (:mod:`.rules`) on the path, processes its certificate
policies when RFC 5280 §6.1 can refuse it for them (:mod:`.pkix`) and
explains a rejection (:mod:`.explain`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import threading
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import VerificationError

from ..._memo import CERTIFICATE_FACTS
from ...aia import AiaFetcher, AiaResult
from ...errors import ChainError, MalformedInput, PolicyConfigError
from ...policy import VALIDATION_PROFILES, Policy, TrustSpec, ValidationProfile
from ...policy_values import ANY_POLICY, boolean, policy_oids
from ...trust import TrustAnchors, anchors_fingerprint, trust_anchors
from ..base import CheckContext, CheckResult
from .explain import PathData, chain_error, explain_failure, role_of
from .memo import path_memo
from .parse import parse_chain
from .pkix import (
    DEFAULT_POLICY_INPUTS,
    PolicyInputs,
    names_match_only_when_prepared,
    needs_policy_processing,
    policy_inputs,
    refuses_policy_extension,
    self_issued_ca,
)
from .rules import (
    Rule,
    eku_problem,
    refused_anchors,
    rules_for,
    self_signed,
    subject_text,
    trust_anchor_problem,
    validity_problem,
)
from .verifiers import (
    CA_LEAF_REFUSALS,
    DN_CONSTRAINT,
    OTHER_CONSTRAINT,
    WHY_DN_CONSTRAINT,
    WHY_NAME_CHAINING,
    WHY_OTHER_CONSTRAINT,
    WHY_POLICY_EXTENSION,
    WHY_SELF_ISSUED,
    ServerVerifiers,
    Verify,
    chain_only,
    is_path_failure,
    pyhanko_path,
    pyhanko_policies,
    server_subject,
)

__all__ = ["DEFAULT_MAX_CHAIN_DEPTH", "ChainCheck"]

#: Intermediates allowed between leaf and trust anchor when the policy sets no
#: ``max_chain_depth`` (cryptography's default).
DEFAULT_MAX_CHAIN_DEPTH = 8

_MAX_DEPTH_LIMIT = 255
_UTC = _dt.timezone.utc


def _as_utc(at: _dt.datetime | None) -> _dt.datetime:
    if at is None:
        return _dt.datetime.now(_UTC).replace(microsecond=0)
    if at.tzinfo is None:
        return at.replace(tzinfo=_UTC)
    return at.astimezone(_UTC)


def _refusal(
    reason: str, cert: x509.Certificate, rule: Rule | None, profile: ValidationProfile
) -> ChainError:
    """The ChainError of a path rule: the message ends with the profile in
    force and the rule's name (``[webpki profile: br_7_1_2_7_10_subscriber_eku]``)."""
    if rule is None:
        return chain_error(reason, cert, profile=profile)
    return chain_error(f"{reason} [{profile} profile: {rule.name}]", cert, profile=profile, rule=rule.name)


def _valid_depth(depth: int | None, field_name: str = "max_chain_depth") -> int | None:
    if depth is None:
        return None
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= _MAX_DEPTH_LIMIT:
        raise PolicyConfigError(
            f"expected a whole number between 0 and {_MAX_DEPTH_LIMIT}, got {depth!r}",
            field=field_name,
        )
    return depth


class ChainCheck:
    """Certification path validation (RFC 5280 §6.1) against a policy's trust anchors.

    Args:
        trust: where the trust anchors come from (:class:`~certpolicy.policy.TrustSpec`:
            system store, extra PEM files or folders, caIssuers fetching). ``None``:
            ``anchors`` alone when given, else the policy's ``trust`` (in
            :meth:`run`, or :meth:`check` with ``policy=``), else the system store.
        anchors: extra trust anchors as certificate objects (added to ``trust``).
        max_chain_depth: most intermediates between leaf and trust anchor
            (0-255); ``None``: the policy's ``max_chain_depth``, else
            :data:`DEFAULT_MAX_CHAIN_DEPTH`.
        eku: the extended key usage the certificates must allow (serverAuth by
            default; anyExtendedKeyUsage and an absent extension allow every
            purpose); ``None`` disables the EKU rule.
        aia_fetcher: the :class:`certpolicy.aia.AiaFetcher` (and its cache) used
            when the trust spec has ``aia_fetch = true``; default: a private one.
        profile: the validation profile (``"webpki"`` or ``"rfc5280"``);
            ``None``: the policy's (:meth:`profile_for`).
        certificate_policies: the user-initial-policy-set of RFC 5280
            §6.1.1(c) (dotted policy OIDs, ``"anyPolicy"`` for all); ``None``:
            the policy's ``certificate_policies``, else any policy.
        require_explicit_policy: initial-explicit-policy (RFC 5280
            §6.1.1(f)); ``None``: the policy's ``require_explicit_policy``,
            else ``False``.

    Raises:
        PolicyConfigError: ``max_chain_depth`` out of range, an unknown
            ``profile``, a ``certificate_policies`` entry that is not a dotted
            OID, a ``require_explicit_policy`` that is not a boolean.

    Certificate policies (RFC 5280 §6.1.3(d)-(f), §6.1.4, §6.1.5) are
    processed by pyhanko-certvalidator on the validated path when a
    certificate below the trust anchor carries policyMappings,
    policyConstraints or inhibitAnyPolicy, or the inputs are not RFC 5280's
    defaults; a refusal names the rule (``rfc5280_6_1_5_g_explicit_policy``).

    The trust store behind each trust spec is built once and cached (bounded,
    thread-safe, re-read when its files change), and so are the extension
    policies per trust store. The verifiers are rebuilt per host and second,
    because cryptography fixes the validation time in them (about 2 µs). One
    instance is safe to share between threads; no lock is held during
    verification.
    """

    name = "chain"
    requires_chain = False

    def __init__(
        self,
        trust: TrustSpec | None = None,
        *,
        anchors: Sequence[x509.Certificate] = (),
        max_chain_depth: int | None = None,
        eku: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.SERVER_AUTH,
        aia_fetcher: AiaFetcher | None = None,
        profile: ValidationProfile | None = None,
        certificate_policies: Sequence[str] | str | None = None,
        require_explicit_policy: bool | None = None,
    ) -> None:
        if profile is not None and profile not in VALIDATION_PROFILES:
            raise PolicyConfigError(
                f"invalid value {profile!r}; expected 'webpki' or 'rfc5280'", field="profile"
            )
        self.profile: ValidationProfile | None = profile
        self.certificate_policies: tuple[str, ...] | None = (
            None if certificate_policies is None else policy_oids(certificate_policies, "certificate_policies")
        )
        self.require_explicit_policy: bool | None = (
            None
            if require_explicit_policy is None
            else boolean(require_explicit_policy, "require_explicit_policy")
        )
        self.trust = trust
        self.anchors: tuple[x509.Certificate, ...] = tuple(anchors)
        self.max_chain_depth = _valid_depth(max_chain_depth)
        self.eku = eku
        self.aia = aia_fetcher or AiaFetcher()
        self._anchors_key = anchors_fingerprint(self.anchors) if trust is not None else b""
        self._own: TrustAnchors | None = (
            TrustAnchors.from_certificates(self.anchors) if self.anchors and trust is None else None
        )
        self._server_verifiers: dict[tuple[int, _dt.datetime, str], ServerVerifiers] = {}
        self._verifiers_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"ChainCheck(trust={self.trust!r}, anchors=<{len(self.anchors)}>, "
            f"max_chain_depth={self.max_chain_depth!r}, eku={self.eku!r}, profile={self.profile!r}, "
            f"certificate_policies={self.certificate_policies!r}, "
            f"require_explicit_policy={self.require_explicit_policy!r})"
        )

    # -- configuration ------------------------------------------------------------

    def _trust_for(self, policy: Policy | None) -> tuple[TrustAnchors, TrustSpec | None]:
        if self._own is not None:
            return self._own, None
        spec = self.trust
        if spec is None:
            spec = policy.trust if policy is not None else TrustSpec()
        try:
            return trust_anchors(spec, self.anchors, anchors_key=self._anchors_key), spec
        except PolicyConfigError as e:
            raise chain_error(f"trust anchors unavailable: {e}", None, "no-trust-anchors") from None

    def profile_for(self, policy: Policy | None) -> ValidationProfile:
        """The validation profile in force: the check's own ``profile``, else
        the policy's (:attr:`certpolicy.policy.Policy.validation_profile`),
        else ``"webpki"``."""
        if self.profile is not None:
            return self.profile
        return policy.validation_profile if policy is not None else "webpki"

    def policy_inputs_for(self, policy: Policy | None) -> PolicyInputs:
        """The certificate policy inputs in force (RFC 5280 §6.1.1(c), (e)-(g)):
        the check's own ``certificate_policies`` / ``require_explicit_policy``,
        else the policy's, else any policy and no explicit policy; the
        policy's ``inhibit_policy_mapping`` and ``inhibit_any_policy``.

        Args:
            policy: the policy in force, or ``None``.

        Returns:
            the :class:`~certpolicy.checks.chain.pkix.PolicyInputs`
            (:data:`~certpolicy.checks.chain.pkix.DEFAULT_POLICY_INPUTS` for the defaults).
        """
        policies = self.certificate_policies
        explicit = self.require_explicit_policy
        if policy is not None:
            policies = policy.certificate_policies if policies is None else policies
            explicit = policy.require_explicit_policy if explicit is None else explicit
        mapping = bool(policy.inhibit_policy_mapping) if policy is not None else False
        any_policy = bool(policy.inhibit_any_policy) if policy is not None else False
        if policies is None and explicit is None and not mapping and not any_policy:
            return DEFAULT_POLICY_INPUTS
        if isinstance(policies, list):  # a Policy built in code: hashable for the cache
            policies = tuple(policies)
        return policy_inputs(policies or (ANY_POLICY,), bool(explicit), mapping, any_policy)

    def _depth_for(self, policy: Policy | None) -> int:
        if self.max_chain_depth is not None:
            return self.max_chain_depth
        if policy is not None and policy.max_chain_depth is not None:
            return max(0, min(int(policy.max_chain_depth), _MAX_DEPTH_LIMIT))
        return DEFAULT_MAX_CHAIN_DEPTH

    # -- public API ---------------------------------------------------------------

    def check(
        self,
        chain: Sequence[x509.Certificate | bytes],
        host: str | None = None,
        *,
        at: _dt.datetime | None = None,
        policy: Policy | None = None,
        allow_network: bool = True,
        deadline: float | None = None,
    ) -> list[x509.Certificate]:
        """Validate ``chain`` and return its certification path.

        Args:
            chain: the presented chain, leaf first (certificate objects, or DER /
                PEM bytes, see :func:`parse_chain`). The order of the others and
                extra certificates do not matter: they are untrusted candidates.
            host: the server name (A-label DNS name or IP address), or ``None``.
                It never decides the verdict (hostname matching is
                :class:`~certpolicy.checks.hostname.HostnameCheck`'s job); it
                names the host in errors and lets the check try cryptography's
                all-Rust ServerVerifier first, which is faster on large SAN
                lists.
            at: validation time (aware ``datetime``; naive means UTC); default now.
            policy: the policy in force: supplies ``trust`` (when the check has
                none), ``max_chain_depth``, the validation profile, the
                certificate policy inputs (``certificate_policies``,
                ``require_explicit_policy``) and the name used in errors.
            allow_network: ``False``: fetch no missing intermediate, use only
                cached caIssuers answers (asyncio handshakes).
            deadline: ``time.monotonic()`` value bounding caIssuers fetches.

        Returns:
            the validated path ``[leaf, intermediate..., trust anchor]`` (one
            element when the leaf is itself a trust anchor).

        Raises:
            PolicyConfigError: the policy's ``certificate_policies`` (a
                :class:`~certpolicy.policy.Policy` built in code) holds an
                entry that is neither a dotted OID nor anyPolicy.
            MalformedInput: the chain cannot be parsed or breaks a size limit,
                or a certificate of it has duplicate/unreadable extensions.
            ChainError: no valid path; ``outcome`` is ``"expired"``,
                ``"not-yet-valid"``, ``"unknown-issuer"``, ``"no-trust-anchors"``
                or ``"invalid"`` (signature, constraint, profile or key rule,
                RFC 5280 certificate policy processing); the message names the
                certificate and the rule.
        """
        policy_name = policy.name if policy is not None else None
        try:
            certs = parse_chain(chain)
            anchors, spec = self._trust_for(policy)
            return self._validate(
                certs,
                anchors,
                spec,
                self._depth_for(policy),
                _as_utc(at),
                host=host,
                allow_network=allow_network,
                deadline=deadline,
                profile=self.profile_for(policy),
                inputs=self.policy_inputs_for(policy),
            )
        except (ChainError, MalformedInput) as e:
            raise e.with_context(policy=policy_name, host=host) from None
        except PolicyConfigError:
            raise  # the policy's settings, not the chain (certificate_policies built in code)
        except (
            ValueError,
            TypeError,
            UnsupportedAlgorithm,
            x509.DuplicateExtension,
            x509.InvalidVersion,
        ) as e:
            # cryptography parses lazily: a malformed name or extension can
            # surface anywhere during validation. Fail closed, say why.
            raise MalformedInput(
                f"the chain cannot be processed: {type(e).__name__}: {e}",
                policy=policy_name,
                check="chain",
                outcome="malformed",
                host=host,
            ) from e

    def run(self, ctx: CheckContext) -> CheckResult:
        """Run the check for one connection (the :class:`~certpolicy.checks.Check` protocol).

        Uses ``ctx.chain``, ``ctx.at``, ``ctx.policy`` (trust, max_chain_depth),
        ``ctx.allow_network`` and ``ctx.deadline``; sets ``ctx.verified_path``.

        Returns:
            ``CheckResult("chain", "ok", detail, data={"path": [subject, ...],
            "trust_anchor": subject})``.

        Raises:
            ChainError / MalformedInput: as :meth:`check`, carrying the policy
            name and the host.
        """
        path = self.check(
            ctx.chain,
            ctx.host,
            at=ctx.at,
            policy=ctx.policy,
            allow_network=ctx.allow_network,
            deadline=ctx.deadline,
        )
        ctx.verified_path = path
        anchor = subject_text(path[-1])
        detail = (
            f"certification path of {len(path)} certificates to trust anchor {anchor!r}"
            if len(path) > 1
            else f"the certificate is itself a trust anchor ({anchor!r})"
        ) + f" ({self.profile_for(ctx.policy)} profile)"
        return CheckResult(check=self.name, outcome="ok", detail=detail, data=PathData(path, anchor))

    # -- the work -----------------------------------------------------------------

    def _verifier(
        self,
        leaf: x509.Certificate,
        anchors: TrustAnchors,
        depth: int,
        at: _dt.datetime,
        host: str | None,
    ) -> Verify:
        """The path validation function for this call.

        With serverAuth and a host name, cryptography's ServerVerifier is tried
        first (see :class:`ServerVerifiers`): it checks the leaf (name
        included) before building a path, all in Rust. When it fails on the
        leaf (name mismatch, no SAN, anyExtendedKeyUsage alone ...), the
        chain-only ClientVerifier decides.
        """
        naive_at = at.replace(tzinfo=None)
        if host and self.eku == ExtendedKeyUsageOID.SERVER_AUTH:
            # A verifier is fixed to one validation time (whole seconds here) and
            # one name: the handshakes of one second to one host share it.
            vkey = (depth, naive_at, host)
            hit = self._server_verifiers.get(vkey)
            if hit is not None and hit.anchors is anchors:
                return hit.verify
            subject = server_subject(host)
            if subject is not None:
                servers = ServerVerifiers(anchors, depth, naive_at, subject, self.eku)
                with self._verifiers_lock:
                    if len(self._server_verifiers) >= 256:
                        self._server_verifiers.clear()
                    self._server_verifiers[vkey] = servers
                return servers.verify
        return functools.partial(chain_only, self.eku, anchors, depth, naive_at)

    def _validate(
        self,
        certs: list[x509.Certificate],
        anchors: TrustAnchors,
        spec: TrustSpec | None,
        depth: int,
        at: _dt.datetime,
        *,
        host: str | None,
        allow_network: bool,
        deadline: float | None,
        profile: ValidationProfile,
        inputs: PolicyInputs = DEFAULT_POLICY_INPUTS,
    ) -> list[x509.Certificate]:
        leaf = certs[0]
        if anchors.store is None:
            where = ", ".join(anchors.sources) or "nowhere"
            raise chain_error(
                "no trust anchors: the policy trusts no certificate "
                f"(searched: {where}); set trust.system or trust.extra",
                leaf,
                "no-trust-anchors",
            )
        memo = path_memo(anchors)
        memo_key = (tuple(certs), host, depth, self.eku, profile, inputs)
        known = memo.get(memo_key, at)
        if known is not None:
            return known  # validated before under the same inputs, still within every validity
        verifier = self._verifier(leaf, anchors, depth, at, host)
        candidates = certs[1:]
        first_try = True
        try:
            path, san_checked = verifier(leaf, candidates)
            by_cryptography = True
        except VerificationError as first:
            first_try = False
            path, by_cryptography = self._recover(
                first, verifier, certs, anchors, spec, depth, at, allow_network, deadline, inputs, profile
            )
            san_checked = False
        self._post_checks(
            path, at, anchors, profile, san_checked=san_checked, validity=not by_cryptography
        )
        if by_cryptography and needs_policy_processing(path, inputs):
            # cryptography processes no certificate policies (RFC 5280 §6.1.3(d)-(f))
            pyhanko_policies(path, at, inputs, profile)
        if first_try:
            memo.put(memo_key, path)
        return path

    def _recover(
        self,
        error: VerificationError,
        verifier: Verify,
        certs: list[x509.Certificate],
        anchors: TrustAnchors,
        spec: TrustSpec | None,
        depth: int,
        at: _dt.datetime,
        allow_network: bool,
        deadline: float | None,
        inputs: PolicyInputs = DEFAULT_POLICY_INPUTS,
        profile: ValidationProfile = "webpki",
    ) -> tuple[list[x509.Certificate], bool]:
        """After a failed verification: fetch missing intermediates; let
        pyhanko-certvalidator build the path for directoryName or
        uniformResourceIdentifier constraints, a critical certificate policy
        extension, names that chain only under RFC 5280 §7.1, or a presented
        self-issued CA certificate, which cryptography counts towards
        pathLenConstraint and RFC 5280 §6.1.4(l) does not (the last two
        looked for only after cryptography exhausted its candidates); accept
        a pinned self-signed leaf; or explain the failure.

        Returns ``(path, built_by_cryptography)``."""
        leaf, candidates = certs[0], certs[1:]
        aia: AiaResult | None = None
        if spec is not None and spec.aia_fetch:
            aia = self.aia.chase(
                certs,
                anchors.may_issue,
                limits=spec.aia_limits,
                deadline=deadline,
                allow_network=allow_network,
            )
            if aia.certificates:
                candidates = [*candidates, *aia.certificates]
                try:
                    return verifier(leaf, candidates)[0], True
                except VerificationError as second:
                    error = second
        message = str(error)
        if profile == "rfc5280" and any(m in message for m in CA_LEAF_REFUSALS):
            # RFC 5280 §6.1 lets a CA certificate end the path (PKITS 4.6.8)
            try:
                return chain_only(
                    self.eku, anchors, depth, at.replace(tzinfo=None), leaf, candidates, ca_leaf=True
                )[0], True
            except VerificationError as third:
                error, message = third, str(third)
        why = (
            WHY_DN_CONSTRAINT
            if DN_CONSTRAINT in message
            else WHY_OTHER_CONSTRAINT
            if OTHER_CONSTRAINT in message
            else WHY_POLICY_EXTENSION
            if refuses_policy_extension(message)
            else WHY_NAME_CHAINING
            if is_path_failure(error) and names_match_only_when_prepared([leaf, *candidates], anchors)
            else WHY_SELF_ISSUED
            if is_path_failure(error) and any(CERTIFICATE_FACTS(c, self_issued_ca) for c in candidates)
            else None
        )
        if why is not None:
            path = pyhanko_path(
                leaf, candidates, anchors, depth, at, error, self.eku, why=why, inputs=inputs, profile=profile
            )
            return path, False
        direct = self._direct_trust(leaf, anchors, at)
        if direct is not None:
            return direct, False
        raise explain_failure(error, certs, anchors, at, aia)

    def _direct_trust(
        self, leaf: x509.Certificate, anchors: TrustAnchors, at: _dt.datetime
    ) -> list[x509.Certificate] | None:
        """A self-signed endpoint certificate that is itself a trust anchor."""
        if not anchors.contains(leaf) or not self_signed(leaf) or leaf.serial_number <= 0:
            return None
        problem = validity_problem(leaf, at)
        if problem is not None:
            raise chain_error(
                f"the certificate is a trust anchor but {problem[1]}; the trust anchor must be "
                "valid too (SPEC)",
                leaf,
                problem[0],
            )
        eku_refusal = eku_problem(leaf, self.eku)
        if eku_refusal is not None:
            raise chain_error(f"the certificate is a trust anchor but {eku_refusal}", leaf)
        return [leaf]

    def _post_checks(
        self,
        path: list[x509.Certificate],
        at: _dt.datetime,
        anchors: TrustAnchors,
        profile: ValidationProfile,
        *,
        san_checked: bool = False,
        validity: bool = False,
    ) -> None:
        """certpolicy's rules of ``profile`` on a validated path
        (:data:`.rules.PATH_RULES`); the error names the rule and the profile.

        ``validity``: re-check every certificate against ``at`` (for paths that
        cryptography did not build; cryptography checks every certificate of its
        paths, the trust anchor included). A path of one certificate (an
        endpoint certificate that is itself a trust anchor) is held to the
        rules of RFC 5280 alone: the Baseline Requirements' subscriber rules
        bind certificates a CA issues.
        """
        n = len(path)
        eku = self.eku is not None
        leaf_profile: ValidationProfile = profile if n > 1 else "rfc5280"
        for i, cert in enumerate(path):
            if validity:
                problem = validity_problem(cert, at)
                if problem is not None:
                    raise chain_error(
                        f"{role_of(i, n)} certificate {subject_text(cert)!r} {problem[1]} "
                        "(RFC 5280 §6.1.3(a)(2); SPEC: the trust anchor included)",
                        cert,
                        problem[0],
                    )
            who = role_of(i, n)
            applies_to = "end-entity" if i == 0 else "ca"
            for rule in rules_for(applies_to, san_checked and i == 0, leaf_profile if i == 0 else profile, eku):
                try:
                    problem_text = CERTIFICATE_FACTS(cert, rule.problem)
                except (ValueError, x509.DuplicateExtension) as e:
                    raise chain_error(f"{who} certificate: unreadable extension ({e})", cert) from None
                if problem_text is not None:
                    raise _refusal(f"{who} certificate {subject_text(cert)!r}: {problem_text}", cert, rule, profile)
        if n > 1:
            bad = refused_anchors(anchors, profile, eku)
            if bad:
                anchor = path[-1]
                refusal: tuple[Rule | None, str] | None = bad.get(id(anchor))
                if refusal is None and not anchors.contains(anchor):
                    refusal = trust_anchor_problem(anchor, profile, eku)
                if refusal is not None:
                    anchor_rule, text = refusal
                    raise _refusal(f"trust anchor {subject_text(anchor)!r}: {text}", anchor, anchor_rule, profile)
