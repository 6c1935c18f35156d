# loomflow_retrieval: chunking, embedders (offline local hashing, OpenAI-compatible /embeddings) and
# the persistent vector index (RocksDB as the source of truth, one hnswlib HNSW graph per UserId),
# exposed as the "retrieve" tool. hnswlib is header-only (Debian libhnswlib-dev) and included by
# one source file only (internal/hnsw_partition.cpp): its header defines non-inline functions.
find_path(LOOMFLOW_HNSWLIB_INCLUDE_DIR hnswlib/hnswlib.h PATHS /usr/include /usr/local/include)
if(NOT LOOMFLOW_HNSWLIB_INCLUDE_DIR)
  message(FATAL_ERROR "loomflow_retrieval needs hnswlib (hnswlib/hnswlib.h was not found): "
                      "install the Debian package libhnswlib-dev")
endif()
file(GLOB LOOMFLOW_RETRIEVAL_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/loomflow/tools/retrieval/*.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/loomflow/tools/retrieval/internal/*.cpp)
add_library(loomflow_retrieval ${LOOMFLOW_RETRIEVAL_SOURCES})
target_include_directories(loomflow_retrieval PRIVATE ${LOOMFLOW_HNSWLIB_INCLUDE_DIR})
target_link_libraries(loomflow_retrieval PUBLIC loomflow_tools
  PRIVATE loomflow_providers RocksDB::rocksdb-shared Threads::Threads nlohmann_json::nlohmann_json)
