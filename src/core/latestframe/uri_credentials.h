/* latestframe — the user info of a camera's URI, read and hidden.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One implementation for the service's configuration and the capture
 * library: both refuse a URI whose user part cannot be read, and both show
 * a URI only as redacted_uri() says, so that a password written in a URI
 * never reaches a log line, an error message or a metric. */
#pragma once

#include <string>

namespace latestframe
{

/* The user info of a URI (scheme://user:password@host...), percent-decoded;
 * or why it cannot be read. present: the URI has a user part (even when it
 * cannot be read: then `problem` says so, and user and password are "").
 * A user part without ':' is a user with an empty password. */
struct uri_user_info
{
  bool present = false;
  std::string user, password;
  std::string problem;
};

/* Reads the user info of `uri`. "Cannot be read" (problem set, always to
 * uri_user_info_unreadable) is: a raw (not percent-encoded) '@', '/', '#',
 * '?' or a space, a control or non-ASCII byte in it, a '%' not followed by
 * two hex digits, or one that decodes to NUL. An '@' anywhere after the
 * host is taken as such a raw user part, since
 * rtsp://admin:p@ss/w#rd@10.0.0.5/stream cannot be told apart from a path
 * with an '@' in it. */
uri_user_info read_uri_user_info (const std::string &uri);

// The URI with its user info (if any) replaced by "***", so that
// rtsp://admin:secret@host:554/path reads rtsp://***@host:554/path. Also
// for URIs whose user part cannot be read (everything up to the last '@'
// is hidden then: when in doubt, hide more). A URI without user info is
// returned as it is. (Line comments: "/*" in the example would end a
// block comment's rules.)
std::string redacted_uri (const std::string &uri);

/* The problem read_uri_user_info gives, with how to fix it in the URI
 * itself; each caller adds its own other way (separate user and password
 * settings). */
extern const char *const uri_user_info_unreadable;

} // namespace latestframe
