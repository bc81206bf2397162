#!/usr/bin/env bats
# Defects the chaos soak (t9000) found, each as a deterministic test:
# a reader's close() publishing a half-written file, an overwrite or a
# rename-over reporting success although the old version's DELETE failed,
# a display name ("a [uuid8].bin") leaking to the server on overwrite,
# a stale listing bringing back the old name of a renamed file, a reader of
# a file being written reading the next version's tail (MIXED), and a
# listing snapshot handing the kernel an overwritten file's old size.
load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small -- -o cache_ttl=1
}
teardown_file() {
	shared_teardown
}
setup() {
	restore_mount
	D="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL"
	B=$(fx "[b['uuid'] for b in kids(one('item', name='Thesis With Empty Bundle')['uuid'], 'bundle') if b['name'] == 'ORIGINAL'][0]")
}
teardown() {
	local rc=0
	test_teardown || rc=$?
	[ -z "${L:-}" ] || kill "$L" 2>/dev/null || true
	fake_control DELETE /faults >/dev/null 2>&1 || true
	return $rc
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

@test "a reader's close() of a file still being written does not publish it" {
	"$FAKE_PYTHON" -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"a" * 524288)
time.sleep(3)
os.write(fd, b"b" * 524288)
os.close(fd)' "$D/rc.bin" &
	w=$!
	sleep 1
	timeout 10 cat "$D/rc.bin" >/dev/null
	sleep 0.5
	during=$(live rc.bin)
	wait $w
	echo "live while the writer writes: $during; after: $(live rc.bin)"
	[ "$during" = "[]" ]
	[ "$(live rc.bin)" = "[('rc.bin', 1048576)]" ]
}

# put FILE TEXT: writes TEXT to FILE as one open/write/close (a shell's
# redirection closes twice and ignores close()'s error); exit 5 on EIO
put() {
	bounded "$FAKE_PYTHON" -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, sys.argv[2].encode())
try:
    os.close(fd)
except OSError as e:
    sys.exit(5 if e.errno == errno.EIO else 1)' "$1" "$2"
}

@test "an overwrite or rename-over whose DELETE fails reports EIO and retry deletes the old version" {
	put "$D/df-a.bin" one
	put "$D/df-b.bin" three
	put "$D/df-c.bin" four
	printf 'status=503,method=DELETE\n' |
		fake_control POST /faults --data-binary @- >/dev/null
	put "$D/df-a.bin" two && ow=0 || ow=$?
	bounded mv "$D/df-b.bin" "$D/df-c.bin" && mv_st=0 || mv_st=$?
	fake_control DELETE /faults >/dev/null
	echo "overwrite exit $ow, mv exit $mv_st; live: $(live df-)"
	grep -q 'delete-pending' "$MNT/.dspacefs-status"
	[ "$ow" = 5 ]
	[ "$mv_st" != 0 ]
	[ "$(live df-b.bin)" = "[('df-b.bin', 5)]" ]
	[ "$(live df-c.bin)" = "[('df-c.bin', 4)]" ]
	[ "$(live df-a.bin)" = "[('df-a.bin', 3), ('df-a.bin', 3)]" ]
	# the old version is hidden: the name stays the new one's
	[ "$(bounded ls "$D" | grep -c '^df-a')" = 1 ]
	[ "$(bounded cat "$D/df-a.bin")" = two ]
	bounded sh -c 'printf "retry\n" >"$1"' sh "$MNT/.dspacefs-status"
	[ "$(live df-a.bin)" = "[('df-a.bin', 3)]" ]
	[ "$(bounded cat "$D/df-a.bin")" = two ]
	! grep -q 'delete-pending' "$MNT/.dspacefs-status" || false
	bounded mv "$D/df-b.bin" "$D/df-c.bin"
	[ "$(live df-)" = "[('df-a.bin', 3), ('df-c.bin', 5)]" ]
}

@test "overwriting a disambiguated duplicate keeps the server name" {
	fake_login admin@example.org admin
	printf one >"$BATS_TEST_TMPDIR/sx.bin"
	api_as POST "/core/bundles/$B/bitstreams" -F "file=@$BATS_TEST_TMPDIR/sx.bin"
	api_as POST "/core/bundles/$B/bitstreams" -F "file=@$BATS_TEST_TMPDIR/sx.bin"
	sleep 2
	n=$(ls "$D" | grep '^sx \[' | head -n 1)
	[ -n "$n" ]
	echo two >"$D/$n"
	echo "server names: $(fx "sorted(b['name'] for b in kids('$B', 'bitstream'))")"
	[ "$(fx "len([x for x in kids('$B', 'bitstream') if '[' in x['name']])")" = 0 ]
	[ "$(fx "len(find('bitstream', name='sx.bin'))")" = 2 ]
}

@test "after mv a b (listings refreshed meanwhile) a is gone and writing a never changes b" {
	(while :; do ls -l "$D" >/dev/null 2>&1 || :; done) &
	L=$!
	bad=0
	for i in $(seq 1 30); do
		head -c 20000 /dev/urandom >"$D/ra-a.bin"
		mv "$D/ra-a.bin" "$D/ra-b.bin" 2>/dev/null || continue
		cp "$D/ra-b.bin" "$BATS_TEST_TMPDIR/b" 2>/dev/null || continue
		if [ -e "$D/ra-a.bin" ]; then
			echo other >"$D/ra-a.bin"
			if ! cmp -s "$D/ra-b.bin" "$BATS_TEST_TMPDIR/b"; then
				echo "round $i: ra-a.bin survived mv a b, and writing it changed ra-b.bin"
				bad=1
			fi
			rm -f "$D/ra-a.bin"
		fi
	done
	kill "$L"
	L=
	[ "$bad" = 0 ]
}

@test "create, rename over an existing file, unlink, create: every upload has its name" {
	put "$D/en-1.bin" one
	put "$D/en-2.bin" two
	bounded mv "$D/en-1.bin" "$D/en-2.bin"
	bounded rm "$D/en-2.bin"
	put "$D/en-2.bin" three
	[ "$(live en-)" = "[('en-2.bin', 5)]" ]
	[ "$(fx "len([b for b in kids('$B', 'bitstream') if not b['name']])")" = 0 ]
	! grep -q 'ORIGINAL/ (' "$FS_LOG" || false
}

# A reader that opened a file while it was being written shares its spool
# (it may read a prefix, as of a local file being written). An O_TRUNC open
# of that name (a new version) while the reader still holds it open used to
# truncate and rewrite that very spool: the reader then read the first
# version's head and the second version's tail (soak seed 11, "MIXED").
@test "a reader of a file being written never reads the next version's bytes" {
	run bounded "$FAKE_PYTHON" -c '
import errno, os, sys
p = sys.argv[1]
a, b = b"A" * 262144, b"B" * 524288
w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(w, a)
r = os.open(p, os.O_RDONLY)
head = os.read(r, 65536)
w2 = os.open(p, os.O_WRONLY | os.O_TRUNC)
os.write(w2, b)
os.close(w2)
os.close(w)
try:
    rest = b""
    while True:
        x = os.read(r, 1 << 20)
        if not x:
            break
        rest += x
except OSError as e:
    print("rest:", errno.errorcode[e.errno])
    sys.exit(0 if e.errno == errno.ESTALE else 1)
got = head + rest
print("read %d B: %d A, %d B" % (len(got), got.count(b"A"), got.count(b"B")))
sys.exit(0 if got in (a, a[:len(got)]) else 1)' "$D/mx.bin"
	echo "$output"
	[ "$status" -eq 0 ]
}

# A listing is snapshotted at opendir and its entries' attributes handed to
# the kernel at readdirplus. A file overwritten in between (O_TRUNC, then
# written) used to get the old version's size back from that snapshot: the
# kernel then believed a larger file than the one being read, and a read
# meeting an attribute invalidation filled the rest with zeros (soak seed
# 11, "bytes 0-428850 of w1v160, then bytes of no version written").
@test "a listing snapshotted before an overwrite never hands the kernel the old size" {
	head -c 2000000 /dev/zero | tr '\0' x >"$D/st.bin"
	stat -c %s "$D/st.bin"
	run bounded "$FAKE_PYTHON" -c '
import os, sys
d, name = sys.argv[1], "st.bin"
p = os.path.join(d, name)
it = os.scandir(d)                  # opendir: the snapshot
w = os.open(p, os.O_WRONLY | os.O_TRUNC)
os.write(w, b"y" * 400000)
names = [e.name for e in it]        # readdirplus from the snapshot
during = os.stat(p).st_size
os.close(w)
with open(p, "rb") as f:
    data = f.read()
print("size while written %d; read %d B, %d y, %d zero" % (
    during, len(data), data.count(b"y"), data.count(b"\0")))
sys.exit(0 if during == 400000 and data == b"y" * 400000 else 1)' "$D"
	echo "$output"
	[ "$status" -eq 0 ]
}

# An open looked the file up, then took the kernel's generation of its
# content: an overwrite starting in between (its O_TRUNC open bumps the
# generation) left a handle on the old version under the new generation,
# never stale. Reading it past its end while the kernel knew the larger
# new size gave zeros (soak seed 14, "bytes 0-476049 of w1v2, then bytes
# of no version written"). A race: 15 s of overwrites and reads (the old
# code showed a few such reads in every run of it).
@test "reads racing overwrites are one version each, never zero-filled" {
	run bounded "$FAKE_PYTHON" -c '
import errno, os, sys, threading, time
p = sys.argv[1]
stop = time.monotonic() + 15
bad, counts = [], {}
def writer():
    k = 0
    while time.monotonic() < stop:
        k += 1
        size, b = (100000 if k % 2 else 1500000), bytes([65 + k % 26])
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            for off in range(0, size, 262144):
                os.write(fd, b * min(262144, size - off))
            os.close(fd)
        except OSError:
            pass
def reader():
    while time.monotonic() < stop:
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError as e:
            k = errno.errorcode[e.errno]
            counts[k] = counts.get(k, 0) + 1
            continue
        if data and data.count(data[:1]) != len(data):
            bad.append((len(data), data.count(b"\0")))
        counts["read"] = counts.get("read", 0) + 1
ts = [threading.Thread(target=writer)]
ts += [threading.Thread(target=reader) for _ in range(3)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(counts, "mixed or zero-filled (size, zeros):", bad[:5], len(bad))
sys.exit(1 if bad else 0)' "$D/race.bin"
	echo "$output"
	[ "$status" -eq 0 ]
}

# An overwrite whose upload fails stays in the spool (listed as failed) and
# is shown under its name until its last handle closes; then the name
# shows the server's version again. The kernel kept the size it had been
# told while the failed version was shown: a reader of the server's
# version got it cut to the failed version's length (soak seed 20, "the
# first 450033 B of w2v132 (907014 B): truncated").
@test "after a failed overwrite the name reads the server's version whole" {
	"$FAKE_PYTHON" -c 'import sys; open(sys.argv[1], "wb").write(b"s" * 900000)' "$D/fo.bin"
	printf 'status=403,method=POST,path=/bitstreams\n' |
		fake_control POST /faults --data-binary @- >/dev/null
	# all within the kernel's attribute TTL (cache_ttl=1)
	run bounded "$FAKE_PYTHON" -c '
import os, sys, time
p = sys.argv[1]
fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"f" * 450000)
keep = os.open(p, os.O_RDONLY)      # a second handle: still shown
try:
    os.close(fd)
    print("close ok")
except OSError as e:
    print("close failed:", e)
print("size while shown", os.stat(p).st_size)
os.close(keep)                      # the last close: the server version
time.sleep(0.2)
data = open(p, "rb").read()
print("read %d B: %d s, %d f" % (len(data), data.count(b"s"),
                                 data.count(b"f")))
sys.exit(0 if data == b"s" * 900000 else 1)' "$D/fo.bin"
	echo "$output"
	fake_control DELETE /faults >/dev/null
	[[ "$output" == *"close failed"* ]]
	[ "$status" -eq 0 ]
}
