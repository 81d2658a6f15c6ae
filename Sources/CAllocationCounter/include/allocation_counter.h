#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H

/// How many heap allocations (malloc, calloc, realloc, aligned_alloc, memalign) the calling thread has
/// made since it started. Linking this target into a test binary interposes those functions for the
/// whole process; each call is counted on its thread and forwarded to glibc's implementation.
long adv_thread_allocation_count(void);

#endif
