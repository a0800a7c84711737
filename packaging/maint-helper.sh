#!/bin/sh
# Shared by the .deb and .rpm maintainer scripts of bext-masquerade (installed as
# /usr/lib/bext/maint-helper): turns the nginx masquerade on or off and moves a running
# nginx.service onto the result. Never prompts: the installer runs with --yes and no terminal.
#
#   maint-helper activate DEFAULTS_FILE   install (or re-apply) the masquerade unless DEFAULTS_FILE
#                                         sets BEXT_MASQUERADE_ACTIVATE=no; restart nginx if it ran.
#                                         Exits 0 even when the installer fails: it rolls back, so
#                                         real nginx keeps serving.
#   maint-helper deactivate               uninstall the masquerade (the uninstaller restarts a
#                                         running nginx onto the real binary). Exits non-zero when
#                                         bext cannot be taken out cleanly, so the package manager
#                                         keeps bext installed (and serving).
#
# The rule in both directions: a failure leaves either real nginx or bext serving, never neither.
set -e

BEXT="${BEXT_CLI:-/usr/bin/bext}"
NGINX_BIN="${BEXT_NGINX_BIN:-/usr/sbin/nginx}"
STATE_FILE="${BEXT_STATE_FILE:-/var/lib/bext/masquerade.json}"
DROP_IN="${BEXT_DROP_IN:-/etc/systemd/system/nginx.service.d/bext-masquerade.conf}"
SERVICE=nginx.service

say() { echo "bext-masquerade: $*" >&2; }

# Reads BEXT_MASQUERADE_ACTIVATE without sourcing the file (it is the admin's, not a script).
activation_wanted() {
  value=yes
  if [ -r "$1" ]; then
    line=$(sed -n 's/^[[:space:]]*BEXT_MASQUERADE_ACTIVATE=//p' "$1" | tail -n 1)
    line=$(printf '%s' "$line" | tr -d "\"' \t")
    [ -n "$line" ] && value=$line
  fi
  [ "$value" != no ]
}

nginx_running() {
  command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$SERVICE"
}

# invoke-rc.d honours policy-rc.d (chroots, image builds); elsewhere plain systemctl.
restart_nginx() {
  if command -v invoke-rc.d >/dev/null 2>&1 && [ -x /etc/init.d/nginx ]; then
    invoke-rc.d nginx restart
  else
    systemctl restart "$SERVICE"
  fi
}

activate() {
  if ! activation_wanted "$1"; then
    say "BEXT_MASQUERADE_ACTIVATE=no in $1: leaving nginx as it is"
    return 0
  fi
  if [ ! -e "$NGINX_BIN" ]; then
    # nginx is only recommended; the package's nginx trigger sets the masquerade up once it comes.
    say "nginx is not installed: nothing to put bext in front of yet"
    return 0
  fi
  was_running=no
  nginx_running && was_running=yes
  if ! "$BEXT" nginx masquerade install --yes --bext-bin /usr/bin/bext-server --shim-bundle /usr/lib/bext/nginx-shim </dev/null; then
    say "the masquerade could not be installed; the installer rolled back and nginx is unchanged."
    say "Fix the cause shown above, then run: bext nginx masquerade install"
    return 0
  fi
  [ "$was_running" = yes ] || return 0
  if restart_nginx; then
    return 0
  fi
  # bext does not come up as nginx.service: put real nginx back in front and start it.
  say "nginx.service did not start on bext; restoring the real nginx"
  "$BEXT" nginx masquerade uninstall --yes </dev/null || say "uninstall failed too; see: bext nginx masquerade status"
  restart_nginx || say "the real nginx did not start either; see: systemctl status nginx"
  return 0
}

# Any trace of an install: its record, its drop-in, or our shim (marker line) at /usr/sbin/nginx.
masquerade_present() {
  [ -e "$STATE_FILE" ] || [ -e "$DROP_IN" ] || grep -qs '^# bext-masquerade nginx shim' "$NGINX_BIN"
}

deactivate() {
  if ! masquerade_present; then
    # Never installed (or already uninstalled): nothing to undo, and no reason to block the removal.
    return 0
  fi
  was_running=no
  nginx_running && was_running=yes
  # uninstall also restarts a running nginx.service, onto the real nginx.
  if ! "$BEXT" nginx masquerade uninstall --yes </dev/null; then
    say "the masquerade could not be uninstalled; bext stays installed and in place."
    return 1
  fi
  if [ "$was_running" = no ] || nginx_running; then
    return 0
  fi
  # The real nginx does not run: put bext back so that something serves, and stop the removal.
  say "the real nginx is not running after the uninstall; putting bext back in front of nginx.service"
  "$BEXT" nginx masquerade install --yes --bext-bin /usr/bin/bext-server --shim-bundle /usr/lib/bext/nginx-shim </dev/null || true
  restart_nginx || true
  return 1
}

case "$1" in
  activate) activate "${2:?defaults file}" ;;
  deactivate) deactivate ;;
  *) say "usage: maint-helper activate DEFAULTS_FILE | deactivate"; exit 2 ;;
esac
