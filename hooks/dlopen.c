/*
 * dlopen: libraries loaded with RTLD_DEEPBIND are hooked like any other
 * (docs/layers.md#rtld_deepbind).
 *
 * RTLD_DEEPBIND puts the new library's own dependencies ahead of the global
 * scope for every symbol it and they look up: libcurl, libssl and libc in
 * that scope come before the preloaded librespan, and none of its hooks,
 * not even the egress audit's connect and write, would see their calls.
 * PHP loads its extensions (curl among them) this way. In a process the
 * library is active in, a dlopen asking for RTLD_DEEPBIND is made without
 * it: the library then binds the way every other library does, global scope
 * first, and the hooks apply. What RTLD_DEEPBIND guards against, a library
 * taking a symbol of the same name from the program instead of from its own
 * dependencies, is what every preloaded library (ASan, jemalloc) already
 * runs into, and which this library needs: it is how hooks work.
 *
 * dlopen must not be wrapped by an ordinary call. glibc takes the object
 * that called dlopen (its return address) to search that object's RPATH
 * and RUNPATH, to expand $ORIGIN and to pick the namespace: a call made from
 * here would make librespan the caller, and a program whose plugins are
 * found through its own RUNPATH would fail to load them. So dlopen is a
 * few instructions that adjust the flags and jump to the real dlopen,
 * which then returns straight to the program, its return address never
 * touched. gcc 12 has no guaranteed tail call, hence the assembly; where
 * there is none for the machine, dlopen is not interposed and
 * RTLD_DEEPBIND is left as it is (docs/layers.md says so).
 *
 * dlmopen is not interposed: a library in another namespace does not see
 * the preloaded one at all, whatever its flags.
 */
#include <dlfcn.h>
#include <stdbool.h>

#include "init.h"

#if defined(__x86_64__)

typedef void *(*dlopen_fn)(const char *, int);

/* The real dlopen; read by the assembly below, set before its first jump. */
__attribute__((used, visibility("hidden"))) dlopen_fn respan_real_dlopen;

/*
 * The flags to pass on for dlopen(file, flags), with the real dlopen looked
 * up first. Only a RTLD_DEEPBIND request reads the library's state (which
 * may run its initialisation): every other dlopen is passed on as it came,
 * the library's own ones included.
 */
__attribute__((used, visibility("hidden"))) int respan_dlopen_flags(const char *file,
								    int flags);

int respan_dlopen_flags(const char *file, int flags)
{
	if (__atomic_load_n(&respan_real_dlopen, __ATOMIC_ACQUIRE) == NULL)
		__atomic_store_n(&respan_real_dlopen,
				 (dlopen_fn)dlsym(RTLD_NEXT, "dlopen"), __ATOMIC_RELEASE);
	if (!(flags & RTLD_DEEPBIND))
		return flags;
	const struct respan_state *st = respan_state();
	if (!st->active)
		return flags;
	respan_debug("dlopen %s: RTLD_DEEPBIND left out, so the hooks apply to it",
		     file ? file : "(the program)");
	return flags & ~RTLD_DEEPBIND;
}

/*
 * dlopen(file, flags): flags = respan_dlopen_flags(file, flags), then a jump
 * to the real dlopen with the program's return address still on top of
 * the stack. On entry the stack is 8 bytes off 16; the one push realigns
 * it for the call. No real dlopen at all: NULL, as for a load that failed.
 */
__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen, @function\n"
	"dlopen:\n"
	".cfi_startproc\n"
	"	pushq %rdi\n"
	".cfi_adjust_cfa_offset 8\n"
	"	call respan_dlopen_flags\n"
	"	movl %eax, %esi\n"
	"	popq %rdi\n"
	".cfi_adjust_cfa_offset -8\n"
	"	movq respan_real_dlopen(%rip), %rax\n"
	"	testq %rax, %rax\n"
	"	jz 1f\n"
	"	jmp *%rax\n"
	"1:	xorl %eax, %eax\n"
	"	ret\n"
	".cfi_endproc\n"
	".size dlopen, .-dlopen\n");

#endif
