/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A minimal intrusive doubly linked list in the kernel's style, so the
 * engine's queues read like net/rds's. */
#ifndef RDSB_LIST_H
#define RDSB_LIST_H

#include <stddef.h>
#include <stdbool.h>

struct list_head {
	struct list_head *next, *prev;
};

#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)

static inline void INIT_LIST_HEAD(struct list_head *l)
{
	l->next = l->prev = l;
}
static inline bool list_empty(const struct list_head *l)
{
	return l->next == l;
}
static inline bool list_is_singular(const struct list_head *l)
{
	return !list_empty(l) && l->next == l->prev;
}
static inline void __list_add(struct list_head *n, struct list_head *prev, struct list_head *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}
static inline void list_add(struct list_head *n, struct list_head *head)
{
	__list_add(n, head, head->next);
}
static inline void list_add_tail(struct list_head *n, struct list_head *head)
{
	__list_add(n, head->prev, head);
}
static inline void list_del_init(struct list_head *e)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	INIT_LIST_HEAD(e);
}
/* Moves all of src in front of head's first entry, leaving src empty. */
static inline void list_splice_init(struct list_head *src, struct list_head *head)
{
	if (list_empty(src))
		return;
	struct list_head *first = src->next, *last = src->prev, *at = head->next;

	first->prev = head;
	head->next = first;
	last->next = at;
	at->prev = last;
	INIT_LIST_HEAD(src);
}
static inline void list_splice_tail_init(struct list_head *src, struct list_head *head)
{
	if (list_empty(src))
		return;
	struct list_head *first = src->next, *last = src->prev, *at = head->prev;

	first->prev = at;
	at->next = first;
	last->next = head;
	head->prev = last;
	INIT_LIST_HEAD(src);
}

/* The entries of a list, walked: for tests and status, not hot paths. */
static inline unsigned int list_count(const struct list_head *head)
{
	unsigned int n = 0;

	for (const struct list_head *pos = head->next; pos != head; pos = pos->next)
		n++;
	return n;
}

#define list_for_each_entry(pos, head, member)					\
	for (pos = list_entry((head)->next, __typeof__(*pos), member);		\
	     &pos->member != (head);						\
	     pos = list_entry(pos->member.next, __typeof__(*pos), member))

#define list_for_each_entry_safe(pos, n, head, member)				\
	for (pos = list_entry((head)->next, __typeof__(*pos), member),		\
	     n = list_entry(pos->member.next, __typeof__(*pos), member);	\
	     &pos->member != (head);						\
	     pos = n, n = list_entry(n->member.next, __typeof__(*n), member))

#endif
