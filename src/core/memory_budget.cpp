/* latestframe — byte budgets shared by several queues.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/memory_budget.h"

#include <algorithm>

namespace latestframe
{

namespace
{

/* The process-wide budgets by name. Holds them weakly: a budget dies with
 * its last member and its last charged frame. */
class budget_registry
{
public:
  static budget_registry &instance ()
  {
    static budget_registry registry;
    return registry;
  }

  std::shared_ptr<memory_budget> find_or_create (const std::string &name)
      LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    auto found = budgets_.find (name);
    if (found != budgets_.end ())
      if (auto alive = found->second.lock ())
        return alive;
    auto created = std::make_shared<memory_budget> (name);
    budgets_[name] = created;
    /* Forget the budgets that died meanwhile. */
    for (auto it = budgets_.begin (); it != budgets_.end ();)
      it = it->second.expired () ? budgets_.erase (it) : std::next (it);
    return created;
  }

private:
  checked_mutex mutex_;
  std::map<std::string, std::weak_ptr<memory_budget>> budgets_
      LF_GUARDED_BY (mutex_);
};

} // namespace

bool
memory_budget::try_reserve (std::uint64_t bytes)
{
  checked_lock lock (mutex_);
  if (cap_ != 0 && (bytes > cap_ || used_ > cap_ - bytes))
    return false;
  used_ += bytes;
  peak_used_ = std::max (peak_used_, used_);
  return true;
}

void
memory_budget::release (std::uint64_t bytes)
{
  checked_lock lock (mutex_);
  used_ -= std::min (used_, bytes);
}

std::uint64_t
memory_budget::cap_approx () const
{
  checked_lock lock (mutex_);
  return cap_;
}

std::uint64_t
memory_budget::used_approx () const
{
  checked_lock lock (mutex_);
  return used_;
}

std::uint64_t
memory_budget::peak_used_approx () const
{
  checked_lock lock (mutex_);
  return peak_used_;
}

void
memory_budget::set_member_cap (const void *member, std::uint64_t cap)
{
  checked_lock lock (mutex_);
  member_caps_[member] = cap;
  recompute_cap ();
}

void
memory_budget::remove_member (const void *member)
{
  checked_lock lock (mutex_);
  member_caps_.erase (member);
  recompute_cap ();
}

void
memory_budget::recompute_cap ()
{
  cap_ = 0;
  for (const auto &member : member_caps_)
    if (member.second != 0 && (cap_ == 0 || member.second < cap_))
      cap_ = member.second;
}

budget_membership::budget_membership (const std::string &name,
                                      std::uint64_t cap)
    : budget_ (budget_registry::instance ().find_or_create (name)),
      identity_ (std::make_unique<char> ())
{
  budget_->set_member_cap (identity_.get (), cap);
}

budget_membership::~budget_membership ()
{
  if (budget_)
    budget_->remove_member (identity_.get ());
}

void
budget_membership::set_cap (std::uint64_t cap)
{
  budget_->set_member_cap (identity_.get (), cap);
}

} // namespace latestframe
