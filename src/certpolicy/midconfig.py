"""The agent's ``config.xml``: bootstrap parameters in, policy rows back out.

The agent (ServiceNow MID Server) keeps its settings in ``config.xml``: a
``<parameters>`` element holding ``<parameter name="..." value="..."/>``
elements. Five of them concern certificate checks:

=================================================  ===========================  ===============
parameter                                          meaning                      built-in default
=================================================  ===========================  ===============
``mid.ssl.bootstrap.default.check_cert_hostname``  hostname check (instance)    ``true``
``mid.ssl.bootstrap.default.check_cert_chain``     chain check (instance)       ``true``
``mid.ssl.bootstrap.default.check_cert_revocation``  OCSP + CRL (instance)      ``true``
``mid.ssl.bootstrap.default.target_endpoint``      instance FQDN (self-hosted)  ``*.service-now.com``
``mid.ssl.use.instance.security.policy``           instance rows replace these  ``false``
=================================================  ===========================  ===============

Environment variables win over the file (container deployments):
``MID_SSL_BOOTSTRAP_CERT_REVOCATION_CHECK``,
``MID_SSL_USE_INSTANCE_SECURITY_POLICY`` and ``MID_CONFIG_<name>`` where each
``.`` of the parameter name is written ``__``.

:meth:`MidConfig.apply_instance_policies` takes the policy rows downloaded
from the instance: when ``use.instance.security.policy`` is true they replace
the bootstrap values (in memory and, when asked, in ``config.xml``, changing
only the ``value`` attributes concerned and keeping every other byte of the
file); when false the bootstrap values are kept.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from .errors import PolicyConfigError
from .policy import CheckMode, PolicyKind
from .table import DEFAULT_INSTANCE_TARGETS, PolicyTable

__all__ = ["PARAM_CHAIN", "PARAM_HOSTNAME", "PARAM_REVOCATION", "PARAM_TARGET", "PARAM_USE_INSTANCE", "MidConfig"]

PARAM_HOSTNAME = "mid.ssl.bootstrap.default.check_cert_hostname"
PARAM_CHAIN = "mid.ssl.bootstrap.default.check_cert_chain"
PARAM_REVOCATION = "mid.ssl.bootstrap.default.check_cert_revocation"
PARAM_TARGET = "mid.ssl.bootstrap.default.target_endpoint"
PARAM_USE_INSTANCE = "mid.ssl.use.instance.security.policy"

#: The agent's built-in defaults when a parameter is absent.
BUILTIN_DEFAULTS: Mapping[str, str] = {
    PARAM_HOSTNAME: "true",
    PARAM_CHAIN: "true",
    PARAM_REVOCATION: "true",
    PARAM_TARGET: DEFAULT_INSTANCE_TARGETS[0],
    PARAM_USE_INSTANCE: "false",
}

#: Dedicated environment variables (besides ``MID_CONFIG_<name>``).
_ENV_ALIASES = {
    "MID_SSL_BOOTSTRAP_CERT_REVOCATION_CHECK": PARAM_REVOCATION,
    "MID_SSL_USE_INSTANCE_SECURITY_POLICY": PARAM_USE_INSTANCE,
}

_PARAMS = (PARAM_HOSTNAME, PARAM_CHAIN, PARAM_REVOCATION, PARAM_TARGET, PARAM_USE_INSTANCE)


def _env_name(param: str) -> str:
    return "MID_CONFIG_" + param.replace(".", "__")


def _parse_bool(value: str, param: str, source: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "yes", "1", "on"):
        return True
    if v in ("false", "no", "0", "off"):
        return False
    raise PolicyConfigError(f"invalid boolean {value!r}; expected true or false", source=source, row=param)


@dataclass
class MidConfig:
    """The certificate-check parameters of one agent ``config.xml``.

    Attributes:
        path: the file.
        values: effective values by parameter name (file, then environment).
        origins: where each value came from: ``"file"``, ``"env:NAME"`` or ``"default"``.
        check_hostname / check_chain / check_revocation: the bootstrap switches.
        target_endpoint: the instance FQDN or wildcard.
        use_instance_security_policy: whether instance rows replace the bootstrap values.
    """

    path: Path
    values: dict[str, str]
    origins: dict[str, str]
    check_hostname: bool
    check_chain: bool
    check_revocation: bool
    target_endpoint: str
    use_instance_security_policy: bool
    _instance_rows: dict[str, bool] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> MidConfig:
        """Read ``config.xml`` and the environment.

        Args:
            path: the agent's ``config.xml``.
            environ: environment mapping (default ``os.environ``).

        Raises:
            PolicyConfigError: unreadable file, malformed XML, no ``<parameters>``
                element, a malformed boolean (naming file and parameter).
        """
        src = str(path)
        env = os.environ if environ is None else environ
        try:
            raw = Path(path).read_bytes()
        except OSError as e:
            raise PolicyConfigError(f"cannot read config.xml: {e.strerror or e}", source=src) from None
        # A first expat pass refuses DTDs and entity declarations whatever the
        # encoding (UTF-16 too), before anything could be expanded.
        guard = expat.ParserCreate()

        def refuse(*_args: Any) -> None:
            raise PolicyConfigError("DTDs and entities are not accepted in config.xml", source=src)

        guard.StartDoctypeDeclHandler = refuse
        guard.EntityDeclHandler = refuse
        try:
            guard.Parse(raw, True)
            root = ET.fromstring(raw)  # noqa: S314 - no DTD, no entities (checked above)
        except (ET.ParseError, expat.ExpatError) as e:
            raise PolicyConfigError(f"malformed XML: {e}", source=src) from None
        params = root if root.tag == "parameters" else root.find(".//parameters")
        if params is None:
            raise PolicyConfigError("no <parameters> element", source=src)
        values: dict[str, str] = {}
        origins: dict[str, str] = {}
        for el in params.iter("parameter"):
            name = el.get("name")
            if name in _PARAMS:
                value = el.get("value")
                if value is None:
                    raise PolicyConfigError("parameter has no value attribute", source=src, row=name)
                values[name] = value
                origins[name] = "file"
        for var, param in _ENV_ALIASES.items():
            if var in env:
                values[param], origins[param] = env[var], f"env:{var}"
        for param in _PARAMS:
            var = _env_name(param)
            if var in env:
                values[param], origins[param] = env[var], f"env:{var}"
        for param in _PARAMS:
            if param not in values:
                values[param], origins[param] = BUILTIN_DEFAULTS[param], "default"

        def origin_src(param: str) -> str:
            o = origins[param]
            return o if o.startswith("env:") else src

        target = values[PARAM_TARGET].strip()
        if not target:
            raise PolicyConfigError("empty target endpoint", source=origin_src(PARAM_TARGET), row=PARAM_TARGET)
        return cls(
            path=Path(path),
            values=values,
            origins=origins,
            check_hostname=_parse_bool(values[PARAM_HOSTNAME], PARAM_HOSTNAME, origin_src(PARAM_HOSTNAME)),
            check_chain=_parse_bool(values[PARAM_CHAIN], PARAM_CHAIN, origin_src(PARAM_CHAIN)),
            check_revocation=_parse_bool(values[PARAM_REVOCATION], PARAM_REVOCATION, origin_src(PARAM_REVOCATION)),
            target_endpoint=target,
            use_instance_security_policy=_parse_bool(values[PARAM_USE_INSTANCE], PARAM_USE_INSTANCE, origin_src(PARAM_USE_INSTANCE)),
        )

    # -- tables ------------------------------------------------------------

    def _instance_switches(self) -> dict[str, bool]:
        if self._instance_rows is not None:
            return self._instance_rows
        return {"hostname": self.check_hostname, "chain": self.check_chain, "revocation": self.check_revocation}

    def table(self, *, preset: str = "fresh") -> PolicyTable:
        """The policy table: the instance policy from the bootstrap switches (or
        the applied instance rows), the other policies from ``preset``
        (``"fresh"``: every check on; ``"upgraded"``: intranet checks off).

        The bootstrap parameters (``mid.ssl.bootstrap.default.check_cert_hostname``,
        ``...check_cert_chain``, ``...check_cert_revocation``,
        ``...target_endpoint``) set the instance policy; absent parameters take
        the agent's built-in defaults (target ``*.service-now.com``; hostname,
        chain and revocation on). The table is built by
        :meth:`certpolicy.table.PolicyTable.from_dict`, the constructor any
        caller uses; its :attr:`~certpolicy.table.PolicyTable.mid_config` is
        this object, which can apply the instance's policy rows
        (:meth:`apply_instance_policies`). Example::

            table = MidConfig.load("config.xml").table()

        Returns:
            a :class:`~certpolicy.table.PolicyTable`.

        Raises:
            PolicyConfigError: an unknown preset or an invalid target endpoint.
        """
        if preset not in ("fresh", "upgraded"):
            raise PolicyConfigError(f"unknown preset {preset!r}; expected 'fresh' or 'upgraded'")
        sw = self._instance_switches()

        def mode(on: bool) -> str:
            return CheckMode.ENFORCE.value if on else CheckMode.OFF.value

        on = {"chain": "enforce", "hostname": "enforce", "ocsp": "enforce", "crl": "enforce"}
        off = {"chain": "off", "hostname": "off", "ocsp": "off", "crl": "off"}
        data: dict[str, Any] = {
            "defaults": on,
            "instance": {
                "targets": [self.target_endpoint],
                "chain": mode(sw["chain"]),
                "hostname": mode(sw["hostname"]),
                "ocsp": mode(sw["revocation"]),
                "crl": mode(sw["revocation"]),
            },
            "internet": {},
            "intranet": off if preset == "upgraded" else {},
        }
        try:
            return PolicyTable.from_dict(data, source=str(self.path), mid_config=self)
        except PolicyConfigError as e:
            raise e.located(row=PARAM_TARGET) from None

    def apply_instance_policies(
        self,
        rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        *,
        write_back: bool = False,
        preset: str = "fresh",
    ) -> PolicyTable:
        """Apply the policy rows downloaded from the instance.

        Args:
            rows: the instance's rows (list form: ``{"name", "kind", "targets",
                "checks": {"chain": bool, "hostname": bool, "ocsp": bool, "crl": bool}}``)
                or a full table mapping (:meth:`PolicyTable.from_dict` shape).
            write_back: when ``use.instance.security.policy`` is true, also write
                the instance policy's switches into ``config.xml`` (only the
                ``value`` attributes change; missing parameters are added before
                ``</parameters>``; the write is atomic).
            preset: preset for the policies the rows do not define.

        Returns:
            the table in force: built from ``rows`` when
            ``use.instance.security.policy`` is true, else the bootstrap table
            (the rows are ignored, as the agent does).

        Raises:
            PolicyConfigError: invalid rows.
        """
        if not self.use_instance_security_policy:
            return self.table(preset=preset)
        table = PolicyTable.from_dict(rows, source="<instance policy table>", mid_config=self)
        inst = table.instance
        self._instance_rows = {
            "hostname": inst.hostname.active,
            "chain": inst.chain.active,
            "revocation": inst.ocsp.active or inst.crl.active,
        }
        if write_back:
            self._write_back()
        return table

    def _write_back(self) -> None:
        sw = self._instance_switches()
        updates = {
            PARAM_HOSTNAME: "true" if sw["hostname"] else "false",
            PARAM_CHAIN: "true" if sw["chain"] else "false",
            PARAM_REVOCATION: "true" if sw["revocation"] else "false",
        }
        text = self.path.read_text(encoding="utf-8")
        for param, value in updates.items():
            pattern = re.compile(
                r'(<parameter\b[^>]*\bname\s*=\s*"' + re.escape(param) + r'"[^>]*\bvalue\s*=\s*")([^"]*)(")'
            )
            pattern_rev = re.compile(
                r'(<parameter\b[^>]*\bvalue\s*=\s*")([^"]*)("[^>]*\bname\s*=\s*"' + re.escape(param) + r'")'
            )
            new, n = pattern.subn(lambda m, v=value: m.group(1) + v + m.group(3), text)  # type: ignore[misc]
            if n == 0:
                new, n = pattern_rev.subn(lambda m, v=value: m.group(1) + v + m.group(3), text)  # type: ignore[misc]
            if n == 0:
                m = re.search(r"([ \t]*)</parameters>", text)
                if m is None:
                    raise PolicyConfigError("no </parameters> element to add to", source=str(self.path))
                indent = m.group(1) + "    "
                line = f'{indent}<parameter name="{param}" value="{value}"/>\n'
                new = text[: m.start()] + line + text[m.start() :]
            text = new
            self.values[param] = value
            self.origins[param] = "instance"
        fd, tmp = tempfile.mkstemp(dir=str(self.path.parent), prefix=".config.xml.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.chmod(tmp, self.path.stat().st_mode & 0o7777)
            except OSError:
                pass
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def describe(self) -> list[tuple[str, str, str]]:
        """``(parameter, value, origin)`` rows for ``explain`` / docs."""
        return [(p, self.values[p], self.origins[p]) for p in _PARAMS]


_ = PolicyKind
