#include "http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "minillm/error.h"

namespace minillm::hub {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlHandle {
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  ~CurlHandle() {
    curl_slist_free_all(headers);
    if (curl) curl_easy_cleanup(curl);
  }
};

// Header lines of every response (redirects included); a status line starts a new response, so
// only the last one's headers remain.
size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto& headers = *static_cast<std::map<std::string, std::string>*>(user);
  const std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    headers.clear();
  } else if (const size_t colon = line.find(':'); colon != std::string::npos) {
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    const auto first = value.find_first_not_of(" \t"), last = value.find_last_not_of(" \t\r\n");
    headers[name] = first == std::string::npos ? "" : value.substr(first, last - first + 1);
  }
  return size * n;
}

void set_common(CurlHandle& h, const std::string& url, const std::vector<std::string>& headers,
                std::map<std::string, std::string>* response_headers) {
  if (!h.curl) throw Error("cannot start libcurl");
  for (const std::string& line : headers) h.headers = curl_slist_append(h.headers, line.c_str());
  curl_easy_setopt(h.curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.curl, CURLOPT_HTTPHEADER, h.headers);
  curl_easy_setopt(h.curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h.curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(h.curl, CURLOPT_USERAGENT, "mini-llm");
  curl_easy_setopt(h.curl, CURLOPT_CONNECTTIMEOUT, 30L);
  // A connection that moves under 1 byte/s for 60 s is dead: give up rather than hang.
  curl_easy_setopt(h.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h.curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(h.curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h.curl, CURLOPT_HEADERDATA, response_headers);
}

}  // namespace

HttpClient::HttpClient(std::vector<std::string> headers) : headers_(std::move(headers)) {
  global_init();
}

HttpResponse HttpClient::get(const std::string& url) const {
  CurlHandle h;
  HttpResponse r;
  set_common(h, url, headers_, &r.headers);
  curl_easy_setopt(
      h.curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) {
        static_cast<std::string*>(user)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(h.curl, CURLOPT_WRITEDATA, &r.body);
  const CURLcode rc = curl_easy_perform(h.curl);
  if (rc != CURLE_OK) throw Error(url + ": " + curl_easy_strerror(rc));
  curl_easy_getinfo(h.curl, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

HttpClient::DownloadResult HttpClient::download(const std::string& url, uint64_t offset,
                                                const Sink& sink) const {
  CurlHandle h;
  DownloadResult r;
  set_common(h, url, headers_, &r.headers);
  const std::string range = std::to_string(offset) + "-";
  if (offset > 0) curl_easy_setopt(h.curl, CURLOPT_RANGE, range.c_str());
  struct Context {
    CURL* curl;
    const Sink* sink;
    bool stopped = false;
  } context{h.curl, &sink};
  curl_easy_setopt(
      h.curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
        auto& c = *static_cast<Context*>(user);
        long status = 0;
        curl_easy_getinfo(c.curl, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 && status != 206) return size * n;  // an error page
        if (!(*c.sink)(data, size * n, status)) {
          c.stopped = true;
          return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
        }
        return size * n;
      });
  curl_easy_setopt(h.curl, CURLOPT_WRITEDATA, &context);
  const CURLcode rc = curl_easy_perform(h.curl);
  curl_easy_getinfo(h.curl, CURLINFO_RESPONSE_CODE, &r.status);
  if (rc != CURLE_OK && !context.stopped) r.transport_error = curl_easy_strerror(rc);
  if (context.stopped) r.transport_error = "stopped";
  return r;
}

std::string HttpClient::escape_path(const std::string& path) {
  global_init();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string segment =
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    char* escaped = curl_easy_escape(curl.get(), segment.c_str(), int(segment.size()));
    if (!escaped) throw Error("cannot escape '" + path + "'");
    out += escaped;
    curl_free(escaped);
    if (slash == std::string::npos) break;
    out += '/';
    start = slash + 1;
  }
  return out;
}

}  // namespace minillm::hub
