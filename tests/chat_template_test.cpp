// Chat templates against the shared cases (real model templates, rendered by Jinja2 the way
// Hugging Face's apply_chat_template does), the built-in formats against hand-written renderings
// of their published descriptions, and errors and limits for bad or hostile templates.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "minillm/chat_template.h"
#include "test_data.h"

namespace minillm {
namespace {

using nlohmann::ordered_json;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ChatContext case_context(const ordered_json& c) {
  ChatContext ctx;
  ctx.messages_json = c.at("messages").dump();
  if (c.contains("tools") && !c["tools"].is_null()) ctx.tools_json = c["tools"].dump();
  if (c["bos_token"].is_string()) ctx.bos_token = c["bos_token"].get<std::string>();
  if (c["eos_token"].is_string()) ctx.eos_token = c["eos_token"].get<std::string>();
  ctx.add_generation_prompt = c.value("add_generation_prompt", false);
  ctx.date = "26 Jul 2024";
  return ctx;
}

TEST(ChatTemplateCases, EveryCaseRendersLikeJinja2) {
  const auto dir = test::shared_file("templates/cases");
  REQUIRE_SHARED_FILE(dir);
  size_t total = 0, passed = 0;
  std::set<std::string> templates, templates_failing;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    const ordered_json c = ordered_json::parse(read_text(entry.path()));
    const std::string name = entry.path().filename().string();
    const std::string tpl_file = c.at("template_file");
    templates.insert(tpl_file);
    ++total;
    bool ok = false;
    try {
      const ChatTemplate tpl =
          ChatTemplate::parse(read_text(test::shared_file("templates") / tpl_file));
      const std::string out = tpl.render(case_context(c));
      if (c.contains("expected_error"))
        ADD_FAILURE() << name << ": expected the error \"" << c["expected_error"].get<std::string>()
                      << "\", rendered:\n"
                      << out;
      else
        ok = out == c.at("expected").get<std::string>();
      if (!ok && !c.contains("expected_error"))
        ADD_FAILURE() << name << ":\n got: " << ordered_json(out).dump()
                      << "\nwant: " << c["expected"].dump();
    } catch (const ChatTemplateRaised& e) {
      ok = c.contains("expected_error") && e.what() == c["expected_error"].get<std::string>();
      if (!ok) ADD_FAILURE() << name << ": raised \"" << e.what() << "\"";
    } catch (const Error& e) {
      ADD_FAILURE() << name << ": error " << e.what();
    }
    passed += ok;
    if (!ok) templates_failing.insert(tpl_file);
  }
  EXPECT_GT(total, 0u);
  const size_t templates_ok = templates.size() - templates_failing.size();
  std::cout << "[ chat templates ] " << passed << "/" << total << " cases pass; " << templates_ok
            << "/" << templates.size() << " templates pass every case\n";
  RecordProperty("cases_passed", int(passed));
  RecordProperty("cases_total", int(total));
  EXPECT_EQ(passed, total);
}

// ---- tool calling: the shared cases have no tools, so these conversations were rendered once by
// Jinja2 3.1 in Hugging Face's environment (HF's tojson; bos <s>, eos </s>, generation prompt on)
// and the text is kept here ----

const char* const kToolCases = R"J({
 "tools": [
  {
   "type": "function",
   "function": {
    "name": "get_weather",
    "description": "Get the weather \"now\"",
    "parameters": {
     "type": "object",
     "properties": {
      "city": {
       "type": "string",
       "description": "City é"
      },
      "n": {
       "type": "integer"
      }
     },
     "required": [
      "city"
     ]
    },
    "return": {
     "type": "string"
    }
   }
  }
 ],
 "conversations": {
  "toolcall": [
   {
    "role": "user",
    "content": "Weather in Paris?"
   },
   {
    "role": "assistant",
    "content": null,
    "tool_calls": [
     {
      "id": "abc123def",
      "type": "function",
      "function": {
       "name": "get_weather",
       "arguments": {
        "city": "Paris",
        "n": 1
       }
      }
     }
    ]
   },
   {
    "role": "tool",
    "tool_call_id": "abc123def",
    "content": "{\"temp\": 20}"
   },
   {
    "role": "assistant",
    "content": "It is 20."
   }
  ],
  "toolcall_str": [
   {
    "role": "system",
    "content": "S"
   },
   {
    "role": "user",
    "content": "W?"
   },
   {
    "role": "assistant",
    "content": null,
    "tool_calls": [
     {
      "id": "abc123def",
      "type": "function",
      "function": {
       "name": "get_weather",
       "arguments": "{\"city\": \"Paris\"}"
      }
     }
    ]
   },
   {
    "role": "tool",
    "tool_call_id": "abc123def",
    "content": "20"
   }
  ]
 },
 "cases": [
  {
   "template": "meta-llama-Llama-3.1-8B-Instruct.jinja",
   "conversation": "toolcall",
   "expected": "<s><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"description\": \"Get the weather \\\"now\\\"\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\",\n                    \"description\": \"City é\"\n                },\n                \"n\": {\n                    \"type\": \"integer\"\n                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n        },\n        \"return\": {\n            \"type\": \"string\"\n        }\n    }\n}\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"n\": 1}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"{\\\"temp\\\": 20}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nIt is 20.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
  },
  {
   "template": "Qwen-Qwen2.5-7B-Instruct.jinja",
   "conversation": "toolcall",
   "expected": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather \\\"now\\\"\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City é\"}, \"n\": {\"type\": \"integer\"}}, \"required\": [\"city\"]}, \"return\": {\"type\": \"string\"}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"n\": 1}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temp\": 20}\n</tool_response><|im_end|>\n<|im_start|>assistant\nIt is 20.<|im_end|>\n<|im_start|>assistant\n"
  },
  {
   "template": "mistralai-Mistral-Nemo-Instruct-2407.jinja",
   "conversation": "toolcall",
   "expected": "<s>[AVAILABLE_TOOLS][{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather \"now\"\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City é\"}, \"n\": {\"type\": \"integer\"}}, \"required\": [\"city\"]}}}][/AVAILABLE_TOOLS][INST]Weather in Paris?[/INST][TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"n\": 1}, \"id\": \"abc123def\"}]</s>[TOOL_RESULTS]{\"content\": {\"temp\": 20}, \"call_id\": \"abc123def\"}[/TOOL_RESULTS]It is 20.</s>"
  },
  {
   "template": "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
   "conversation": "toolcall_str",
   "expected": "<s>S<｜User｜>W?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>20<｜tool▁output▁end｜><｜tool▁outputs▁end｜>"
  }
 ]
})J";

TEST(ChatTemplateCases, ToolCallingConversations) {
  const ordered_json doc = ordered_json::parse(kToolCases);
  for (const ordered_json& c : doc.at("cases")) {
    const auto path =
        test::shared_file("templates/templates") / c.at("template").get<std::string>();
    REQUIRE_SHARED_FILE(path);
    ChatContext ctx;
    ctx.messages_json = doc.at("conversations").at(c.at("conversation").get<std::string>()).dump();
    ctx.tools_json = doc.at("tools").dump();
    ctx.bos_token = "<s>";
    ctx.eos_token = "</s>";
    ctx.add_generation_prompt = true;
    ctx.date = "26 Jul 2024";
    EXPECT_EQ(ChatTemplate::parse(read_text(path)).render(ctx), c.at("expected").get<std::string>())
        << c.at("template");
  }
}

// ---- built-in formats: expected text written from each format's published description ----

ChatContext conversation(bool generation_prompt) {
  ChatContext ctx;
  ctx.messages = {
      {"system", "You are helpful."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};
  ctx.add_generation_prompt = generation_prompt;
  return ctx;
}

TEST(ChatTemplateBuiltin, Llama2) {
  ChatContext ctx = conversation(true);
  ctx.bos_token = "<s>";
  ctx.eos_token = "</s>";
  EXPECT_EQ(ChatTemplate::builtin("llama2").render(ctx),
            "<s>[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
            "<s>[INST] Bye [/INST]");
}

TEST(ChatTemplateBuiltin, Mistral) {
  ChatContext ctx = conversation(true);
  ctx.bos_token = "<s>";
  ctx.eos_token = "</s>";
  EXPECT_EQ(ChatTemplate::builtin("mistral").render(ctx),
            "<s>[INST] You are helpful.\n\nHi [/INST]Hello!</s>[INST] Bye [/INST]");
}

TEST(ChatTemplateBuiltin, Llama3) {
  ChatContext ctx = conversation(true);
  ctx.bos_token = "<|begin_of_text|>";
  ctx.eos_token = "<|eot_id|>";
  const std::string body =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>";
  EXPECT_EQ(ChatTemplate::builtin("llama3").render(ctx),
            body + "<|start_header_id|>assistant<|end_header_id|>\n\n");
  ctx.add_generation_prompt = false;
  EXPECT_EQ(ChatTemplate::builtin("llama3").render(ctx), body);
}

TEST(ChatTemplateBuiltin, ChatML) {
  const std::string body =
      "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n";
  EXPECT_EQ(ChatTemplate::builtin("chatml").render(conversation(true)),
            body + "<|im_start|>assistant\n");
  EXPECT_EQ(ChatTemplate::builtin("chatml").render(conversation(false)), body);
}

TEST(ChatTemplateBuiltin, Zephyr) {
  ChatContext ctx = conversation(true);
  ctx.eos_token = "</s>";
  EXPECT_EQ(ChatTemplate::builtin("zephyr").render(ctx),
            "<|system|>\nYou are helpful.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n"
            "<|user|>\nBye</s>\n<|assistant|>\n");
}

// The built-ins agree with the real templates of the same format on the shared cases.
TEST(ChatTemplateBuiltin, AgreeWithRealTemplates) {
  const std::pair<const char*, const char*> pairs[] = {
      {"llama2", "llama-2-chat__system_user.json"},
      {"llama2", "llama-2-chat__multi_turn.json"},
      {"llama3", "llama-3-instruct-npm-lenml__system_user.json"},
      {"llama3", "llama-3-instruct-npm-lenml__multi_turn.json"},
      {"mistral", "mistralai-Mistral-7B-Instruct-v0.2-pre-v1__multi_turn.json"},
      {"chatml", "Qwen-Qwen2.5-7B-Instruct__system_user.json"},
  };
  for (const auto& [builtin, file] : pairs) {
    const auto path = test::shared_file("templates/cases") / file;
    REQUIRE_SHARED_FILE(path);
    const ordered_json c = ordered_json::parse(read_text(path));
    EXPECT_EQ(ChatTemplate::builtin(builtin).render(case_context(c)), c.at("expected"))
        << builtin << " vs " << file;
  }
}

TEST(ChatTemplateBuiltin, UnknownNameIsAnError) {
  EXPECT_THROW(ChatTemplate::builtin("vicuna"), Error);
  EXPECT_EQ(ChatTemplate::builtin_names().size(), 5u);
}

// ---- errors ----

// Parsing or rendering `tpl` fails with an Error whose message contains each of `parts`.
void expect_error(const std::string& tpl, std::initializer_list<const char*> parts) {
  try {
    const std::string out = ChatTemplate::parse(tpl).render(conversation(true));
    ADD_FAILURE() << "no error for: " << tpl.substr(0, 200) << "\nrendered: " << out.substr(0, 200);
  } catch (const Error& e) {
    for (const char* p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << p << "\" for: " << tpl.substr(0, 200);
  }
}

TEST(ChatTemplateErrors, UnsupportedConstructsNameTheConstructAndLine) {
  expect_error("a\nb\n{% include 'x.jinja' %}", {"include", "line 3"});
  expect_error("{% import 'm' as m %}", {"import", "line 1"});
  expect_error("{% extends 'base' %}", {"extends"});
  expect_error("{% macro m() %}{% endmacro %}\n{% call m() %}{% endcall %}", {"call", "line 2"});
  expect_error("{% for x in y recursive %}{% endfor %}", {"recursive"});
  expect_error("\n{{ x | frobnicate }}", {"frobnicate", "line 2"});
  expect_error("{{ x is frobnicated }}", {"frobnicated", "line 1"});
  expect_error("{{ 'a'.frobnicate() }}", {"frobnicate"});
  expect_error("{{ '%s' % 1 }}", {"'%' string formatting"});
  expect_error("{{ f(*args) }}", {"*args"});
  expect_error("{% do x %}", {"do"});
  expect_error("{% frob %}", {"frob"});
}

TEST(ChatTemplateErrors, SyntaxErrors) {
  expect_error("{% if x %}\nno end", {"never closed", "if", "line 1"});
  expect_error("{% for x in y %}", {"never closed", "endfor"});
  expect_error("{{ 1 + }}", {"expected an expression", "line 1"});
  expect_error("x\n{% endif %}", {"endif", "line 2"});
  expect_error("{{ 'abc }}", {"unclosed string"});
  expect_error("{# abc", {"unclosed comment"});
  expect_error("{{ x ", {"unclosed"});
  expect_error("{% for %}{% endfor %}", {"expected a name"});
  expect_error("{% break %}", {"outside of a loop"});
  expect_error("{{ x ) }}", {"unexpected ')'"});
  expect_error("{{ a $ b }}", {"unexpected character '$'"});
  expect_error("{{ 99999999999999999999 }}", {"too large"});
}

TEST(ChatTemplateErrors, RuntimeErrors) {
  expect_error("{{ 1 + 'a' }}", {"unsupported operand", "'int' and 'str'"});
  expect_error("{{ nope + 1 }}", {"'nope' is undefined"});
  expect_error("{{ nope() }}", {"'nope' is undefined"});
  expect_error("{{ 1 / 0 }}", {"division by zero"});
  expect_error("{{ 5 // 0 }}", {"by zero"});
  expect_error("{{ messages.append(1) }}", {"append", "immutable"});
  expect_error("{% set d = {} %}{% set d.x = 1 %}", {"namespace"});
  expect_error("{% for a, b in [1] %}{% endfor %}", {"not iterable"});
  expect_error("{% for a, b in ['abc'] %}{% endfor %}", {"unpack"});
  expect_error("{{ none | tojson(indent=2) ~ nope | tojson }}", {"not JSON serializable"});
  expect_error("{{ 1 < 'a' }}", {"comparison not supported"});
  expect_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", {"takes not more than 1"});
  expect_error("{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", {"no argument named 'b'"});
  expect_error("{{ 9223372036854775807 + 1 }}", {"overflow"});
  expect_error("{{ 'a'.split('') }}", {"empty separator"});
}

TEST(ChatTemplateErrors, RaiseExceptionCarriesTheTemplatesMessage) {
  const auto tpl = ChatTemplate::parse("ok{{ raise_exception('Roles must alternate!') }}");
  try {
    tpl.render(conversation(true));
    ADD_FAILURE() << "no exception";
  } catch (const ChatTemplateRaised& e) {
    EXPECT_STREQ(e.what(), "Roles must alternate!");
  }
}

TEST(ChatTemplateErrors, BadJsonAndDate) {
  ChatContext ctx = conversation(true);
  ctx.messages_json = "[{\"role\": ";
  EXPECT_THROW(ChatTemplate::parse("x").render(ctx), Error);
  ctx.messages_json = "{\"role\": \"user\"}";
  EXPECT_THROW(ChatTemplate::parse("x").render(ctx), Error);
  ctx = conversation(true);
  ctx.date = "someday";
  EXPECT_THROW(ChatTemplate::parse("{{ strftime_now('%d') }}").render(ctx), Error);
  ctx.date = "2024-07-26";
  EXPECT_EQ(ChatTemplate::parse("{{ strftime_now('%d %B %Y') }}").render(ctx), "26 July 2024");
}

// ---- limits: hostile templates stop with an Error, quickly, without exhausting the stack ----

TEST(ChatTemplateLimits, RunawayLoopsStop) {
  const auto start = std::chrono::steady_clock::now();
  expect_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
               {"steps"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST(ChatTemplateLimits, RecursionStops) {
  expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {"nested too deeply"});
  // Exponential work without deep recursion is caught by the step limit.
  expect_error(
      "{% macro f(n) %}{% if n < 30 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}"
      "{% endmacro %}{{ f(0) }}",
      {"steps"});
}

TEST(ChatTemplateLimits, OutputAndValueSizesAreBounded) {
  expect_error(
      "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
      "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
      {"longer than"});
  expect_error("{% for i in range(40) %}{{ 'x' * 1000000 }}{% endfor %}", {"longer than"});
  expect_error("{{ 'x' * 100000000000 }}", {"too large"});
  expect_error("{{ range(10000000000) | length }}", {"too large"});
  expect_error(
      "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}"
      "{% set ns.l = ns.l + ns.l %}{% endfor %}",
      {"list longer than"});
}

TEST(ChatTemplateLimits, DeepNestingIsAnErrorNotACrash) {
  expect_error("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}",
               {"nested too deeply"});
  expect_error("{{ " + std::string(100000, '[') + std::string(100000, ']') + " }}",
               {"nested too deeply"});
  std::string chain = "{{ 1";
  for (int i = 0; i < 100000; ++i) chain += " + 1";
  expect_error(chain + " }}", {"too deeply nested"});
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  expect_error(ifs, {"nested too deeply"});
  expect_error("{{ " + std::string(50000, '-') + "1 }}", {"nested too deeply"});
  expect_error("{{ " + std::string(50000, '~') + " }}", {"expected an expression"});
  std::string nots = "{{ ";
  for (int i = 0; i < 50000; ++i) nots += "not ";
  expect_error(nots + "1 }}", {"nested too deeply"});

  ChatContext ctx = conversation(true);
  ctx.messages_json = std::string(100000, '[') + std::string(100000, ']');
  try {
    ChatTemplate::parse("{{ messages }}").render(ctx);
    ADD_FAILURE() << "no error for deeply nested messages";
  } catch (const Error&) {
  }
}

TEST(ChatTemplateLimits, TooLargeTemplate) {
  EXPECT_THROW(ChatTemplate::parse(std::string(2u << 20, 'x')), Error);
}

}  // namespace
}  // namespace minillm
