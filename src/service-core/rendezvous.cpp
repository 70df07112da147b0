/* latestframe-service — rendezvous hashing of cameras over shards.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/rendezvous.h"

#include <algorithm>
#include <charconv>

namespace latestframe::service
{

namespace
{

/* Golden-ratio increment of SplitMix64: consecutive shards are consecutive
 * outputs of one generator seeded by the id. */
constexpr std::uint64_t splitmix64_gamma = 0x9e3779b97f4a7c15ULL;

/* A value and the words that say where it came from, for messages. */
struct sourced
{
  std::string text;
  std::string origin;
};

std::optional<sourced>
first_given (const std::optional<std::string> &flag, const char *flag_name,
             const std::optional<std::string> &env, const char *env_name)
{
  if (flag)
    return sourced{ *flag, flag_name };
  if (env && !env->empty ())
    return sourced{ *env, env_name };
  return std::nullopt;
}

std::uint32_t
parse_number (const sourced &value)
{
  const std::string &text = value.text;
  std::uint32_t number = 0;
  const char *end = text.data () + text.size ();
  const bool digits_only
      = !text.empty () && std::all_of (text.begin (), text.end (), [] (char c) {
          return c >= '0' && c <= '9';
        });
  auto [next, error] = std::from_chars (text.data (), end, number);
  if (!digits_only || error != std::errc () || next != end)
    throw shard_error (value.origin + " \"" + text
                       + "\": not a whole number from 0 to 4294967295");
  return number;
}

/* The ordinal a StatefulSet puts at the end of its pods' names: the digits
 * after the last '-' of the first label of the hostname. */
std::optional<sourced>
hostname_ordinal (const std::optional<std::string> &hostname)
{
  if (!hostname)
    return std::nullopt;
  const std::string name = hostname->substr (0, hostname->find ('.'));
  const std::size_t dash = name.rfind ('-');
  if (dash == std::string::npos || dash + 1 == name.size ())
    return std::nullopt;
  const std::string ordinal = name.substr (dash + 1);
  if (!std::all_of (ordinal.begin (), ordinal.end (),
                    [] (char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return sourced{ ordinal, "the hostname \"" + *hostname + "\"'s ordinal" };
}

} // namespace

std::uint64_t
fnv1a_64 (std::string_view bytes)
{
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char byte : bytes)
    hash = (hash ^ byte) * 0x100000001b3ULL;
  return hash;
}

std::uint64_t
splitmix64_mix (std::uint64_t z)
{
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t
rendezvous_weight (std::string_view camera_id, std::uint32_t shard)
{
  return splitmix64_mix (fnv1a_64 (camera_id)
                         + (std::uint64_t (shard) + 1) * splitmix64_gamma);
}

std::uint32_t
owner_shard (std::string_view camera_id, std::uint32_t shards)
{
  if (shards == 0)
    throw std::invalid_argument ("owner_shard: there must be at least one "
                                 "shard");
  std::uint32_t owner = 0;
  std::uint64_t highest = rendezvous_weight (camera_id, 0);
  for (std::uint32_t shard = 1; shard < shards; shard++)
    {
      const std::uint64_t weight = rendezvous_weight (camera_id, shard);
      // Strictly greater: a tie stays with the lower index.
      if (weight > highest)
        {
          highest = weight;
          owner = shard;
        }
    }
  return owner;
}

std::vector<camera_config>
cameras_of_shard (const std::vector<camera_config> &cameras,
                  std::uint32_t shard, std::uint32_t shards)
{
  if (shards == 0 || shard >= shards)
    throw std::invalid_argument ("cameras_of_shard: shard "
                                 + std::to_string (shard) + " of "
                                 + std::to_string (shards));
  std::vector<camera_config> mine;
  for (const camera_config &camera : cameras)
    if (owner_shard (camera.id, shards) == shard)
      mine.push_back (camera);
  return mine;
}

shard_identity
parse_shard (const shard_sources &sources)
{
  const std::optional<sourced> count_text
      = first_given (sources.flag_shards, "--shards", sources.env_shards,
                     "LATESTFRAME_SHARDS");
  std::optional<sourced> index_text = first_given (
      sources.flag_shard, "--shard", sources.env_shard, "LATESTFRAME_SHARD");

  shard_identity identity;
  if (count_text)
    {
      identity.count = parse_number (*count_text);
      if (identity.count == 0)
        throw shard_error (count_text->origin + " \"" + count_text->text
                           + "\": there must be at least one shard");
    }
  else if (index_text)
    throw shard_error (index_text->origin + " " + index_text->text
                       + " without a shard count: give --shards N or "
                         "LATESTFRAME_SHARDS as well");

  if (!index_text && identity.count > 1)
    {
      index_text = hostname_ordinal (sources.hostname);
      if (!index_text)
        throw shard_error (
            "shard count " + std::to_string (identity.count) + " (from "
            + count_text->origin
            + ") but no shard index: give --shard I or LATESTFRAME_SHARD, "
              "or run with a hostname ending in -<ordinal> as a StatefulSet "
              "does"
            + (sources.hostname
                   ? " (the hostname is \"" + *sources.hostname + "\")"
                   : std::string ()));
    }
  if (index_text)
    {
      identity.index = parse_number (*index_text);
      if (identity.index >= identity.count)
        throw shard_error ("shard index " + std::to_string (identity.index)
                           + " (from " + index_text->origin
                           + ") is not below the shard count "
                           + std::to_string (identity.count) + " (from "
                           + count_text->origin + ")");
    }
  return identity;
}

} // namespace latestframe::service
