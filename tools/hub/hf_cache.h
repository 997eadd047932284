// The Hugging Face cache layout, shared with the Hub's own tools (huggingface_hub, transformers):
//   ROOT/models--USER--NAME/blobs/ETAG                 file contents, named by sha256 (LFS) or
//                                                      Git blob id
//   ROOT/models--USER--NAME/blobs/ETAG.incomplete      a download in progress (resumable)
//   ROOT/models--USER--NAME/snapshots/COMMIT/PATH      relative symlinks to ../../blobs/ETAG
//   ROOT/models--USER--NAME/refs/REVISION              the commit a revision last pointed to
//   ROOT/.locks/models--USER--NAME/ETAG.lock           taken while a blob is written
// ROOT is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace minillm::hub {

class HubCache {
 public:
  explicit HubCache(std::filesystem::path root) : root_(std::move(root)) {}
  static std::filesystem::path default_root();  // from the environment, as above

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path repo_dir(const std::string& repo) const;
  std::filesystem::path blob(const std::string& repo, const std::string& etag) const;
  std::filesystem::path snapshot(const std::string& repo, const std::string& commit) const;
  std::filesystem::path lock_file(const std::string& repo, const std::string& etag) const;

  std::optional<std::string> read_ref(const std::string& repo, const std::string& revision) const;
  void write_ref(const std::string& repo, const std::string& revision,
                 const std::string& commit) const;
  // Makes snapshots/COMMIT/PATH a relative symlink to the blob (replacing what was there).
  void link(const std::string& repo, const std::string& commit, const std::string& path,
            const std::string& etag) const;
  // The files of a cached snapshot whose blobs are complete (paths relative to the snapshot).
  std::vector<std::string> snapshot_files(const std::string& repo, const std::string& commit) const;

  // Creates the folders a download into `repo` needs; throws Error naming the folder if it cannot.
  void prepare(const std::string& repo) const;

 private:
  std::filesystem::path root_;
};

// An exclusive lock on a file (flock), held for the object's life.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// Hex digests of a file's content: SHA-256, and the Git blob id (SHA-1 of "blob SIZE\0" + content).
std::string sha256_of_file(const std::filesystem::path& path);
std::string git_blob_id_of_file(const std::filesystem::path& path);

}  // namespace minillm::hub
