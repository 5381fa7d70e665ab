#!/usr/bin/env bash
# Checks sockbuf (test/tools/sockbuf.c), which test/netns uses on
# wireguard-go: it must set both sizes of every IPv4/IPv6 UDP socket of the
# process it is given, leave every other socket alone, say 1 for a process
# with no UDP socket and 2 for bad arguments. It needs root (pidfd_getfd of
# another process, SO_RCVBUFFORCE), as the namespace tests do: without it,
# SKIPPED (exit 77), and a failure where every stage must run.
# Usage: test/tools/test_sockbuf.sh PATH_TO_SOCKBUF_BINARY
set -euo pipefail

BIN=$(readlink -f "${1:?usage: $0 PATH_TO_SOCKBUF_BINARY}")
[[ -x $BIN ]] || { echo "not executable: $BIN" >&2; exit 2; }
ME=sockbuf
# shellcheck source=test/netns/lib.sh
. "$(dirname "$(readlink -f "$0")")/../netns/lib.sh"	# skip()
((EUID == 0)) || skip "not root"

# A child holds the sockets, so that sockbuf works on another process, as on
# wireguard-go; it prints their sizes before and after.
/usr/bin/python3 - "$BIN" <<'PY'
import subprocess, sys

BIN = sys.argv[1]
SIZE = 3 << 20
HOLDER = r'''
import socket, sys
S = socket.SOL_SOCKET
socks = {"udp4": socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
         "udp6": socket.socket(socket.AF_INET6, socket.SOCK_DGRAM),
         "tcp": socket.socket(socket.AF_INET, socket.SOCK_STREAM),
         "unix": socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)}
socks["udp4"].bind(("127.0.0.1", 0))
def sizes():
    return " ".join("%s=%d,%d" % (k, s.getsockopt(S, socket.SO_RCVBUF), s.getsockopt(S, socket.SO_SNDBUF))
                    for k, s in socks.items())
print(sizes(), flush=True)
sys.stdin.readline()
print(sizes(), flush=True)
sys.stdin.readline()
'''
fails = 0
def check(what, ok):
    global fails
    print("sockbuf: %s: %s" % ("ok" if ok else "FAIL", what))
    fails += not ok

def parse(line):
    return {k: tuple(int(x) for x in v.split(",")) for k, v in (f.split("=") for f in line.split())}

h = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     text=True)
before = parse(h.stdout.readline())
r = subprocess.run([BIN, str(h.pid), str(SIZE)], capture_output=True, text=True)
h.stdin.write("\n"); h.stdin.flush()
after = parse(h.stdout.readline())
h.stdin.write("\n"); h.stdin.flush()
h.wait()
check("exit 0 when it set sockets (%d: %s)" % (r.returncode, r.stderr.strip()), r.returncode == 0)
check("one line per UDP socket (%r)" % r.stdout, len(r.stdout.splitlines()) == 2)
# the kernel reports twice what was set (its bookkeeping), past rmem_max
for k in ("udp4", "udp6"):
    check("%s: receive and send %s, were %s" % (k, after[k], before[k]), after[k] == (2 * SIZE, 2 * SIZE))
for k in ("tcp", "unix"):
    check("%s left alone: %s" % (k, after[k]), after[k] == before[k])

idle = subprocess.Popen(["sleep", "30"])
r = subprocess.run([BIN, str(idle.pid), str(SIZE)], capture_output=True, text=True)
idle.kill(); idle.wait()
check("exit 1 for a process without a UDP socket (%d)" % r.returncode, r.returncode == 1)
for args in (["0", "1"], ["1", "0"], ["x", "1"], ["1"], ["1", "1", "1"], ["1", "99999999999"]):
    r = subprocess.run([BIN] + args, capture_output=True, text=True)
    check("exit 2 for arguments %s (%d)" % (args, r.returncode), r.returncode == 2)
print("sockbuf: %s" % ("all passed" if not fails else "%d failed" % fails))
sys.exit(1 if fails else 0)
PY
