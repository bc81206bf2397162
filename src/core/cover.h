/* cover: citation cover pages on the read path.
 *
 * A DSpace with citation pages on (citation-page.enable_globally, or
 * citation-page.enabled_collections / enabled_communities) serves a PDF
 * to every user but an administrator with a generated cover page
 * (dspace-api CitationDocumentServiceImpl.isCitationEnabledForBitstream).
 * Such an answer is another document than sizeBytes and checkSum
 * describe: its length is the generated document's, its ETag the stored
 * checksum (7.x, 8.x: BitstreamRestController.retrieve) or
 * md5("coverpage:" + checksum) (9.0 on: utils/BitstreamResource.etag).
 * DSpace generates the document again for every request (Range included:
 * Spring cuts the range out of that request's document), and two
 * generations may differ even where length and ETag agree ("the coverpage
 * generation is not stable", BitstreamResource.etag): ranges of separate
 * responses must never be put together.
 *
 * So the reader (reader.c) reads such a file as one whole response into a
 * private cache file that lives as long as the file is open: one
 * generation per open file, never mixed, never kept across opens and
 * never checked against the MD5 (it cannot match); it is checked instead
 * by the consistency of that one response (as many bytes as its
 * Content-Length). When the response breaks after bytes of it were
 * served, the open file fails with ESTALE: another response would be
 * another document; the next open fetches a new one.
 *
 * This module holds the detection rule, the bitstreams seen with a cover
 * page (their served size, so that stat tells it before a read), and the
 * hook that tells the kernel the served size before it gets any byte.
 * Thread safe. */
#ifndef DSPACEFS_COVER_H
#define DSPACEFS_COVER_H

#include <stdint.h>

struct inval;
struct cover_table;

/* Whether an answer for a bitstream with checksum md5 ("" if unknown) and
 * sizeBytes size is a cover-page document: its served length (total of a
 * Content-Range or Content-Length, -1 if none) differs from size, or its
 * ETag (unquoted, "" if none) is DSpace's cover-page ETag. Any other ETag
 * with the right length is the stored file (a proxy may rewrite ETags):
 * the MD5 check still guards it. */
int cover_detect(const char *md5, uint64_t size, int64_t served,
		 const char *etag);

/* The table of bitstreams (UUID + MD5) served with a cover page. */
struct cover_table *cover_new(void);
void cover_free(struct cover_table **t);
/* Remembers that uuid/md5 is served with a cover page of served bytes
 * (the latest generation seen). */
void cover_note(struct cover_table *t, const char *uuid, const char *md5,
		int64_t served);
/* Forgets uuid/md5: the server serves the stored file again. */
void cover_forget(struct cover_table *t, const char *uuid, const char *md5);
/* 1 with *served set when uuid/md5 was seen with a cover page, else 0. */
int cover_known(struct cover_table *t, const char *uuid, const char *md5,
		int64_t *served);

/* fs's hook before it answers a read: served is the size of the document
 * the handle reads (-1: no cover page), *told what the kernel was told
 * (updated). A larger size is told at once (the kernel would stop
 * reading at the old one). A smaller one must be told after the reply,
 * which this returns 1 for (inval_attr_now): the short read makes the
 * kernel shrink its size, but not once its attributes changed during the
 * read, and then it would fill the rest of the page with zeros. */
int cover_tell(struct inval *inv, uint64_t ino, int64_t served, int64_t *told);

#endif
