#!/bin/bash
# Runs INSIDE the booted test container: a local ACME CA (pebble) and a fake DNS (challtestsrv) that
# answers every A query with 127.0.0.1, so certbot's http-01 challenge reaches the local server on :80.
# Recipe: contracts/test-harness.md, acme-test.sh.
set -euo pipefail
mkdir -p /etc/pebble && cd /etc/pebble
# Pebble's own HTTPS certificate (Debian's package ships no test/certs/).
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=bext-it test CA" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout key.pem -out req.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
  openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile ext.cnf -out cert.pem 2>/dev/null
fi
cat > pebble-config.json <<JSON
{ "pebble": {
    "listenAddress": "127.0.0.1:14000",
    "managementListenAddress": "127.0.0.1:15000",
    "certificate": "/etc/pebble/cert.pem",
    "privateKey": "/etc/pebble/key.pem",
    "httpPort": 80,
    "tlsPort": 443,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false } }
JSON
# Only DNS is enabled in challtestsrv, so it takes neither :80 nor :443 from the server under test.
systemctl is-active -q challtestsrv || systemd-run --unit=challtestsrv /usr/bin/pebble-challtestsrv \
  -dns01 127.0.0.1:8053 -http01 "" -https01 "" -tlsalpn01 "" -management 127.0.0.1:8055 -defaultIPv4 127.0.0.1 -defaultIPv6 ""
systemctl is-active -q pebble || systemd-run --unit=pebble -E PEBBLE_VA_NOSLEEP=1 -E PEBBLE_WFE_NONCEREJECT=0 \
  /usr/bin/pebble -config /etc/pebble/pebble-config.json -dnsserver 127.0.0.1:8053
for i in $(seq 1 60); do curl -sf --cacert /etc/pebble/ca.pem https://localhost:14000/dir >/dev/null && break; sleep 0.5; done
curl -sf --cacert /etc/pebble/ca.pem https://localhost:14000/dir >/dev/null
