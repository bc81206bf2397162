#!/usr/bin/env bats
# An overwrite (new bitstream, then DELETE of the old one) and a rename over
# an existing file (PATCH name, then DELETE of the old target) report
# success when that DELETE fails: src/upload.c do_upload ("uploaded, but the
# old version could not be deleted" is only a warning) and src/fs.c
# op_rename ("rename over %s: the old file could not be deleted"). The
# server keeps several live bitstreams of one name; with streamed uploads a
# 0-byte copy whose clean-up DELETE failed stays live too. Soak symptom:
# "N live bitstreams named w2-0.bin".
load common

setup() { repro_setup; }
teardown() { unmount_fs; fake_stop; }

@test "an overwrite or rename-over whose DELETE fails leaves no duplicate behind a success" {
	echo one >"$D/a.bin"
	printf 'status=503,method=DELETE\n' | fake_control POST /faults --data-binary @- >/dev/null
	echo two >"$D/a.bin" && ow=0 || ow=$?
	echo three >"$D/b.bin"
	mv "$D/b.bin" "$D/a.bin" && mv_st=0 || mv_st=$?
	fake_control DELETE /faults >/dev/null
	echo "overwrite exit $ow, mv exit $mv_st; live: $(live a.bin) $(live b.bin)" >&3
	[ "$(fx "len(find('bitstream', name='a.bin'))")" = 1 ] || [ "$ow" != 0 ] || [ "$mv_st" != 0 ]
	[ "$(fx "len(find('bitstream', name='b.bin'))")" = 0 ]
}
