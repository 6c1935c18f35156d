# loomflow_sandbox: filesystem tools confined to a root (openat2 RESOLVE_BENEATH, with a
# component-by-component fallback) and the bash tool (command policy, scrubbed environment, a
# subreaper that kills the whole process tree). Linux only.
file(GLOB LOOMFLOW_SANDBOX_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/loomflow/tools/sandbox/*.cpp)
add_library(loomflow_sandbox ${LOOMFLOW_SANDBOX_SOURCES})
target_include_directories(loomflow_sandbox PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(loomflow_sandbox PUBLIC loomflow_tools PRIVATE Threads::Threads)
