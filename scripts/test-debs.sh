#!/usr/bin/env bash
# Check the two .deb packages without installing them on this machine:
# contents (binaries, unit, desktop entry, icons, man pages, completions),
# the binaries' own completions/man output, and the agent started exactly
# as its systemd unit's ExecStart line says — as an unprivileged service
# user, with its data dir — in a network namespace of its own (so its
# 0.0.0.0 listener and mDNS see nothing but that namespace's loopback),
# answering /v1/health on 127.0.0.1:8470.
#
# Usage: scripts/test-debs.sh [DEB_DIR]   (default: build them first with
# scripts/build-debs.sh into $CARGO_TARGET_DIR/debian). Running the agent
# needs root and `ip netns`; without them that part is skipped, said so.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgefleet/target}"
debs="${1:-}"
if [ -z "$debs" ]; then
    bash scripts/build-debs.sh
    debs="$CARGO_TARGET_DIR/debian"
fi
console_deb=$(ls "$debs"/edgefleet_*.deb | tail -n1)
agent_deb=$(ls "$debs"/edgefleet-agent_*.deb | tail -n1)

work=$(mktemp -d)
ns="efdeb$$"
agent_pid=""
cleanup() {
    if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
has() { [ -e "$1" ] || fail "missing $1"; }

echo "== $console_deb"
dpkg-deb --info "$console_deb" | grep -E "Package|Version|Depends|Architecture"
dpkg-deb --info "$console_deb" | grep -q "libxkbcommon0" || fail "the console package does not depend on the window libraries"
dpkg-deb -x "$console_deb" "$work/console"
c="$work/console"
has "$c/usr/bin/edgefleet"
has "$c/usr/share/applications/edgefleet.desktop"
has "$c/usr/share/icons/hicolor/256x256/apps/edgefleet.png"
has "$c/usr/share/icons/hicolor/scalable/apps/edgefleet.svg"
has "$c/usr/share/man/man1/edgefleet.1.gz"
has "$c/usr/share/man/man1/edgefleet-deploy.1.gz"
has "$c/usr/share/bash-completion/completions/edgefleet"
has "$c/usr/share/zsh/vendor-completions/_edgefleet"
has "$c/usr/share/fish/vendor_completions.d/edgefleet.fish"
grep -q '^Exec=edgefleet' "$c/usr/share/applications/edgefleet.desktop" || fail "desktop entry has no Exec"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$c/usr/share/applications/edgefleet.desktop"; fi
"$c/usr/bin/edgefleet" --version
"$c/usr/bin/edgefleet" completions bash | grep -q "scan" || fail "bash completions do not know scan"
zcat "$c/usr/share/man/man1/edgefleet-scan.1.gz" | grep -q -- "expect" || fail "the scan man page lacks --expect"

echo "== $agent_deb"
dpkg-deb --info "$agent_deb" | grep -E "Package|Version|Depends|Architecture"
dpkg-deb -x "$agent_deb" "$work/agent"
dpkg-deb -e "$agent_deb" "$work/agent-control"
a="$work/agent"
has "$a/usr/bin/edgefleet-agent"
unit="$a/lib/systemd/system/edgefleet-agent.service"
[ -e "$unit" ] || unit="$a/usr/lib/systemd/system/edgefleet-agent.service"
has "$unit"
has "$a/usr/share/man/man1/edgefleet-agent.1.gz"
has "$a/usr/share/bash-completion/completions/edgefleet-agent"
has "$work/agent-control/postinst"
grep -q "adduser --system" "$work/agent-control/postinst" || fail "postinst does not create the service user"
for opt in User=edgefleet-agent StateDirectory=edgefleet-agent NoNewPrivileges=yes ProtectSystem=strict; do
    grep -q "^$opt" "$unit" || fail "unit lacks $opt"
done
if command -v systemd-analyze >/dev/null; then
    # Verifies the unit's syntax; the binary path is the installed one, absent here.
    systemd-analyze verify "$unit" 2>&1 | grep -v -e "edgefleet-agent: No such file" -e "is not executable" -e "man edgefleet-agent" || true
fi
"$a/usr/bin/edgefleet-agent" --version
"$a/usr/bin/edgefleet-agent" completions bash | grep -q "simulate" || fail "agent completions do not know simulate"

if [ "$(id -u)" != 0 ] || ! ip netns add "$ns" 2>/dev/null; then
    echo "SKIPPED running the agent's ExecStart: needs root and network namespaces"
    echo "debs: contents checked, agent not started"
    exit 0
fi
ip -n "$ns" link set lo up
# The unit's ExecStart, with the package's paths moved into the scratch dir.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
data="$work/var/lib/edgefleet-agent"
svc_uid=64998
install -d -o "$svc_uid" -g "$svc_uid" -m 0750 "$data"
cmd=${exec_start//\/usr\/bin\/edgefleet-agent/$a/usr/bin/edgefleet-agent}
cmd=${cmd//\/var\/lib\/edgefleet-agent/$data}
cmd=${cmd//\$EDGEFLEET_AGENT_OPTS/}
echo "running as uid $svc_uid in namespace $ns: $cmd"
chmod o+rx "$work" "$work/agent" "$work/agent/usr" "$work/agent/usr/bin"
# shellcheck disable=SC2086  # the ExecStart line is split into words, as systemd does
ip netns exec "$ns" setpriv --reuid="$svc_uid" --regid="$svc_uid" --clear-groups --no-new-privs \
    env -i HOME="$data" $cmd >"$work/agent.out" 2>"$work/agent.err" &
agent_pid=$!
ok=""
for _ in $(seq 1 100); do
    # HTTPS by default, with a self-signed certificate over the device key (-k: the console pins the key instead).
    if ip netns exec "$ns" curl -fsSk --max-time 1 https://127.0.0.1:8470/v1/health >"$work/health.json" 2>/dev/null; then
        ok=1
        break
    fi
    kill -0 "$agent_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$ok" ] || { cat "$work/agent.out" "$work/agent.err" >&2; fail "the agent did not answer /v1/health"; }
cat "$work/health.json"; echo
[ "$(stat -c %u "$data/token.sha256")" = "$svc_uid" ] || fail "the token hash is not owned by the service user"
[ "$(stat -c %a "$data/token.sha256")" = "600" ] || fail "the token hash is readable by others"
grep -q "^token " "$work/agent.out" || fail "the agent did not print its new token once"
grep -q "listening on 0.0.0.0:8470" "$work/agent.out" || fail "the agent did not say where it listens"
[ "$(stat -c %a "$data/identity.key")" = "600" ] || fail "the identity key is readable by others"
grep -q "^fingerprint " "$work/agent.out" || fail "the agent did not print its key fingerprint"
echo "debs: contents checked; the agent runs as its unit says and answers /v1/health"
