// The chat-template front end: the variables Hugging Face's apply_chat_template gives a template,
// and built-in templates for models that ship none.
#include "minillm/chat_template.h"

#include <ctime>
#include <nlohmann/json.hpp>

#include "chat/jinja_ast.h"
#include "chat/jinja_eval.h"

namespace minillm {

struct ChatTemplate::Impl {
  std::string source;
  std::unique_ptr<jinja::Template> tpl;
};

namespace {

using jinja::CallArgs;
using jinja::Dict;
using jinja::Value;

constexpr size_t kMaxTemplateBytes = 1u << 20;

// Each written from the format's published description (Meta's Llama 2 and Llama 3 model cards,
// Mistral's instruct format, OpenAI's ChatML, Zephyr's model card).
struct Builtin {
  const char* name;
  const char* source;
};
const Builtin kBuiltins[] = {
    {"llama2", R"J(
{%- if messages and messages[0].role == 'system' -%}
  {%- set system = messages[0].content -%}
  {%- set rest = messages[1:] -%}
{%- else -%}
  {%- set system = none -%}
  {%- set rest = messages -%}
{%- endif -%}
{%- for m in rest -%}
  {%- if m.role == 'user' -%}
    {{- bos_token ~ '[INST] ' -}}
    {%- if loop.first and system is not none -%}
      {{- '<<SYS>>\n' ~ system ~ '\n<</SYS>>\n\n' -}}
    {%- endif -%}
    {{- m.content | trim ~ ' [/INST]' -}}
  {%- elif m.role == 'assistant' -%}
    {{- ' ' ~ m.content | trim ~ ' ' ~ eos_token -}}
  {%- else -%}
    {{- raise_exception('llama2 format: roles must be system (first), user or assistant') -}}
  {%- endif -%}
{%- endfor -%}
)J"},
    {"mistral", R"J(
{%- if messages and messages[0].role == 'system' -%}
  {%- set system = messages[0].content -%}
  {%- set rest = messages[1:] -%}
{%- else -%}
  {%- set system = none -%}
  {%- set rest = messages -%}
{%- endif -%}
{{- bos_token -}}
{%- for m in rest -%}
  {%- if m.role == 'user' -%}
    {%- if loop.first and system is not none -%}
      {{- '[INST] ' ~ system ~ '\n\n' ~ m.content ~ ' [/INST]' -}}
    {%- else -%}
      {{- '[INST] ' ~ m.content ~ ' [/INST]' -}}
    {%- endif -%}
  {%- elif m.role == 'assistant' -%}
    {{- m.content ~ eos_token -}}
  {%- else -%}
    {{- raise_exception('mistral format: roles must be system (first), user or assistant') -}}
  {%- endif -%}
{%- endfor -%}
)J"},
    {"llama3", R"J(
{{- bos_token -}}
{%- for m in messages -%}
  {{- '<|start_header_id|>' ~ m.role ~ '<|end_header_id|>\n\n' ~ m.content | trim ~ '<|eot_id|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{%- endif -%}
)J"},
    {"chatml", R"J(
{%- for m in messages -%}
  {{- '<|im_start|>' ~ m.role ~ '\n' ~ m.content ~ '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
)J"},
    {"zephyr", R"J(
{%- for m in messages -%}
  {{- '<|' ~ m.role ~ '|>\n' ~ m.content ~ eos_token ~ '\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {{- '<|assistant|>\n' -}}
{%- endif -%}
)J"},
};

nlohmann::ordered_json parse_json(const std::string& text, const char* what) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("chat template: ") + what + " are not valid JSON: " + e.what());
  }
}

std::tm template_date(const std::string& date) {
  std::tm tm{};
  if (date.empty()) {
    const std::time_t now = std::time(nullptr);
    localtime_r(&now, &tm);
    return tm;
  }
  for (const char* fmt : {"%d %b %Y", "%Y-%m-%d"}) {
    tm = std::tm{};
    const char* end = strptime(date.c_str(), fmt, &tm);
    if (end && *end == '\0') {
      tm.tm_isdst = -1;
      std::mktime(&tm);  // fills in the weekday and day of the year
      return tm;
    }
  }
  throw Error("chat template: cannot read the date '" + date +
              "' (write it as \"26 Jul 2024\" or 2024-07-26)");
}

}  // namespace

ChatTemplate ChatTemplate::parse(std::string source) {
  if (source.size() > kMaxTemplateBytes)
    throw Error("chat template: template larger than " + std::to_string(kMaxTemplateBytes) +
                " bytes");
  auto impl = std::make_shared<Impl>();
  impl->tpl = jinja::parse_template(source);
  impl->source = std::move(source);
  ChatTemplate t;
  t.impl_ = std::move(impl);
  return t;
}

ChatTemplate ChatTemplate::builtin(std::string_view name) {
  for (const Builtin& b : kBuiltins)
    if (name == b.name) return parse(b.source);
  std::string known;
  for (const Builtin& b : kBuiltins) known += std::string(known.empty() ? "" : ", ") + b.name;
  throw Error("chat template: no built-in template '" + std::string(name) + "' (known: " + known +
              ")");
}

const std::vector<std::string>& ChatTemplate::builtin_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Builtin& b : kBuiltins) n.push_back(b.name);
    return n;
  }();
  return names;
}

const std::string& ChatTemplate::source() const {
  return impl_->source;
}

std::string ChatTemplate::render(const ChatContext& ctx) const {
  Dict globals;
  if (!ctx.messages_json.empty()) {
    const auto j = parse_json(ctx.messages_json, "messages");
    if (!j.is_array()) throw Error("chat template: messages must be a JSON array");
    globals.set("messages", jinja::from_json(j));
  } else {
    jinja::List list;
    for (const ChatMessage& m : ctx.messages) {
      auto d = std::make_shared<Dict>();
      d->set("role", Value::string(m.role));
      d->set("content", Value::string(m.content));
      list.push_back(Value::dict(std::move(d)));
    }
    globals.set("messages", Value::list(std::move(list)));
  }
  // Hugging Face always passes tools and documents, as None when absent.
  Value tools = Value::none();
  if (!ctx.tools_json.empty()) {
    const auto j = parse_json(ctx.tools_json, "tools");
    if (!j.is_array() && !j.is_null()) throw Error("chat template: tools must be a JSON array");
    tools = jinja::from_json(j);
  }
  globals.set("tools", tools);
  globals.set("documents", Value::none());
  globals.set("add_generation_prompt", Value::boolean(ctx.add_generation_prompt));
  if (ctx.bos_token) globals.set("bos_token", Value::string(*ctx.bos_token));
  if (ctx.eos_token) globals.set("eos_token", Value::string(*ctx.eos_token));
  globals.set("raise_exception", Value::function("raise_exception", [](CallArgs& a) -> Value {
                throw ChatTemplateRaised(a.pos.empty() ? std::string() : jinja::to_str(a.pos[0]));
              }));
  const std::tm date = template_date(ctx.date);
  globals.set("strftime_now", Value::function("strftime_now", [date](CallArgs& a) -> Value {
                a.check("strftime_now", 1, {});
                if (a.pos.empty() || !a.pos[0].is_string())
                  jinja::fail(a.line, "strftime_now() needs a format string");
                const std::string& fmt = a.pos[0].str();
                std::string buf(256 + 4 * fmt.size(), '\0');
                const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &date);
                buf.resize(n);
                return Value::string(buf);
              }));
  if (!ctx.variables_json.empty()) {
    const auto j = parse_json(ctx.variables_json, "variables");
    if (!j.is_object()) throw Error("chat template: variables must be a JSON object");
    for (const auto& [k, v] : j.items()) globals.set(k, jinja::from_json(v));
  }
  jinja::Renderer renderer;
  return renderer.render(*impl_->tpl, globals);
}

}  // namespace minillm
