#!/usr/bin/env bats
# Installation: what `make install` puts where (also under DESTDIR, as a
# package build does), and a "user" /etc/fstab entry mounted by an ordinary
# user through mount(8) itself, with dspacefs installed outside the PATH that
# mount(8) gives its helpers. mount(8) runs in a private mount namespace with
# its own /etc/fstab and /usr/sbin, so the host's are never touched.

load helpers
load mount

setup_file() {
	user_suite_setup dspacefs-install
}

teardown_file() {
	user_suite_teardown
}

teardown() {
	local rc=0
	test_teardown || rc=$?
	if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
		echo "--- $INST:" >&2
		find "$INST" -maxdepth 3 >&2 || true
		cat "$INST/ns.log" >&2 2>/dev/null || true
	fi
	return $rc
}

# The value of a make variable of the build, its ${prefix} and $(prefix)
# expanded (distcheck puts the mount helper under the prefix).
make_var() {
	local v prefix exec_prefix
	prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
	exec_prefix=$(sed -n 's/^exec_prefix = //p' "$top_builddir/Makefile")
	exec_prefix=${exec_prefix//\$\{prefix\}/$prefix}
	v=$(sed -n "s/^$1 = //p" "$top_builddir/Makefile")
	v=${v//\$\{exec_prefix\}/$exec_prefix}
	v=${v//\$\{prefix\}/$prefix}
	v=${v//\$(prefix)/$prefix}
	printf '%s\n' "$v"
}

# Installs into $1 with the make variables that follow.
install_into() {
	local dest=$1
	shift
	make -s -C "$top_builddir" install DESTDIR="$dest" "$@" >"$INST/install.log" 2>&1 ||
		{ cat "$INST/install.log" >&2; return 1; }
}

@test "make install DESTDIR=...: binary, mount helper, user unit, man page, examples" {
	install_into "$INST/destdir"
	local d=$INST/destdir bindir
	bindir=$(sed -n 's/^bindir = //p' "$top_builddir/Makefile")
	bindir=${bindir//\$\{exec_prefix\}/$(sed -n 's/^exec_prefix = //p' "$top_builddir/Makefile")}
	bindir=${bindir//\$\{prefix\}/$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")}
	helperdir=$(make_var mounthelperdir)
	[ -x "$d$bindir/dspacefs" ]
	[ -x "$d$helperdir/mount.fuse.dspacefs" ]
	# the helper names the installed binary's directory, not DESTDIR's
	grep -qx "PATH=\"$bindir:/usr/sbin:/usr/bin:/sbin:/bin\"" "$d$helperdir/mount.fuse.dspacefs"
	! grep -q "$d" "$d$helperdir/mount.fuse.dspacefs" || false
	local unit
	unit=$(find "$d" -name 'dspacefs@.service')
	[ -n "$unit" ]
	grep -qx "ExecStart=$bindir/dspacefs -f %i %h/DSpace/%i" "$unit"
	[ -n "$(find "$d" -path '*/man1/dspacefs.1')" ]
	[ -n "$(find "$d" -path '*/examples/fstab.example')" ]
	# make uninstall removes what install added
	make -s -C "$top_builddir" uninstall DESTDIR="$d" >/dev/null
	[ -z "$(find "$d" -type f)" ]
}

@test "the systemd user unit is valid for systemd-analyze" {
	if ! command -v systemd-analyze >/dev/null; then
		[ "${CI:-}" = true ] && { echo "systemd-analyze missing" >&2; return 1; }
		skip "systemd-analyze is not installed"
	fi
	install_into "$INST/verify" prefix="$INST/vprefix" mounthelperdir="$INST/vhelper"
	local unit
	unit=$(find "$INST/verify" -name 'dspacefs@.service')
	cp "$unit" "$INST/dspacefs@demo.service"
	# verify checks the syntax and that ExecStart names an executable
	sed -i "s|$INST/vprefix/bin/dspacefs|$INST/verify$INST/vprefix/bin/dspacefs|" \
		"$INST/dspacefs@demo.service"
	run systemd-analyze verify --man=no "$INST/dspacefs@demo.service"
	echo "$output"
	[ "$status" = 0 ]
	[ -z "$output" ]
}

# mount_as_user FSTAB_OPTIONS: in a private mount namespace whose /etc/fstab
# holds one "user" entry for $INST/mnt and whose /usr/sbin has the installed
# helper (when $INST/helper exists), mounts as $TEST_USER with mount(8), lists
# the root and unmounts. Output in $INST/ns.log.
mount_as_user() {
	cat >"$INST/fstab" <<-EOF
		${SOURCE:-$FAKE_URL} $INST/mnt fuse.dspacefs $1 0 0
	EOF
	unshare -m --propagation private bash -c '
		set -u
		mount --bind "$0/fstab" /etc/fstab
		# /dev/fuse as a Debian workstation has it (0666), in here only
		fuse_dev_0666 "$0"
		if [ -d "$0/helper" ]; then
			mkdir -p "$0/ovl/upper" "$0/ovl/work"
			cp "$0/helper/mount.fuse.dspacefs" "$0/ovl/upper/"
			mount -t overlay overlay -o "lowerdir=/usr/sbin,upperdir=$0/ovl/upper,workdir=$0/ovl/work" /usr/sbin
		fi
		if [ -f "$0/config" ]; then
			# the user'"'"'s home, in here only, with its configuration
			home=$(getent passwd "$1" | cut -d: -f6)
			mount -t tmpfs tmpfs "$(dirname "$home")"
			mkdir -p "$home/.config/dspacefs"
			cp "$0/config" "$home/.config/dspacefs/config"
			chown -R "$1" "$home"
		fi
		runuser -u "$1" -- mount "$0/mnt" || exit 3
		# the environment mount(8) gave the daemon
		pid=$(pgrep -n -u "$1" -x dspacefs) &&
			tr "\0" "\n" <"/proc/$pid/environ" >"$0/daemon.env"
		runuser -u "$1" -- ls "$0/mnt" >"$0/listing"
		rc=$?
		runuser -u "$1" -- fusermount3 -u "$0/mnt"
		exit $rc
	' "$INST" "$TEST_USER" >"$INST/ns.log" 2>&1
}

# prepare_user_mount: installs under $INST/prefix (helper in $INST/helper),
# creates the test user, a mount point and cache it owns, and the listing
# root sees on an anonymous mount of the same server ($INST/expected).
prepare_user_mount() {
	require_root
	require_fuse
	id "$TEST_USER" >/dev/null 2>&1 || useradd --system --no-create-home "$TEST_USER"
	install_into / prefix="$INST/prefix" mounthelperdir="$INST/helper"
	mkdir -p "$INST/mnt" "$INST/cache"
	chown "$TEST_USER" "$INST/mnt" "$INST/cache"
	chmod 700 "$INST/cache"
	fresh_mount -o anonymous
	ls "$MNT" >"$INST/expected"
	unmount_fs
	[ -s "$INST/expected" ]
}

@test "a user fstab entry mounts through mount(8) as that user, binary outside mount's PATH" {
	prepare_user_mount
	case ":$PATH:" in *":$INST/prefix/bin:"*) false ;; esac
	run mount_as_user "noauto,user,anonymous,cache_dir=$INST/cache"
	cat "$INST/ns.log"
	[ "$status" = 0 ]
	diff -u "$INST/expected" "$INST/listing"
	# the daemon ran as the user: its cache belongs to the user
	[ -z "$(find "$INST/cache" ! -user "$TEST_USER")" ]
}

@test "without the helper the same entry fails (dspacefs is not in mount's PATH)" {
	prepare_user_mount
	rm -rf "$INST/helper"
	run mount_as_user "noauto,user,anonymous,cache_dir=$INST/cache"
	cat "$INST/ns.log"
	[ "$status" = 3 ]
	grep -q "dspacefs: not found" "$INST/ns.log"
}

@test "a user fstab entry naming a configuration section mounts with the user's configuration" {
	prepare_user_mount
	printf '[myrepo]\nurl = %s\nanonymous\ncache_dir = %s\n' "$FAKE_URL" "$INST/cache" >"$INST/config"
	SOURCE=myrepo run mount_as_user "noauto,user"
	cat "$INST/ns.log"
	[ "$status" = 0 ]
	diff -u "$INST/expected" "$INST/listing"
	[ -z "$(find "$INST/cache" ! -user "$TEST_USER")" ]
	# mount(8) keeps the caller's environment: here runuser's, with
	# root's HOME; dspacefs takes the user's home from the password
	# database when HOME is not a directory of the user's
	grep -qx 'HOME=/root' "$INST/daemon.env"
}
