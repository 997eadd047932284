// Jinja constructs one at a time. Each expected string is what Jinja2 3.1 renders in Hugging
// Face's environment (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
// HF's tojson, strftime_now fixed to 26 Jul 2024) for the context below; they were worked out
// from the Jinja2 and Python documentation and checked against Jinja2 itself.
#include <gtest/gtest.h>

#include <string>

#include "minillm/chat_template.h"

namespace minillm {
namespace {

// The context every case renders with.
ChatContext context() {
  ChatContext ctx;
  ctx.messages = {{"system", "S"}, {"user", " Hi "}, {"assistant", "Yo"}};
  ctx.bos_token = "<s>";
  ctx.eos_token = "</s>";
  ctx.add_generation_prompt = true;
  ctx.date = "26 Jul 2024";
  return ctx;
}

struct Case {
  const char* name;
  const char* tpl;
  const char* expected;
};

// clang-format off
const Case kCases[] = {
    // ---- whitespace control ----
    {"trim_blocks", R"J({% if true %}
A
{% endif %}
B)J", R"J(A
B)J"},
    {"lstrip_blocks", R"J(  {% if true %}
  x
  {% endif %}
  y)J", R"J(  x
  y)J"},
    {"minus_on_blocks", R"J(a  {%- if true -%}  b  {%- endif -%}  c)J", R"J(abc)J"},
    {"minus_on_output", R"J(a
 {{- 'b' -}} 
 c)J", R"J(abc)J"},
    {"output_keeps_newline", R"J({{ 'a' }}
b)J", R"J(a
b)J"},
    {"plus_disables_lstrip", R"J(  {%+ if true %}x{% endif %})J", R"J(  x)J"},
    {"plus_disables_trim", R"J({% if true +%}
x{% endif %})J", R"J(
x)J"},
    {"comment_line_removed", R"J(a
  {# note #}
b)J", R"J(a
b)J"},
    {"comment_minus", R"J(a {#- c -#} b)J", R"J(ab)J"},
    {"one_trailing_newline_dropped", "x\n\n", "x\n"},
    {"crlf_normalized", "a\r\nb{{ 'c' }}", "a\nbc"},
    {"raw_block", R"J({% raw %}{{ x }}{% endraw %})J", R"J({{ x }})J"},
    {"indented_template", R"J({%- for m in messages %}
    {%- if m.role == 'user' %}
        {{- m.content }}
    {%- endif %}
{%- endfor %}
)J", R"J( Hi )J"},

    // ---- loops ----
    {"loop_variables", R"J({% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %})J",
     R"J(10TrueFalse332|21FalseFalse321|32FalseTrue310|)J"},
    {"loop_filter", R"J({% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role }} {% endfor %})J",
     R"J(1user 2assistant )J"},
    {"loop_else", R"J({% for x in [] %}x{% else %}empty{% endfor %})J", R"J(empty)J"},
    {"break_continue", R"J({% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %})J",
     R"J(0134)J"},
    {"unpack_items", R"J({% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %})J", R"J(a=1;b=2;)J"},
    {"iterate_dict_keys", R"J({% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %})J", R"J(xy)J"},
    {"iterate_string", R"J({% for c in 'héllo' %}{{ c }}.{% endfor %})J", R"J(h.é.l.l.o.)J"},
    {"prev_next_item", R"J({% for i in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }} {% endfor %})J", R"J(-2 1-3 2- )J"},
    {"loop_cycle", R"J({% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %})J", R"J(aba)J"},
    {"set_in_loop_is_local", R"J({% set x = 0 %}{% for i in range(3) %}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }})J", R"J(1110)J"},
    {"namespace_carries_out", R"J({% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }})J", R"J(3)J"},
    {"namespace_new_attribute", R"J({% set ns = namespace() %}{% set ns.a = 'x' %}{{ ns.a }})J", R"J(x)J"},
    {"loop_over_undefined", R"J({% for x in nope %}x{% else %}none{% endfor %})J", R"J(none)J"},

    // ---- if, set, with ----
    {"if_elif_else", R"J({% if false %}a{% elif 0 %}b{% elif 'x' %}c{% else %}d{% endif %})J", R"J(c)J"},
    {"block_set", R"J({% set x %}  Hello {{ 'W' }}  {% endset %}[{{ x }}])J", R"J([  Hello W  ])J"},
    {"block_set_filtered", R"J({% set x | trim | upper %}  hi  {% endset %}{{ x }})J", R"J(HI)J"},
    {"set_tuple", R"J({% set a, b = 1, 2 %}{{ a }}{{ b }})J", R"J(12)J"},
    {"set_in_if_is_visible", R"J({% if true %}{% set y = 5 %}{% endif %}{{ y }})J", R"J(5)J"},
    {"with_block", R"J({% with a = 1 %}{{ a }}{% endwith %}[{{ a }}])J", R"J(1[])J"},
    {"shadow_messages", R"J({% set messages = messages[1:] %}{{ messages | length }})J", R"J(2)J"},

    // ---- macros ----
    {"macro_defaults_and_keywords", R"J({% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet(greeting='Yo', name='Cy') }})J",
     R"J(Hello, Ann! Hi, Bob! Yo, Cy!)J"},
    {"macro_recursion", R"J({% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }})J", R"J(321)J"},
    {"macro_sees_globals", R"J({% macro b() %}{{ bos_token }}{% endmacro %}{{ b() }})J", R"J(<s>)J"},
    {"macro_whitespace", R"J({% macro m() %}
X
{% endmacro %}[{{ m() }}])J", R"J([X
])J"},

    // ---- expressions ----
    {"arithmetic", R"J({{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 1.5 + 1 }})J",
     R"J(7 9 3 -4 1 2 1024 3.5 2.0 2.5)J"},
    {"tilde_concat", R"J({{ 'a' ~ 1 ~ none ~ true ~ nope }})J", R"J(a1NoneTrue)J"},
    {"plus_concat", R"J({{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 3 }})J", R"J(ab [1, 2] ababab)J"},
    {"comparisons", R"J({{ 1 < 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ messages[0] == {'role': 'system', 'content': 'S'} }})J",
     R"J(True True True True True False True)J"},
    {"membership", R"J({{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'role' in messages[0] }} {{ 'x' not in messages[0] }})J", R"J(True True True True)J"},
    {"and_or_not", R"J({{ true and 'x' }} {{ false or 'y' }} {{ not none }} {{ 0 or [] }})J", R"J(x y True [])J"},
    {"conditional_expression", R"J({{ 'a' if true else 'b' }}{{ 'c' if false else 'd' }}[{{ 'e' if false }}])J", R"J(ad[])J"},
    {"filter_binds_tighter_than_plus", R"J({{ 'a' + ' b ' | trim + 'c' }})J", R"J(abc)J"},
    {"not_applies_to_test", R"J({{ not none is none }} {{ -3 | abs }})J", R"J(False 3)J"},
    {"literals", R"J({{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }} {{ "it's" }} {{ [1e20, 0.0001, 1e-05] }})J",
     R"J([1, 'a', None, True, 1.5] {'k': 'v', 'n': [1]} it's [1e+20, 0.0001, 1e-05])J"},
    {"string_escapes", R"J({{ 'a\tb\u00e9\x41\n' 'c' }})J", "a\tb\xc3\xa9" "A\nc"},
    {"attribute_and_item", R"J({{ messages[1].role }}|{{ messages[1]['content'] }}|{{ messages.0.role }})J", R"J(user| Hi |system)J"},
    {"slicing", R"J({{ messages[1:] | length }} {{ [1, 2, 3, 4][::-1] }} {{ [1, 2, 3, 4][1:3] }} {{ 'hello'[1:-1] }} {{ 'hello'[::2] }} {{ [1, 2, 3][-1] }} {{ 'héllo'[1] }} [{{ [1][5] }}])J",
     R"J(2 [4, 3, 2, 1] [2, 3] ell hlo 3 é [])J"},
    {"undefined", R"J([{{ nope }}][{{ nope is defined }}][{{ messages[0].nope is defined }}][{{ nope | default('d') }}][{{ '' | default('e', true) }}][{{ none | default('x') }}][{{ nope | length }}][{% if nope %}a{% else %}b{% endif %}])J",
     R"J([][False][False][d][e][None][0][b])J"},

    // ---- filters ----
    {"string_filters", R"J({{ '  x  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ 'hELLO wORLD' | capitalize }}|{{ 'hello big-world (x' | title }})J",
     R"J(x|hi|AB|ab|Hello world|Hello Big-World (X)J"},
    {"sequence_filters", R"J({{ [1, 2, 3] | join(', ') }}|{{ [1, 2, 3] | first }}|{{ [1, 2, 3] | last }}|{{ 'abc' | list }}|{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}{{ v }}{% endfor %}|{{ 1 | string }}|{{ '42' | int + 1 }}|{{ 'x' | int }}|{{ '3.5' | float }}|{{ 3.7 | int }})J",
     R"J(1, 2, 3|1|3|['a', 'b', 'c']|a1b2|1|43|0|3.5|3)J"},
    {"replace", R"J({{ 'aaa' | replace('a', 'b') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'ab'.replace('', '-') }})J", R"J(bbb|bba|-a-b-)J"},
    {"select_map", R"J({{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join }}|{{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | join(',') }}|{{ messages | map(attribute='role') | map('upper') | join(',') }}|{{ [0, 1, '', 'a'] | select | list }}|{{ [1, 2, 3, 4] | reject('odd') | list }}|{{ messages | selectattr('nope') | list | length }})J",
     R"J( Hi |system,assistant|SYSTEM,USER,ASSISTANT|[1, 'a']|[2, 4]|0)J"},
    {"tojson", R"J({{ {'a': [1, 2.0, none, true], 'b': 'é"\n<'} | tojson }})J", R"J({"a": [1, 2.0, null, true], "b": "é\"\n<"})J"},
    {"tojson_indent", R"J({{ {'a': [1, {}], 'b': {'c': []}} | tojson(indent=2) }})J", R"J({
  "a": [
    1,
    {}
  ],
  "b": {
    "c": []
  }
})J"},
    {"tojson_ascii_sorted", R"J({{ {'b': 'é', 'a': 1} | tojson(ensure_ascii=true, sort_keys=true) }})J", R"J({"a": 1, "b": "\u00e9"})J"},
    {"numbers", R"J({{ -3 | abs }}|{{ 2.5 | round }}|{{ 3.14159 | round(2) }}|{{ 2.1 | round(0, 'ceil') }}|{% for k, v in {'b': 1, 'a': 2} | dictsort %}{{ k }}{{ v }}{% endfor %})J",
     R"J(3|2.0|3.14|3.0|a2b1)J"},
    {"lengths", R"J({{ 'héllo' | length }}|{{ messages | count }}|{{ {'a': 1} | length }})J", R"J(5|3|1)J"},
    {"ordering_filters", R"J({{ [3, 1, 2] | sort }}|{{ ['b', 'A', 'c'] | sort }}|{{ [1, 1, 2] | unique | list }}|{{ [1, 2] | reverse | list }}|{{ 'abc' | reverse }}|{{ [1, 2, 3] | sum }}|{{ [3, 1] | min }}|{{ [3, 1] | max }})J",
     R"J([1, 2, 3]|['A', 'b', 'c']|[1, 2]|[2, 1]|cba|6|1|3)J"},
    {"default_boolean", R"J({{ none | d('x', true) }})J", R"J(x)J"},
    {"indent", R"J({{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }})J", "a\n  b\n\n  c|  a\n  b"},
    {"safe_escape", R"J({{ '<a>' | safe }}|{{ '<a&">' | e }})J", R"J(<a>|&lt;a&amp;&#34;&gt;)J"},
    {"filter_block", R"J({% filter upper %}hi {{ 'there' }}{% endfilter %})J", R"J(HI THERE)J"},

    // ---- tests ----
    {"tests", R"J({{ 'a' is string }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is boolean }}{{ none is none }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ 1 is iterable }}{{ [] is sequence }}{{ true is true }}{{ 1 is true }}{{ false is false }})J",
     R"J(TrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrueTrueFalseTrue)J"},
    {"more_tests", R"J({{ 3 is odd }}{{ 4 is even }}{{ 6 is divisibleby 3 }}{{ 'A' is upper }}{{ 'a' is lower }}{{ messages is defined }}{{ nope is undefined }}{{ 1 is eq 1 }}{{ 1 is ne 2 }}{{ 'a' is in 'abc' }}{{ range is callable }}{{ 1 is not string }})J",
     R"J(TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue)J"},

    // ---- methods and globals ----
    {"string_methods", R"J({{ '  a b  '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('x', 'lo')) }}|{{ 'ab'.upper() }}|{{ 'hello world'.title() }}|{{ 'a-b'.replace('-', '+') }}|{{ '{} and {name}'.format(1, name='x') }}|{{ ', '.join(['a', 'b']) }})J",
     R"J(a b|axx|xxa|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|True|True|AB|Hello World|a+b|1 and x|a, b)J"},
    {"dict_methods", R"J({% set d = {'a': 1, 'b': 2} %}{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.get('a') }}|{{ d.get('z') }}|{{ d.get('z', 9) }}|{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %})J",
     R"J(['a', 'b']|[1, 2]|1|None|9|a1b2)J"},
    {"globals", R"J({{ range(3) | list }}|{{ range(1, 7, 2) | list }}|{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %A') }}|{{ add_generation_prompt }}|{{ tools }}|{{ eos_token }})J",
     R"J([0, 1, 2]|[1, 3, 5]|26 Jul 2024|2024-07-26 Friday|True|None|</s>)J"},
};
// clang-format on

class Construct : public ::testing::TestWithParam<Case> {};

TEST_P(Construct, RendersAsJinja2Does) {
  const Case& c = GetParam();
  try {
    EXPECT_EQ(ChatTemplate::parse(c.tpl).render(context()), c.expected) << c.tpl;
  } catch (const Error& e) {
    ADD_FAILURE() << "threw: " << e.what() << "\n" << c.tpl;
  }
}

INSTANTIATE_TEST_SUITE_P(Jinja, Construct, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.name);
                         });

// Jinja2's default Undefined raises on attribute access; as specified for this project, an
// attribute of an undefined value is itself undefined (so it prints as nothing and is falsy).
TEST(Construct, AttributeOfUndefinedIsUndefined) {
  EXPECT_EQ(ChatTemplate::parse("[{{ nope.attr }}][{{ nope.a.b is defined }}]").render(context()),
            "[][False]");
}

TEST(Construct, ToolCallsFromJson) {
  ChatContext ctx = context();
  ctx.messages_json = R"([{"role": "assistant", "tool_calls": [{"function": {"name": "f",
      "arguments": {"x": 1}}}]}])";
  ctx.tools_json = R"([{"name": "f"}])";
  const auto tpl = ChatTemplate::parse(
      "{{ messages[0].tool_calls[0].function.arguments | tojson }} {{ tools | length }} "
      "{{ messages[0].content is defined }}");
  EXPECT_EQ(tpl.render(ctx), R"({"x": 1} 1 False)");
}

TEST(Construct, ExtraVariables) {
  ChatContext ctx = context();
  ctx.variables_json = R"({"date_string": "1 Jan 2025", "flag": false})";
  EXPECT_EQ(ChatTemplate::parse("{{ date_string }} {{ flag }}").render(ctx), "1 Jan 2025 False");
}

TEST(Construct, MissingSpecialTokensAreUndefined) {
  ChatContext ctx = context();
  ctx.bos_token.reset();
  EXPECT_EQ(ChatTemplate::parse("[{{ bos_token }}]{{ bos_token is defined }}").render(ctx),
            "[]False");
}

}  // namespace
}  // namespace minillm
