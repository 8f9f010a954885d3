#include "urlnote.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cold.h"

static struct {
	char routed[URLNOTE_URL_MAX];
	struct urlnote o;
} slots[URLNOTE_SLOTS] RESPAN_COLD;
static unsigned next_slot;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void urlnote_add(const char *routed_url, const char *url,
		 enum provider_id provider, const char *layer)
{
	if (strlen(routed_url) >= URLNOTE_URL_MAX || strlen(url) >= URLNOTE_URL_MAX)
		return;
	pthread_mutex_lock(&lock);
	unsigned i;
	for (i = 0; i < URLNOTE_SLOTS; i++)
		if (strcmp(slots[i].routed, routed_url) == 0)
			break;
	if (i == URLNOTE_SLOTS) {
		i = next_slot;
		next_slot = (next_slot + 1) % URLNOTE_SLOTS;
	}
	snprintf(slots[i].routed, sizeof(slots[i].routed), "%s", routed_url);
	snprintf(slots[i].o.url, sizeof(slots[i].o.url), "%s", url);
	snprintf(slots[i].o.layer, sizeof(slots[i].o.layer), "%s", layer);
	slots[i].o.provider = provider;
	pthread_mutex_unlock(&lock);
}

bool urlnote_find(const char *routed_url, size_t len, struct urlnote *out)
{
	bool found = false;
	if (len >= URLNOTE_URL_MAX)
		return false;
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < URLNOTE_SLOTS && !found; i++) {
		if (strlen(slots[i].routed) == len &&
		    memcmp(slots[i].routed, routed_url, len) == 0) {
			*out = slots[i].o;
			found = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}

void urlnote_fork(enum fork_phase phase)
{
	fork_phase_lock(&lock, phase);
}
