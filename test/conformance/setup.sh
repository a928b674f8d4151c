#!/usr/bin/env bash
# Installs what `npm run test:conformance` runs: the Debian exporters whose upstream matches a
# template, the servers they watch, and Prometheus. Idempotent and non-interactive; needs root.
# No service is started: the suite starts every server itself, on loopback, with its own data
# directory, and stops it again.
set -euo pipefail

PACKAGES=(
  prometheus
  prometheus-redis-exporter redis-server
  prometheus-postgres-exporter postgresql postgresql-client
  prometheus-mysqld-exporter mariadb-server mariadb-client
  prometheus-nginx-exporter nginx
  prometheus-apache-exporter apache2
  prometheus-haproxy-exporter haproxy
  prometheus-bind-exporter bind9
  prometheus-process-exporter
  prometheus-elasticsearch-exporter
  prometheus-varnish-exporter varnish
  prometheus-squid-exporter squid
  mtail
  # unshare and setpriv (private mount/network namespaces, the template's user) and `ip`.
  util-linux iproute2
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (apt-get install)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup.sh: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q

# A package name that this Debian does not have is named here, not buried in apt's output.
unknown=()
for p in "${missing[@]}"; do
  candidate=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then unknown+=("$p"); fi
done
if [ "${#unknown[@]}" -gt 0 ]; then
  echo "setup.sh: no installation candidate in this Debian for: ${unknown[*]}" >&2
  exit 1
fi

# invoke-rc.d asks policy-rc.d before starting a service; 101 means "not allowed". Any existing
# policy is put back afterwards.
POLICY=/usr/sbin/policy-rc.d
BACKUP=""
if [ -e "$POLICY" ]; then
  BACKUP=$(mktemp)
  cp -p "$POLICY" "$BACKUP"
fi
restore_policy() {
  if [ -n "$BACKUP" ]; then
    cp -p "$BACKUP" "$POLICY"
    rm -f "$BACKUP"
  else
    rm -f "$POLICY"
  fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' > "$POLICY"
chmod 755 "$POLICY"

echo "setup.sh: installing ${missing[*]}"
apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}"
echo "setup.sh: done"
