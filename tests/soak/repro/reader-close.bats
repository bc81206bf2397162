#!/usr/bin/env bats
# A reader's close() of a file that another process is still writing runs
# flush -> upload_commit on the shared spool: the half-written file is
# published (and stays live until the writer closes). src/fs.c op_flush
# commits for every FH_UPLOAD handle, also read-only ones (do_open shares the
# spool with any open of a file being written). The same path makes a
# shell's "echo x > f" publish a 0-byte version first (bash closes the
# original descriptor after dup2). Soak symptom: "server holds ... not a
# complete version", reads "truncated", a reader's close() failing EFBIG/EIO.
load common

setup() { repro_setup; }
teardown() { unmount_fs; fake_stop; }

@test "a reader's close() of a file still being written does not publish it" {
	"$FAKE_PYTHON" -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"a" * 524288)
time.sleep(3)
os.write(fd, b"b" * 524288)
os.close(fd)' "$D/f.bin" &
	w=$!
	sleep 1
	timeout 10 cat "$D/f.bin" >/dev/null || true
	sleep 0.5
	during=$(live f.bin)
	wait $w
	echo "live while the writer writes: $during; after: $(live f.bin)" >&3
	[ "$during" = "[]" ]
	[ "$(fx "len([b for b in allobjs if b['type'] == 'bitstream' and b.get('name') == 'f.bin'])")" = 1 ]
}
