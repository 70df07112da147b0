/* Counts heap allocations, for the benchmarks: preloaded (LD_PRELOAD), it
 * takes the place of malloc, calloc, realloc, memalign, posix_memalign,
 * aligned_alloc, valloc and pvalloc, counts every call and hands it to
 * glibc's own allocator. C++'s operator new calls malloc, so it is counted
 * too; GLib's g_slice_alloc is counted only when it falls through to malloc
 * (its magazines refill, or G_SLICE=always-malloc). free is not counted.
 *
 * A program reads the count through bench_alloc_count(), which it finds
 * with dlsym (RTLD_DEFAULT, "bench_alloc_count") when the shim is loaded.
 * Allocations by glibc itself that do not go through these symbols
 * (internal calls inside libc, such as fopen's buffer) are not seen.
 *
 * The count is striped over cache lines, one stripe per thread (threads
 * share stripes round robin past 64), so that counting costs an uncontended
 * atomic increment and two streaming threads do not fight over one line.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define EXPORT __attribute__ ((visibility ("default")))

/* glibc's allocator under its own names (exported since glibc 2.0): calling
 * them needs no dlsym, which would itself allocate. */
extern void *__libc_malloc (size_t size);
extern void *__libc_calloc (size_t count, size_t size);
extern void *__libc_realloc (void *pointer, size_t size);
extern void *__libc_memalign (size_t alignment, size_t size);
extern void *__libc_valloc (size_t size);
extern void *__libc_pvalloc (size_t size);

#define STRIPES 64

struct stripe
{
  _Alignas(64) atomic_uint_fast64_t count;
};

static struct stripe stripes[STRIPES];
static atomic_uint next_stripe;
/* initial-exec: this library is loaded at start-up, so its thread-local
 * lives in the static TLS block and reading it never allocates. */
static __thread __attribute__ ((
    tls_model ("initial-exec"))) unsigned thread_stripe_plus_one;

static inline void
count_allocation (void)
{
  unsigned stripe = thread_stripe_plus_one;
  if (__builtin_expect (stripe == 0, 0))
    {
      stripe = atomic_fetch_add_explicit (&next_stripe, 1, memory_order_relaxed)
                   % STRIPES
               + 1;
      thread_stripe_plus_one = stripe;
    }
  atomic_fetch_add_explicit (&stripes[stripe - 1].count, 1,
                             memory_order_relaxed);
}

/* Allocations counted so far by every thread of the process. Any thread may
 * call it; a count taken while other threads allocate is a snapshot that
 * may miss their increments in flight. */
EXPORT uint64_t
bench_alloc_count (void)
{
  uint64_t total = 0;
  for (int i = 0; i < STRIPES; i++)
    total += atomic_load_explicit (&stripes[i].count, memory_order_relaxed);
  return total;
}

EXPORT void *
malloc (size_t size)
{
  count_allocation ();
  return __libc_malloc (size);
}

EXPORT void *
calloc (size_t count, size_t size)
{
  count_allocation ();
  return __libc_calloc (count, size);
}

EXPORT void *
realloc (void *pointer, size_t size)
{
  count_allocation ();
  return __libc_realloc (pointer, size);
}

EXPORT void *
memalign (size_t alignment, size_t size)
{
  count_allocation ();
  return __libc_memalign (alignment, size);
}

EXPORT void *
aligned_alloc (size_t alignment, size_t size)
{
  count_allocation ();
  return __libc_memalign (alignment, size);
}

EXPORT int
posix_memalign (void **result, size_t alignment, size_t size)
{
  count_allocation ();
  if (alignment % sizeof (void *) != 0 || (alignment & (alignment - 1)) != 0
      || alignment == 0)
    return EINVAL;
  void *memory = __libc_memalign (alignment, size);
  if (!memory && size != 0)
    return ENOMEM;
  *result = memory;
  return 0;
}

EXPORT void *
valloc (size_t size)
{
  count_allocation ();
  return __libc_valloc (size);
}

EXPORT void *
pvalloc (size_t size)
{
  count_allocation ();
  return __libc_pvalloc (size);
}
