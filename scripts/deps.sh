#!/usr/bin/env bash
# Installs the Debian packages mprelay needs to build, test and demo, when
# any is missing. Fast when nothing is missing (one dpkg-query). Needs root
# to install; otherwise it names what is missing and fails.
# `deps.sh bench` adds what only `make bench` needs (gnuplot for its chart),
# `deps.sh pkg` what only `make deb` needs (building and checking a .deb).
set -euo pipefail

# libisal-dev: Reed-Solomon erasure coding (common/fec.c).
BUILD=(gcc make pkg-config libev-dev libssl-dev libisal-dev)
# prometheus: promtool checks the --metrics exposition (test_metrics.py).
# python3-dissononce: an independent Noise implementation (test_noise.py);
# python3-cryptography: X25519 and AES-GCM references (test_noise.py, test_cli.py).
TEST=(libcmocka-dev socat python3 python3-pytest iproute2 procps clang libclang-rt-14-dev
	iperf3 iputils-ping mandoc systemd prometheus python3-dissononce python3-cryptography)
# test/netns/netns.sh and bond.sh: real applications through the relay, in namespaces.
NETNS=(wireguard-go wireguard-tools openvpn openssl iperf3 iputils-ping jq)
BENCH=(gnuplot-nox)
# test/pkg/deb.sh: dpkg-buildpackage, lintian, and man to find the pages.
PKG=(dpkg-dev debhelper fakeroot build-essential lintian man-db)
PKGS=("${BUILD[@]}" "${TEST[@]}" "${NETNS[@]}")
case "${1:-}" in
bench) PKGS+=("${BENCH[@]}") ;;
pkg) PKGS+=("${PKG[@]}") ;;
esac

missing=()
for p in "${PKGS[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root; install them with: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
