#include "vmx/core/vmconfig.h"

#include "arch-x86/string.h"
#include "drivers/args.h"
#include "drivers/format.h"

const char *guest_mode_name(enum guest_mode m)
{
	static const char *const names[] = { [MODE_REAL] = "real", [MODE_PROT32] = "prot32", [MODE_LONG64] = "long64" };
	return names[m];
}

static void set_name(struct vm_config *c, const char *s, size_t len)
{
	if (len >= VM_NAME_MAX)
		len = VM_NAME_MAX - 1;
	for (size_t i = 0; i < len; i++) /* keep the VM-END line one word */
		c->name[i] = (s[i] > ' ' && s[i] < 0x7f) ? s[i] : '_';
	c->name[len] = '\0';
}

bool vm_config_parse(const char *args, const char *file_name, enum ept_policy default_ept, struct vm_config *c,
		     char *err, size_t errlen)
{
	struct arg a;

	memset(c, 0, sizeof(*c));
	c->mem = VM_DEFAULT_MEM;
	c->mode = MODE_REAL;
	c->ept = default_ept;
	c->timeout = VM_DEFAULT_TIMEOUT;
	c->kernel_args = "";
	c->cpu = -1;
	set_name(c, file_name ? file_name : "guest", file_name ? strlen(file_name) : 5);

	while (args && args_next(&args, &a)) {
		const char *v = a.value;
		size_t vl = a.value_len;
		bool ok = v && vl > 0;
		if (arg_is(&a, "--") && !a.value) {
			while (*args == ' ' || *args == '\t')
				args++;
			c->kernel_args = args; /* everything after belongs to the kernel */
			break;
		}
		if (arg_is(&a, "initrd") && !a.value) {
			c->initrd = true;
			continue;
		}
		if (arg_is(&a, "passthrough") && !a.value) {
			c->passthrough = true;
			continue;
		}
		if (arg_is(&a, "name")) {
			if (ok)
				set_name(c, v, vl);
		} else if (arg_is(&a, "mem")) {
			ok = ok && parse_size(v, vl, &c->mem) && c->mem >= VM_MIN_MEM && c->mem <= VM_MAX_MEM &&
			     c->mem % 4096 == 0;
			if (!ok && v) {
				fmt_snprintf(err, errlen, "bad value for 'mem': '%.*s' (a size from 1M to 64G, in whole "
					     "pages, with K, M or G)", (int)vl, v);
				return false;
			}
		} else if (arg_is(&a, "mode")) {
			c->mode_set = true;
			if (arg_value_is(&a, "real"))
				c->mode = MODE_REAL;
			else if (arg_value_is(&a, "prot32"))
				c->mode = MODE_PROT32;
			else if (arg_value_is(&a, "long64"))
				c->mode = MODE_LONG64;
			else
				ok = false;
		} else if (arg_is(&a, "load")) {
			ok = ok && parse_u64(v, vl, &c->load);
			c->load_set = true;
		} else if (arg_is(&a, "entry")) {
			ok = ok && parse_u64(v, vl, &c->entry);
			c->entry_set = true;
		} else if (arg_is(&a, "cpu")) {
			uint64_t n;
			ok = ok && parse_u64(v, vl, &n) && n < VM_MAX_CPU;
			c->cpu = ok ? (int)n : -1;
		} else if (arg_is(&a, "cpus")) {
			uint64_t n;
			ok = ok && parse_u64(v, vl, &n) && n >= 1 && n <= VM_MAX_VCPUS;
			c->cpus = ok ? (unsigned)n : 0;
		} else if (arg_is(&a, "timeout")) {
			ok = ok && parse_u64(v, vl, &c->timeout) && c->timeout <= 1000000;
			c->timeout_set = true;
		} else if (arg_is(&a, "ept")) {
			if (arg_value_is(&a, "eager"))
				c->ept = EPT_EAGER;
			else if (arg_value_is(&a, "lazy"))
				c->ept = EPT_LAZY;
			else
				ok = false;
		} else {
			fmt_snprintf(err, errlen, "unknown key '%.*s' (known: name, mem, mode, load, entry, ept, timeout, cpu, cpus, initrd, passthrough, --)",
				     (int)a.key_len, a.key);
			return false;
		}
		if (!ok) {
			fmt_snprintf(err, errlen, "bad value for '%.*s': '%.*s'", (int)a.key_len, a.key, (int)vl,
				     v ? v : "");
			return false;
		}
	}
	if (c->cpu >= 0 && c->cpus > 1) {
		fmt_snprintf(err, errlen, "cpu= pins a VM with one vCPU; a VM with cpus=%u takes any free CPUs", c->cpus);
		return false;
	}
	/* The machine's OS runs until it powers off: no default limit. */
	if (c->passthrough && !c->timeout_set)
		c->timeout = 0;
	return true;
}
