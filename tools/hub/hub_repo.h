// What a Hub repository holds and which of its files make the model a user asked for:
// USER/REPO[:QUANT] names a repository and, optionally, the quantization of a GGUF file in it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace minillm::hub {

struct ModelRef {
  std::string repo;   // "user/name"
  std::string quant;  // "" or the tag after ':', as typed (matched case-insensitively)
};

// Parses "USER/REPO[:QUANT]", also with an "hf://" prefix; throws Error naming the text.
ModelRef parse_model_ref(const std::string& text);
// True for "hf://..." (a -m value that names a Hub model rather than a path).
bool is_hub_uri(const std::string& text);

struct RepoFile {
  std::string name;     // path inside the repository ("rfilename")
  uint64_t size = 0;    // bytes
  std::string sha256;   // of the content, for files stored with Git LFS; "" otherwise
  std::string blob_id;  // the Git blob id (SHA-1 of "blob SIZE\0" + content)
  // The name of its blob in the cache, as the Hub's own clients name it.
  const std::string& etag() const { return sha256.empty() ? blob_id : sha256; }
};

struct RepoInfo {
  std::string id;      // "user/name"
  std::string commit;  // the revision's commit ("sha")
  std::vector<RepoFile> files;
};

// Reads the answer of GET /api/models/REPO (with blobs=true): id, sha and siblings. Throws Error
// when a field the download needs is missing or has the wrong type.
RepoInfo parse_repo_info(const std::string& json_text);

// The files that make the model: a GGUF file (every part of a split one), or, for a repository
// without GGUF files, a Hugging Face folder (config.json, tokenizer files and all safetensors).
struct Selection {
  std::vector<RepoFile> files;
  std::string model_path;  // what to load, relative to the snapshot: a .gguf or "" (the folder)
};
// Without a quant: the only GGUF model, else the Q4_K_M one, else the safetensors folder. Throws
// Error (listing what there is) when nothing or more than one candidate matches.
Selection select_model_files(const RepoInfo& repo, const std::string& quant);

}  // namespace minillm::hub
