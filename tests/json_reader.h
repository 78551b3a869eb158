// tests/json_reader.h
// A small strict JSON reader for tests that check what Faultline writes (the timeline's
// trace-event JSON): objects, arrays, strings with escapes, numbers, true/false/null. It
// rejects anything else, so a test that parses a file also proves the file is valid JSON.
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace faultline::test {

struct Json {
  using Object = std::map<std::string, Json>;
  using Array = std::vector<Json>;
  std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<Array>, std::shared_ptr<Object>> v;

  bool is_object() const { return std::holds_alternative<std::shared_ptr<Object>>(v); }
  bool is_array() const { return std::holds_alternative<std::shared_ptr<Array>>(v); }
  bool is_string() const { return std::holds_alternative<std::string>(v); }
  bool is_number() const { return std::holds_alternative<double>(v); }
  const Object& object() const { return *std::get<std::shared_ptr<Object>>(v); }
  const Array& array() const { return *std::get<std::shared_ptr<Array>>(v); }
  const std::string& str() const { return std::get<std::string>(v); }
  double number() const { return std::get<double>(v); }
  bool has(const std::string& key) const { return is_object() && object().contains(key); }
  const Json& at(const std::string& key) const { return object().at(key); }
};

class JsonReader {
 public:
  // nullopt (and `error`) unless `text` is exactly one JSON value.
  static std::optional<Json> parse(std::string_view text, std::string* error) {
    JsonReader r(text);
    std::optional<Json> out = r.value();
    r.space();
    if (out && r.pos_ != text.size()) out.reset(), r.error_ = "trailing characters";
    if (!out && error != nullptr) *error = r.error_ + " at byte " + std::to_string(r.pos_);
    return out;
  }

 private:
  explicit JsonReader(std::string_view t) : t_(t) {}
  void space() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\n' || t_[pos_] == '\r' || t_[pos_] == '\t')) ++pos_;
  }
  bool eat(char c) {
    space();
    if (pos_ < t_.size() && t_[pos_] == c) return ++pos_, true;
    return false;
  }
  std::optional<Json> fail(const char* why) {
    if (error_.empty()) error_ = why;
    return std::nullopt;
  }
  std::optional<std::string> string() {
    if (!eat('"')) return std::nullopt;
    std::string s;
    while (pos_ < t_.size() && t_[pos_] != '"') {
      char c = t_[pos_++];
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      if (c == '\\') {
        if (pos_ >= t_.size()) return std::nullopt;
        const char e = t_[pos_++];
        switch (e) {
          case '"': case '\\': case '/': s += e; break;
          case 'b': s += '\b'; break;
          case 'f': s += '\f'; break;
          case 'n': s += '\n'; break;
          case 'r': s += '\r'; break;
          case 't': s += '\t'; break;
          case 'u':
            if (pos_ + 4 > t_.size()) return std::nullopt;
            s += '?';  // the code point itself does not matter to these tests
            pos_ += 4;
            break;
          default: return std::nullopt;
        }
      } else {
        s += c;
      }
    }
    if (pos_ >= t_.size()) return std::nullopt;
    ++pos_;
    return s;
  }
  std::optional<Json> value() {
    space();
    if (pos_ >= t_.size()) return fail("unexpected end");
    const char c = t_[pos_];
    if (c == '{') {
      ++pos_;
      auto obj = std::make_shared<Json::Object>();
      if (eat('}')) return Json{obj};
      do {
        std::optional<std::string> key = string();
        if (!key || !eat(':')) return fail("bad object key");
        std::optional<Json> v = value();
        if (!v) return std::nullopt;
        (*obj)[*key] = std::move(*v);
      } while (eat(','));
      if (!eat('}')) return fail("expected '}'");
      return Json{obj};
    }
    if (c == '[') {
      ++pos_;
      auto arr = std::make_shared<Json::Array>();
      if (eat(']')) return Json{arr};
      do {
        std::optional<Json> v = value();
        if (!v) return std::nullopt;
        arr->push_back(std::move(*v));
      } while (eat(','));
      if (!eat(']')) return fail("expected ']'");
      return Json{arr};
    }
    if (c == '"') {
      std::optional<std::string> s = string();
      if (!s) return fail("bad string");
      return Json{std::move(*s)};
    }
    for (const auto& [word, val] : {std::pair<std::string_view, Json>{"true", Json{true}}, {"false", Json{false}},
                                    {"null", Json{nullptr}}}) {
      if (t_.substr(pos_, word.size()) == word) return pos_ += word.size(), val;
    }
    const size_t start = pos_;
    if (pos_ < t_.size() && t_[pos_] == '-') ++pos_;
    while (pos_ < t_.size() && (std::isdigit(static_cast<unsigned char>(t_[pos_])) || t_[pos_] == '.' ||
                                t_[pos_] == 'e' || t_[pos_] == 'E' || t_[pos_] == '+' || t_[pos_] == '-')) {
      ++pos_;
    }
    if (pos_ == start) return fail("unexpected character");
    const std::string num(t_.substr(start, pos_ - start));
    char* end = nullptr;
    const double d = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size()) return fail("bad number");
    return Json{d};
  }

  std::string_view t_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace faultline::test
