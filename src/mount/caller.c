/* caller: what /proc tells of the process behind a FUSE request. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mount/caller.h"

/* Above this many descriptors a process is not scanned (the answer is
 * then "no": the close publishes, as it always did). */
#define FD_SCAN_MAX 4096

/* Reads /proc/PID/NAME into buf (NUL-terminated); 0 or -1. */
static int proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[320];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The signal task pid is exiting on (its files closed by the kernel),
 * or 0: /proc/PID/stat gives flags (PF_EXITING, set before the files are
 * closed) and exit_code (the signal in its low 7 bits; a normal exit has
 * them 0), both set before exit_files() flushes. */
int caller_dying_of_signal(pid_t pid)
{
	char buf[1024], *p;
	unsigned long flags = 0;
	long code = 0;
	int field = 2;

	if (proc_read(pid, "stat", buf, sizeof(buf)) < 0)
		return 0;
	p = strrchr(buf, ')'); /* the command name may hold anything */
	for (; p && *p; p++) {
		if (*p != ' ')
			continue;
		field++;
		if (field == 9)
			flags = strtoul(p + 1, NULL, 10);
		else if (field == 52)
			code = strtol(p + 1, NULL, 10);
	}
	return (flags & 0x4 /* PF_EXITING */) ? (int)(code & 0x7f) : 0;
}

/* Whether task pid is being killed: a fatal signal makes the kernel add
 * SIGKILL to the pending set of each of the group's threads (SigPnd)
 * until they exit; a signal it handles or ignores does not. */
int caller_killed(pid_t pid)
{
	char buf[4096], *p;

	if (proc_read(pid, "status", buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "\nSigPnd:");
	return p && (strtoull(p + 8, NULL, 16) & (1ULL << (SIGKILL - 1)));
}

/* Whether /proc/PID/fdinfo/NAME describes a descriptor of inode ino open
 * for writing ("flags:" in octal, "ino:" in decimal). */
static int fdinfo_writes(pid_t pid, const char *name, uint64_t ino)
{
	char rel[300], buf[1024], *p;
	unsigned long flags;

	snprintf(rel, sizeof(rel), "fdinfo/%s", name);
	if (proc_read(pid, rel, buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "\nino:");
	if (!p || strtoull(p + 5, NULL, 10) != ino)
		return 0;
	p = strstr(buf, "flags:");
	if (!p)
		return 0;
	flags = strtoul(p + 6, NULL, 8);
	return (flags & O_ACCMODE) != O_RDONLY;
}

int caller_holds_writer(pid_t pid, uint64_t ino)
{
	char path[64];
	struct dirent *d;
	int found = 0, seen = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while (!found && seen++ < FD_SCAN_MAX && (d = readdir(dir)))
		found =
		    d->d_name[0] != '.' && fdinfo_writes(pid, d->d_name, ino);
	closedir(dir);
	return found;
}
