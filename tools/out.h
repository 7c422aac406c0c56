/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One output layer for text and JSON, in the style of iproute2's
 * json_print.h: each value is printed once, with its JSON key and its text
 * format. PRINT_ANY goes to both, PRINT_FP to text only, PRINT_JSON to JSON
 * only. The JSON keys are the stable interface; the text layout may change.
 */
#ifndef RDSB_OUT_H
#define RDSB_OUT_H

#include <stdbool.h>
#include <stdint.h>

enum out_kind { PRINT_ANY, PRINT_FP, PRINT_JSON };

/* json: JSON instead of text; pretty: indented JSON. Opens the top object. */
void out_start(bool json, bool pretty);
/* Closes the top object; returns -1 if writing stdout failed. */
int out_end(void);
bool out_is_json(void);

/* key is NULL inside an array. */
void out_open_object(const char *key);
void out_close_object(void);
void out_open_array(const char *key);
void out_close_array(void);

void out_string(enum out_kind k, const char *key, const char *fmt, const char *v);
void out_u64(enum out_kind k, const char *key, const char *fmt, uint64_t v);
void out_bool(enum out_kind k, const char *key, const char *fmt, bool v);
void out_null(const char *key);
/* Re-indents compact JSON made elsewhere (the engine's status) as -p does. */
void out_json_pretty(const char *compact);
/* text only, printf-style */
void out_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
