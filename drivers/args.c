#include "drivers/args.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool args_next(const char **p, struct arg *a)
{
	const char *s = *p;

	while (*s && is_blank(*s))
		s++;
	if (!*s) {
		*p = s;
		return false;
	}
	a->key = s;
	while (*s && !is_blank(*s) && *s != '=')
		s++;
	a->key_len = (size_t)(s - a->key);
	a->value = NULL;
	a->value_len = 0;
	if (*s == '=') {
		a->value = ++s;
		while (*s && !is_blank(*s))
			s++;
		a->value_len = (size_t)(s - a->value);
	}
	*p = s;
	return true;
}

static bool slice_is(const char *s, size_t len, const char *name)
{
	size_t i = 0;

	for (; i < len; i++)
		if (name[i] != s[i])
			return false;
	return name[i] == '\0';
}

bool arg_is(const struct arg *a, const char *name)
{
	return slice_is(a->key, a->key_len, name);
}

bool arg_value_is(const struct arg *a, const char *text)
{
	return a->value && slice_is(a->value, a->value_len, text);
}

bool parse_u64(const char *s, size_t len, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		len -= 2;
	}
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

bool parse_size(const char *s, size_t len, uint64_t *out)
{
	unsigned shift = 0;

	if (len > 1) {
		switch (s[len - 1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		}
		if (shift)
			len--;
	}
	uint64_t v;
	if (!parse_u64(s, len, &v) || (shift && v > (UINT64_MAX >> shift)))
		return false;
	*out = v << shift;
	return true;
}
