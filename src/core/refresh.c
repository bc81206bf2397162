/* refresh: every cached listing becomes stale (see refresh.h). */
#include <string.h>

#include "core/inval.h"
#include "core/refresh.h"
#include "core/tree.h"
#include "util/log.h"

/* Expires every listing; the entries stay for offline browsing. */
int core_refresh_all(struct tree *t, struct inval *inv)
{
	/* tree_refresh_all also tells inval: the kernel forgets every
	 * listing it holds */
	int rc = tree_refresh_all(t);

	(void)inv;
	if (rc < 0)
		log_warn("refresh: cannot expire the cached listings: %s",
			 strerror(-rc));
	else
		log_info("refresh: every cached listing will be asked for "
			 "again");
	return rc;
}
