#!/bin/sh
# Set tlbuild up for daily use on a Debian or Ubuntu machine, as root, from a clone:
#
#   sudo sh deploy/install.sh
#
# Each step is skipped when it is done already, so running it again changes nothing
# (an edited config, env file or secret is never overwritten):
#   1. the system user `tlbuild` (no login shell, home /opt/tlbuild)
#   2. the code in /opt/tlbuild and its venv (python3 -m venv, pip install .)
#   3. /etc/tlbuild/tlbuild.toml (from config/tlbuild.example.toml; edit it) and
#      /etc/tlbuild/env (mode 0640, for secrets named by password_env)
#   4. the output folder (`out` of the config, default /srv/timelapse) and the log
#      folder /var/log/tlbuild, owned by tlbuild and writable by its group
#
# Members of the group tlbuild (sudo usermod -aG tlbuild "$USER", then log in again)
# read the config and secrets and write under `out`: doctor, status and report need
# no sudo.
#   5. the systemd units in /etc/systemd/system, then `systemctl enable --now
#      tlbuild.timer` (the first build runs at 01:30); tlbuild-capture.service, for
#      snapshot cameras, is installed but enabled by hand (see the README)
#
# ROOT=/some/dir installs into that folder instead of / (user and systemctl steps are
# then skipped, nothing outside ROOT is touched); SKIP_VENV=1 leaves out step 2's venv.
set -eu

ROOT=${ROOT:-}
SKIP_VENV=${SKIP_VENV:-}
SOURCE=$(cd "$(dirname "$0")/.." && pwd)
APP=$ROOT/opt/tlbuild
ETC=$ROOT/etc/tlbuild
UNITS=$ROOT/etc/systemd/system
LOGS=$ROOT/var/log/tlbuild
USER_NAME=tlbuild

say() { printf 'install: %s\n' "$*"; }

# 1. the user
if [ -z "$ROOT" ] && ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --home-dir /opt/tlbuild --shell /usr/sbin/nologin "$USER_NAME"
    say "made the system user $USER_NAME"
fi
owner() {  # chown to the service user where it exists (not in a ROOT=... install)
    if id "$USER_NAME" >/dev/null 2>&1; then chown -R "$USER_NAME:$USER_NAME" "$@"; fi
}

# 2. the code and its venv
mkdir -p "$APP"
if [ "$SOURCE" != "$(cd "$APP" && pwd)" ]; then
    # the package, its metadata and what the units call (not the clone's venv or out)
    for part in pyproject.toml README.md dodo.py tlbuild config deploy; do
        rm -rf "$APP/$part"
        cp -R "$SOURCE/$part" "$APP/$part"
    done
    find "$APP/tlbuild" -name __pycache__ -prune -exec rm -rf {} +
    say "copied tlbuild to $APP"
fi
if [ -z "$SKIP_VENV" ]; then
    [ -x "$APP/.venv/bin/python" ] || python3 -m venv "$APP/.venv"
    "$APP/.venv/bin/python" -m pip install --quiet --upgrade "$APP"
    say "installed tlbuild into $APP/.venv"
fi

# 3. config and secrets (kept when present: they are the operator's)
mkdir -p "$ETC"
if [ ! -e "$ETC/tlbuild.toml" ]; then
    cp "$SOURCE/config/tlbuild.example.toml" "$ETC/tlbuild.toml"
    say "wrote $ETC/tlbuild.toml: edit it (cameras, out, sinks)"
fi
if [ ! -e "$ETC/env" ]; then
    (umask 077 && printf '%s\n' \
        "# Secrets named by password_env in tlbuild.toml, one NAME=value a line:" \
        "# UPVS_PASSWORD=..." > "$ETC/env")
    say "wrote $ETC/env (mode 0640) for secrets"
fi
chmod 0640 "$ETC/env"
owner "$ETC"
chmod 0750 "$ETC"

# 4. output and log folders
OUT=$(sed -n 's/^out *= *"\(.*\)".*/\1/p' "$ETC/tlbuild.toml" | head -n 1)
OUT=${OUT:-/srv/timelapse}
case $OUT in
    /*) ;;
    *) OUT=/opt/tlbuild/$OUT ;;  # relative to the service's WorkingDirectory
esac
mkdir -p "$ROOT$OUT" "$LOGS"
owner "$ROOT$OUT" "$LOGS"
chmod 2775 "$ROOT$OUT" "$LOGS"  # the group writes too; new files keep the group
say "output in $OUT, logs in /var/log/tlbuild"

# 5. the units
mkdir -p "$UNITS"
cp "$SOURCE/deploy/tlbuild.service" "$SOURCE/deploy/tlbuild.timer" \
    "$SOURCE/deploy/tlbuild-capture.service" "$UNITS/"
if [ -z "$ROOT" ]; then
    systemctl daemon-reload
    systemctl enable --now tlbuild.timer
    say "enabled tlbuild.timer: $(systemctl show -P NextElapseUSecRealtime tlbuild.timer)"
fi
say "check it (as a member of the group $USER_NAME): (set -a; . /etc/tlbuild/env; /opt/tlbuild/.venv/bin/tlbuild --config /etc/tlbuild/tlbuild.toml doctor)"
