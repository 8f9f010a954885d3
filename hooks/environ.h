/* environ: layer 1 of docs/contract.md#layers, applied once from the constructor. */
#ifndef RESPAN_HOOKS_ENVIRON_H
#define RESPAN_HOOKS_ENVIRON_H

#include <stddef.h>

#include "config.h"

/*
 * Set and remove the SDK variables for cfg (nothing unless routing), with
 * relay as the base when it is not NULL (the library's relay, chosen by
 * lazyrelay.h), else as envlayer_plan() finds it. detail gets the names
 * that changed ("OPENAI_BASE_URL ... -ANTHROPIC_API_KEY") for the debug
 * line. Returns 0, or -1 when nothing could be planned.
 */
int environ_apply(const struct config *cfg, const char *relay, char *detail, size_t size);

#endif
