/* latestframe — the user info of a camera's URI, read and hidden.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/uri_credentials.h"

namespace latestframe
{

const char *const uri_user_info_unreadable
    = "the user part of the URI cannot be read: percent-encode it (@ as "
      "%40, : as %3A, / as %2F, # as %23, % as %25, space as %20)";

namespace
{

int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* RFC 3986's userinfo characters, '%' aside: unreserved, sub-delims and
 * ':'. Anything else written raw makes the user part unreadable. */
bool
is_user_info_char (char c)
{
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
      || (c >= '0' && c <= '9'))
    return true;
  for (const char allowed : std::string ("-._~!$&'()*+,;=:"))
    if (c == allowed)
      return true;
  return false;
}

/* Decodes `text` into `decoded`; false when a '%' is not followed by two
 * hex digits, when a byte may not be written raw, or when it decodes to
 * NUL (which no C string, such as rtspsrc's user-pw, can carry). */
bool
percent_decode (const std::string &text, std::string &decoded)
{
  decoded.clear ();
  for (std::size_t i = 0; i < text.size (); i++)
    {
      if (text[i] != '%')
        {
          if (!is_user_info_char (text[i]))
            return false;
          decoded += text[i];
          continue;
        }
      if (i + 2 >= text.size ())
        return false;
      const int high = hex_value (text[i + 1]);
      const int low = hex_value (text[i + 2]);
      if (high < 0 || low < 0 || (high == 0 && low == 0))
        return false;
      decoded += static_cast<char> (high * 16 + low);
      i += 2;
    }
  return true;
}

/* Where a URI's user part is, as offsets into it: from `start` (just after
 * "://") to `at` (its '@'). found = false: no user part. */
struct user_part_span
{
  bool found = false;
  std::size_t start = 0;
  std::size_t at = 0;
  /* The '@' is not the authority's own: a raw '/', '#' or '?' came
   * before it. */
  bool ambiguous = false;
};

user_part_span
find_user_part (const std::string &uri)
{
  user_part_span span;
  const std::size_t separator = uri.find ("://");
  if (separator == std::string::npos)
    {
      // Not scheme://...: any '@' may end a user part.
      const std::size_t at = uri.rfind ('@');
      if (at != std::string::npos)
        span = { true, 0, at, true };
      return span;
    }
  span.start = separator + 3;
  const std::size_t authority_end = uri.find_first_of ("/?#", span.start);
  const std::size_t last_at = uri.rfind ('@');
  if (last_at == std::string::npos || last_at < span.start)
    return span;
  span.found = true;
  span.at = last_at;
  span.ambiguous = authority_end != std::string::npos && last_at > authority_end;
  return span;
}

} // namespace

uri_user_info
read_uri_user_info (const std::string &uri)
{
  uri_user_info info;
  const user_part_span span = find_user_part (uri);
  if (!span.found)
    return info;
  info.present = true;
  if (span.ambiguous)
    {
      info.problem = uri_user_info_unreadable;
      return info;
    }
  const std::string user_part = uri.substr (span.start, span.at - span.start);
  const std::size_t colon = user_part.find (':');
  if (!percent_decode (user_part.substr (0, colon), info.user)
      || (colon != std::string::npos
          && !percent_decode (user_part.substr (colon + 1), info.password)))
    {
      info = uri_user_info{};
      info.present = true;
      info.problem = uri_user_info_unreadable;
    }
  return info;
}

std::string
redacted_uri (const std::string &uri)
{
  const user_part_span span = find_user_part (uri);
  if (!span.found)
    return uri;
  return uri.substr (0, span.start) + "***" + uri.substr (span.at);
}

} // namespace latestframe
