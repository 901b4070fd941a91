"""One agent process of the fleet test (tests/test_fleet_cache.py): builds
its context from the policy file given, waits for the start signal, verifies
each chain of the job file once, and prints one JSON line of verdicts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import certpolicy


def main() -> None:
    policy, job_path, go_file = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    job = json.loads(Path(job_path).read_text())
    ctx = certpolicy.create_ssl_context(certpolicy.PolicyTable.load(policy), verdict_ttl=0)
    while not go_file.exists():  # start together
        time.sleep(0.005)
    out = {}
    for name, chain_hex in job["chains"].items():
        chain = [bytes.fromhex(c) for c in chain_hex]
        try:
            ctx.verify_chain(chain, job["host"])
            out[name] = "pass"
        except certpolicy.CertPolicyError as e:
            out[name] = f"{e.check}:{e.outcome}"
        except Exception as e:  # an exception that escaped: the test fails on it
            out[name] = f"ESCAPED {type(e).__name__}: {e}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
