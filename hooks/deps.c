/*
 * deps: cJSON, zlib, brotli and zstd, loaded on first need.
 *
 * librespan.so is loaded into every process of a CI job, and most never
 * call an LLM: it must need nothing but libc at load time (every library
 * ld.so maps and relocates before main() costs each process that much).
 * The engine calls these libraries' functions by their own names; in
 * librespan.so those names are defined here, and each looks its real
 * function up the first time it is called, in the system library it
 * dlopen()s then (RTLD_LOCAL: nothing of it becomes visible to the
 * program). The engine's unit tests and respan link the libraries as usual.
 *
 * A library that cannot be loaded makes its functions fail as on
 * allocation failure (NULL, an error code): a record that cannot be
 * formatted is counted as lost, a body that cannot be decoded is logged
 * as it came. The version script keeps all of this local.
 */
#include <brotli/decode.h>
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <pthread.h>
#include <zlib.h>
#include <zstd.h>

#include "guard.h"

enum dep { DEP_CJSON, DEP_ZLIB, DEP_BROTLI, DEP_ZSTD, DEP_COUNT };

static const char *const sonames[DEP_COUNT] = {
	"libcjson.so.1", "libz.so.1", "libbrotlidec.so.1", "libzstd.so.1",
};
static void *handles[DEP_COUNT];
static pthread_once_t once[DEP_COUNT] = {
	PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
};

#define OPENER(d)                                                               \
	static void open_##d(void)                                              \
	{                                                                       \
		int saved = guard_enter();                                      \
		__atomic_store_n(&handles[d], dlopen(sonames[d], RTLD_NOW | RTLD_LOCAL), \
				 __ATOMIC_RELEASE);                             \
		guard_leave(saved);                                             \
	}
OPENER(DEP_CJSON)
OPENER(DEP_ZLIB)
OPENER(DEP_BROTLI)
OPENER(DEP_ZSTD)

static void (*const openers[DEP_COUNT])(void) = {
	open_DEP_CJSON, open_DEP_ZLIB, open_DEP_BROTLI, open_DEP_ZSTD,
};

/* The real function name of library d, or NULL; *slot caches it. */
static void *real_dep(enum dep d, const char *name, void **slot)
{
	void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (fn)
		return fn;
	pthread_once(&once[d], openers[d]);
	void *h = __atomic_load_n(&handles[d], __ATOMIC_ACQUIRE);
	fn = h ? dlsym(h, name) : NULL;
	__atomic_store_n(slot, fn, __ATOMIC_RELEASE);
	return fn;
}

/* name(params) forwarding args to library d's own; fail when it is missing. */
#define SHIM(d, ret, fail, name, params, args)                                  \
	ret name params                                                         \
	{                                                                       \
		static void *slot;                                              \
		ret (*fn) params = (ret (*) params)real_dep(d, #name, &slot);   \
		return fn ? fn args : fail;                                     \
	}
#define SHIM_VOID(d, name, params, args)                                        \
	void name params                                                        \
	{                                                                       \
		static void *slot;                                              \
		void (*fn) params = (void (*) params)real_dep(d, #name, &slot); \
		if (fn)                                                         \
			fn args;                                                \
	}

/* cJSON (records, usage, the config file) */
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_Parse, (const char *v), (v))
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_ParseWithLength, (const char *v, size_t n), (v, n))
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_ParseWithLengthOpts,
     (const char *v, size_t n, const char **end, cJSON_bool nul), (v, n, end, nul))
SHIM(DEP_CJSON, char *, NULL, cJSON_PrintUnformatted, (const cJSON *item), (item))
SHIM_VOID(DEP_CJSON, cJSON_Delete, (cJSON *item), (item))
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_GetObjectItemCaseSensitive,
     (const cJSON *const object, const char *const string), (object, string))
SHIM(DEP_CJSON, cJSON_bool, 0, cJSON_IsTrue, (const cJSON *const item), (item))
SHIM(DEP_CJSON, cJSON_bool, 0, cJSON_IsBool, (const cJSON *const item), (item))
SHIM(DEP_CJSON, cJSON_bool, 0, cJSON_IsNumber, (const cJSON *const item), (item))
SHIM(DEP_CJSON, cJSON_bool, 0, cJSON_IsString, (const cJSON *const item), (item))
SHIM(DEP_CJSON, cJSON_bool, 0, cJSON_IsArray, (const cJSON *const item), (item))
SHIM(DEP_CJSON, cJSON_bool, 0, cJSON_IsObject, (const cJSON *const item), (item))
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_CreateNull, (void), ())
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_CreateBool, (cJSON_bool b), (b))
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_CreateNumber, (double num), (num))
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_CreateString, (const char *s), (s))
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_CreateArray, (void), ())
SHIM(DEP_CJSON, cJSON *, NULL, cJSON_CreateObject, (void), ())
SHIM(DEP_CJSON, cJSON_bool, 0, cJSON_AddItemToArray, (cJSON *array, cJSON *item),
     (array, item))
SHIM(DEP_CJSON, cJSON_bool, 0, cJSON_AddItemToObject,
     (cJSON *object, const char *string, cJSON *item), (object, string, item))

/* zlib (gzip, deflate) */
SHIM(DEP_ZLIB, int, Z_MEM_ERROR, inflateInit2_,
     (z_streamp strm, int bits, const char *version, int size), (strm, bits, version, size))
SHIM(DEP_ZLIB, int, Z_STREAM_ERROR, inflate, (z_streamp strm, int flush), (strm, flush))
SHIM(DEP_ZLIB, int, Z_STREAM_ERROR, inflateEnd, (z_streamp strm), (strm))
SHIM(DEP_ZLIB, int, Z_STREAM_ERROR, inflateReset, (z_streamp strm), (strm))

/* brotli */
SHIM(DEP_BROTLI, BrotliDecoderState *, NULL, BrotliDecoderCreateInstance,
     (brotli_alloc_func a, brotli_free_func f, void *opaque), (a, f, opaque))
SHIM_VOID(DEP_BROTLI, BrotliDecoderDestroyInstance, (BrotliDecoderState *s), (s))
SHIM(DEP_BROTLI, BrotliDecoderResult, BROTLI_DECODER_RESULT_ERROR,
     BrotliDecoderDecompressStream,
     (BrotliDecoderState *s, size_t *avail_in, const uint8_t **next_in, size_t *avail_out,
      uint8_t **next_out, size_t *total_out),
     (s, avail_in, next_in, avail_out, next_out, total_out))

/* zstd; an error code ZSTD_isError() recognises is (size_t)-1 */
SHIM(DEP_ZSTD, ZSTD_DCtx *, NULL, ZSTD_createDCtx, (void), ())
SHIM(DEP_ZSTD, size_t, 0, ZSTD_freeDCtx, (ZSTD_DCtx *c), (c))
SHIM(DEP_ZSTD, unsigned, 1, ZSTD_isError, (size_t code), (code))
SHIM(DEP_ZSTD, size_t, (size_t)-1, ZSTD_DCtx_setParameter,
     (ZSTD_DCtx *c, ZSTD_dParameter p, int v), (c, p, v))
SHIM(DEP_ZSTD, size_t, (size_t)-1, ZSTD_decompressStream,
     (ZSTD_DCtx *c, ZSTD_outBuffer *out, ZSTD_inBuffer *in), (c, out, in))
