/* latestframe — byte budgets shared by several queues.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/memory_budget.h"

#include <algorithm>
#include <map>

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

memory_budget::reserve_outcome
memory_budget::try_reserve (account &member, std::uint64_t bytes)
{
  checked_lock lock (mutex_);
  drop_claim (member);
  if (cap_ != 0)
    {
      /* Over the cap already (it went down under frames still charged):
       * not even a frame of no bytes, as before fairness. */
      if (used_ > cap_
          || bytes > free_room () - std::min (free_room (), claims_))
        {
          /* Within its share, a member may have others' held frames beyond
           * theirs evicted for it; beyond its share, it only borrows what
           * is free. */
          if (bytes > cap_ || !member.joined
              || member.charged + bytes > share ())
            return reserve_outcome::no_room;
          for (const account &other : accounts_)
            if (&other != &member && gives_back (other))
              return reserve_outcome::others_can_give_back;
          return reserve_outcome::no_room;
        }
    }
  used_ += bytes;
  member.charged += bytes;
  member.reservations++;
  peak_used_ = std::max (peak_used_, used_);
  return reserve_outcome::reserved;
}

bool
memory_budget::try_launch (account &member, std::uint64_t bytes)
{
  checked_lock lock (mutex_);
  /* A member that left has no share: its last frames go as they would. */
  if (cap_ != 0 && member.joined && member.in_flight + bytes > share ())
    return false;
  member.in_flight += bytes;
  return true;
}

void
memory_budget::release (account &member, std::uint64_t bytes, bool in_flight)
{
  checked_lock lock (mutex_);
  used_ -= std::min (used_, bytes);
  member.charged -= std::min (member.charged, bytes);
  if (in_flight)
    member.in_flight -= std::min (member.in_flight, bytes);
  if (member.reservations > 0)
    member.reservations--;
  forget_if_done (member);
}

void
memory_budget::reclaim_for (const account *member, std::uint64_t bytes)
{
  /* Each turn asks one member over its share to give back, with no lock
   * held here (it takes its keeper's, which may be busy). A member given
   * its turn gives back until it is within its share or the claims are
   * met, so a turn per member is enough; the bound only stops a member
   * that cannot (its keeper went, its frames are in another budget). */
  std::size_t turns = 0;
  for (;;)
    {
      std::shared_ptr<reclaimer_slot> giver;
      {
        checked_lock lock (mutex_);
        auto claimant = std::find_if (
            accounts_.begin (), accounts_.end (),
            [member] (const account &each) { return &each == member; });
        if (claimant == accounts_.end () || !claimant->joined)
          return;
        if (claimant->claim < bytes)
          {
            claims_ += bytes - claimant->claim;
            claimant->claim = bytes;
          }
        if (free_room () >= claims_ || turns++ > accounts_.size ())
          return;
        const account *most = nullptr;
        for (const account &other : accounts_)
          if (&other != member && gives_back (other)
              && (!most || other.charged > most->charged))
            most = &other;
        if (!most)
          return;
        giver = most->reclaimer;
      }
      giver->call (*this);
    }
}

bool
memory_budget::should_give_back (const account &member) const
{
  checked_lock lock (mutex_);
  return gives_back (member) && claims_ > free_room ();
}

void
memory_budget::withdraw_claim (account &member)
{
  checked_lock lock (mutex_);
  drop_claim (member);
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
memory_budget::share_approx () const
{
  checked_lock lock (mutex_);
  return share ();
}

std::size_t
memory_budget::members_approx () const
{
  checked_lock lock (mutex_);
  return joined_;
}

std::uint64_t
memory_budget::peak_used_approx () const
{
  checked_lock lock (mutex_);
  return peak_used_;
}

memory_budget::member_figures
memory_budget::figures (const account &member) const
{
  checked_lock lock (mutex_);
  return member_figures{ member.charged, member.in_flight, share (),
                         member.joined };
}

memory_budget::account &
memory_budget::join (std::uint64_t cap,
                     std::shared_ptr<reclaimer_slot> reclaimer)
{
  checked_lock lock (mutex_);
  account &joined = accounts_.emplace_back ();
  joined.cap = cap;
  joined.reclaimer = std::move (reclaimer);
  joined_++;
  recompute_cap ();
  return joined;
}

void
memory_budget::set_member_cap (account &member, std::uint64_t cap)
{
  checked_lock lock (mutex_);
  member.cap = cap;
  recompute_cap ();
}

void
memory_budget::leave (account &member)
{
  checked_lock lock (mutex_);
  member.joined = false;
  member.reclaimer.reset ();
  drop_claim (member);
  joined_--;
  recompute_cap ();
  forget_if_done (member);
}

void
memory_budget::recompute_cap ()
{
  cap_ = 0;
  for (const account &member : accounts_)
    if (member.joined && member.cap != 0 && (cap_ == 0 || member.cap < cap_))
      cap_ = member.cap;
}

std::uint64_t
memory_budget::share () const
{
  return joined_ == 0 ? cap_ : cap_ / joined_;
}

std::uint64_t
memory_budget::free_room () const
{
  return cap_ - std::min (cap_, used_);
}

/* Over its share with held bytes (those beyond its in-flight ones), and
 * able to give them back. */
bool
memory_budget::gives_back (const account &member) const
{
  return member.joined && member.reclaimer && cap_ != 0
         && member.charged > share () && member.charged > member.in_flight;
}

void
memory_budget::drop_claim (account &member)
{
  claims_ -= std::min (claims_, member.claim);
  member.claim = 0;
}

/* An account that left goes with its last reservation: not its last
 * charged byte, since a frame of no bytes still refers to it. */
void
memory_budget::forget_if_done (account &member)
{
  if (member.joined || member.reservations != 0)
    return;
  accounts_.remove_if ([&member] (const account &each) {
    return &each == &member;
  });
}

budget_membership::budget_membership (const std::string &name,
                                      std::uint64_t cap,
                                      std::shared_ptr<reclaimer_slot> reclaimer)
    : budget_ (budget_registry::instance ().find_or_create (name))
{
  account_ = &budget_->join (cap, std::move (reclaimer));
}

budget_membership::~budget_membership ()
{
  if (budget_)
    budget_->leave (*account_);
}

void
budget_membership::set_cap (std::uint64_t cap)
{
  budget_->set_member_cap (*account_, cap);
}

memory_budget::reserve_outcome
budget_membership::try_reserve (std::uint64_t bytes, budget_reservation &into)
{
  const memory_budget::reserve_outcome outcome
      = budget_->try_reserve (*account_, bytes);
  if (outcome == memory_budget::reserve_outcome::reserved)
    into = budget_reservation (budget_, *account_, bytes);
  return outcome;
}

} // namespace latestframe
