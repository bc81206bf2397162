/* caller: what /proc tells of the process behind a FUSE request (its pid
 * from fuse_req_ctx). Every answer is best effort: a process that is gone
 * or whose /proc cannot be read gives 0. */
#ifndef DSPACEFS_CALLER_H
#define DSPACEFS_CALLER_H

#include <stdint.h>
#include <sys/types.h>

/* The signal pid is exiting on (the kernel closing its files), or 0. */
int caller_dying_of_signal(pid_t pid);
/* Whether pid is being killed (SIGKILL pending). */
int caller_killed(pid_t pid);
/* Whether pid holds a descriptor open for writing on inode ino (st_ino
 * as this mount reports it). Linux's fdinfo has "ino:" since 5.14. */
int caller_holds_writer(pid_t pid, uint64_t ino);

#endif
