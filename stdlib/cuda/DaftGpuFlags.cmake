# Shared by the GPU directories (stdlib/cuda, tests/gpu, bench/peers).

# Restricts the directory's inherited compile options (the top level's gcc flags) to C and
# C++ sources, so that nvcc never sees -Wall, -Werror or -fsanitize.
macro(daft_gpu_c_only_compile_options)
  get_directory_property(_daft_opts COMPILE_OPTIONS)
  set(_daft_wrapped "")
  foreach(_o IN LISTS _daft_opts)
    list(APPEND _daft_wrapped "$<$<COMPILE_LANGUAGE:C,CXX>:${_o}>")
  endforeach()
  set_directory_properties(PROPERTIES COMPILE_OPTIONS "${_daft_wrapped}")
endmacro()

# NCCL: the library found by the top level (NCCL_LIBRARY), linked dynamically by its
# soname (libnccl.so.2), so that the GPU machine's own /usr/lib copy is used at run time.
# (The top level turns GPU support on when nccl.h is found; without the library itself the
# NCCL programs are skipped.)
if(NOT TARGET daft_nccl AND NCCL_LIBRARY)
  add_library(daft_nccl INTERFACE)
  target_include_directories(daft_nccl INTERFACE ${NCCL_INCLUDE_DIR})
  target_link_libraries(daft_nccl INTERFACE ${NCCL_LIBRARY})
endif()
