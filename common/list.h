/* A circular doubly linked list of nodes embedded in their owners (as in
 * the Linux kernel): O(1) insert and removal, no allocation. */
#ifndef MP_LIST_H
#define MP_LIST_H

#include <stddef.h>
#include <stdint.h>

struct list {
	struct list *prev, *next;
};

static inline void list_init(struct list *head)
{
	head->prev = head->next = head;
}

static inline int list_empty(const struct list *head)
{
	return head->next == head;
}

static inline void list_add(struct list *head, struct list *node)
{
	node->next = head->next;
	node->prev = head;
	head->next->prev = node;
	head->next = node;
}

static inline void list_del(struct list *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->prev = node->next = node;
}

/* The owner of a node; works for const and non-const nodes alike. */
#define list_entry(node, type, member) \
	((type *)(uintptr_t)((const char *)(node) - offsetof(type, member)))

/* Walks the owners of the nodes in head's list, in order. The next node
 * is read before the body runs, so the body may free `pos`. */
#define list_for_each(pos, head, type, member)                               \
	for (const struct list *pos##_node = (head)->next, *pos##_next;      \
	     pos##_node != (head) && (pos##_next = pos##_node->next,        \
		pos = list_entry(pos##_node, type, member), 1);              \
	     pos##_node = pos##_next)

#endif
