"""Test fixtures of certpolicy: loopback TLS, HTTP and OCSP servers, an openssl CA driver, nginx, and the pytest plugin."""
