// HTTP for the Hub client, over libcurl: one GET that answers in memory (the file list) and one
// that streams a body into a file, resuming at an offset with an HTTP Range request.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace minillm::hub {

struct HttpResponse {
  long status = 0;                             // of the last response, after redirects
  std::string body;                            // get() only
  std::map<std::string, std::string> headers;  // of the last response, names in lower case
};

class HttpClient {
 public:
  // `headers`: sent with every request ("Authorization: Bearer ..." among them). libcurl keeps
  // them off requests to another host after a redirect, so a token never reaches a CDN.
  explicit HttpClient(std::vector<std::string> headers = {});

  // GET, following redirects. Throws Error on a transport failure (no connection, timeout).
  HttpResponse get(const std::string& url) const;

  // What a download hands to its sink for each piece of the body; return false to stop.
  // `status` is the answer's HTTP status (200, or 206 when the server honoured the range).
  using Sink = std::function<bool(const char* data, size_t n, long status)>;
  struct DownloadResult {
    long status = 0;
    std::map<std::string, std::string> headers;
    std::string transport_error;  // empty when the transfer ran to its end
  };
  // GET with `Range: bytes=OFFSET-` when offset > 0, following redirects; the body of a 200 or
  // 206 answer goes to `sink`. A dropped connection is reported in transport_error, not thrown.
  DownloadResult download(const std::string& url, uint64_t offset, const Sink& sink) const;

  // Percent-encodes each segment of a path inside a repository, keeping the slashes.
  static std::string escape_path(const std::string& path);

 private:
  std::vector<std::string> headers_;
};

}  // namespace minillm::hub
