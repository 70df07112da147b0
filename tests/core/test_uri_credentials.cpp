/* Unit tests of latestframe/uri_credentials.h: reading a URI's user info
 * and hiding it. */
#include "latestframe/uri_credentials.h"

#include <gtest/gtest.h>

namespace
{

using latestframe::read_uri_user_info;
using latestframe::redacted_uri;
using latestframe::uri_user_info;

} // namespace

// A URI without user info has none, and is shown as it is.
TEST (UriCredentials, NoUserInfo)
{
  for (const char *uri :
       { "rtsp://10.0.0.5/stream", "rtsp://host:554", "rtsp://[::1]:8554/s?a=b",
         "file:///tmp/x.mp4", "", "rtsp://" })
    {
      const uri_user_info info = read_uri_user_info (uri);
      EXPECT_FALSE (info.present) << uri;
      EXPECT_EQ (info.problem, "") << uri;
      EXPECT_EQ (redacted_uri (uri), uri);
    }
}

// User and password are split at the first ':' and percent-decoded.
TEST (UriCredentials, PercentDecodedUserAndPassword)
{
  const uri_user_info info = read_uri_user_info (
      "rtsp://ad%3Amin:p%40ss%2Fw%23rd%25x%20y:z@10.0.0.5:554/stream");
  EXPECT_TRUE (info.present);
  EXPECT_EQ (info.problem, "");
  EXPECT_EQ (info.user, "ad:min");
  EXPECT_EQ (info.password, "p@ss/w#rd%x y:z");

  const uri_user_info user_only = read_uri_user_info ("rtsp://admin@h/s");
  EXPECT_TRUE (user_only.present);
  EXPECT_EQ (user_only.user, "admin");
  EXPECT_EQ (user_only.password, "");

  const uri_user_info empty_password = read_uri_user_info ("rtsp://a:@h/s");
  EXPECT_EQ (empty_password.user, "a");
  EXPECT_EQ (empty_password.password, "");
  EXPECT_EQ (read_uri_user_info ("rtsp://a:b!$&'()*+,;=~._-@h").password,
             "b!$&'()*+,;=~._-");
}

// Raw characters a user part cannot hold make it unreadable, with the
// advice and never the password.
TEST (UriCredentials, UnreadableUserParts)
{
  for (const char *uri :
       { "rtsp://admin:Qz@ss/w#rd@10.0.0.5/stream", "rtsp://admin:Qz/ss@host/s",
         "rtsp://admin:Qz#ss@host/s", "rtsp://admin:Qz?ss@host/s",
         "rtsp://admin:Qz ss@host/s", "rtsp://admin:Qz%2@host/s",
         "rtsp://admin:Qz%zzss@host/s", "rtsp://admin:Qz%00ss@host/s",
         "rtsp://admin:Qz\"ss@host/s", "rtsp://admin:Qz\xc3\xa4ss@host/s",
         "rtsp://admin:Qz%@host/s", "rtsp://host/Qzpath@elsewhere" })
    {
      SCOPED_TRACE (uri);
      const uri_user_info info = read_uri_user_info (uri);
      EXPECT_TRUE (info.present);
      EXPECT_EQ (info.problem, latestframe::uri_user_info_unreadable);
      EXPECT_EQ (info.user, "");
      EXPECT_EQ (info.password, "");
      EXPECT_EQ (info.problem.find ("Qz"), std::string::npos);
    }
}

// The user part is replaced by *** whether it can be read or not; with
// doubt, everything up to the last '@' goes.
TEST (UriCredentials, RedactedUri)
{
  EXPECT_EQ (redacted_uri ("rtsp://admin:secret@10.0.0.5:554/stream"),
             "rtsp://***@10.0.0.5:554/stream");
  EXPECT_EQ (redacted_uri ("RTSPS://user@h/s?x=1"), "RTSPS://***@h/s?x=1");
  EXPECT_EQ (redacted_uri ("rtsp://admin:p@ss/w#rd@10.0.0.5/stream"),
             "rtsp://***@10.0.0.5/stream");
  EXPECT_EQ (redacted_uri ("rtsp://admin:pa ss@host/s"), "rtsp://***@host/s");
  EXPECT_EQ (redacted_uri ("admin:secret@host/s"), "***@host/s");
  // Redacting twice changes nothing more.
  EXPECT_EQ (redacted_uri (redacted_uri ("rtsp://a:b@h/s")), "rtsp://***@h/s");
}
