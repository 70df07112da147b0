/* latestframe-service — the configuration file: reading and checking.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * yaml-cpp builds the node tree; everything after that is ours: every
 * scalar is read as text and parsed here, so that each problem is reported
 * with its own words, its line and its key path, and never as yaml-cpp's
 * bad-conversion exception. */
#include "latestframe/service_config.h"
#include "latestframe/uri_credentials.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <limits>
#include <memory>
#include <sstream>

namespace latestframe::service
{

namespace
{

std::string
describe_where (const std::string &file, int line, const std::string &key,
                const std::string &problem)
{
  std::string where = file;
  if (line > 0)
    where += ":" + std::to_string (line);
  where += ": ";
  if (!key.empty ())
    where += key + ": ";
  return where + problem;
}

std::string
quoted (const std::string &text)
{
  return "\"" + text + "\"";
}

struct file_closer
{
  void operator() (std::FILE *file) const { std::fclose (file); }
};

/* The whole file at `path` into `text`; false with errno set when it
 * cannot be read (a folder opens, but fails to read: EISDIR). */
bool
read_file_text (const std::string &path, std::string &text)
{
  std::unique_ptr<std::FILE, file_closer> file (
      std::fopen (path.c_str (), "rb"));
  if (!file)
    return false;
  text.clear ();
  char chunk[65536];
  for (;;)
    {
      const std::size_t got = std::fread (chunk, 1, sizeof chunk, file.get ());
      text.append (chunk, got);
      if (got < sizeof chunk)
        break;
    }
  return !std::ferror (file.get ());
}

bool
is_variable_name (const std::string &name)
{
  if (name.empty () || (name[0] >= '0' && name[0] <= '9'))
    return false;
  return std::all_of (name.begin (), name.end (), [] (char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '_';
  });
}

/* What one ${...} stands for: an environment variable, or a file's content
 * without one trailing newline. A relative path is taken from the folder
 * of `config_file` (as written). Throws std::invalid_argument naming the
 * reference and the reason, never a value. */
std::string
substitution_of (const std::string &reference, const std::string &config_file)
{
  const std::string written = "${" + reference + "}";
  const std::string file_prefix = "file:";
  if (reference.compare (0, file_prefix.size (), file_prefix) == 0)
    {
      const std::string path = reference.substr (file_prefix.size ());
      if (path.empty ())
        throw std::invalid_argument (written + ": no path after file:");
      std::string full_path = path;
      const std::size_t slash = config_file.rfind ('/');
      if (path[0] != '/' && slash != std::string::npos)
        full_path = config_file.substr (0, slash + 1) + path;
      std::string content;
      errno = 0;
      if (!read_file_text (full_path, content))
        throw std::invalid_argument (written + ": cannot read " + path + ": "
                                     + std::strerror (errno));
      if (!content.empty () && content.back () == '\n')
        content.pop_back ();
      return content;
    }
  if (!is_variable_name (reference))
    throw std::invalid_argument (
        written
        + ": not an environment variable's name (A-Z a-z 0-9 _, not "
          "starting with a digit) nor file:PATH (write $${ for a literal ${)");
  const char *value = std::getenv (reference.c_str ());
  if (!value)
    throw std::invalid_argument (written + ": the environment variable "
                                 + reference + " is not set");
  return value;
}

/* A value with each ${NAME} and ${file:PATH} replaced, and $${ read as a
 * literal ${. Any other '$' is kept. Throws std::invalid_argument as
 * substitution_of does, or for a ${ without its }. */
std::string
substituted (const std::string &text, const std::string &config_file)
{
  std::string result;
  for (std::size_t i = 0; i < text.size ();)
    {
      if (text.compare (i, 3, "$${") == 0)
        {
          result += "${";
          i += 3;
          continue;
        }
      if (text.compare (i, 2, "${") != 0)
        {
          result += text[i++];
          continue;
        }
      const std::size_t close = text.find ('}', i + 2);
      if (close == std::string::npos)
        throw std::invalid_argument (
            "a ${ without its } (write $${ for a literal ${)");
      result += substitution_of (text.substr (i + 2, close - i - 2), config_file);
      i = close + 1;
    }
  return result;
}

/* Parses digits only (no sign, no space, no base prefix) into a 64-bit
 * value; false when the text is not that or does not fit. */
bool
parse_digits (const std::string &text, std::uint64_t &value)
{
  if (text.empty () || !std::all_of (text.begin (), text.end (), [] (char c) {
        return c >= '0' && c <= '9';
      }))
    return false;
  const char *end = text.data () + text.size ();
  auto [next, error] = std::from_chars (text.data (), end, value);
  return error == std::errc () && next == end;
}

bool
is_negative_number (const std::string &text)
{
  return text.size () > 1 && text[0] == '-'
         && ((text[1] >= '0' && text[1] <= '9') || text[1] == '.');
}

std::uint64_t
parse_whole_number (const std::string &text, std::uint64_t max)
{
  if (is_negative_number (text))
    throw std::invalid_argument (quoted (text) + ": must not be negative");
  std::uint64_t value = 0;
  if (!parse_digits (text, value))
    {
      // Only the digits' length can make all-digit text fail.
      if (!text.empty ()
          && std::all_of (text.begin (), text.end (),
                          [] (char c) { return c >= '0' && c <= '9'; }))
        throw std::invalid_argument (quoted (text) + ": must be at most "
                                     + std::to_string (max));
      throw std::invalid_argument (quoted (text) + ": not a whole number");
    }
  if (value > max)
    throw std::invalid_argument (quoted (text) + ": must be at most "
                                 + std::to_string (max));
  return value;
}

/* Splits "300ms" into its leading digits and the rest. */
void
split_number_unit (const std::string &text, std::string &number,
                   std::string &unit)
{
  std::size_t digits = 0;
  while (digits < text.size () && text[digits] >= '0' && text[digits] <= '9')
    digits++;
  number = text.substr (0, digits);
  unit = text.substr (digits);
}

/* "5 s": the one rule is no space, said as such rather than as an
 * unknown unit " s". */
void
check_no_space (const std::string &text, const std::string &number,
                const std::string &unit, const char *example)
{
  if (!number.empty () && !unit.empty () && (unit[0] == ' ' || unit[0] == '\t'))
    throw std::invalid_argument (quoted (text)
                                 + ": no space between the number and its "
                                   "unit (such as "
                                 + example + ")");
}

bool
is_id_char (char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
         || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

const char *const rtsp_protocols[]
    = { "tcp", "udp", "udp-mcast", "http", "tls" };
// The URI schemes rtspsrc handles (its GstURIHandler protocols).
const char *const rtsp_schemes[] = { "rtsp",  "rtsps",  "rtspt",  "rtspu",
                                     "rtsph", "rtspst", "rtspsu", "rtspsh" };

template <std::size_t n>
bool
is_one_of (const std::string &text, const char *const (&names)[n])
{
  return std::any_of (std::begin (names), std::end (names),
                      [&] (const char *name) { return text == name; });
}

/* `names` (a C array or a container of names) joined with `joiner`, the
 * last two with `last_joiner`: "a, b or c". */
template <typename Names>
std::string
list_of (const Names &names, const char *last_joiner,
         const char *joiner = ", ")
{
  std::string list;
  const std::size_t n = std::size (names);
  std::size_t i = 0;
  for (const auto &name : names)
    {
      if (i > 0)
        list += i + 1 == n ? last_joiner : joiner;
      list += name;
      i++;
    }
  return list;
}

/* decode_modes.h's names, in its order. */
const std::vector<std::string> &
decode_mode_names ()
{
  static const std::vector<std::string> names = [] {
    std::vector<std::string> made;
    for (const decode_mode_info &mode : decode_modes)
      made.push_back (mode.name);
    return made;
  }();
  return names;
}

/* "all, on-demand, key-units or auto". */
const std::string &
decode_mode_words ()
{
  static const std::string words = list_of (decode_mode_names (), " or ");
  return words;
}

decode_mode
parse_decode (const std::string &text)
{
  if (const std::optional<decode_mode> mode = decode_mode_named (text))
    return *mode;
  throw std::invalid_argument (quoted (text) + ": unknown decode mode; use "
                               + decode_mode_words ());
}

void
check_protocols (const std::string &text)
{
  if (text.empty ())
    return;
  std::size_t start = 0;
  for (;;)
    {
      const std::size_t plus = text.find ('+', start);
      const std::string name = text.substr (start, plus - start);
      if (!is_one_of (name, rtsp_protocols))
        throw std::invalid_argument (
            quoted (text) + ": unknown protocol " + quoted (name) + "; use "
            + list_of (rtsp_protocols, " or ") + ", joined by +");
      if (plus == std::string::npos)
        return;
      start = plus + 1;
    }
}

void
check_id (const std::string &text)
{
  if (text.empty ())
    throw std::invalid_argument ("must not be empty");
  if (!std::all_of (text.begin (), text.end (), is_id_char))
    throw std::invalid_argument (
        quoted (text) + ": an id may only hold A-Z, a-z, 0-9, _ and -");
}

/* The URI's form; what it says of the URI shows it redacted, since it may
 * hold a password. Its user part is read by the uri key itself. */
void
check_uri (const std::string &text)
{
  const std::size_t colon = text.find ("://");
  std::string scheme = text.substr (0, colon);
  std::transform (scheme.begin (), scheme.end (), scheme.begin (),
                  [] (unsigned char c) { return std::tolower (c); });
  if (colon == std::string::npos || !is_one_of (scheme, rtsp_schemes)
      || colon + 3 == text.size ())
    throw std::invalid_argument (quoted (redacted_uri (text))
                                 + ": not an RTSP URI (scheme://host/...) "
                                   "with the scheme "
                                 + list_of (rtsp_schemes, " or "));
  /* Before the spaces: a raw password is the likelier reason for one,
   * and its message says both ways out. */
  if (const uri_user_info user_info = read_uri_user_info (text);
      !user_info.problem.empty ())
    throw std::invalid_argument (
        user_info.problem + " or give username: and password: beside uri");
  if (std::any_of (text.begin (), text.end (),
                   [] (unsigned char c) { return c <= ' ' || c == 0x7f; }))
    throw std::invalid_argument (quoted (redacted_uri (text))
                                 + ": a URI may not hold spaces or control "
                                   "characters (write a space as %20)");
}

void
check_host (const std::string &text)
{
  if (text.empty ())
    throw std::invalid_argument ("must not be empty");
  if (std::any_of (text.begin (), text.end (),
                   [] (unsigned char c) { return c <= ' ' || c == 0x7f; }))
    throw std::invalid_argument (quoted (text)
                                 + ": a host may not hold spaces");
}

void
check_topic_prefix (const std::string &text)
{
  if (text.empty ())
    throw std::invalid_argument ("must not be empty");
  if (text.find_first_of (std::string ("+#\0", 3)) != std::string::npos)
    throw std::invalid_argument (
        quoted (text)
        + ": MQTT wildcards (+ #) and NUL are not allowed in "
          "a topic");
}

double
parse_rate (const std::string &text)
{
  if (is_negative_number (text))
    throw std::invalid_argument (quoted (text) + ": must not be negative");
  double value = 0;
  const char *end = text.data () + text.size ();
  auto [next, error]
      = std::from_chars (text.data (), end, value, std::chars_format::fixed);
  if (text.empty () || error != std::errc () || next != end
      || !std::isfinite (value))
    throw std::invalid_argument (quoted (text)
                                 + ": not a number (such as 2 or 0.5)");
  if (value > 1000)
    throw std::invalid_argument (quoted (text) + ": must be at most 1000");
  return value;
}

/* What a node is, in the words of an error message. */
const char *
kind_of (const YAML::Node &node)
{
  switch (node.Type ())
    {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
    }
  return "nothing";
}

struct map_entry
{
  std::string key;
  /* The key's path from the top: "cameras[2].max-age". */
  std::string path;
  YAML::Node key_node;
  YAML::Node value;
};

std::string
join_path (const std::string &path, const std::string &key)
{
  return path.empty () ? key : path + "." + key;
}

/* The number of single-character edits from one word to another, to
 * suggest the key a typo meant. */
std::size_t
edit_distance (const std::string &from, const std::string &to)
{
  std::vector<std::size_t> row (to.size () + 1);
  for (std::size_t j = 0; j <= to.size (); j++)
    row[j] = j;
  for (std::size_t i = 1; i <= from.size (); i++)
    {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= to.size (); j++)
        {
          const std::size_t above = row[j];
          row[j] = std::min ({ row[j] + 1, row[j - 1] + 1,
                               diagonal + (from[i - 1] != to[j - 1]) });
          diagonal = above;
        }
    }
  return row[to.size ()];
}

using key_list = std::vector<const char *>;

class config_reader;

/* How a key's value is written: in words (the docs) and as a JSON Schema
 * (schema/service-config.schema.json). The parser that enforces it is the
 * key's read function. */
struct value_rule
{
  const char *words;
  const char *schema;
};

/* A bare 0 is the only duration without a unit; YAML reads it as a
 * number. */
const value_rule duration_rule = {
  "duration (300ms, 5s, 2m; 0)",
  R"({"anyOf": [{"const": 0}, {"type": "string", "pattern": "^(0|[0-9]+(ms|s|m))$"}]})"
};
const value_rule size_rule = {
  "size (bytes, or 256MiB, 1GB)",
  R"({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+(B|kB|MB|GB|TB|KiB|MiB|GiB|TiB)?$"}]})"
};
const value_rule host_rule
    = { "host name or address", R"({"type": "string", "pattern": "^\\S+$"})" };
const value_rule port_rule = {
  "1..65535", R"({"type": "integer", "minimum": 1, "maximum": 65535})"
};

/* One key of a map in the file: its name, how its value is written, what
 * it means (with its default and what 0 means), and how it is read into
 * `Target`. The key lists, the "did you mean", the docs' table and the
 * JSON Schema all come from these tables. */
template <typename Target> struct config_key
{
  const char *name;
  value_rule value;
  const char *meaning;
  void (*read) (const config_reader &reader, const map_entry &entry,
                Target &target);
};

template <typename Target, std::size_t n>
key_list
names_of (const config_key<Target> (&keys)[n])
{
  key_list names;
  for (const config_key<Target> &key : keys)
    names.push_back (key.name);
  return names;
}

template <typename Target, std::size_t n>
const config_key<Target> *
find_key (const config_key<Target> (&keys)[n], const std::string &name)
{
  for (const config_key<Target> &key : keys)
    if (name == key.name)
      return &key;
  return nullptr;
}

/* Turns a parsed document into a service_config, failing with the file's
 * name, the line and the key path of the first problem. */
class config_reader
{
public:
  explicit config_reader (const std::string &file_name) : file_ (file_name) {}

  service_config read (const YAML::Node &root);

  /* For the key tables' read functions. */
  [[noreturn]] void fail (int line, const std::string &path,
                          const std::string &problem) const
  {
    throw config_error (file_, line, path, problem);
  }

  [[noreturn]] void fail (const YAML::Node &at, const std::string &path,
                          const std::string &problem) const
  {
    fail (line_of (at), path, problem);
  }

  /* 1-based; a node without a mark (an empty document) is line 1. */
  static int line_of (const YAML::Node &node)
  {
    const YAML::Mark mark = node.Mark ();
    return mark.is_null () ? 1 : mark.line + 1;
  }

  std::vector<map_entry> entries (const YAML::Node &map,
                                  const std::string &path,
                                  const key_list &allowed) const;
  std::string scalar_of (const map_entry &entry) const;

  /* Runs one of the value parsers, turning its std::invalid_argument into
   * a config_error at the entry. */
  template <typename parse_function>
  auto value (const map_entry &entry, parse_function parse) const
  {
    const std::string scalar = scalar_of (entry);
    try
      {
        return parse (scalar);
      }
    catch (const std::invalid_argument &problem)
      {
        /* A substituted value may be a secret: the message quotes the
         * value as written (${NAME}) instead. */
        std::string said = problem.what ();
        const std::string &written = entry.value.Scalar ();
        if (scalar != written && !scalar.empty ())
          for (std::size_t at = said.find (scalar); at != std::string::npos;
               at = said.find (scalar, at + written.size ()))
            said.replace (at, scalar.size (), written);
        fail (entry.value, entry.path, said);
      }
  }

  /* Reads each entry of a map with the table's read function (the
   * entries were checked against the same table). */
  template <typename Target, std::size_t n>
  void read_keys (const std::vector<map_entry> &found,
                  const config_key<Target> (&keys)[n], Target &target) const
  {
    for (const map_entry &entry : found)
      find_key (keys, entry.key)->read (*this, entry, target);
  }

  /* A section's entries: nothing under it (every line commented out) is
   * taken as empty; anything else but a map is an error. */
  std::vector<map_entry> section (const map_entry &entry,
                                  const key_list &allowed) const
  {
    if (entry.value.IsNull ())
      return {};
    if (!entry.value.IsMap ())
      fail (entry.value, entry.path,
            std::string ("expected a map, got ") + kind_of (entry.value));
    return entries (entry.value, entry.path, allowed);
  }

private:
  camera_config read_camera (const YAML::Node &node, const std::string &path,
                             const camera_config &defaults) const;

  const std::string &file_;
};

std::vector<map_entry>
config_reader::entries (const YAML::Node &map, const std::string &path,
                        const key_list &allowed) const
{
  std::vector<map_entry> found;
  std::map<std::string, int> first_line;
  for (auto pair = map.begin (); pair != map.end (); ++pair)
    {
      const YAML::Node key_node = pair->first;
      if (!key_node.IsScalar ())
        fail (key_node, path,
              std::string ("a key must be a single value, not ")
                  + kind_of (key_node));
      const std::string key = key_node.Scalar ();
      const std::string key_path = join_path (path, key);
      if (std::find (allowed.begin (), allowed.end (), key) == allowed.end ())
        {
          std::string problem = "unknown key";
          const char *nearest = nullptr;
          std::size_t nearest_distance = 3; // Farther is not a typo.
          for (const char *name : allowed)
            if (std::size_t distance = edit_distance (key, name);
                distance < nearest_distance)
              {
                nearest = name;
                nearest_distance = distance;
              }
          if (nearest)
            problem += std::string (" (did you mean ") + nearest + "?)";
          problem += "; allowed: ";
          for (const char *name : allowed)
            problem
                += (name == allowed.front () ? "" : ", ") + std::string (name);
          fail (key_node, key_path, problem);
        }
      auto [first, inserted] = first_line.emplace (key, line_of (key_node));
      if (!inserted)
        fail (key_node, key_path,
              "given twice (first at line " + std::to_string (first->second)
                  + ")");
      found.push_back ({ key, key_path, key_node, pair->second });
    }
  return found;
}

std::string
config_reader::scalar_of (const map_entry &entry) const
{
  if (!entry.value.IsScalar ())
    fail (entry.value.IsNull () ? entry.key_node : entry.value, entry.path,
          std::string ("expected a single value, got ")
              + kind_of (entry.value));
  try
    {
      return substituted (entry.value.Scalar (), file_);
    }
  catch (const std::invalid_argument &problem)
    {
      fail (entry.value, entry.path, problem.what ());
    }
}

/* The rules made from the lists they check against. */
std::string
json_list (const std::vector<std::string> &names)
{
  std::string list;
  for (const std::string &name : names)
    list += (list.empty () ? "\"" : ", \"") + name + "\"";
  return "[" + list + "]";
}

const std::string decode_schema
    = "{\"enum\": " + json_list (decode_mode_names ()) + "}";
const value_rule decode_rule
    = { decode_mode_words ().c_str (), decode_schema.c_str () };

const std::string protocols_words = list_of (rtsp_protocols, ", ") + ", joined by +";
const std::string protocols_schema = [] {
  const std::string one = "(" + list_of (rtsp_protocols, "|", "|") + ")";
  return "{\"type\": \"string\", \"pattern\": \"^(" + one + "(\\\\+" + one
         + ")*)?$\"}";
}();
const value_rule protocols_rule
    = { protocols_words.c_str (), protocols_schema.c_str () };

/* The scheme as rtspsrc takes it: in any case. */
const std::string uri_words = list_of (rtsp_schemes, " or ") + " URI";
const std::string uri_schema = [] {
  std::string schemes;
  for (const char *scheme : rtsp_schemes)
    {
      schemes += schemes.empty () ? "(" : "|";
      for (const char *c = scheme; *c; c++)
        schemes += std::string ("[") + char (std::toupper (*c)) + *c + "]";
    }
  return "{\"type\": \"string\", \"pattern\": \"^" + schemes
         + ")://[^\\\\s]+$\"}";
}();
const value_rule uri_rule = { uri_words.c_str (), uri_schema.c_str () };

/* Text checked by `check`, kept as written. */
template <void (*check) (const std::string &)>
std::string
checked_text (const std::string &text)
{
  check (text);
  return text;
}

std::uint16_t
parse_port (const std::string &text)
{
  const std::uint64_t port = parse_whole_number (text, 65535);
  if (port == 0)
    throw std::invalid_argument ("\"0\": must be between 1 and 65535");
  return static_cast<std::uint16_t> (port);
}

/* Text that goes to C APIs (rtspsrc, libmosquitto) as a C string. Says
 * nothing of the value: it may be a secret. */
void
check_no_nul (const std::string &text)
{
  if (text.find ('\0') != std::string::npos)
    throw std::invalid_argument ("must not hold a NUL byte");
}

bool
parse_bool (const std::string &text)
{
  if (text == "true")
    return true;
  if (text == "false")
    return false;
  throw std::invalid_argument (quoted (text) + ": must be true or false");
}

const value_rule secret_rule
    = { "text; ${NAME} or ${file:PATH} for a secret", R"({"type": "string"})" };
const value_rule path_rule = { "file path", R"({"type": "string"})" };
const value_rule bool_rule = { "true or false", R"({"type": "boolean"})" };

/* snapshot-frame's values, by their names in the file, in the enum's
 * order: the parser, the reference's words and the schema read this one
 * list. */
constexpr const char *frame_keeping_names[] = { "always", "on-request" };

camera_config::frame_keeping
parse_frame_keeping (const std::string &text)
{
  for (std::size_t i = 0; i < std::size (frame_keeping_names); i++)
    if (text == frame_keeping_names[i])
      return static_cast<camera_config::frame_keeping> (i);
  throw std::invalid_argument (quoted (text) + ": must be "
                               + list_of (frame_keeping_names, " or "));
}

const std::string frame_keeping_words = list_of (frame_keeping_names, " or ");
const std::string frame_keeping_schema
    = "{\"enum\": "
      + json_list ({ std::begin (frame_keeping_names),
                     std::end (frame_keeping_names) })
      + "}";
const value_rule frame_keeping_rule
    = { frame_keeping_words.c_str (), frame_keeping_schema.c_str () };
const std::string frame_keeping_meaning
    = "Which frame GET /cameras/<id>/latest.jpg is made from. always: the "
      "newest analysed frame, kept at all times (one frame of memory per "
      "camera, 1.3 MiB at 1280x720). on-request: the newest analysed frame "
      "only for "
      + std::to_string (snapshot_frame_kept_for.count ())
      + " s after the camera's last request, so that a camera nobody looks "
        "at keeps none; the first request after that answers 503 with "
        "Retry-After: 1 and the next analysed frame is kept. Default "
      + frame_keeping_names[0] + ".";

/* What a camera leaves out, in `defaults` or in the camera itself. */
const config_key<camera_config> setting_keys[] = {
  { "username", secret_rule,
    "The user for the camera's RTSP authentication, any characters, not "
    "percent-encoded (\"\" = none; not with a user part in the uri). Default "
    "\"\".",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.username = reader.value (entry, checked_text<check_no_nul>);
    } },
  { "password", secret_rule,
    "Its password, any characters, not percent-encoded; best as "
    "${file:PATH} or ${NAME}. Default \"\".",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.password = reader.value (entry, checked_text<check_no_nul>);
    } },
  { "max-age", duration_rule,
    "latestframe's max-age: a frame older than this (by the camera's "
    "capture clock when its reports give it) is dropped, never analysed "
    "(0 = off). Default 500ms.",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.max_age = reader.value (entry, parse_duration);
    } },
  { "analyses", { "gst-launch fragment", R"({"type": "string"})" },
    "The analysis elements and their settings, gst-launch syntax "
    "(`cvmotion min-area=0.01 ! cvfacedetect`), checked when the camera's "
    "pipeline is built (\"\" = none: health and metrics only). Default "
    "cvmotion.",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) { camera.analyses = reader.scalar_of (entry); } },
  { "decode", decode_rule,
    "Which frames of compressed video are decoded (see docs/decoding.md). "
    "Default all.",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.decode = reader.value (entry, parse_decode);
    } },
  { "analysis-rate",
    { "number 0..1000",
      R"({"type": "number", "minimum": 0, "maximum": 1000})" },
    "Analyses per second (0 = as fast as they run). Default 0.",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.analysis_rate = reader.value (entry, parse_rate);
    } },
  { "protocols", protocols_rule,
    "rtspsrc's protocols, tried in order (\"\" = rtspsrc's own default). "
    "Default tcp.",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.protocols = reader.value (entry, checked_text<check_protocols>);
    } },
  { "stall-timeout", duration_rule,
    "Restart the camera after no frame for this long (0 = no watchdog). "
    "Default 5s. Frames are counted every tenth of it (100 ms to 1 s), so "
    "a stall is caught up to two of those late.",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.stall_timeout = reader.value (entry, parse_duration);
    } },
  { "snapshot-frame", frame_keeping_rule, frame_keeping_meaning.c_str (),
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.snapshot_frame = reader.value (entry, parse_frame_keeping);
    } },
};

/* What only a camera has; it needs both. */
const config_key<camera_config> identity_keys[] = {
  { "id",
    { "A-Z a-z 0-9 _ -", R"({"type": "string", "pattern": "^[A-Za-z0-9_-]+$"})" },
    "Required, unique in the file: it names the camera's MQTT topics and "
    "its metrics' label.",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.id = reader.value (entry, checked_text<check_id>);
    } },
  { "uri", uri_rule,
    "Required: the camera's stream. A user part (rtsp://user:password@...) "
    "must be percent-encoded; username and password are the other way.",
    [] (const config_reader &reader, const map_entry &entry,
        camera_config &camera) {
      camera.uri = reader.value (entry, checked_text<check_uri>);
    } },
};

/* The keepalive MQTT sends: whole seconds, within its 16-bit field, and
 * not so short that a slow link drops the connection. */
std::chrono::seconds
parse_keepalive (const std::string &text)
{
  const std::chrono::milliseconds duration = parse_duration (text);
  if (duration.count () % 1000 != 0)
    throw std::invalid_argument (quoted (text) + ": must be whole seconds");
  const auto seconds
      = std::chrono::duration_cast<std::chrono::seconds> (duration);
  if (seconds.count () < 5 || seconds.count () > 65535)
    throw std::invalid_argument (quoted (text)
                                 + ": must be between 5s and 65535s");
  return seconds;
}

const char *const tls_versions[] = { "tlsv1.2", "tlsv1.3" };

const config_key<broker_tls_config> tls_keys[] = {
  { "ca-file", path_rule,
    "The certificate authorities (PEM) the broker's certificate is checked "
    "against (\"\" = the system's). Default \"\".",
    [] (const config_reader &reader, const map_entry &entry,
        broker_tls_config &tls) {
      tls.ca_file = reader.value (entry, checked_text<check_no_nul>);
    } },
  { "cert-file", path_rule,
    "A client certificate (PEM), with key-file. Default none.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_tls_config &tls) {
      tls.cert_file = reader.value (entry, checked_text<check_no_nul>);
    } },
  { "key-file", path_rule,
    "The client certificate's key (PEM), with cert-file. Default none.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_tls_config &tls) {
      tls.key_file = reader.value (entry, checked_text<check_no_nul>);
    } },
  { "insecure", bool_rule,
    "Accept a broker certificate whose name does not match host (for "
    "testing only). Default false.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_tls_config &tls) {
      tls.insecure = reader.value (entry, parse_bool);
    } },
  { "version", { "tlsv1.2 or tlsv1.3", R"({"enum": ["", "tlsv1.2", "tlsv1.3"]})" },
    "The TLS version (\"\" = the library's default). Default \"\".",
    [] (const config_reader &reader, const map_entry &entry,
        broker_tls_config &tls) {
      tls.version = reader.value (entry, [] (const std::string &text) {
        if (!text.empty () && !is_one_of (text, tls_versions))
          throw std::invalid_argument (quoted (text) + ": use "
                                       + list_of (tls_versions, " or "));
        return text;
      });
    } },
};

const config_key<broker_config> broker_keys[] = {
  { "host", host_rule, "The MQTT broker. Default 127.0.0.1.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.host = reader.value (entry, checked_text<check_host>);
    } },
  { "port", port_rule, "Default 1883.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.port = reader.value (entry, parse_port);
    } },
  { "topic-prefix",
    { "text without + # or NUL",
      R"({"type": "string", "minLength": 1, "pattern": "^[^+#\\u0000]+$"})" },
    "The first level of every topic. Default latestframe.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.topic_prefix = reader.value (entry, checked_text<check_topic_prefix>);
    } },
  { "qos", { "0, 1 or 2", R"({"enum": [0, 1, 2]})" },
    "MQTT quality of service of every message. Default 1.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.qos = reader.value (entry, [] (const std::string &text) {
        if (text != "0" && text != "1" && text != "2")
          throw std::invalid_argument (quoted (text) + ": must be 0, 1 or 2");
        return text[0] - '0';
      });
    } },
  { "backlog",
    { "1..1000000",
      R"({"type": "integer", "minimum": 1, "maximum": 1000000})" },
    "Messages held while the broker is away; older ones are dropped, "
    "counted. Default 1000.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.backlog = reader.value (entry, [] (const std::string &text) {
        /* mqttpublish's range: at least one message is kept. */
        const auto count = parse_whole_number (text, 1000000);
        if (count == 0)
          throw std::invalid_argument ("\"0\": must be between 1 and 1000000");
        return static_cast<std::uint32_t> (count);
      });
    } },
  { "username", secret_rule, "The broker's user (\"\" = none). Default \"\".",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.username = reader.value (entry, checked_text<check_no_nul>);
    } },
  { "password", secret_rule,
    "Its password; best as ${file:PATH} or ${NAME}. Default \"\".",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.password = reader.value (entry, checked_text<check_no_nul>);
    } },
  { "client-id", { "text", R"({"type": "string"})" },
    "The MQTT client id (\"\" = the service's own: host, shard and process "
    "id). Default \"\".",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.client_id = reader.value (entry, checked_text<check_no_nul>);
    } },
  { "keepalive",
    { "duration 5s..65535s, whole seconds",
      R"({"type": "string", "pattern": "^[0-9]+(ms|s|m)$"})" },
    "How often MQTT checks the connection when nothing is sent. Default 60s.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.keepalive = reader.value (entry, parse_keepalive);
    } },
  { "tls", { "map", nullptr },
    "TLS to the broker: on when this map is given, even empty (`tls: {}`); "
    "port then defaults to 8883.",
    [] (const config_reader &reader, const map_entry &entry,
        broker_config &broker) {
      broker.tls.enabled = true;
      const std::vector<map_entry> found
          = reader.section (entry, names_of (tls_keys));
      reader.read_keys (found, tls_keys, broker.tls);
      if (broker.tls.cert_file.empty () != broker.tls.key_file.empty ())
        for (const map_entry &given : found)
          if (given.key == "cert-file" || given.key == "key-file")
            reader.fail (given.key_node, given.path,
                         given.key == "cert-file"
                             ? "given without key-file (a client "
                               "certificate needs its key)"
                             : "given without cert-file (a key needs its "
                               "client certificate)");
    } },
};

const config_key<std::chrono::milliseconds> health_keys[] = {
  { "interval", duration_rule,
    "Each camera's health message (0 = never). Default 5s.",
    [] (const config_reader &reader, const map_entry &entry,
        std::chrono::milliseconds &interval) {
      interval = reader.value (entry, parse_duration);
    } },
};

const config_key<metrics_config> metrics_keys[] = {
  { "address", host_rule,
    "Where the HTTP server (GET /metrics, /healthz) listens. Default "
    "127.0.0.1.",
    [] (const config_reader &reader, const map_entry &entry,
        metrics_config &metrics) {
      metrics.address = reader.value (entry, checked_text<check_host>);
    } },
  { "port",
    { "0..65535", R"({"type": "integer", "minimum": 0, "maximum": 65535})" },
    "0 = no HTTP server. Default 9464.",
    [] (const config_reader &reader, const map_entry &entry,
        metrics_config &metrics) {
      metrics.port = reader.value (entry, [] (const std::string &text) {
        return static_cast<std::uint16_t> (parse_whole_number (text, 65535));
      });
    } },
};

/* The top level: what it reads into. The cameras are read last, so that
 * the defaults apply wherever they are written. */
struct top_level
{
  service_config &config;
  camera_config &defaults;
  map_entry &cameras;
};

const config_key<top_level> top_keys[] = {
  { "broker", { "map", nullptr }, "The MQTT broker results and health go to.",
    [] (const config_reader &reader, const map_entry &entry, top_level &top) {
      const std::vector<map_entry> found
          = reader.section (entry, names_of (broker_keys));
      reader.read_keys (found, broker_keys, top.config.broker);
      // MQTT over TLS has its own well-known port.
      if (top.config.broker.tls.enabled
          && std::none_of (found.begin (), found.end (),
                           [] (const map_entry &given) {
                             return given.key == "port";
                           }))
        top.config.broker.port = 8883;
    } },
  { "health", { "map", nullptr }, "Each camera's health record.",
    [] (const config_reader &reader, const map_entry &entry, top_level &top) {
      reader.read_keys (reader.section (entry, names_of (health_keys)),
                        health_keys, top.config.health_interval);
    } },
  { "metrics", { "map", nullptr },
    "Prometheus text over HTTP: GET http://ADDRESS:PORT/metrics.",
    [] (const config_reader &reader, const map_entry &entry, top_level &top) {
      reader.read_keys (reader.section (entry, names_of (metrics_keys)),
                        metrics_keys, top.config.metrics);
    } },
  { "memory-budget", size_rule,
    "Every camera's frames together, held and in flight (0 = no cap, "
    "accounting only). Default 0.",
    [] (const config_reader &reader, const map_entry &entry, top_level &top) {
      top.config.memory_budget_bytes = reader.value (entry, parse_size);
    } },
  { "defaults", { "map", nullptr },
    "What a camera leaves out: any camera setting (not id or uri).",
    [] (const config_reader &reader, const map_entry &entry, top_level &top) {
      reader.read_keys (reader.section (entry, names_of (setting_keys)),
                        setting_keys, top.defaults);
    } },
  { "cameras", { "list", nullptr },
    "Required: the cameras, each a map with an id, a uri and any camera "
    "setting ([] or nothing = no camera).",
    [] (const config_reader &, const map_entry &entry, top_level &top) {
      top.cameras = entry;
    } },
};

camera_config
config_reader::read_camera (const YAML::Node &node, const std::string &path,
                            const camera_config &defaults) const
{
  if (!node.IsMap ())
    fail (node, path,
          std::string ("expected a map with at least an id and a uri, got ")
              + kind_of (node));
  camera_config camera = defaults;
  camera.line = line_of (node);
  key_list allowed = names_of (identity_keys);
  for (const char *name : names_of (setting_keys))
    allowed.push_back (name);
  for (const map_entry &entry : entries (node, path, allowed))
    if (const config_key<camera_config> *key = find_key (identity_keys, entry.key))
      key->read (*this, entry, camera);
    else
      find_key (setting_keys, entry.key)->read (*this, entry, camera);
  for (const config_key<camera_config> &key : identity_keys)
    if (!node[key.name])
      fail (node, join_path (path, key.name),
            "missing (every camera needs an id and a uri)");
  if (read_uri_user_info (camera.uri).present
      && (!camera.username.empty () || !camera.password.empty ()))
    fail (node["uri"], join_path (path, "uri"),
          "a user part in the URI and username: or password: (here or in "
          "defaults) too: give one or the other");
  return camera;
}

service_config
config_reader::read (const YAML::Node &root)
{
  if (!root.IsMap () && !root.IsNull ())
    fail (root, "",
          std::string ("expected a map of settings with a cameras list, "
                       "got ")
              + kind_of (root));
  service_config config;
  camera_config defaults;
  map_entry cameras_entry;
  top_level top{ config, defaults, cameras_entry };
  read_keys (entries (root, "", names_of (top_keys)), top_keys, top);

  if (cameras_entry.key.empty ())
    fail (root, "cameras",
          "missing: the file must list its cameras (\"cameras: []\" for "
          "none)");
  const YAML::Node &cameras = cameras_entry.value;
  if (!cameras.IsSequence () && !cameras.IsNull ())
    fail (cameras, "cameras",
          std::string ("expected a list of cameras, got ") + kind_of (cameras));
  std::map<std::string, int> id_lines;
  std::size_t index = 0;
  for (auto item = cameras.begin (); item != cameras.end (); ++item, index++)
    {
      const std::string path = "cameras[" + std::to_string (index) + "]";
      camera_config camera = read_camera (*item, path, defaults);
      const YAML::Node id_node = (*item)["id"];
      auto [first, inserted] = id_lines.emplace (camera.id, line_of (id_node));
      if (!inserted)
        fail (id_node, path + ".id",
              "duplicate id " + quoted (camera.id) + " (first at line "
                  + std::to_string (first->second) + ")");
      config.cameras.push_back (std::move (camera));
    }
  return config;
}

/* Where each document of a stream starts, without building it. */
class document_starts : public YAML::EventHandler
{
public:
  std::vector<YAML::Mark> starts;

  void OnDocumentStart (const YAML::Mark &mark) override
  {
    starts.push_back (mark);
  }
  void OnDocumentEnd () override {}
  void OnNull (const YAML::Mark &, YAML::anchor_t) override {}
  void OnAlias (const YAML::Mark &, YAML::anchor_t) override {}
  void OnScalar (const YAML::Mark &, const std::string &, YAML::anchor_t,
                 const std::string &) override
  {
  }
  void OnSequenceStart (const YAML::Mark &, const std::string &, YAML::anchor_t,
                        YAML::EmitterStyle::value) override
  {
  }
  void OnSequenceEnd () override {}
  void OnMapStart (const YAML::Mark &, const std::string &, YAML::anchor_t,
                   YAML::EmitterStyle::value) override
  {
  }
  void OnMapEnd () override {}
};

/* Fails unless the text holds at most one YAML document. Also the guard
 * against yaml-cpp 0.7's endless loop (issue #1040, fixed after 0.8): a
 * token no rule takes, such as a ',' that starts a document, is never
 * consumed, so every further document is an empty one at the same place;
 * YAML::LoadAll would collect them until memory runs out. Here the parser
 * is asked for two documents at most, and a second one starting where the
 * first did is that stuck token. Throws YAML::ParserException for syntax
 * errors (the same as YAML::Load), config_error for the rest. */
void
check_single_document (const std::string &text, const std::string &file_name)
{
  std::istringstream stream (text);
  YAML::Parser parser (stream);
  document_starts documents;
  if (!parser.HandleNextDocument (documents)
      || !parser.HandleNextDocument (documents) || documents.starts.size () < 2)
    return;
  const YAML::Mark first = documents.starts[0];
  const YAML::Mark second = documents.starts[1];
  if (second.pos == first.pos)
    {
      const std::size_t at = static_cast<std::size_t> (second.pos);
      std::string problem = "not valid YAML: unexpected";
      if (at < text.size ())
        problem += std::string (" \"") + text[at] + "\"";
      throw config_error (file_name, second.line + 1, "", problem);
    }
  throw config_error (file_name, second.line + 1, "",
                      "a second YAML document: the file must hold one");
}

} // namespace

config_error::config_error (const std::string &file, int line,
                            const std::string &key, const std::string &problem)
    : std::runtime_error (describe_where (file, line, key, problem)),
      file_ (file), line_ (line), key_ (key), problem_ (problem)
{
}

bool
broker_config::same_connection_as (const broker_config &other) const
{
  return host == other.host && port == other.port
         && topic_prefix == other.topic_prefix && qos == other.qos
         && backlog == other.backlog && username == other.username
         && password == other.password && client_id == other.client_id
         && keepalive == other.keepalive && tls.enabled == other.tls.enabled
         && tls.ca_file == other.tls.ca_file
         && tls.cert_file == other.tls.cert_file
         && tls.key_file == other.tls.key_file
         && tls.insecure == other.tls.insecure
         && tls.version == other.tls.version;
}

bool
camera_config::same_pipeline_as (const camera_config &other) const
{
  return id == other.id && uri == other.uri && username == other.username
         && password == other.password && analyses == other.analyses
         && max_age == other.max_age && decode == other.decode
         && analysis_rate == other.analysis_rate && protocols == other.protocols
         && stall_timeout == other.stall_timeout
         && snapshot_frame == other.snapshot_frame;
}

std::chrono::milliseconds
parse_duration (const std::string &text)
{
  if (text == "0")
    return std::chrono::milliseconds (0);
  if (is_negative_number (text))
    throw std::invalid_argument (quoted (text) + ": must not be negative");
  std::string number, unit;
  split_number_unit (text, number, unit);
  std::uint64_t count = 0;
  check_no_space (text, number, unit, "5s");
  if (number.empty () || (!unit.empty () && unit[0] == '.'))
    throw std::invalid_argument (
        quoted (text)
        + ": not a duration: a whole number with a unit, ms, s "
          "or m (such as 300ms, 5s, 2m)");
  if (unit.empty ())
    throw std::invalid_argument (quoted (text)
                                 + ": a duration needs a unit, ms, s or m "
                                   "(only 0 may go without)");
  std::uint64_t unit_ms = 0;
  if (unit == "ms")
    unit_ms = 1;
  else if (unit == "s")
    unit_ms = 1000;
  else if (unit == "m")
    unit_ms = 60 * 1000;
  else
    throw std::invalid_argument (quoted (text) + ": unknown unit "
                                 + quoted (unit) + "; use ms, s or m");
  // Far beyond any sensible duration, and well inside milliseconds' range.
  constexpr std::uint64_t max_ms = std::uint64_t (1) << 53;
  if (!parse_digits (number, count) || count > max_ms / unit_ms)
    throw std::invalid_argument (quoted (text) + ": too large");
  return std::chrono::milliseconds (
      static_cast<std::chrono::milliseconds::rep> (count * unit_ms));
}

std::uint64_t
parse_size (const std::string &text)
{
  if (is_negative_number (text))
    throw std::invalid_argument (quoted (text) + ": must not be negative");
  std::string number, unit;
  split_number_unit (text, number, unit);
  check_no_space (text, number, unit, "256MiB");
  if (number.empty () || (!unit.empty () && unit[0] == '.'))
    throw std::invalid_argument (
        quoted (text)
        + ": not a size: a whole number of bytes, or with a "
          "unit and no space (such as 256MiB)");
  static const std::pair<const char *, std::uint64_t> units[] = {
    { "", 1 },
    { "B", 1 },
    { "kB", 1000 },
    { "MB", 1000 * 1000 },
    { "GB", 1000 * 1000 * 1000 },
    { "TB", std::uint64_t (1000) * 1000 * 1000 * 1000 },
    { "KiB", std::uint64_t (1) << 10 },
    { "MiB", std::uint64_t (1) << 20 },
    { "GiB", std::uint64_t (1) << 30 },
    { "TiB", std::uint64_t (1) << 40 },
  };
  const auto found
      = std::find_if (std::begin (units), std::end (units),
                      [&] (const auto &known) { return unit == known.first; });
  if (found == std::end (units))
    throw std::invalid_argument (quoted (text) + ": unknown unit "
                                 + quoted (unit)
                                 + "; use B, kB, MB, GB, TB, KiB, MiB, GiB "
                                   "or TiB");
  std::uint64_t count = 0;
  if (!parse_digits (number, count)
      || count > std::numeric_limits<std::uint64_t>::max () / found->second)
    throw std::invalid_argument (quoted (text) + ": too large");
  return count * found->second;
}

namespace
{

template <typename Target, std::size_t n>
void
add_references (std::vector<config_key_reference> &references,
                const char *section, const config_key<Target> (&keys)[n])
{
  for (const config_key<Target> &key : keys)
    references.push_back ({ section, key.name, key.value.words,
                            key.value.schema ? key.value.schema : "",
                            key.meaning });
}

} // namespace

std::vector<config_key_reference>
config_key_references ()
{
  std::vector<config_key_reference> references;
  add_references (references, "top", top_keys);
  add_references (references, "broker", broker_keys);
  add_references (references, "tls", tls_keys);
  add_references (references, "health", health_keys);
  add_references (references, "metrics", metrics_keys);
  add_references (references, "camera", identity_keys);
  add_references (references, "setting", setting_keys);
  return references;
}

service_config
parse_service_config (const std::string &yaml_text,
                      const std::string &file_name)
{
  auto line_of_mark = [] (const YAML::Mark &mark) {
    return mark.is_null () ? 1 : mark.line + 1;
  };
  YAML::Node root;
  try
    {
      check_single_document (yaml_text, file_name);
      root = YAML::Load (yaml_text);
    }
  catch (const YAML::Exception &error)
    {
      throw config_error (file_name, line_of_mark (error.mark), "",
                          "not valid YAML: " + error.msg);
    }
  try
    {
      return config_reader (file_name).read (root);
    }
  catch (const YAML::Exception &error)
    {
      // Not expected (the reader only walks what it checked), but never let
      // yaml-cpp's own words out without the file's name.
      throw config_error (file_name, line_of_mark (error.mark), "", error.msg);
    }
}

service_config
load_service_config (const std::string &path)
{
  std::string text;
  errno = 0;
  if (!read_file_text (path, text))
    throw config_error (path, 0, "",
                        std::string ("cannot read: ") + std::strerror (errno));
  return parse_service_config (text, path);
}

} // namespace latestframe::service
