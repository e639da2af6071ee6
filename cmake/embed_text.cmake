# Turns a text file into a C++ source defining one function that returns its
# bytes, so the binary carries the file and reads nothing at run time.
# Run as a build step (cmake -P) with:
#   INPUT     the file to embed
#   OUTPUT    the .cpp to write
#   HEADER    the header declaring the function (included by the .cpp)
#   NAMESPACE the function's namespace, e.g. muster::http
#   FUNCTION  its name: std::string_view FUNCTION()
# The bytes are written as numbers, not a string literal: any content fits,
# whatever quotes or delimiters it holds.
foreach(argument INPUT OUTPUT HEADER NAMESPACE FUNCTION)
  if(NOT DEFINED ${argument})
    message(FATAL_ERROR "embed_text.cmake needs -D${argument}=...")
  endif()
endforeach()
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
# One line per 32 bytes keeps the generated file readable by editors.
string(REGEX REPLACE "(('\\\\x[0-9a-f][0-9a-f]',){32})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed_text.cmake: do not edit.\n"
  "#include \"${HEADER}\"\n\n"
  "namespace ${NAMESPACE} {\nnamespace {\n"
  "constexpr char kText[${size} + 1] = {\n${bytes}'\\0'};\n"
  "}  // namespace\n\n"
  "std::string_view ${FUNCTION}() {\n  return std::string_view(kText, ${size});\n}\n\n"
  "}  // namespace ${NAMESPACE}\n")
# Only a changed text rewrites the source (and recompiles it).
configure_file("${OUTPUT}.tmp" "${OUTPUT}" COPYONLY)
file(REMOVE "${OUTPUT}.tmp")
