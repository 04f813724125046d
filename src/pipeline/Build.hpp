#pragma once
// Private to pipeline: which build of bsmhunt is running.
#include <string>

namespace bsmhunt::pipeline {

// The release number and a checksum of the running executable ("0.1.0+3f9c0a1b2c4d5e6f"):
// a rebuild with changed code gets a new id even when the release number stays, so run
// manifests redo stages made by another build and outputs say which binary made them.
// Computed once per process (a 16-hex-digit hash of ~10 MB, milliseconds).
const std::string& build_id();

}  // namespace bsmhunt::pipeline
