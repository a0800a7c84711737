#!/usr/bin/env bash
# The systemd integration suite (issue 8) in one command, as root on Debian 12:
#   test/integration/run.sh [--deb PATH] [--rpm PATH] [TEST_FILE...]
# Installs docker.io and debootstrap if missing, starts dockerd if none runs (and stops it at the end),
# builds the images once (cached by content hash), runs the scenarios, and removes every container of
# this run even on failure or Ctrl-C. Without a .deb the bext scenarios are skipped, with the reason.
set -euo pipefail
cd "$(dirname "$0")/../.."

files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) export BEXT_DEB=$(realpath "$2"); shift 2 ;;
    --rpm) export BEXT_RPM=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) files+=("$1"); shift ;;
  esac
done
[ ${#files[@]} -gt 0 ] || files=(test/integration/*.test.ts)

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || [ -n "${BEXT_IT_BASE_IMAGE:-}" ] || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[it] installing ${missing[*]}"
  for i in 1 2 3; do apt-get update -q -o APT::Update::Error-Mode=any && break; sleep 5; done
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

export BEXT_IT_RUN_ID="run-$$-$(date +%s)"
mkdir -p .cache/integration
dockerd_pid=

cleanup() {
  local ids
  ids=$(docker ps -aq --filter "label=bext-masquerade.integration=$BEXT_IT_RUN_ID" 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -f -v $ids >/dev/null 2>&1 || true
  if [ -n "$dockerd_pid" ]; then
    echo "[it] stopping dockerd (pid $dockerd_pid) started by this run"
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! docker info >/dev/null 2>&1; then
  setsid dockerd >> .cache/integration/dockerd.log 2>&1 < /dev/null &
  dockerd_pid=$!
  echo "[it] started dockerd (pid $dockerd_pid)"
  for _ in $(seq 1 180); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "[it] dockerd did not come up; see .cache/integration/dockerd.log" >&2; exit 1; }
fi

start=$(date +%s)
node --import tsx test/integration/harness.ts prepare
# One scenario file at a time: each boots its own container, and the request loops count better alone.
status=0
# A watchdog keeps a hung product from holding the machine: SIGINT makes the runner stop, the trap cleans.
timeout -s INT "${BEXT_IT_TIMEOUT:-1500}" node --import tsx --test --test-concurrency=1 "${files[@]}" || status=$?
echo "[it] scenarios and image preparation took $(( $(date +%s) - start )) s"
exit $status
