/* scratch: editors' scratch files, kept in a private cache directory. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "core/scratch.h"

struct sc_file {
	uint64_t ino, dir;
	char *name;
	struct sc_file *next;
};

struct scratch {
	char *dir; /* the private directory */
	pthread_mutex_t lock;
	uint64_t next_ino;
	struct sc_file *files;
};

struct scratch *scratch_new(const char *cache_dir)
{
	struct scratch *sc = calloc(1, sizeof(*sc));
	char path[4096];

	if (!sc)
		return NULL;
	snprintf(path, sizeof(path), "%s/scratch-%ld", cache_dir,
		 (long)getpid());
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		log_error("scratch: cannot make %s: %s", path, strerror(errno));
		free(sc);
		return NULL;
	}
	sc->dir = strdup(path);
	if (!sc->dir) {
		free(sc);
		return NULL;
	}
	pthread_mutex_init(&sc->lock, NULL);
	return sc;
}

/* The file of ino in the private directory. */
static void file_path(const struct scratch *sc, uint64_t ino, char *out,
		      size_t len)
{
	snprintf(out, len, "%s/%llu", sc->dir,
		 (unsigned long long)(ino & ~SC_INO_BIT));
}

void scratch_free(struct scratch **psc)
{
	struct scratch *sc = *psc;
	struct sc_file *f, *nx;
	char path[4096];

	if (!sc)
		return;
	for (f = sc->files; f; f = nx) {
		nx = f->next;
		file_path(sc, f->ino, path, sizeof(path));
		unlink(path);
		free(f->name);
		free(f);
	}
	rmdir(sc->dir);
	pthread_mutex_destroy(&sc->lock);
	free(sc->dir);
	free(sc);
	*psc = NULL;
}

/* Whether name is an editor's scratch name. */
int scratch_name(const char *name)
{
	static const char *const pat[] = {
	    "4913",	 "*.swp",  "*.swx",
	    "*.swo",	 "*~",	   ".goutputstream-*",
	    "sed??????", ".#*",	   "#*#",
	    "*.tmp",	 ".*.tmp", "*.bak"};
	size_t i;

	for (i = 0; i < sizeof(pat) / sizeof(pat[0]); i++)
		if (fnmatch(pat[i], name, 0) == 0)
			return 1;
	return 0;
}

int scratch_is(uint64_t ino)
{
	return (ino & SC_INO_BIT) != 0;
}

/* The entry name in dir, or of ino (dir 0). Locked by the caller. */
static struct sc_file **find(struct scratch *sc, uint64_t dir, const char *name,
			     uint64_t ino)
{
	struct sc_file **p;

	for (p = &sc->files; *p; p = &(*p)->next)
		if (name ? (*p)->dir == dir && !strcmp((*p)->name, name)
			 : (*p)->ino == ino)
			return p;
	return NULL;
}

/* A node for f, from its file's size and time. */
static int node_of(struct scratch *sc, const struct sc_file *f,
		   struct tree_node *out)
{
	char path[4096];
	struct stat st;

	file_path(sc, f->ino, path, sizeof(path));
	if (stat(path, &st) < 0)
		return -errno;
	memset(out, 0, sizeof(*out));
	out->ino = f->ino;
	out->parent_ino = f->dir;
	out->type = DSO_BITSTREAM;
	out->name = strdup(f->name);
	out->size = st.st_size;
	out->mtime = st.st_mtim.tv_sec;
	out->mtime_ns = st.st_mtim.tv_nsec;
	return out->name ? 0 : -ENOMEM;
}

int scratch_create(struct scratch *sc, uint64_t dir, const char *name,
		   struct tree_node *out)
{
	struct sc_file **p, *f = NULL;
	char path[4096];
	int fd, r;

	pthread_mutex_lock(&sc->lock);
	p = find(sc, dir, name, 0);
	if (p) {
		f = *p;
	} else {
		f = calloc(1, sizeof(*f));
		if (f && !(f->name = strdup(name))) {
			free(f);
			f = NULL;
		}
		if (f) {
			f->ino = SC_INO_BIT | ++sc->next_ino;
			f->dir = dir;
			f->next = sc->files;
			sc->files = f;
		}
	}
	r = f ? 0 : -ENOMEM;
	if (f) {
		file_path(sc, f->ino, path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		r = fd < 0 ? -errno : 0;
		if (fd >= 0)
			close(fd);
	}
	if (r == 0)
		r = node_of(sc, f, out);
	pthread_mutex_unlock(&sc->lock);
	return r;
}

int scratch_lookup(struct scratch *sc, uint64_t dir, const char *name,
		   struct tree_node *out)
{
	struct sc_file **p;
	int r;

	pthread_mutex_lock(&sc->lock);
	p = find(sc, dir, name, 0);
	r = p ? node_of(sc, *p, out) : -ENOENT;
	pthread_mutex_unlock(&sc->lock);
	return r;
}

int scratch_getattr(struct scratch *sc, uint64_t ino, struct tree_node *out)
{
	struct sc_file **p;
	int r;

	pthread_mutex_lock(&sc->lock);
	p = find(sc, 0, NULL, ino);
	r = p ? node_of(sc, *p, out) : -ENOENT;
	pthread_mutex_unlock(&sc->lock);
	return r;
}

int scratch_open(struct scratch *sc, uint64_t ino, int flags)
{
	char path[4096];
	int fd;

	pthread_mutex_lock(&sc->lock);
	fd = find(sc, 0, NULL, ino) ? 0 : -ENOENT;
	pthread_mutex_unlock(&sc->lock);
	if (fd < 0)
		return fd;
	file_path(sc, ino, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC | (flags & O_TRUNC));
	return fd < 0 ? -errno : fd;
}

int scratch_truncate(struct scratch *sc, uint64_t ino, off_t size)
{
	char path[4096];

	file_path(sc, ino, path, sizeof(path));
	return truncate(path, size) < 0 ? -errno : 0;
}

int scratch_remove(struct scratch *sc, uint64_t dir, const char *name)
{
	struct sc_file **p, *f;
	char path[4096];

	pthread_mutex_lock(&sc->lock);
	p = find(sc, dir, name, 0);
	f = p ? *p : NULL;
	if (p)
		*p = f->next;
	pthread_mutex_unlock(&sc->lock);
	if (!f)
		return -ENOENT;
	file_path(sc, f->ino, path, sizeof(path));
	unlink(path);
	free(f->name);
	free(f);
	return 0;
}

int scratch_rename(struct scratch *sc, uint64_t dir, const char *name,
		   uint64_t newdir, const char *newname)
{
	struct sc_file **p;
	char *nn = strdup(newname);
	int r = 0;

	if (!nn)
		return -ENOMEM;
	if (dir != newdir || strcmp(name, newname))
		scratch_remove(sc, newdir, newname);
	pthread_mutex_lock(&sc->lock);
	p = find(sc, dir, name, 0);
	if (p) {
		free((*p)->name);
		(*p)->name = nn;
		(*p)->dir = newdir;
		nn = NULL;
	} else {
		r = -ENOENT;
	}
	pthread_mutex_unlock(&sc->lock);
	free(nn);
	return r;
}

int scratch_read_all(struct scratch *sc, uint64_t dir, const char *name,
		     struct buf *out)
{
	struct tree_node n;
	char chunk[8192];
	ssize_t k;
	int fd, r = scratch_lookup(sc, dir, name, &n);

	if (r < 0)
		return r;
	fd = scratch_open(sc, n.ino, 0);
	tree_node_release(&n);
	if (fd < 0)
		return fd;
	while ((k = read(fd, chunk, sizeof(chunk))) > 0 && r == 0)
		r = buf_add(out, chunk, (size_t)k);
	if (k < 0 && r == 0)
		r = -errno;
	close(fd);
	return r;
}

int scratch_put(struct scratch *sc, uint64_t dir, const char *name,
		const char *data, size_t len)
{
	struct tree_node n;
	int fd, r = scratch_create(sc, dir, name, &n);

	if (r < 0)
		return r;
	fd = scratch_open(sc, n.ino, 0);
	tree_node_release(&n);
	if (fd < 0)
		return fd;
	if (write(fd, data, len) != (ssize_t)len)
		r = -EIO;
	close(fd);
	return r;
}

int scratch_list(struct scratch *sc, uint64_t dir, struct tree_node **v,
		 size_t *n)
{
	struct sc_file *f;
	struct tree_node *nv;
	int r = 0;

	pthread_mutex_lock(&sc->lock);
	for (f = sc->files; f && r == 0; f = f->next) {
		if (f->dir != dir)
			continue;
		nv = realloc(*v, (*n + 1) * sizeof(**v));
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		*v = nv;
		r = node_of(sc, f, &nv[*n]);
		if (r == 0)
			(*n)++;
	}
	pthread_mutex_unlock(&sc->lock);
	return r;
}
