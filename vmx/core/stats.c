#include "vmx/core/stats.h"

/* Open addressing on a multiplicative hash: ports and MSR indexes cluster
 * (0x3f8-0x3ff, 0xc0000080-0xc0000103), the hash spreads them. At most
 * STATS_PROBES slots are tried, so a guest touching thousands of ports
 * costs a bounded time per exit. */
void stats_count_key(struct stats_key *table, uint64_t *untracked, uint32_t key)
{
	unsigned h = (unsigned)((key * 2654435761u) >> 25) % STATS_KEYS;

	for (unsigned i = 0; i < STATS_PROBES; i++) {
		struct stats_key *k = &table[(h + i) % STATS_KEYS];
		if (k->count && k->key == key) {
			k->count++;
			return;
		}
		if (!k->count) {
			k->key = key;
			k->count = 1;
			return;
		}
	}
	(*untracked)++;
}

unsigned stats_top(const struct stats_key *table, struct stats_key top[STATS_TOP])
{
	unsigned n = 0;

	for (unsigned i = 0; i < STATS_KEYS; i++) {
		if (!table[i].count)
			continue;
		/* insertion into the sorted top list; ties go to the lower key */
		unsigned j = n < STATS_TOP ? n++ : STATS_TOP;
		while (j > 0 && (top[j - 1].count < table[i].count ||
				 (top[j - 1].count == table[i].count && top[j - 1].key > table[i].key))) {
			if (j < STATS_TOP)
				top[j] = top[j - 1];
			j--;
		}
		if (j < STATS_TOP)
			top[j] = table[i];
	}
	return n;
}
