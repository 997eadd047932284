// Python string operations (ASCII case mapping, whitespace per str.isspace) and the argument
// helpers that filters, tests and methods share.
#pragma once

#include <cstdint>
#include <string>

#include "chat/jinja_value.h"

namespace minillm::jinja {

class Renderer;

int64_t int_arg(const Value* v, int64_t dflt, int line, const char* what);
bool bool_arg(const Value* v, bool dflt);
std::string str_arg(const Value* v, const std::string& dflt);

char ascii_upper(char c);
char ascii_lower(char c);
bool ascii_alpha(char c);
std::string upper(std::string s);
std::string lower(std::string s);
std::string capitalize(const std::string& s);
// str.strip / lstrip / rstrip: whitespace, or any of `chars`.
std::string strip(const std::string& s, const Value* chars, bool left, bool right);
// str.split(sep, maxsplit); sep null or none splits at runs of whitespace.
Value split(const std::string& s, const Value* sep, int64_t maxsplit, int line);
// str.replace(from, to, count); count < 0: all.
std::string replace(Renderer& r, const std::string& s, const std::string& from,
                    const std::string& to, int64_t count, int line);
int64_t length(const Value& v, int line);  // len()
Value items_of(const Value& v, int line);  // dict.items() as [key, value] lists
// item's attribute `attribute` ("a.b" walks nested ones, a number indexes); item when null.
Value attribute_of(Renderer& r, const Value& item, const Value* attribute, int line);

}  // namespace minillm::jinja
