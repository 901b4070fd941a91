"""Live policy sources: where a running program gets its policy table from, and the sync that keeps it in force.

* :class:`FileSource`: a TOML / JSON / ``config.xml`` file, polled;
* :class:`UrlSource`: an HTTPS URL serving a table document, fetched through
  the certpolicy context itself, with ETag;
* :class:`InstanceSource`: the instance's policy table over the REST Table API;
* :class:`PolicySync`: runs a source on an interval (or on demand) and calls
  :meth:`~certpolicy.context.PolicySSLContext.replace_table`; keeps the
  :class:`LastKnownGood` file.

Example::

    ctx = certpolicy.create_ssl_context(bootstrap_table)
    source = InstanceSource("https://acme.service-now.com", ctx, headers=auth_header(token=token))
    sync = PolicySync(ctx, source, last_known_good="/var/lib/app/policy.json").start()
"""

from .base import PolicySource, PolicySourceError, SourceResult
from .file import FileSource
from .instance import DEFAULT_TABLE, FieldMap, InstanceSource, map_rows
from .lastgood import LastKnownGood
from .sync import PolicySync, SyncOutcome
from .url import UrlSource, auth_header

__all__ = [
    "DEFAULT_TABLE",
    "FieldMap",
    "FileSource",
    "InstanceSource",
    "LastKnownGood",
    "PolicySource",
    "PolicySourceError",
    "PolicySync",
    "SourceResult",
    "SyncOutcome",
    "UrlSource",
    "auth_header",
    "map_rows",
]
