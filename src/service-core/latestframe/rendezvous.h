/* latestframe-service — which process runs which camera.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Several service processes (shards 0..N-1, e.g. a StatefulSet's pods) read
 * the same camera list and each runs its own share, without talking to one
 * another: rendezvous (highest random weight) hashing. Every shard weighs
 * every (camera, shard) pair with the same function, and a camera belongs to
 * the shard with the highest weight. Adding shard N moves only the cameras
 * that shard N now wins, about 1/(N+1) of them, and moves them all to it; no
 * camera moves between the old shards.
 *
 * The weight is part of the deployment's contract: processes of different
 * versions (a rolling update) must agree on it, so it is spelled out here
 * for any other implementation to reproduce, and pinned by tests:
 *
 *   fnv1a_64 (bytes):   h = 0xcbf29ce484222325
 *                       for each byte b: h = (h ^ b) * 0x100000001b3
 *   splitmix64_mix (z): z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
 *                       z = (z ^ (z >> 27)) * 0x94d049bb133111eb
 *                       return z ^ (z >> 31)
 *   weight (id, shard) = splitmix64_mix (fnv1a_64 (id)
 *                                        + (shard + 1) * 0x9e3779b97f4a7c15)
 *
 * all arithmetic modulo 2^64, the id's bytes as given (UTF-8, no
 * terminator). In other words the weight of (id, shard) is output number
 * shard + 1 of a SplitMix64 generator seeded with fnv1a_64 (id). Ties
 * (2^-64 likely) go to the lower shard index. */
#pragma once

#include "latestframe/service_config.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace latestframe::service
{

/* FNV-1a, 64 bits, of the bytes of `bytes`. */
std::uint64_t fnv1a_64 (std::string_view bytes);

/* SplitMix64's output function (Steele, Lea, Flood 2014; the constants of
 * Vigna's splitmix64.c): a bijection of 64-bit values whose every output bit
 * depends on every input bit. */
std::uint64_t splitmix64_mix (std::uint64_t z);

/* The weight of `camera_id` on `shard`, as defined above. Pure, the same on
 * every platform and in every version. */
std::uint64_t rendezvous_weight (std::string_view camera_id,
                                 std::uint32_t shard);

/* The shard in 0..shards-1 that runs `camera_id`: the highest weight, the
 * lower index on a tie. `shards` must be at least 1: 0 throws
 * std::invalid_argument. O(shards). */
std::uint32_t owner_shard (std::string_view camera_id, std::uint32_t shards);

/* The cameras `shard` of `shards` runs, in their order in `cameras`.
 * Throws std::invalid_argument when shards is 0 or shard >= shards. */
std::vector<camera_config>
cameras_of_shard (const std::vector<camera_config> &cameras,
                  std::uint32_t shard, std::uint32_t shards);

/* Which shard this process is, of how many. */
struct shard_identity
{
  std::uint32_t index = 0;
  std::uint32_t count = 1;
};

inline bool
operator== (const shard_identity &a, const shard_identity &b)
{
  return a.index == b.index && a.count == b.count;
}

/* Where a process can learn its shard; absent = not given. The caller
 * collects them (argv, getenv, HOSTNAME or gethostname) so that the rules
 * below stay testable. */
struct shard_sources
{
  std::optional<std::string> flag_shard;  // --shard I
  std::optional<std::string> flag_shards; // --shards N
  std::optional<std::string> env_shard;   // LATESTFRAME_SHARD
  std::optional<std::string> env_shards;  // LATESTFRAME_SHARDS
  /* The host's name: a StatefulSet names its pods <set>-<ordinal>, and
   * that is their hostname. */
  std::optional<std::string> hostname;
};

/* A shard identity that cannot be used. */
class shard_error : public std::runtime_error
{
public:
  using std::runtime_error::runtime_error;
};

/* This process's shard, from `sources`. Precedence, for each of the two
 * values separately:
 *  - the count N: --shards, else LATESTFRAME_SHARDS, else 1 (not sharded);
 *  - the index I: --shard, else LATESTFRAME_SHARD, else, when N > 1, the
 *    ordinal that ends the hostname ("latestframe-2" or
 *    "latestframe-2.latestframe.ns.svc" → 2), else, when N is 1, 0.
 * An empty environment value counts as unset (a template that leaves it
 * blank); an empty flag is an error. Values are decimal digits only.
 * Throws shard_error, naming where each value came from, when a value is
 * not a number, N is 0, I >= N, I is given without N (so that "--shard 2"
 * alone is not silently shard 2 of 1), or N > 1 and no source gives I. */
shard_identity parse_shard (const shard_sources &sources);

} // namespace latestframe::service
