/*
 * malloc_count.c: counts heap allocations per thread, so FastPath's
 * benchmark and forwarder can show the packet loop allocates nothing.
 * Every allocation entry point forwards to glibc's own allocator; the cost
 * is one thread-local increment per call.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include "cxdp.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *ptr);

static __thread uint64_t allocations;

uint64_t cxdp_thread_allocations(void) { return allocations; }

void *malloc(size_t size) { allocations++; return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { allocations++; return __libc_calloc(count, size); }
void *realloc(void *ptr, size_t size) { allocations++; return __libc_realloc(ptr, size); }
void free(void *ptr) { __libc_free(ptr); }
void *memalign(size_t alignment, size_t size) { allocations++; return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { allocations++; return __libc_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size)
{
	if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
		return EINVAL;
	allocations++;
	void *ptr = __libc_memalign(alignment, size);
	if (!ptr)
		return ENOMEM;
	*out = ptr;
	return 0;
}
