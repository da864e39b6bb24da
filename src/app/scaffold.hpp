#pragma once
#include <string>
namespace ld::app {
// `init PATH`: writes PATH/LoadDensity/keyword/keyword1.json, keyword2.json and a README.
// Existing files are not overwritten. Returns the files written.
std::string scaffold_project(const std::string& path);
}  // namespace ld::app
