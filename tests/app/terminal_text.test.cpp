// What `muster replay --format table` prints of text a hostile agent chose:
// nothing a terminal would act on, every such character a visible escape.

#include "app/terminal_text.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

using namespace muster::app;

TEST_CASE("regression: replay's table printed C0 and C1 controls, DEL, U+202E and U+2028 raw") {
  struct Case {
    std::string raw;
    std::string shown;
  };
  for (const Case& example : std::vector<Case>{
           {std::string("a\0b", 3), "a\\u0000b"},
           {"web\n   99  2026-01-01T00:00:00Z  agent:forged", "web\\u000a   99  2026-01-01T00:00:00Z  agent:forged"},
           {"\r\t\x1b[2J", "\\u000d\\u0009\\u001b[2J"},
           {"del\x7f", "del\\u007f"},
           {"c1 \xc2\x80 \xc2\x85 \xc2\x9b \xc2\x9f", "c1 \\u0080 \\u0085 \\u009b \\u009f"},
           {"evil\xe2\x80\xaegnp.exe", "evil\\u202egnp.exe"},           // U+202E RIGHT-TO-LEFT OVERRIDE
           {"line\xe2\x80\xa8next\xe2\x80\xa9", "line\\u2028next\\u2029"},  // LINE / PARAGRAPH SEPARATOR
           {"\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "\\u202a\\u202b\\u202c\\u202d"},
           {"\xe2\x81\xa6\xe2\x81\xa9\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "\\u2066\\u2069\\u200e\\u200f\\u061c"},
       }) {
    CAPTURE(example.shown);
    CHECK(terminal_safe_json(example.raw) == example.shown);
    CHECK(terminal_safe_text(example.raw) == example.shown);
  }
}

TEST_CASE("bytes that are not UTF-8 are shown as \\xNN - printable text of any script is kept") {
  CHECK(terminal_safe_text("\xff\xfe") == "\\xff\\xfe");
  CHECK(terminal_safe_text("\xc0\xaf") == "\\xc0\\xaf");          // overlong '/'
  CHECK(terminal_safe_text("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a UTF-16 surrogate
  CHECK(terminal_safe_text("cut \xe2\x80") == "cut \\xe2\\x80");    // truncated sequence
  CHECK(terminal_safe_text("\x80 stray") == "\\x80 stray");
  const std::string printable = "caf\xc3\xa9 \xc2\xa0 \xc4\x80 \xe6\x9c\x8d\xe5\x8a\xa1 \xf0\x9f\x9a\x80 ~!@#$%^&*()";
  CHECK(terminal_safe_json(printable) == printable);
  CHECK(terminal_safe_text(printable) == printable);
}

TEST_CASE("escaped JSON stays the same JSON - plain text doubles backslashes so escapes cannot be typed") {
  const nlohmann::json data = {{"hostname", "evil\xe2\x80\xae" "gnp\x7f\xc2\x85"}, {"typed", "\\u202e"}};
  const std::string shown = terminal_safe_json(data.dump());
  CHECK(shown.find("\xe2\x80\xae") == std::string::npos);
  CHECK(nlohmann::json::parse(shown) == data);
  CHECK(terminal_safe_text("a\\u202e") == "a\\\\u202e");
}
