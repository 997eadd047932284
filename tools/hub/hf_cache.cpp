#include "hf_cache.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "minillm/error.h"

namespace minillm::hub {
namespace fs = std::filesystem;
namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

std::string folder_name(const std::string& repo) {
  std::string name = "models--" + repo;
  for (size_t at = name.find('/'); at != std::string::npos; at = name.find('/', at))
    name.replace(at, 1, "--");
  return name;
}

void create_folder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw Error("cannot create the cache folder " + dir.string() + ": " +
                (ec ? ec.message() : "not a folder"));
}

// Hex digest of `prefix` followed by the file's bytes.
std::string digest_of_file(const fs::path& path, const EVP_MD* md, const std::string& prefix) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string());
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || !EVP_DigestInit_ex(ctx.get(), md, nullptr)) throw Error("cannot start a hash");
  EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size());
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), size_t(in.gcount()));
  }
  if (in.bad()) throw Error("cannot read " + path.string());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &n);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace

fs::path HubCache::default_root() {
  if (auto v = env_or_empty("HF_HUB_CACHE"); !v.empty()) return v;
  if (auto v = env_or_empty("HF_HOME"); !v.empty()) return fs::path(v) / "hub";
  if (auto v = env_or_empty("XDG_CACHE_HOME"); !v.empty()) return fs::path(v) / "huggingface/hub";
  if (auto v = env_or_empty("HOME"); !v.empty()) return fs::path(v) / ".cache/huggingface/hub";
  throw Error("no cache folder: set HF_HUB_CACHE or HOME");
}

fs::path HubCache::repo_dir(const std::string& repo) const {
  return root_ / folder_name(repo);
}
fs::path HubCache::blob(const std::string& repo, const std::string& etag) const {
  return repo_dir(repo) / "blobs" / etag;
}
fs::path HubCache::snapshot(const std::string& repo, const std::string& commit) const {
  return repo_dir(repo) / "snapshots" / commit;
}
fs::path HubCache::lock_file(const std::string& repo, const std::string& etag) const {
  return root_ / ".locks" / folder_name(repo) / (etag + ".lock");
}

std::optional<std::string> HubCache::read_ref(const std::string& repo,
                                              const std::string& revision) const {
  std::ifstream in(repo_dir(repo) / "refs" / revision);
  std::string commit;
  if (!(in >> commit)) return std::nullopt;
  return commit;
}

void HubCache::write_ref(const std::string& repo, const std::string& revision,
                         const std::string& commit) const {
  const fs::path ref = repo_dir(repo) / "refs" / revision, tmp = ref.string() + ".tmp";
  create_folder(ref.parent_path());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << commit;
    if (!out.flush()) throw Error("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, ref, ec);
  if (ec) throw Error("cannot write " + ref.string() + ": " + ec.message());
}

void HubCache::link(const std::string& repo, const std::string& commit, const std::string& path,
                    const std::string& etag) const {
  const fs::path target = snapshot(repo, commit) / path;
  create_folder(target.parent_path());
  // From snapshots/COMMIT/a/b/FILE up to the repository folder, then into blobs/.
  fs::path relative;
  for (size_t depth = 2 + size_t(std::count(path.begin(), path.end(), '/')); depth > 0; --depth)
    relative /= "..";
  relative = relative / "blobs" / etag;
  std::error_code ec;
  fs::remove(target, ec);
  fs::create_symlink(relative, target, ec);
  if (ec) throw Error("cannot link " + target.string() + ": " + ec.message());
}

std::vector<std::string> HubCache::snapshot_files(const std::string& repo,
                                                  const std::string& commit) const {
  std::vector<std::string> files;
  const fs::path dir = snapshot(repo, commit);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return files;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (fs::is_regular_file(it->path(), ec))  // follows the link: a dangling one is left out
      files.push_back(it->path().lexically_relative(dir).generic_string());
  return files;
}

void HubCache::prepare(const std::string& repo) const {
  create_folder(repo_dir(repo) / "blobs");
  create_folder(lock_file(repo, "x").parent_path());
}

FileLock::FileLock(const fs::path& path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open the lock " + path.string() + ": " + std::strerror(errno));
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const std::string why = std::strerror(errno);
    ::close(fd_);
    throw Error("cannot lock " + path.string() + ": " + why);
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

std::string sha256_of_file(const fs::path& path) {
  return digest_of_file(path, EVP_sha256(), "");
}

std::string git_blob_id_of_file(const fs::path& path) {
  return digest_of_file(path, EVP_sha1(), "blob " + std::to_string(fs::file_size(path)) + '\0');
}

}  // namespace minillm::hub
