/* cover: citation cover pages on the read path (see cover.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/content.h"
#include "core/inval.h"
#include "core/cover.h"

#define COVERS 64 /* bitstreams remembered (the latest ones) */

struct cover_seen {
	char uuid[40];
	char md5[33];
	int64_t served;
};

struct cover_table {
	pthread_mutex_t lock;
	struct cover_seen seen[COVERS];
	unsigned next;
};

/* DSpace's cover-page ETag for checksum md5 (9.0 on):
 * md5("coverpage:" + checksum), BitstreamResource.etag. */
static void cover_etag(const char *md5, char hex[33])
{
	struct content_md5 m;
	char s[64];

	snprintf(s, sizeof(s), "coverpage:%s", md5);
	content_md5_init(&m);
	content_md5_update(&m, s, strlen(s));
	content_md5_final(&m, hex);
}

int cover_detect(const char *md5, uint64_t size, int64_t served,
		 const char *etag)
{
	char hex[33];

	if (served >= 0 && (uint64_t)served != size)
		return 1;
	if (!md5 || strlen(md5) != 32 || !etag || !*etag)
		return 0;
	cover_etag(md5, hex);
	return strcasecmp(etag, hex) == 0;
}

struct cover_table *cover_new(void)
{
	struct cover_table *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void cover_free(struct cover_table **tp)
{
	if (!*tp)
		return;
	pthread_mutex_destroy(&(*tp)->lock);
	free(*tp);
	*tp = NULL;
}

/* The slot of uuid/md5, or NULL (lock held). */
static struct cover_seen *find(struct cover_table *t, const char *uuid,
			       const char *md5)
{
	unsigned i;

	for (i = 0; i < COVERS; i++)
		if (t->seen[i].uuid[0] && !strcmp(t->seen[i].uuid, uuid) &&
		    !strcasecmp(t->seen[i].md5, md5 ? md5 : ""))
			return &t->seen[i];
	return NULL;
}

void cover_note(struct cover_table *t, const char *uuid, const char *md5,
		int64_t served)
{
	struct cover_seen *s;

	if (!t || !uuid)
		return;
	pthread_mutex_lock(&t->lock);
	s = find(t, uuid, md5);
	if (!s) {
		s = &t->seen[t->next++ % COVERS];
		snprintf(s->uuid, sizeof(s->uuid), "%s", uuid);
		snprintf(s->md5, sizeof(s->md5), "%s", md5 ? md5 : "");
	}
	s->served = served;
	pthread_mutex_unlock(&t->lock);
}

void cover_forget(struct cover_table *t, const char *uuid, const char *md5)
{
	struct cover_seen *s;

	if (!t || !uuid)
		return;
	pthread_mutex_lock(&t->lock);
	s = find(t, uuid, md5);
	if (s)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&t->lock);
}

int cover_known(struct cover_table *t, const char *uuid, const char *md5,
		int64_t *served)
{
	struct cover_seen *s;
	int found = 0;

	if (!t || !uuid)
		return 0;
	pthread_mutex_lock(&t->lock);
	s = find(t, uuid, md5);
	if (s) {
		found = 1;
		*served = s->served;
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

int cover_tell(struct inval *inv, uint64_t ino, int64_t served, int64_t *told)
{
	int after;

	if (served < 0 || served == *told)
		return 0;
	after = served < *told;
	if (!after)
		inval_attr_now(inv, ino);
	*told = served;
	return after;
}
