/* latestframe — byte budgets shared by several queues, fair to each.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/thread_annotations.h"

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <utility>

namespace latestframe
{

class memory_budget;

/* A member that can give back held bytes when another member needs room
 * within its fair share (memory_budget::reclaim_for()). */
class budget_reclaimer
{
public:
  /* Called on another member's thread, which holds no keeper's lock nor
   * the budget's: drops this member's oldest held frames (counted, reason
   * budget) while `budget` says it should give back
   * (memory_budget::should_give_back()). May take its own keeper's lock;
   * must not take another keeper's. */
  virtual void give_back_over_share (memory_budget &budget) = 0;

protected:
  ~budget_reclaimer () = default;
};

/* A reclaimer's registration, which its owner withdraws before it goes:
 * withdraw() waits for a call in progress, and no call starts after it.
 * Lock order: this slot, then the reclaimer's keeper, then a budget. */
class reclaimer_slot
{
public:
  explicit reclaimer_slot (budget_reclaimer &reclaimer) : target_ (&reclaimer)
  {
  }
  reclaimer_slot (const reclaimer_slot &) = delete;
  reclaimer_slot &operator= (const reclaimer_slot &) = delete;

  void withdraw () LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    target_ = nullptr;
  }
  void call (memory_budget &budget) LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    if (target_)
      target_->give_back_over_share (budget);
  }

private:
  checked_mutex mutex_;
  budget_reclaimer *target_ LF_GUARDED_BY (mutex_);
};

/* A cap on the bytes that several queues (members) are responsible for
 * together: the frames they hold plus the frames they pushed that are still
 * alive (in flight). Bytes are reserved before a frame is taken, charged to
 * the member that takes it, and released when it is dropped or finally
 * released, so the used bytes never exceed the cap.
 *
 * Members may ask for different caps: the smallest non-zero cap asked by a
 * current member applies (the strictest member wins, so no member's promise
 * is broken); 0 from every member means no cap, only accounting. The budget
 * lives while any member or any charged frame does.
 *
 * Fairness. Each member's fair share is cap / members (the members joined
 * now). Three rules:
 *  - a member's in-flight bytes never pass its share: a frame whose
 *    hand-over would take them over it is not handed over (try_launch()
 *    fails; the keeper drops it, reason budget). A reader that keeps every
 *    frame it gets thus keeps at most a share;
 *  - beyond its share, a member may take any free room, but only as held
 *    frames, which can be evicted;
 *  - room claimed by a member making room (reclaim_for()) is taken by no
 *    other member, within its share or not, until the claimant tried.
 * Why it holds: by the first rule, what a member is charged beyond its
 * share is held, so it can be evicted; and as cap >= members * share,
 * free room + the charges beyond the shares >= the room left in the shares
 * of the members within theirs, which covers every claim.
 *
 * The guarantee: while every member's in-flight bytes are within the share
 * in force (always, but for frames handed over before a member joined or
 * the cap went down, until they land), every member joined with a
 * reclaimer (as frame_keeper does) and no member that left still has
 * bytes charged (they count against no share), an arrival of `bytes` from
 * a member whose charge plus `bytes` is within its share is admitted:
 * try_reserve() reserves it, or answers others_can_give_back, and after
 * reclaim_for() (members over their share drop held frames, counted as
 * their drops, reason budget) it reserves it. Concurrent arrivals do not
 * break it: claimed room is kept for its claimant, and the members over
 * their share give back until the free room covers every claim.
 *
 * A frame larger than a share can never be handed over: a budget shared by
 * N members must hold N frames.
 *
 * Thread-safe. Per frame: one lock to reserve, one to hand over, one to
 * release; no allocation. */
class memory_budget
{
public:
  /* One member's account: what it asked for and what it is charged. It
   * outlives the membership while frames are charged to it. Read and
   * written only under the budget's lock. */
  class account
  {
    friend class memory_budget;
    std::uint64_t cap = 0;       /* this member's wish (0: none) */
    std::uint64_t charged = 0;   /* held + in flight */
    std::uint64_t in_flight = 0; /* of which handed over, still alive */
    std::uint64_t claim = 0;     /* room asked for by reclaim_for() */
    /* Reservations not yet released, however few bytes (a frame may have
     * none): the account lives while one refers to it. */
    std::uint64_t reservations = 0;
    bool joined = true;
    std::shared_ptr<reclaimer_slot> reclaimer;
  };

  enum class reserve_outcome : std::uint8_t
  {
    reserved,
    /* No room now, but the member is within its share and others hold
     * bytes beyond theirs: call reclaim_for() with no lock held, then try
     * again. */
    others_can_give_back,
    no_room,
  };

  /* A member's figures, for tests and logs; racy by nature. */
  struct member_figures
  {
    std::uint64_t charged = 0;
    std::uint64_t in_flight = 0;
    std::uint64_t share = 0; /* 0: no cap */
    bool joined = false;
  };

  explicit memory_budget (std::string name) : name_ (std::move (name)) {}
  memory_budget (const memory_budget &) = delete;
  memory_budget &operator= (const memory_budget &) = delete;

  /* Reserves `bytes` for `member` (see the class comment); charged to it
   * when reserved. A claim the member made earlier is spent by the call. */
  reserve_outcome try_reserve (account &member, std::uint64_t bytes)
      LF_EXCLUDES (mutex_);

  /* `bytes` reserved as held go in flight, if the member's in-flight bytes
   * stay within its share (or there is no cap, or it left); false, nothing
   * changed, otherwise. */
  bool try_launch (account &member, std::uint64_t bytes) LF_EXCLUDES (mutex_);

  /* Returns bytes reserved earlier (held, or in flight). */
  void release (account &member, std::uint64_t bytes, bool in_flight)
      LF_EXCLUDES (mutex_);

  /* For a member told others_can_give_back: claims `bytes` (no member may
   * borrow them meanwhile) and has the members over their share give back
   * held frames, one after the other, until the room is free or none can
   * give more. Call it with no keeper's lock held: it takes theirs.
   * Nothing happens if `member` is no longer in this budget. */
  void reclaim_for (const account *member, std::uint64_t bytes)
      LF_EXCLUDES (mutex_);

  /* Whether `member` should drop one more held frame for a claim: it is
   * over its share and holds bytes, and the claims want more room than is
   * free. */
  bool should_give_back (const account &member) const LF_EXCLUDES (mutex_);

  /* Forgets a claim the member did not spend (its arrival went another
   * way). */
  void withdraw_claim (account &member) LF_EXCLUDES (mutex_);

  /* The cap in force (0 = none), the bytes used now, the fair share, the
   * members: racy by nature. */
  std::uint64_t cap_approx () const LF_EXCLUDES (mutex_);
  std::uint64_t used_approx () const LF_EXCLUDES (mutex_);
  std::uint64_t share_approx () const LF_EXCLUDES (mutex_);
  std::size_t members_approx () const LF_EXCLUDES (mutex_);
  /* The highest the used bytes ever reached. */
  std::uint64_t peak_used_approx () const LF_EXCLUDES (mutex_);
  member_figures figures (const account &member) const LF_EXCLUDES (mutex_);

  const std::string &name () const { return name_; }

private:
  friend class budget_membership;
  account &join (std::uint64_t cap, std::shared_ptr<reclaimer_slot> reclaimer)
      LF_EXCLUDES (mutex_);
  void set_member_cap (account &member, std::uint64_t cap)
      LF_EXCLUDES (mutex_);
  void leave (account &member) LF_EXCLUDES (mutex_);

  void recompute_cap () LF_REQUIRES (mutex_);
  std::uint64_t share () const LF_REQUIRES (mutex_);
  std::uint64_t free_room () const LF_REQUIRES (mutex_);
  bool gives_back (const account &member) const LF_REQUIRES (mutex_);
  void drop_claim (account &member) LF_REQUIRES (mutex_);
  void forget_if_done (account &member) LF_REQUIRES (mutex_);

  const std::string name_;
  mutable checked_mutex mutex_;
  /* A list: accounts stay where they are while others come and go. */
  std::list<account> accounts_ LF_GUARDED_BY (mutex_);
  std::size_t joined_ LF_GUARDED_BY (mutex_) = 0;
  std::uint64_t cap_ LF_GUARDED_BY (mutex_) = 0;
  std::uint64_t used_ LF_GUARDED_BY (mutex_) = 0;
  std::uint64_t peak_used_ LF_GUARDED_BY (mutex_) = 0;
  std::uint64_t claims_ LF_GUARDED_BY (mutex_) = 0;
};

/* Bytes reserved in a budget and charged to one member's account: what a
 * held frame, then its in-flight charge, carries. Destroying it (or
 * reset()) releases them. Move-only; empty when no budget is involved. */
class budget_reservation
{
public:
  budget_reservation () = default;
  budget_reservation (std::shared_ptr<memory_budget> budget,
                      memory_budget::account &member, std::uint64_t bytes)
      : budget_ (std::move (budget)), member_ (&member), bytes_ (bytes)
  {
  }
  budget_reservation (budget_reservation &&other) noexcept
      : budget_ (std::move (other.budget_)),
        member_ (std::exchange (other.member_, nullptr)),
        bytes_ (std::exchange (other.bytes_, 0)),
        in_flight_ (std::exchange (other.in_flight_, false))
  {
  }
  budget_reservation &operator= (budget_reservation &&other) noexcept
  {
    if (this != &other)
      {
        reset ();
        budget_ = std::move (other.budget_);
        member_ = std::exchange (other.member_, nullptr);
        bytes_ = std::exchange (other.bytes_, 0);
        in_flight_ = std::exchange (other.in_flight_, false);
      }
    return *this;
  }
  budget_reservation (const budget_reservation &) = delete;
  budget_reservation &operator= (const budget_reservation &) = delete;
  ~budget_reservation () { reset (); }

  explicit operator bool () const { return budget_ != nullptr; }
  std::uint64_t bytes () const { return bytes_; }

  /* The bytes go in flight, within the member's share
   * (memory_budget::try_launch()); false, still held, otherwise. */
  bool launch ()
  {
    in_flight_ = budget_->try_launch (*member_, bytes_);
    return in_flight_;
  }

  /* Releases the bytes now. */
  void reset ()
  {
    if (budget_)
      {
        budget_->release (*member_, bytes_, in_flight_);
        budget_.reset ();
      }
    member_ = nullptr;
    bytes_ = 0;
    in_flight_ = false;
  }

private:
  std::shared_ptr<memory_budget> budget_;
  memory_budget::account *member_ = nullptr;
  std::uint64_t bytes_ = 0;
  bool in_flight_ = false;
};

/* What a keeper told to reclaim (keeper_core's reclaim_budget) hands, with
 * its lock let go, to memory_budget::reclaim_for(). */
struct budget_claim
{
  std::shared_ptr<memory_budget> budget;
  const memory_budget::account *member = nullptr;
  std::uint64_t bytes = 0;

  void reclaim () const
  {
    if (budget)
      budget->reclaim_for (member, bytes);
  }
};

/* One queue's membership of a named budget: joins at construction (with
 * the reclaimer that gives back its held frames, if any), leaves at
 * destruction. Budgets are process-wide, found by name. Move-only. */
class budget_membership
{
public:
  budget_membership (const std::string &name, std::uint64_t cap,
                     std::shared_ptr<reclaimer_slot> reclaimer = nullptr);
  budget_membership (budget_membership &&other) noexcept
      : budget_ (std::move (other.budget_)),
        account_ (std::exchange (other.account_, nullptr))
  {
  }
  /* Would have to leave the old budget first: not needed, not provided. */
  budget_membership &operator= (budget_membership &&) = delete;
  budget_membership (const budget_membership &) = delete;
  budget_membership &operator= (const budget_membership &) = delete;
  ~budget_membership ();

  /* This member's wish; the budget applies the smallest non-zero one. */
  void set_cap (std::uint64_t cap);

  /* memory_budget::try_reserve() for this member; reserved, `into` holds
   * the bytes. */
  memory_budget::reserve_outcome try_reserve (std::uint64_t bytes,
                                              budget_reservation &into);

  /* What reclaim_for() and withdraw_claim() are given. */
  memory_budget::account &account () const { return *account_; }
  const std::shared_ptr<memory_budget> &budget () const { return budget_; }

private:
  std::shared_ptr<memory_budget> budget_;
  memory_budget::account *account_ = nullptr;
};

} // namespace latestframe
