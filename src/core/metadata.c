/* metadata: metadata.json rules and the three-way merge of a save. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metadata.h"

/* Whether a field is the system's. */
int md_system_field(const char *name)
{
	static const char *const sys[] = {
	    "dc.identifier.uri", "dc.date.accessioned", "dc.date.available",
	    "dc.description.provenance"};
	size_t i;

	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (!strcmp(name, sys[i]))
			return 1;
	return !strncmp(name, "relation.", 9);
}

/* The field name in m (sorted or not). */
const struct md_field *md_find(const struct md_set *m, const char *name)
{
	size_t i;

	for (i = 0; m && i < m->n; i++)
		if (!strcmp(m->f[i].name, name))
			return &m->f[i];
	return NULL;
}

/* Two optional strings are equal. */
static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Whether two fields hold the same values. */
int md_field_equal(const struct md_field *a, const struct md_field *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0, i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++) {
		const struct md_value *x = &a->v[i], *y = &b->v[i];

		if (!str_eq(x->value, y->value) ||
		    !str_eq(x->language, y->language) ||
		    !str_eq(x->authority, y->authority) ||
		    x->confidence != y->confidence)
			return 0;
	}
	return 1;
}

/* A copy of an optional string: 0, or -ENOMEM. */
static int dup_opt(const char *s, char **out)
{
	*out = s ? strdup(s) : NULL;
	return s && !*out ? -ENOMEM : 0;
}

/* Appends field name with values v[0..n) to m. */
static int push_field(struct md_set *m, const char *name,
		      const struct md_value *v, size_t n)
{
	struct md_field *f, *nf = realloc(m->f, (m->n + 1) * sizeof(*m->f));
	size_t i;
	int rc = 0;

	if (!nf)
		return -ENOMEM;
	m->f = nf;
	f = &m->f[m->n++];
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	f->v = calloc(n + 1, sizeof(*f->v));
	if (!f->name || !f->v)
		return -ENOMEM;
	for (i = 0; i < n && !rc; i++, f->n++) {
		f->v[i].confidence = v[i].confidence;
		rc = dup_opt(v[i].value ? v[i].value : "", &f->v[i].value);
		if (!rc)
			rc = dup_opt(v[i].language, &f->v[i].language);
		if (!rc)
			rc = dup_opt(v[i].authority, &f->v[i].authority);
	}
	return rc;
}

/* Whether field name is read-only under both rules. */
static int read_only(const char *name, md_ro_fn ro, void *ctx)
{
	return md_system_field(name) || (ro && ro(name, ctx));
}

/* Judges one field of the union of base and saved: 1 when it changes
 * (into changes), 0 when not, -EACCES/-EBUSY when refused. */
static int merge_field(const char *name, const struct md_set *base,
		       const struct md_set *saved, const struct md_set *server,
		       md_ro_fn ro, void *ctx, struct md_set *changes)
{
	const struct md_field *b = md_find(base, name);
	const struct md_field *s = md_find(saved, name);
	const struct md_field *cur = md_find(server, name);
	int ro_field = read_only(name, ro, ctx);

	if (!s && ro_field)
		return 0; /* omitted: ignored */
	if (md_field_equal(b, s))
		return 0;
	if (ro_field)
		return -EACCES;
	if (md_field_equal(s, cur))
		return 0; /* the server has it already: a repeated save */
	if (!md_field_equal(b, cur))
		return -EBUSY;
	return push_field(changes, name, s ? s->v : NULL, s ? s->n : 0) < 0
		   ? -ENOMEM
		   : 1;
}

/* Runs merge_field over the fields of set m not seen in skip. */
static int merge_all(const struct md_set *m, const struct md_set *skip,
		     const struct md_set *base, const struct md_set *saved,
		     const struct md_set *server, md_ro_fn ro, void *ctx,
		     struct md_set *changes, char *why, size_t whylen)
{
	size_t i;
	int r;

	for (i = 0; i < m->n; i++) {
		if (skip && md_find(skip, m->f[i].name))
			continue;
		r = merge_field(m->f[i].name, base, saved, server, ro, ctx,
				changes);
		if (r < 0) {
			snprintf(why, whylen, "%s", m->f[i].name);
			return r;
		}
	}
	return 0;
}

/* The three-way merge of a save, all or nothing. */
int md_merge(const struct md_set *base, const struct md_set *saved,
	     const struct md_set *server, md_ro_fn ro, void *ro_ctx,
	     struct md_set *changes, char *why, size_t whylen)
{
	int r;

	memset(changes, 0, sizeof(*changes));
	if (whylen)
		why[0] = '\0';
	r = merge_all(saved, NULL, base, saved, server, ro, ro_ctx, changes,
		      why, whylen);
	if (r == 0)
		r = merge_all(base, saved, base, saved, server, ro, ro_ctx,
			      changes, why, whylen);
	if (r < 0)
		md_set_release(changes);
	return r;
}

/* A copy of m with field f replaced by v[0..n). */
int md_with_field(const struct md_set *m, const char *f,
		  const struct md_value *v, size_t n, struct md_set *out)
{
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < m->n && !rc; i++)
		if (strcmp(m->f[i].name, f) != 0)
			rc =
			    push_field(out, m->f[i].name, m->f[i].v, m->f[i].n);
	if (!rc && n)
		rc = push_field(out, f, v, n);
	if (rc)
		md_set_release(out);
	return rc;
}
