// A stand-in for the Hugging Face Hub on a loopback port, for the tests of `mini-llm pull`: the
// file list API (/api/models/REPO[/revision/REV]), downloads (/REPO/resolve/REV/FILE) that send
// Git LFS files through a redirect to another path, as the Hub sends them to its CDN, HTTP Range
// (cpp-httplib), gated repositories, and faults a test switches on: a connection dropped after a
// number of bytes, a corrupted byte, a listed size that is not the file's.
#pragma once

#include <httplib.h>
#include <openssl/evp.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace minillm::test {

inline std::string hex_digest(const EVP_MD* md, const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &n, md, nullptr);
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += "0123456789abcdef"[digest[i] >> 4];
    out += "0123456789abcdef"[digest[i] & 15];
  }
  return out;
}

struct MockRepo {
  std::string commit = std::string(40, 'a');
  bool gated = false;
  std::map<std::string, std::string> lfs_files;  // name -> content (served through a redirect)
  std::map<std::string, std::string> git_files;  // name -> content (served directly)
};

class MockHub {
 public:
  MockHub() {
    server_.Get(R"(/api/models/([^/]+/[^/]+)(/revision/([^/?]+))?)",
                [this](const httplib::Request& req, httplib::Response& res) { list(req, res); });
    server_.Get(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) { resolve(req, res); });
    server_.Get(R"(/cdn-lfs/([0-9a-f]{64}))",
                [this](const httplib::Request& req, httplib::Response& res) { cdn(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~MockHub() {
    server_.stop();
    thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void add_repo(const std::string& id, MockRepo repo) {
    std::lock_guard lock(mutex_);
    repos_[id] = std::move(repo);
  }

  // Faults, set before a download.
  std::string token;               // what a gated repository wants after "Bearer "
  std::atomic<int> drops_left{0};  // this many LFS answers stop after drop_after bytes
  std::atomic<size_t> drop_after{0};
  std::atomic<bool> corrupt{false};  // LFS answers flip one byte in the middle
  std::atomic<long> size_lie{0};     // added to every listed LFS size

  // What the clients did.
  std::atomic<int> list_requests{0}, file_requests{0};
  std::vector<std::string> ranges() {
    std::lock_guard lock(mutex_);
    return ranges_;
  }

 private:
  bool authorized(const MockRepo& repo, const httplib::Request& req) const {
    return !repo.gated || req.get_header_value("Authorization") == "Bearer " + token;
  }

  static void error(httplib::Response& res, int status, const std::string& code) {
    res.status = status;
    res.set_header("X-Error-Code", code);
    res.set_content("{\"error\":\"" + code + "\"}", "application/json");
  }

  void list(const httplib::Request& req, httplib::Response& res) {
    ++list_requests;
    std::lock_guard lock(mutex_);
    const auto it = repos_.find(req.matches[1].str());
    if (it == repos_.end()) return error(res, 404, "RepoNotFound");
    const MockRepo& repo = it->second;
    if (!authorized(repo, req)) return error(res, 401, "GatedRepo");
    std::string siblings;
    for (const auto& [name, content] : repo.lfs_files)
      siblings += (siblings.empty() ? "" : ",") + std::string("{\"rfilename\":\"") + name +
                  "\",\"blobId\":\"" + std::string(40, 'b') +
                  "\",\"size\":134,\"lfs\":{\"sha256\":\"" + hex_digest(EVP_sha256(), content) +
                  "\",\"size\":" + std::to_string(long(content.size()) + size_lie) +
                  ",\"pointerSize\":134}}";
    for (const auto& [name, content] : repo.git_files)
      siblings += (siblings.empty() ? "" : ",") + std::string("{\"rfilename\":\"") + name +
                  "\",\"blobId\":\"" + git_blob_id(content) +
                  "\",\"size\":" + std::to_string(content.size()) + "}";
    res.set_content("{\"id\":\"" + it->first + "\",\"sha\":\"" + repo.commit + "\",\"gated\":" +
                        (repo.gated ? "\"manual\"" : "false") + ",\"siblings\":[" + siblings + "]}",
                    "application/json");
  }

  void resolve(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    const auto it = repos_.find(req.matches[1].str());
    if (it == repos_.end()) return error(res, 404, "RepoNotFound");
    const MockRepo& repo = it->second;
    if (!authorized(repo, req)) return error(res, 401, "GatedRepo");
    const std::string name = req.matches[3].str();
    if (const auto f = repo.lfs_files.find(name); f != repo.lfs_files.end()) {
      res.set_redirect("/cdn-lfs/" + hex_digest(EVP_sha256(), f->second), 302);
      return;
    }
    if (const auto f = repo.git_files.find(name); f != repo.git_files.end()) {
      ++file_requests;
      res.set_header("ETag", "\"" + git_blob_id(f->second) + "\"");
      res.set_content(f->second, "application/octet-stream");
      return;
    }
    error(res, 404, "EntryNotFound");
  }

  void cdn(const httplib::Request& req, httplib::Response& res) {
    ++file_requests;
    std::string content;
    {
      std::lock_guard lock(mutex_);
      if (req.has_header("Range")) ranges_.push_back(req.get_header_value("Range"));
      for (const auto& [id, repo] : repos_)
        for (const auto& [name, bytes] : repo.lfs_files)
          if (hex_digest(EVP_sha256(), bytes) == req.matches[1].str()) content = bytes;
    }
    if (content.empty()) return error(res, 404, "EntryNotFound");
    if (corrupt) content[content.size() / 2] ^= 0x20;
    const bool drop = drops_left.fetch_sub(1) > 0;
    const size_t limit = drop_after;
    auto body = std::make_shared<std::string>(std::move(content));
    res.set_content_provider(
        body->size(), "application/octet-stream",
        [body, drop, limit](size_t offset, size_t length, httplib::DataSink& sink) {
          if (drop) {
            // Send up to the limit, then drop the connection.
            const size_t n = offset < limit ? std::min(length, limit - offset) : 0;
            if (n) sink.write(body->data() + offset, n);
            return false;
          }
          sink.write(body->data() + offset, length);
          return true;
        });
  }

  static std::string git_blob_id(const std::string& content) {
    return hex_digest(EVP_sha1(),
                      "blob " + std::to_string(content.size()) + std::string(1, '\0') + content);
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::map<std::string, MockRepo> repos_;
  std::vector<std::string> ranges_;
};

}  // namespace minillm::test
