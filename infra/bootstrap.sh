#!/usr/bin/env bash
# Install what is missing on a Debian machine: Debian packages, the virtualenv, pip packages.
# Idempotent: a second run checks and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS="postgresql redis-server victoria-metrics mosquitto mosquitto-clients docker-compose"
DEBS="$DEBS prometheus prometheus-node-exporter"  # real remote-write and scrape peers for the tests
DEBS="$DEBS prometheus-alertmanager"  # bench/pipeline.py: the anchor chain vmalert → Alertmanager (vmagent, vmalert ship in victoria-metrics)
DEBS="$DEBS chromium chromium-driver"  # for the board test: headless Chromium driven by selenium
python3 -c 'import ensurepip' 2>/dev/null || DEBS="$DEBS python3-venv"

missing=""
for pkg in $DEBS; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "==> installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating the virtualenv in .venv"
  python3 -m venv .venv
fi

stamp=.venv/.vigil-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Vigil and its Python packages into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c 'import infra.cli, confluent_kafka, faust, fastavro'
  echo "$want" > "$stamp"
fi
