# LibTorch comes from a Python environment's torch wheel, the one users have: CMake's package
# config is at torch.utils.cmake_prefix_path. BOOSTHEAD_PYTHON names the interpreter; by default
# the repository's .venv (made by scripts/setup.sh), else python3 on PATH. A Torch_DIR or
# CMAKE_PREFIX_PATH given by the caller is searched first.
if(NOT BOOSTHEAD_PYTHON)
  if(SKBUILD AND Python_EXECUTABLE)
    # pip install .: the interpreter running the build, whose torch the package will run with.
    set(_python "${Python_EXECUTABLE}")
  elseif(EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin/python")
    set(_python "${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin/python")
  else()
    find_program(_python NAMES python3 python)
  endif()
  set(BOOSTHEAD_PYTHON "${_python}" CACHE FILEPATH "Python whose torch provides LibTorch")
endif()
if(NOT Torch_DIR)
  execute_process(
    COMMAND "${BOOSTHEAD_PYTHON}" -c "import torch, torch.utils; print(torch.utils.cmake_prefix_path); print(torch.__version__)"
    OUTPUT_VARIABLE _torch_out ERROR_VARIABLE _torch_err RESULT_VARIABLE _torch_rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _torch_rc EQUAL 0)
    if(SKBUILD)
      # An isolated build environment has no torch, and one downloaded into it could differ
      # from the torch the package would be loaded into.
      message(FATAL_ERROR "boosthead: no torch in the build's Python ${BOOSTHEAD_PYTHON}: the "
                          "package is compiled against the installed torch; build it with "
                          "`pip install --no-build-isolation .` in an environment with torch")
    endif()
    message(FATAL_ERROR "boosthead: no torch in ${BOOSTHEAD_PYTHON} (${_torch_err}); run "
                        "scripts/setup.sh, or pass -DBOOSTHEAD_PYTHON=... or -DTorch_DIR=...")
  endif()
  string(REPLACE "\n" ";" _torch_out "${_torch_out}")
  list(GET _torch_out 0 _torch_prefix)
  list(GET _torch_out 1 BOOSTHEAD_TORCH_VERSION)
  list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
  message(STATUS "boosthead: torch ${BOOSTHEAD_TORCH_VERSION} from ${BOOSTHEAD_PYTHON}")
endif()
