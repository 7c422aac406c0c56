// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Text and JSON output (out.h). */
#include <stdarg.h>
#include <stdio.h>
#include "out.h"

#define MAX_DEPTH 16

static struct {
	bool json, pretty;
	int depth;
	bool first[MAX_DEPTH];	/* nothing printed yet at this depth */
} o;

bool out_is_json(void)
{
	return o.json;
}

static void indent(void)
{
	if (!o.pretty)
		return;
	putchar('\n');
	for (int i = 0; i < o.depth; i++)
		fputs("    ", stdout);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* the separator and the key before a value */
static void member(const char *key)
{
	if (!o.first[o.depth])
		putchar(',');
	o.first[o.depth] = false;
	indent();
	if (key) {
		json_str(key);
		fputs(o.pretty ? ": " : ":", stdout);
	}
}

static void open_any(const char *key, char c)
{
	if (!o.json)
		return;
	if (o.depth > 0)
		member(key);
	putchar(c);
	o.depth++;	/* our outputs nest 3 deep at most */
	o.first[o.depth] = true;
}

static void close_any(char c)
{
	bool empty;

	if (!o.json)
		return;
	empty = o.first[o.depth];
	o.depth--;
	if (!empty)
		indent();
	putchar(c);
}

void out_start(bool json, bool pretty)
{
	o.json = json;
	o.pretty = json && pretty;
	o.depth = 0;
	open_any(NULL, '{');
}

int out_end(void)
{
	if (o.json) {
		close_any('}');
		putchar('\n');
	}
	return fflush(stdout) || ferror(stdout) ? -1 : 0;
}

void out_open_object(const char *key)
{
	open_any(key, '{');
}

void out_close_object(void)
{
	close_any('}');
}

void out_open_array(const char *key)
{
	open_any(key, '[');
}

void out_close_array(void)
{
	close_any(']');
}

void out_string(enum out_kind k, const char *key, const char *fmt, const char *v)
{
	if (o.json && k != PRINT_FP) {
		member(key);
		json_str(v);
	} else if (!o.json && k != PRINT_JSON) {
		printf(fmt, v);
	}
}

void out_u64(enum out_kind k, const char *key, const char *fmt, uint64_t v)
{
	if (o.json && k != PRINT_FP) {
		member(key);
		printf("%llu", (unsigned long long)v);
	} else if (!o.json && k != PRINT_JSON) {
		printf(fmt, (unsigned long long)v);
	}
}

void out_bool(enum out_kind k, const char *key, const char *fmt, bool v)
{
	if (o.json && k != PRINT_FP) {
		member(key);
		fputs(v ? "true" : "false", stdout);
	} else if (!o.json && k != PRINT_JSON) {
		printf(fmt, v ? "true" : "false");
	}
}

void out_null(const char *key)
{
	if (o.json) {
		member(key);
		fputs("null", stdout);
	}
}

void out_text(const char *fmt, ...)
{
	va_list ap;

	if (o.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void out_json_pretty(const char *s)
{
	bool in_str = false;

	o.pretty = true;
	o.depth = 0;
	for (; *s && *s != '\n'; s++) {
		if (in_str) {
			putchar(*s);
			if (*s == '\\' && s[1])
				putchar(*++s);
			else if (*s == '"')
				in_str = false;
			continue;
		}
		switch (*s) {
		case '"':
			in_str = true;
			putchar('"');
			break;
		case '{':
		case '[':
			putchar(*s);
			if (s[1] == '}' || s[1] == ']') {
				putchar(*++s);
				break;
			}
			o.depth++;
			indent();
			break;
		case '}':
		case ']':
			o.depth--;
			indent();
			putchar(*s);
			break;
		case ',':
			putchar(',');
			indent();
			break;
		case ':':
			fputs(": ", stdout);
			break;
		default:
			putchar(*s);
		}
	}
	putchar('\n');
}
