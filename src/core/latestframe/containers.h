/* latestframe — the keeper's containers: no allocation in the steady state.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <utility>
#include <vector>

namespace latestframe
{

/* A list that keeps its first `Inline` items in place and only allocates
 * beyond them: what a keeper gives back from one call (the frames one
 * arrival dropped) is almost always one item, and the steady state must not
 * allocate. Only the items pushed are ever constructed. T must be movable.
 * Move-only. */
template <typename T, std::size_t Inline = 4> class small_list
{
public:
  small_list () = default;
  small_list (small_list &&other) noexcept { take_from (other); }
  small_list &operator= (small_list &&other) noexcept
  {
    if (this != &other)
      {
        clear ();
        take_from (other);
      }
    return *this;
  }
  small_list (const small_list &) = delete;
  small_list &operator= (const small_list &) = delete;
  ~small_list () { clear (); }

  void push_back (T item)
  {
    if (size_ < Inline)
      new (slot (size_)) T (std::move (item));
    else
      overflow_.push_back (std::move (item));
    size_++;
  }

  std::size_t size () const { return size_; }
  bool empty () const { return size_ == 0; }

  T &operator[] (std::size_t index)
  {
    return index < Inline ? *slot (index) : overflow_[index - Inline];
  }
  const T &operator[] (std::size_t index) const
  {
    return index < Inline ? *slot (index) : overflow_[index - Inline];
  }

  /* Calls `visit` (taking T&) on every item, in order. */
  template <typename Visit> void for_each (Visit visit)
  {
    for (std::size_t i = 0; i < size_; i++)
      visit ((*this)[i]);
  }

  /* Destroys every item now. */
  void clear ()
  {
    for (std::size_t i = 0; i < size_ && i < Inline; i++)
      slot (i)->~T ();
    overflow_.clear ();
    size_ = 0;
  }

private:
  T *slot (std::size_t index)
  {
    return std::launder (reinterpret_cast<T *> (storage_) + index);
  }
  const T *slot (std::size_t index) const
  {
    return std::launder (reinterpret_cast<const T *> (storage_) + index);
  }

  void take_from (small_list &other)
  {
    for (std::size_t i = 0; i < other.size_ && i < Inline; i++)
      new (slot (i)) T (std::move (*other.slot (i)));
    overflow_ = std::move (other.overflow_);
    size_ = other.size_;
    other.clear ();
  }

  alignas (T) unsigned char storage_[Inline * sizeof (T)];
  std::vector<T> overflow_;
  std::size_t size_ = 0;
};

/* A FIFO on a growing ring: no allocation once it has held its largest
 * level, unlike std::deque, which allocates and frees blocks as it moves.
 * Its capacity is a power of two. Slots are reused: a slot given by
 * push_slot() holds whatever was left in it, so the caller assigns every
 * field. Removal from the middle shifts the entries behind (the keeper's
 * queues hold a handful). T must be default-constructible and movable. */
template <typename T> class ring_fifo
{
public:
  std::size_t size () const { return size_; }
  bool empty () const { return size_ == 0; }

  T &operator[] (std::size_t index)
  {
    return slots_[(head_ + index) & mask_];
  }
  const T &operator[] (std::size_t index) const
  {
    return slots_[(head_ + index) & mask_];
  }
  T &front () { return (*this)[0]; }
  T &back () { return (*this)[size_ - 1]; }

  /* The slot behind the last entry, now part of the queue. */
  T &push_slot ()
  {
    if (size_ == slots_.size ())
      grow ();
    size_++;
    return (*this)[size_ - 1];
  }

  /* Forgets the first entry; the caller moved out what it needed. */
  void pop_front ()
  {
    head_ = (head_ + 1) & mask_;
    size_--;
  }

  /* Removes and returns the entry at `index`; the ones behind move up. */
  T take (std::size_t index)
  {
    T taken = std::move ((*this)[index]);
    if (index == 0)
      {
        pop_front ();
        return taken;
      }
    for (std::size_t i = index; i + 1 < size_; i++)
      (*this)[i] = std::move ((*this)[i + 1]);
    size_--;
    return taken;
  }

private:
  void grow ()
  {
    std::vector<T> bigger (slots_.empty () ? 8 : slots_.size () * 2);
    for (std::size_t i = 0; i < size_; i++)
      bigger[i] = std::move ((*this)[i]);
    slots_ = std::move (bigger);
    mask_ = slots_.size () - 1;
    head_ = 0;
  }

  std::vector<T> slots_;
  std::size_t mask_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

} // namespace latestframe
