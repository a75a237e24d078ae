#pragma once
// Internal: the one way boosthead writes a file (models, pipelines, checkpoints, feature caches,
// the command line's CSV and JSON outputs): into a temporary file in the same folder, flushed
// to disk, then renamed over the target, so that a failure or a kill leaves either the old file
// or the whole new one, never a part.

#include <functional>
#include <string>

namespace boosthead::io {

// Writes `path` by calling write(tmp) on the temporary path. Any exception from `write`, a
// failed flush or a failed rename removes the temporary file and throws std::runtime_error
// "cannot write <what> '<path>': <why>".
void write_atomically(const std::string& path, const std::string& what,
                      const std::function<void(const std::string&)>& write);

// The same for content already in memory.
void write_bytes_atomically(const std::string& path, const std::string& what,
                            const std::string& content);

// Removes the temporary files that writes of `path` killed before their rename left behind
// (the process writing `path` is the only one that may; call it before writing).
void remove_stale_temporaries(const std::string& path);

}  // namespace boosthead::io
