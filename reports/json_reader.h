// reports/json_reader.h
// A small strict JSON reader for what Faultline itself writes: the report reads a run's
// timeline (trace-event JSON) back to draw its swimlanes, and tests check the files with it.
// Objects, arrays, strings with escapes (\uXXXX decoded to UTF-8), numbers, true/false/null;
// anything else is rejected, so a test that parses a file also proves the file is valid JSON.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace faultline {

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
  bool hex4(uint32_t* out) {
    if (pos_ + 4 > t_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = t_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<uint32_t>(h - 'A' + 10);
      else return false;
    }
    *out = v;
    return true;
  }
  static void utf8(uint32_t cp, std::string* s) {
    if (cp < 0x80) {
      *s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *s += static_cast<char>(0xC0 | (cp >> 6));
      *s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *s += static_cast<char>(0xE0 | (cp >> 12));
      *s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *s += static_cast<char>(0xF0 | (cp >> 18));
      *s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *s += static_cast<char>(0x80 | (cp & 0x3F));
    }
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
          case 'u': {
            uint32_t cp = 0;
            if (!hex4(&cp)) return std::nullopt;
            if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair
              uint32_t low = 0;
              if (pos_ + 2 > t_.size() || t_[pos_] != '\\' || t_[pos_ + 1] != 'u') return std::nullopt;
              pos_ += 2;
              if (!hex4(&low) || low < 0xDC00 || low >= 0xE000) return std::nullopt;
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            utf8(cp, &s);
            break;
          }
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

}  // namespace faultline
