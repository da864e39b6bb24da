#pragma once
// The thread-local size-class pool nghttp2's per-stream allocations come from (codec.cpp), as
// malloc-style functions whose last argument is the library's unused user_data: nghttp2_mem,
// nghttp3_mem and ngtcp2_mem all take them. A block may be freed on any thread.
#include <cstddef>

namespace ld::proto::http2 {

void* pool_malloc(std::size_t size, void* user_data);
void pool_free(void* p, void* user_data);
void* pool_calloc(std::size_t n, std::size_t size, void* user_data);
void* pool_realloc(void* p, std::size_t size, void* user_data);

}  // namespace ld::proto::http2
