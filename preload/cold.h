/*
 * cold: where the library keeps the big static tables a process that
 * never calls a provider does not touch.
 *
 * Every page of .bss the start-up path writes is a page fault, and a page
 * fault costs a process 15-20 us on the virtual machines CI runs on. The
 * small statics that start-up does touch (the state, the flags) would be
 * spread over several pages if the big tables lay between them, as they
 * do in link order. Tables marked RESPAN_COLD go in their own .bss input
 * section, which the link (--sort-section=name, see the Makefile) places
 * after all the others.
 */
#ifndef RESPAN_COLD_H
#define RESPAN_COLD_H

#define RESPAN_COLD __attribute__((section(".bss.~cold")))

#endif
