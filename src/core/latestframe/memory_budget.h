/* latestframe — byte budgets shared by several queues.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/thread_annotations.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace latestframe
{

/* A cap on the bytes that several queues (members) are responsible for
 * together: the frames they hold plus the frames they pushed that are still
 * alive. Bytes are reserved before a frame is taken and released when it is
 * dropped or finally released, so the used bytes never exceed the cap.
 *
 * Members may ask for different caps: the smallest non-zero cap asked by a
 * current member applies (the strictest member wins, so no member's promise
 * is broken); 0 from every member means no cap, only accounting. The budget
 * lives while any member or any charged frame does.
 *
 * Thread-safe. */
class memory_budget
{
public:
  explicit memory_budget (std::string name) : name_ (std::move (name)) {}
  memory_budget (const memory_budget &) = delete;
  memory_budget &operator= (const memory_budget &) = delete;

  /* Reserves `bytes` if they fit under the cap; false (nothing reserved)
   * otherwise. */
  bool try_reserve (std::uint64_t bytes) LF_EXCLUDES (mutex_);

  /* Returns bytes reserved earlier. */
  void release (std::uint64_t bytes) LF_EXCLUDES (mutex_);

  /* The cap in force (0 = none) and the bytes used now; racy by nature. */
  std::uint64_t cap_approx () const LF_EXCLUDES (mutex_);
  std::uint64_t used_approx () const LF_EXCLUDES (mutex_);
  /* The highest the used bytes ever reached. */
  std::uint64_t peak_used_approx () const LF_EXCLUDES (mutex_);

  const std::string &name () const { return name_; }

private:
  friend class budget_membership;
  void set_member_cap (const void *member, std::uint64_t cap)
      LF_EXCLUDES (mutex_);
  void remove_member (const void *member) LF_EXCLUDES (mutex_);
  void recompute_cap () LF_REQUIRES (mutex_);

  const std::string name_;
  mutable checked_mutex mutex_;
  std::map<const void *, std::uint64_t> member_caps_ LF_GUARDED_BY (mutex_);
  std::uint64_t cap_ LF_GUARDED_BY (mutex_) = 0;
  std::uint64_t used_ LF_GUARDED_BY (mutex_) = 0;
  std::uint64_t peak_used_ LF_GUARDED_BY (mutex_) = 0;
};

/* One queue's membership of a named budget: joins at construction, leaves
 * at destruction. Budgets are process-wide, found by name. Move-only. */
class budget_membership
{
public:
  budget_membership (const std::string &name, std::uint64_t cap);
  budget_membership (budget_membership &&) noexcept = default;
  /* Would have to leave the old budget first: not needed, not provided. */
  budget_membership &operator= (budget_membership &&) = delete;
  budget_membership (const budget_membership &) = delete;
  budget_membership &operator= (const budget_membership &) = delete;
  ~budget_membership ();

  /* This member's wish; the budget applies the smallest non-zero one. */
  void set_cap (std::uint64_t cap);

  const std::shared_ptr<memory_budget> &budget () const { return budget_; }

private:
  std::shared_ptr<memory_budget> budget_;
  /* A stable identity for this member, whatever moves happen. */
  std::unique_ptr<char> identity_;
};

} // namespace latestframe
