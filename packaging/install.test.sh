#!/bin/sh
# `cmake --install BUILD --prefix TMP` lays out what the README says:
# the binary, the systemd unit pointing at it and at the sample config, and
# the config. Run by ctest ("packaging: ...") with the build tree as $1.
set -eu
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
fail() { echo "packaging: $*" >&2; exit 1; }
[ -x "$prefix/bin/muster" ] || fail "bin/muster missing"
unit="$prefix/lib/systemd/system/muster.service"
[ -f "$unit" ] || fail "lib/systemd/system/muster.service missing"
[ -f "$prefix/etc/muster/muster.toml" ] || fail "etc/muster/muster.toml missing"
grep -qx "ExecStart=$prefix/bin/muster serve --config $prefix/etc/muster/muster.toml" "$unit" ||
  fail "the unit's ExecStart does not name the installed binary and config: $(grep ExecStart "$unit")"
grep -qx "Type=notify" "$unit" || fail "the unit is not Type=notify"
"$prefix/bin/muster" version >/dev/null || fail "the installed binary does not run"
if command -v systemd-analyze >/dev/null; then
  # It exits 0 on unknown keys and bad values (it ignores them): any output is a complaint.
  out=$(systemd-analyze verify "$unit" 2>&1) || true
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
fi
echo "packaging: ok"
