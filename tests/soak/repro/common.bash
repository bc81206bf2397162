# Shared set-up of the reproductions: the fake server and a mount, the
# target bundle directory in $D and its uuid in $B.
top_srcdir=${top_srcdir:-$(cd "$BATS_TEST_DIRNAME/../../.." && pwd)}
load ../../helpers
load ../../mount

repro_setup() {
	fake_start --fixture small
	mount_fs "$@" 3>&-
	D="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL"
	B=$(fx "[b['uuid'] for b in kids(one('item', name='Thesis With Empty Bundle')['uuid'], 'bundle') if b['name'] == 'ORIGINAL'][0]")
}

# live NAME-PREFIX: the live bitstreams of the bundle whose name starts so
live() {
	fake_control GET /state | "$FAKE_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print(sorted((o["name"], o["size"]) for o in d["objects"] if o["type"] == "bitstream"
             and o.get("parent") == sys.argv[1] and not o.get("deleted")
             and o["name"].startswith(sys.argv[2])))' "$B" "$1"
}
