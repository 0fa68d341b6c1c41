# Warnings and sanitizers as INTERFACE targets: our code links them, third-party code does not.
add_library(imgf_options INTERFACE)
target_compile_options(imgf_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wdouble-promotion -Wformat=2
  -Wimplicit-fallthrough
  -Wno-missing-field-initializers)  # designated initializers leave the rest defaulted on purpose
if(IMGF_WERROR)
  target_compile_options(imgf_options INTERFACE -Werror)
endif()
if(IMGF_SANITIZE)
  target_compile_options(imgf_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(imgf_options INTERFACE -fsanitize=address,undefined)
endif()
