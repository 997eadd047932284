#include "hub_pull.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "hf_cache.h"
#include "http_client.h"
#include "minillm/error.h"

namespace minillm::hub {
namespace fs = std::filesystem;
namespace {

bool env_true(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return false;
  const std::string s = v;
  return s == "1" || s == "true" || s == "TRUE" || s == "True" || s == "yes" || s == "ON" ||
         s == "on";
}

std::string header_or(const std::map<std::string, std::string>& h, const std::string& name) {
  const auto it = h.find(name);
  return it == h.end() ? "" : it->second;
}

// One sentence for an HTTP failure about `what` (a repository or a file in it).
[[noreturn]] void throw_http(long status, const std::map<std::string, std::string>& headers,
                             const std::string& repo, const std::string& what, bool have_token) {
  const std::string code = header_or(headers, "x-error-code");
  if (code == "GatedRepo" || ((status == 401 || status == 403) && code.empty() && !have_token))
    throw Error(repo + " is gated or private: accept its terms on the Hub and set HF_TOKEN" +
                (status ? " (HTTP " + std::to_string(status) + ")" : ""));
  if (status == 401 || status == 403)
    throw Error(what + ": access refused (HTTP " + std::to_string(status) + ")" +
                (have_token ? "; is HF_TOKEN valid for it?" : "; set HF_TOKEN if it is private"));
  if (status == 404 || code == "RepoNotFound" || code == "EntryNotFound")
    throw Error(what + " was not found on the Hub (HTTP " + std::to_string(status) + ")");
  throw Error(what + ": the Hub answered HTTP " + std::to_string(status));
}

struct Download {
  const HttpClient& client;
  const HubCache& cache;
  const PullOptions& options;
  const std::string& repo;
  const ProgressFn& progress;

  void report(const RepoFile& f, uint64_t done, uint64_t resumed_at, bool finished,
              bool from_cache) const {
    if (progress) progress(Progress{f.name, done, f.size, resumed_at, finished, from_cache});
  }

  // Fetches one file into blobs/ETAG unless it is there, then links it into the snapshot.
  void fetch(const RepoFile& f, const std::string& commit) const {
    const fs::path blob = cache.blob(repo, f.etag());
    const FileLock lock(cache.lock_file(repo, f.etag()));
    std::error_code ec;
    if (fs::exists(blob) && fs::file_size(blob, ec) == f.size) {
      report(f, f.size, 0, true, true);
    } else {
      transfer(f, blob);
    }
    cache.link(repo, commit, f.name, f.etag());
  }

  void transfer(const RepoFile& f, const fs::path& blob) const {
    const fs::path partial = blob.string() + ".incomplete";
    const std::string url = options.endpoint + "/" + repo + "/resolve/" + options.revision + "/" +
                            HttpClient::escape_path(f.name);
    for (int attempt = 1;; ++attempt) {
      std::error_code ec;
      uint64_t offset = fs::exists(partial) ? fs::file_size(partial, ec) : 0;
      if (ec || offset > f.size) {
        fs::remove(partial, ec);
        offset = 0;
      }
      if (offset == f.size) break;  // complete; verified below

      std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(partial.c_str(), "ab"), std::fclose);
      if (!out) throw Error("cannot write " + partial.string() + ": " + std::strerror(errno));
      uint64_t size = offset;
      bool too_long = false, write_failed = false;
      int write_errno = 0;
      const auto r = client.download(url, offset, [&](const char* data, size_t n, long status) {
        if (status == 200 && offset > 0 && size == offset) {
          // The server ignored the range and sends the whole file: start again from byte 0.
          if (std::fflush(out.get()) != 0 || ::ftruncate(fileno(out.get()), 0) != 0) {
            write_failed = true;
            write_errno = errno;
            return false;
          }
          size = 0;
        }
        if (size + n > f.size) {
          too_long = true;
          return false;
        }
        if (std::fwrite(data, 1, n, out.get()) != n) {
          write_failed = true;
          write_errno = errno;
          return false;
        }
        size += n;
        report(f, size, offset, false, false);
        return true;
      });
      if (!write_failed && std::fflush(out.get()) != 0) {
        write_failed = true;
        write_errno = errno;
      }
      out.reset();
      if (write_failed) {
        fs::remove(partial, ec);
        throw Error("cannot write " + partial.string() + ": " + std::strerror(write_errno) +
                    " (the partial download was deleted)");
      }
      if (too_long) {
        fs::remove(partial, ec);
        throw Error(f.name + ": the server sent more than the " + std::to_string(f.size) +
                    " bytes the Hub lists for it (the partial download was deleted)");
      }
      if (r.status == 416) {  // the range starts past the end: the partial file is not the file
        fs::remove(partial, ec);
      } else if (r.status != 200 && r.status != 206) {
        if (r.status == 0) {
          if (attempt < options.max_attempts) continue;
          throw Error(f.name + ": " + r.transport_error + " (run again to resume)");
        }
        throw_http(r.status, r.headers, repo, repo + "/" + f.name, !options.token.empty());
      } else if (r.transport_error.empty() && size != f.size) {
        fs::remove(partial, ec);
        throw Error(f.name + ": the server sent " + std::to_string(size) +
                    " bytes, the Hub lists " + std::to_string(f.size) +
                    " (the partial download was deleted)");
      }
      if (size == f.size && r.transport_error.empty()) break;
      if (attempt >= options.max_attempts)
        throw Error(f.name + ": the download was interrupted " + std::to_string(attempt) +
                    " times (" + r.transport_error + "); run again to resume");
    }
    verify(f, partial);
    std::error_code ec;
    fs::rename(partial, blob, ec);
    if (ec) throw Error("cannot move " + partial.string() + " into place: " + ec.message());
    report(f, f.size, 0, true, false);
  }

  static void verify(const RepoFile& f, const fs::path& partial) {
    const bool lfs = !f.sha256.empty();
    const std::string got = lfs ? sha256_of_file(partial) : git_blob_id_of_file(partial);
    if (got == f.etag()) return;
    std::error_code ec;
    fs::remove(partial, ec);
    throw Error(f.name + ": " + (lfs ? "sha256" : "Git blob id") + " mismatch (expected " +
                f.etag() + ", got " + got + "); the download was deleted, run again");
  }
};

PullResult result_for(const HubCache& cache, const std::string& repo, const std::string& commit,
                      const Selection& s, bool offline) {
  const fs::path snapshot = cache.snapshot(repo, commit);
  return {s.model_path.empty() ? snapshot : snapshot / s.model_path, commit, offline};
}

// The cached snapshot of the revision, as a RepoInfo whose files are those present.
std::optional<RepoInfo> cached_repo(const HubCache& cache, const ModelRef& ref,
                                    const std::string& revision) {
  const auto commit = cache.read_ref(ref.repo, revision);
  if (!commit) return std::nullopt;
  RepoInfo info{ref.repo, *commit, {}};
  for (const std::string& name : cache.snapshot_files(ref.repo, *commit)) {
    RepoFile f;
    f.name = name;
    info.files.push_back(f);
  }
  if (info.files.empty()) return std::nullopt;
  return info;
}

}  // namespace

PullOptions PullOptions::from_environment() {
  PullOptions o;
  if (const char* v = std::getenv("HF_ENDPOINT"); v && *v) o.endpoint = v;
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  if (const char* v = std::getenv("HF_TOKEN"); v && *v) o.token = v;
  o.offline = env_true("HF_HUB_OFFLINE");
  o.cache_root = HubCache::default_root();
  return o;
}

PullResult pull(const ModelRef& ref, const PullOptions& options, const ProgressFn& progress) {
  const HubCache cache(options.cache_root);
  if (options.offline) {
    const auto cached = cached_repo(cache, ref, options.revision);
    if (!cached)
      throw Error("HF_HUB_OFFLINE is set and " + ref.repo + " is not in the cache (" +
                  cache.root().string() + ")");
    return result_for(cache, ref.repo, cached->commit, select_model_files(*cached, ref.quant),
                      true);
  }

  std::vector<std::string> headers;
  if (!options.token.empty()) headers.push_back("Authorization: Bearer " + options.token);
  const HttpClient client(headers);
  const std::string list_url = options.endpoint + "/api/models/" + ref.repo + "/revision/" +
                               HttpClient::escape_path(options.revision) + "?blobs=true";
  HttpResponse listing;
  try {
    listing = client.get(list_url);
  } catch (const Error& e) {
    // No connection: a cached copy still serves, as with the Hub's own tools.
    if (const auto cached = cached_repo(cache, ref, options.revision))
      return result_for(cache, ref.repo, cached->commit, select_model_files(*cached, ref.quant),
                        true);
    throw Error(std::string("cannot reach the Hub: ") + e.what());
  }
  if (listing.status != 200)
    throw_http(listing.status, listing.headers, ref.repo, ref.repo, !options.token.empty());
  RepoInfo info = parse_repo_info(listing.body);
  if (info.id.empty()) info.id = ref.repo;
  const Selection selection = select_model_files(info, ref.quant);

  cache.prepare(ref.repo);
  const Download download{client, cache, options, ref.repo, progress};
  for (const RepoFile& f : selection.files) download.fetch(f, info.commit);
  cache.write_ref(ref.repo, options.revision, info.commit);
  return result_for(cache, ref.repo, info.commit, selection, false);
}

}  // namespace minillm::hub
