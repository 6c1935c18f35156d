# loomflow_mcp: the Model Context Protocol client (stdio and Streamable HTTP) and the adapter that
# turns a server's tools into loomflow Tools. HTTP rides on the providers' libcurl client.
file(GLOB LOOMFLOW_MCP_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/loomflow/tools/mcp/*.cpp)
add_library(loomflow_mcp ${LOOMFLOW_MCP_SOURCES})
target_include_directories(loomflow_mcp PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(loomflow_mcp PUBLIC loomflow_tools nlohmann_json::nlohmann_json PRIVATE loomflow_providers Threads::Threads)
