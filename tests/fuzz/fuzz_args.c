/* The hypervisor's options and a module's arguments: the first byte picks
 * which parser gets the rest as a string. */
#include "fuzz.h"

#include "boot/options.h"
#include "vmx/core/vmconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = fuzz_string(data + 1, size - 1);
	if (data[0] & 1) {
		struct hv_options o;
		options_parse(s, &o, NULL, NULL);
	} else {
		struct vm_config c;
		char err[200];
		vm_config_parse(s, "fuzz", (data[0] & 2) ? EPT_LAZY : EPT_EAGER, &c, err, sizeof(err));
	}
	free(s);
	return 0;
}
